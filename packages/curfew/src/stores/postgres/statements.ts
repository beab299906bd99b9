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
  reauthenticate: string;
  findById: string;
  endByHash: string;
  endById: string;
  endUser: TenantVariants;
  listUser: TenantVariants;
  /** A tenant's sessions (`none`, `one`), or everyone's (`any`). */
  endMany: TenantVariants;
  lockScope: string;
  /** The cap's view of a scope: `none` or `one` (a scope always names its tenant or none). */
  selectScope: TenantVariants;
  sweep: string;
  purge: string;
  countActive: string;
  countEnded: string;
  ping: string;
  storeTime: string;
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
  'last_activity_at, absolute_expires_at, ended_at, end_reason, idle_timeout, aal, methods, ' +
  'authenticated_at';

const ENDED_COLUMNS = 'id, user_id, tenant_id, end_reason, ended_at';

/** The placeholder that carries the operation's `now` in one statement, already cast. */
interface RuleParams {
  now: string;
}

// findExpiry of core/store.ts, over the row as it is before the statement changes it: each row's
// own limits, the idle one as its kept deadline (last_activity_at + idle_timeout). Every
// parameter is cast where it appears: PostgreSQL cannot infer a type from `$n IS NULL` alone.
function absoluteExpired(p: RuleParams): string {
  return `absolute_expires_at <= ${p.now}`;
}

function idleExpired(p: RuleParams): string {
  return `(idle_expires_at IS NOT NULL AND idle_expires_at <= ${p.now})`;
}

