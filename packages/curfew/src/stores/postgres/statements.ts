import type { PostgresTables } from './tables.js';

/**
 * Every statement PostgresStore runs, built once per store for its table name. Kept apart from
 * the store so the SQL can be read (and benchmarked) as a whole.
 * @internal
 */
export interface PostgresStatements {
  insert: string;
  validate: string;
  rotate: string;
  findById: string;
  endByHash: string;
  endById: string;
  endUser: TenantVariants;
  listUser: TenantVariants;
  sweep: string;
  purge: string;
  countActive: string;
  countEnded: string;
  ping: string;
}

/**
 * One statement in three forms, so that each walks the index made for its scope, in order:
 * `(user_id, last_activity_at, id)` for every tenant, `(user_id, tenant_id, last_activity_at, id)`
 * for one tenant or none (`IS NOT DISTINCT FROM` could use neither).
 * @internal
 */
export interface TenantVariants {
  /** Every tenant. */
  any: string;
  /** Only sessions without a tenant. */
  none: string;
  /** One tenant, bound as the statement's last parameter. */
  one: string;
}

/**
 * Columns of a StoredSession, in the order the store's row mapping reads them.
 * @internal
 */
export const SESSION_COLUMNS =
  'id, token_hash, user_id, tenant_id, app_type, ip_address, user_agent, created_at, ' +
  'last_activity_at, absolute_expires_at, ended_at, end_reason';

const ENDED_COLUMNS = 'id, user_id, tenant_id, end_reason, ended_at';

/** The placeholders that carry an ExpiryRule in one statement, already cast. */
interface RuleParams {
  now: string;
  idle: string;
}

// The ExpiryRule of core/store.ts, over the row as it is before the statement changes it. Every
// parameter is cast where it appears: PostgreSQL cannot infer a type from `$n IS NULL` alone.
function absoluteExpired(p: RuleParams): string {
  return `absolute_expires_at <= ${p.now}`;
}

function idleExpired(p: RuleParams): string {
  return `(${p.idle} IS NOT NULL AND last_activity_at + ${p.idle} <= ${p.now})`;
}

function expired(p: RuleParams): string {
  return `(${absoluteExpired(p)} OR ${idleExpired(p)})`;
}

// Ends a row with its timeout reason and expiry moment if it has expired, else with `reason` at
// now; `reason` NULL leaves an unexpired row active.
function endWithRule(p: RuleParams, reason: string): string {
  return `
    ended_at = CASE
      WHEN ${absoluteExpired(p)} THEN absolute_expires_at
      WHEN ${idleExpired(p)} THEN last_activity_at + ${p.idle}
      ELSE ${reason === 'NULL' ? 'NULL' : p.now} END,
    end_reason = CASE
      WHEN ${absoluteExpired(p)} THEN 'absolute_timeout'
      WHEN ${idleExpired(p)} THEN 'idle_timeout'
      ELSE ${reason} END`;
}

/**
 * Builds the statements for one table.
 * @internal
 */