// Only a session of the owner: $user NULL for any user, $any true for any tenant, else the
// tenant (NULL matching only sessions without one).
function owned(user: string, any: string, tenant: string): string {
  return `(${user}::text IS NULL OR user_id = ${user}::text) AND (${any}::boolean OR tenant_id IS NOT DISTINCT FROM ${tenant}::text)`;
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
      WHEN ${idleExpired(p)} THEN idle_expires_at
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

  // validate: $1 hash, $2 now, $3 touch interval, $4 $5 $6 the owner (see owned()).
  const v: RuleParams = { now: '$2::bigint' };
  const touchDue =
    `($3::bigint IS NOT NULL AND last_activity_at < ${v.now}` +
    ` AND ${v.now} - last_activity_at >= $3::bigint)`;
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
  // The final SELECT yields at most one row; none means `missing`. A session of another owner is
  // not in `snapshot`, so nothing is written or read again for it: owners never change.
  const validate = `
    WITH snapshot AS (
      SELECT ${SESSION_COLUMNS}, ${wantsWrite} AS wants_write
      FROM ${t} WHERE token_hash = $1::text AND ${owned('$4', '$5', '$6')}
    ), written AS (
      UPDATE ${t} SET
        ${endWithRule(v, 'NULL')},
        last_activity_at = CASE WHEN ${expired(v)} THEN last_activity_at ELSE ${v.now} END,
        idle_expires_at = CASE WHEN ${expired(v)} THEN idle_expires_at
          ELSE ${v.now} + idle_timeout END
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

  // rotate: $1 old hash, $2 new hash, $3 now, $4 $5 $6 the owner. SET reads the row as it was,
  // so both activity columns take the old last_activity_at. reauthenticate adds $7 idle timeout,
  // $8 absolute expiry, $9 level, $10 methods.
  const r: RuleParams = { now: '$3::bigint' };
  const rotateWhere = `token_hash = $1::text AND ended_at IS NULL AND NOT ${expired(r)}
    AND ${owned('$4', '$5', '$6')}`;
  const rotate = `
    UPDATE ${t}
    SET token_hash = $2::text, last_activity_at = greatest(last_activity_at, ${r.now}),
      idle_expires_at = greatest(last_activity_at, ${r.now}) + idle_timeout
    WHERE ${rotateWhere}
    RETURNING ${SESSION_COLUMNS}`;
  const reauthenticate = `
    UPDATE ${t}
    SET token_hash = $2::text, last_activity_at = greatest(last_activity_at, ${r.now}),
      idle_timeout = $7::bigint,
      idle_expires_at = greatest(last_activity_at, ${r.now}) + $7::bigint,
      absolute_expires_at = $8::bigint, aal = $9::smallint, methods = $10::text,
      authenticated_at = ${r.now}
    WHERE ${rotateWhere}
    RETURNING ${SESSION_COLUMNS}`;

  // endByHash / endById: $1 hash or id, $2 now, $3 reason, $4 $5 $6 the owner.
  const e: RuleParams = { now: '$2::bigint' };
  const endByHash = `
    UPDATE ${t} SET ${endWithRule(e, '$3::text')}
    WHERE token_hash = $1::text AND ended_at IS NULL AND ${owned('$4', '$5', '$6')}
    RETURNING ${ENDED_COLUMNS}`;
  const endById = `
    UPDATE ${t} SET ${endWithRule(e, '$3::text')}
    WHERE id = $1::text AND ended_at IS NULL AND ${owned('$4', '$5', '$6')}
    RETURNING ${ENDED_COLUMNS}`;

  // The tenant-scoped forms of endUser and listUser also order by tenant_id, which is the same
  // for every row they read: PostgreSQL does not take `tenant_id IS NULL` as fixing the column,
  // so without it the index order would not count as the order asked for and it would sort all
  // of the user's rows.
  const byTenant = 'tenant_id, ';
  const byTenantDesc = 'tenant_id DESC, ';

  // endUser: $1 user id, $2 now, $3 reason, $4 except id (or null), $5 limit, [$6 tenant].
  // One batch of "sign out everywhere", in three steps:
  // - `candidate` reads up to $5 active sessions from the statement's snapshot, from the least
  //   recently active end of the scope's index (ended ones leave it, so each batch starts at the
  //   first still active). It decides `done`: fewer than $5 means the snapshot held no others.
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
  const endBatch = (candidate: string) => `
    WITH candidate AS (${candidate}), locked AS (
      SELECT id FROM ${t}
      WHERE id = ANY (ARRAY(SELECT id FROM candidate)) AND ended_at IS NULL
      ORDER BY id
      FOR NO KEY UPDATE
    ), ended AS (
      UPDATE ${t} AS s SET ${endWithRule(e, '$3::text')}
      WHERE s.id = ANY (ARRAY(SELECT id FROM locked)) AND s.ended_at IS NULL
      RETURNING s.id, s.user_id, s.tenant_id, s.end_reason, s.ended_at, s.created_at
    )
    SELECT c.candidates, e.id, e.user_id, e.tenant_id, e.end_reason, e.ended_at
    FROM (SELECT count(*)::integer AS candidates FROM candidate) AS c
    LEFT JOIN ended AS e ON true
    ORDER BY e.created_at, e.id`;
  const endUser = (tenant: string, order: string) =>
    endBatch(`
      SELECT id FROM ${t}
      WHERE user_id = $1::text ${tenant} AND ended_at IS NULL
        AND ($4::text IS NULL OR id <> $4::text)
      ORDER BY ${order}last_activity_at, id
      LIMIT $5::integer`);
  // endMany: as endUser for a tenant's sessions or everyone's: $1 (unused, keeps the numbering),
  // $2 now, $3 reason, $4 except id, $5 limit, [$6 tenant]. A tenant walks (tenant_id, id) of
  // active rows; everyone walks the active rows by absolute expiry, soonest first.
  const endMany = (where: string, order: string) =>
    endBatch(`
      SELECT id FROM ${t}
      WHERE $1::text IS NULL ${where} AND ended_at IS NULL
        AND ($4::text IS NULL OR id <> $4::text)
      ORDER BY ${order}
      LIMIT $5::integer`);

  // listUser: $1 user id, $2 now, $3 and $4 the position to start after (last_activity_at, id),
  // $5 limit, [$6 tenant]. One page: a backward walk of the scope's index from the position.
  // Each session has its own limits, so expired ones (not yet swept) are passed over one by one:
  // the sweep keeps them few.
  const listUser = (tenant: string, order: string) => `
    SELECT ${SESSION_COLUMNS} FROM ${t}
    WHERE user_id = $1::text ${tenant} AND ended_at IS NULL
      AND (last_activity_at, id) < ($3::bigint, $4::text)
      AND NOT ${expired({ now: '$2::bigint' })}
    ORDER BY ${order}last_activity_at DESC, id DESC
    LIMIT $5::integer`;

  // selectScope: $1 user id, [$2 tenant]. Run under the scope's lock (lockScope: $1 the scope's
  // key), so the count it gives cannot change before the insert that follows it commits.
  const selectScope = (tenant: string) => `
    SELECT ${SESSION_COLUMNS} FROM ${t}
    WHERE user_id = $1::text ${tenant} AND ended_at IS NULL
    ORDER BY tenant_id DESC, last_activity_at DESC, id DESC`;

  // sweep: $1 now, $2 limit. Absolute expiries fill the batch first and idle ones take
  // the rest; each half walks its partial index from the oldest expiry, so a sweep never reads
  // live rows, and the halves are disjoint (absolute_expires_at on either side of now). SKIP
  // LOCKED lets several sweepers share the work without waiting on, or ending, each other's
  // rows, and leaves a row that a validation is writing to that validation. The ids are handed
  // to the UPDATE as an array rather than joined: a generic plan cannot know the LIMIT and
  // would otherwise guess a share of the table large enough to hash-join it by a full scan.
  const s: RuleParams = { now: '$1::bigint' };
  const sweep = `
    WITH absolute AS (
      SELECT id FROM ${t}
      WHERE ended_at IS NULL AND absolute_expires_at <= ${s.now}
      ORDER BY absolute_expires_at
      LIMIT $2::integer
      FOR NO KEY UPDATE SKIP LOCKED
    ), idle AS (
      SELECT id FROM ${t}
      WHERE ended_at IS NULL AND idle_expires_at IS NOT NULL
        AND idle_expires_at <= ${s.now} AND absolute_expires_at > ${s.now}
      ORDER BY idle_expires_at
      LIMIT $2::integer - (SELECT count(*) FROM absolute)
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
      INSERT INTO ${t} (${SESSION_COLUMNS}, idle_expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    validate,
    rotate,
    reauthenticate,
    findById: `SELECT ${SESSION_COLUMNS} FROM ${t} WHERE id = $1::text`,
    endByHash,
    endById,
    endUser: {
      any: endUser('', ''),
      none: endUser('AND tenant_id IS NULL', byTenant),
      one: endUser('AND tenant_id = $6::text', byTenant),
    },
    listUser: {
      any: listUser('', ''),
      none: listUser('AND tenant_id IS NULL', byTenantDesc),
      one: listUser('AND tenant_id = $6::text', byTenantDesc),
    },
    endMany: {
      any: endMany('', 'absolute_expires_at, id'),
      none: endMany('AND tenant_id IS NULL', 'tenant_id, id'),
      one: endMany('AND tenant_id = $6::text', 'tenant_id, id'),
    },
    // Transaction-scoped: released at COMMIT or ROLLBACK, never left behind by a lost client.
    lockScope: 'SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))',
    selectScope: {
      any: selectScope('AND tenant_id IS NULL'),
      none: selectScope('AND tenant_id IS NULL'),
      one: selectScope('AND tenant_id = $2::text'),
    },
    sweep,
    purge,
    // Reports only. countActive: $1 now. countEnded: $1 since, $2 now. Each walks a partial
    // index (active rows by absolute expiry; ended rows by end time).
    countActive: `
      SELECT count(*) AS n FROM ${t}
      WHERE ended_at IS NULL AND absolute_expires_at > $1::bigint
        AND (idle_expires_at IS NULL OR idle_expires_at > $1::bigint)`,
    countEnded: `
      SELECT end_reason AS reason, count(*) AS n FROM ${t}
      WHERE ended_at IS NOT NULL AND ended_at >= $1::bigint AND ended_at <= $2::bigint
      GROUP BY end_reason`,
    ping: 'SELECT 1',
    // The server's wall clock as it is read, not the transaction's start (now()).
    storeTime: `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS "now"`,
  };
}