export function buildStatements(tables: PostgresTables): PostgresStatements {
  const t = tables.sessions;

  // validate: $1 hash, $2 now, $3 idle timeout, $4 touch interval.
  const v: RuleParams = { now: '$2::bigint', idle: '$3::bigint' };
  const touchDue =
    `($4::bigint IS NOT NULL AND last_activity_at < ${v.now}` +
    ` AND ${v.now} - last_activity_at >= $4::bigint)`;
  const wantsWrite = `(ended_at IS NULL AND (${expired(v)} OR ${touchDue}))`;
  // One statement, one round trip, and no lock unless there is something to write:
  // - `snapshot` reads the row as of the statement's start; most validations end here, as a
  //   plain index lookup, because activity writes are coalesced.
  // - `written` ends an expired session or records activity. Its row lock is what makes "ended
  //   once" and "never backwards" hold: a concurrent writer makes it wait, and PostgreSQL then
  //   re-checks the WHERE on the newest version of the row, so a session ended or touched
  //   meanwhile is not written again. Its EXISTS on `snapshot` is evaluated once, before the
  //   scan: when no write is due, the UPDATE does not even look the row up a second time.
  // - `latest` runs only when a write was due but `written` changed nothing: someone else changed
  //   the row after the snapshot. A lock read returns the newest committed version, so the
  //   answer says what really happened (ended by a concurrent call, touched, rotated away). It
  //   must be FOR SHARE: FOR KEY SHARE does not conflict with an UPDATE that leaves the key
  //   alone, so it would lock and return the stale version instead of the newest.
  // The final SELECT yields at most one row; none means `missing`.
  const validate = `
    WITH snapshot AS (
      SELECT ${SESSION_COLUMNS}, ${wantsWrite} AS wants_write
      FROM ${t} WHERE token_hash = $1::text
    ), written AS (
      UPDATE ${t} SET
        ${endWithRule(v, 'NULL')},
        last_activity_at = CASE WHEN ${expired(v)} THEN last_activity_at ELSE ${v.now} END
      WHERE token_hash = $1::text AND ${wantsWrite}
        AND EXISTS (SELECT FROM snapshot WHERE wants_write)
      RETURNING ${SESSION_COLUMNS}
    ), latest AS (
      SELECT ${SESSION_COLUMNS} FROM ${t}
      WHERE token_hash = $1::text
        AND NOT EXISTS (SELECT FROM written)
        AND EXISTS (SELECT FROM snapshot WHERE wants_write)
      FOR SHARE
    )
    SELECT 'written' AS source, ${SESSION_COLUMNS} FROM written
    UNION ALL SELECT 'latest', ${SESSION_COLUMNS} FROM latest
    UNION ALL SELECT 'snapshot', ${SESSION_COLUMNS} FROM snapshot WHERE NOT wants_write`;

  // rotate: $1 old hash, $2 new hash, $3 now, $4 idle.
  const r: RuleParams = { now: '$3::bigint', idle: '$4::bigint' };
  const rotate = `
    UPDATE ${t}
    SET token_hash = $2::text, last_activity_at = greatest(last_activity_at, ${r.now})
    WHERE token_hash = $1::text AND ended_at IS NULL AND NOT ${expired(r)}
    RETURNING ${SESSION_COLUMNS}`;

  // endByHash / endById: $1 hash or id, $2 now, $3 idle, $4 reason; endById also $5 user id (or
  // null: any), $6 whether any tenant matches, $7 the tenant (null: none).
  const e: RuleParams = { now: '$2::bigint', idle: '$3::bigint' };
  const endByHash = `
    UPDATE ${t} SET ${endWithRule(e, '$4::text')}
    WHERE token_hash = $1::text AND ended_at IS NULL
    RETURNING ${ENDED_COLUMNS}`;
  const endById = `
    UPDATE ${t} SET ${endWithRule(e, '$4::text')}
    WHERE id = $1::text AND ended_at IS NULL
      AND ($5::text IS NULL OR user_id = $5::text)
      AND ($6::boolean OR tenant_id IS NOT DISTINCT FROM $7::text)
    RETURNING ${ENDED_COLUMNS}`;

  // The tenant-scoped forms of endUser and listUser also order by tenant_id, which is the same
  // for every row they read: PostgreSQL does not take `tenant_id IS NULL` as fixing the column,
  // so without it the index order would not count as the order asked for and it would sort all
  // of the user's rows.
  const byTenant = 'tenant_id, ';
  const byTenantDesc = 'tenant_id DESC, ';

  // endUser: $1 user id, $2 now, $3 idle, $4 reason, $5 except id (or null), $6 limit,
  // [$7 tenant]. One batch of "sign out everywhere", in three steps:
  // - `candidate` reads up to $6 active sessions from the statement's snapshot, from the least
  //   recently active end of the scope's index (ended ones leave it, so each batch starts at the
  //   first still active). It decides `done`: fewer than $6 means the snapshot held no others.
  //   Reading it with a lock instead would not do: a locked row that a concurrent revoke ends
  //   drops out after the wait, so a full batch could come back short with sessions left.
  // - `locked` locks them in id order, so two "sign out everywhere" of one user queue behind
  //   each other instead of deadlocking. A row being written (a validation's touch, another
  //   revoke) is waited for, then re-checked on its newest version: one ended meanwhile is
  //   dropped, one touched is still ended. No SKIP LOCKED: a row a validation holds must not
  //   escape. Sweeps skip locked rows, so they never wait here. NO KEY UPDATE is the lock the
  //   UPDATE itself takes (neither id nor token_hash changes), taken early.
  // - `ended` ends them, applying the rule to the newest version of each row.
  // The statement returns one row per session ended, or a single row of NULLs when none was,
  // each carrying the candidate count.
  const endUser = (tenant: string, order: string) => `
    WITH candidate AS (
      SELECT id FROM ${t}
      WHERE user_id = $1::text ${tenant} AND ended_at IS NULL
        AND ($5::text IS NULL OR id <> $5::text)
      ORDER BY ${order}last_activity_at, id
      LIMIT $6::integer
    ), locked AS (
      SELECT id FROM ${t}
      WHERE id = ANY (ARRAY(SELECT id FROM candidate)) AND ended_at IS NULL
      ORDER BY id
      FOR NO KEY UPDATE
    ), ended AS (
      UPDATE ${t} AS s SET ${endWithRule(e, '$4::text')}
      WHERE s.id = ANY (ARRAY(SELECT id FROM locked)) AND s.ended_at IS NULL
      RETURNING s.id, s.user_id, s.tenant_id, s.end_reason, s.ended_at, s.created_at
    )
    SELECT c.candidates, e.id, e.user_id, e.tenant_id, e.end_reason, e.ended_at
    FROM (SELECT count(*)::integer AS candidates FROM candidate) AS c
    LEFT JOIN ended AS e ON true
    ORDER BY e.created_at, e.id`;

  // listUser: $1 user id, $2 now, $3 active since, $4 and $5 the position to start after
  // (last_activity_at, id), $6 limit, [$7 tenant]. One page: a backward walk of the scope's
  // index from the position. "Not expired" is written as bounds the walk can use: in activity
  // order every idle-expired session comes after every other, so `last_activity_at > $3` ends
  // the walk at the first of them instead of reading through a backlog of idle ones. Absolute
  // expiry does not follow activity: those rows are passed over. The index is the planner's
  // choice, from the table's statistics: on a table filled in bulk and not yet analyzed it may
  // take curfew_sessions_idle_active and sort instead, until autovacuum's ANALYZE runs.
  const listUser = (tenant: string, order: string) => `
    SELECT ${SESSION_COLUMNS} FROM ${t}
    WHERE user_id = $1::text ${tenant} AND ended_at IS NULL
      AND last_activity_at > $3::bigint
      AND (last_activity_at, id) < ($4::bigint, $5::text)
      AND absolute_expires_at > $2::bigint
    ORDER BY ${order}last_activity_at DESC, id DESC
    LIMIT $6::integer`;

  // sweep: $1 now, $2 idle, $3 limit. Absolute expiries fill the batch first and idle ones take
  // the rest; each half walks its partial index from the oldest expiry, so a sweep never reads
  // live rows, and the halves are disjoint (absolute_expires_at on either side of now). SKIP
  // LOCKED lets several sweepers share the work without waiting on, or ending, each other's
  // rows, and leaves a row that a validation is writing to that validation. The ids are handed
  // to the UPDATE as an array rather than joined: a generic plan cannot know the LIMIT and
  // would otherwise guess a share of the table large enough to hash-join it by a full scan.
  const s: RuleParams = { now: '$1::bigint', idle: '$2::bigint' };
  const sweep = `
    WITH absolute AS (
      SELECT id FROM ${t}
      WHERE ended_at IS NULL AND absolute_expires_at <= ${s.now}
      ORDER BY absolute_expires_at
      LIMIT $3::integer
      FOR NO KEY UPDATE SKIP LOCKED
    ), idle AS (
      SELECT id FROM ${t}
      WHERE ${s.idle} IS NOT NULL AND ended_at IS NULL
        AND last_activity_at <= ${s.now} - ${s.idle} AND absolute_expires_at > ${s.now}
      ORDER BY last_activity_at
      LIMIT $3::integer - (SELECT count(*) FROM absolute)
      FOR NO KEY UPDATE SKIP LOCKED
    ), ended AS (
      UPDATE ${t} AS s SET ${endWithRule(s, "'idle_timeout'")}
      WHERE s.id = ANY (ARRAY(SELECT id FROM absolute UNION ALL SELECT id FROM idle))
      RETURNING s.id, s.user_id, s.tenant_id, s.end_reason, s.ended_at, s.created_at
    )
    SELECT ${ENDED_COLUMNS} FROM ended
    ORDER BY end_reason = 'idle_timeout', created_at, id`;

  // purge: $1 ended before, $2 limit. Ended rows never change again, so the lock only keeps two
  // purgers from counting the same row.
  const purge = `
    WITH doomed AS (
      SELECT id FROM ${t}
      WHERE ended_at IS NOT NULL AND ended_at < $1::bigint
      ORDER BY ended_at
      LIMIT $2::integer
      FOR UPDATE SKIP LOCKED
    )
    DELETE FROM ${t} WHERE id = ANY (ARRAY(SELECT id FROM doomed))`;

  return {
    insert: `
      INSERT INTO ${t} (${SESSION_COLUMNS})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    validate,
    rotate,
    findById: `SELECT ${SESSION_COLUMNS} FROM ${t} WHERE id = $1::text`,
    endByHash,
    endById,
    endUser: {
      any: endUser('', ''),
      none: endUser('AND tenant_id IS NULL', byTenant),
      one: endUser('AND tenant_id = $7::text', byTenant),
    },
    listUser: {
      any: listUser('', ''),
      none: listUser('AND tenant_id IS NULL', byTenantDesc),
      one: listUser('AND tenant_id = $7::text', byTenantDesc),
    },
    sweep,
    purge,
    // Reports only. countActive: $1 now, $2 idle. countEnded: $1 since, $2 now. Each walks a
    // partial index (active rows by absolute expiry; ended rows by end time).
    countActive: `
      SELECT count(*) AS n FROM ${t}
      WHERE ended_at IS NULL AND absolute_expires_at > $1::bigint
        AND ($2::bigint IS NULL OR last_activity_at > $1::bigint - $2::bigint)`,
    countEnded: `
      SELECT end_reason AS reason, count(*) AS n FROM ${t}
      WHERE ended_at IS NOT NULL AND ended_at >= $1::bigint AND ended_at <= $2::bigint
      GROUP BY end_reason`,
    ping: 'SELECT 1',
  };
}
