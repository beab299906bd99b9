import type { MysqlValue } from './pool.js';

// Every SQL statement of MysqlStore, in the one dialect that MariaDB ≥ 10.6 and MySQL ≥ 8.0.17
// share: no RETURNING (MySQL has none), no MariaDB-only `SET STATEMENT`, no MySQL-only hints.
// Values always travel as `?` placeholders.

/** The columns every full read selects, in the order rows.ts decodes them. */
const SESSION_COLUMNS = `seq, id, token_hash, user_id, tenant_id, app_type, ip_address,
  user_agent, created_at, last_activity_at, absolute_expires_at, ended_at, end_reason,
  idle_timeout, aal, methods, authenticated_at`;

/** What ending a row needs, for the multi-row paths: identity, and the times the rule reads. */
const END_COLUMNS =
  'seq, id, user_id, tenant_id, last_activity_at, absolute_expires_at, idle_timeout';

export const INSERT = `
  INSERT INTO curfew_sessions (id, token_hash, user_id, tenant_id, app_type, ip_address,
    user_agent, created_at, last_activity_at, absolute_expires_at, ended_at, end_reason,
    idle_timeout, aal, methods, authenticated_at, idle_expires_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export const SELECT_BY_HASH = `SELECT ${SESSION_COLUMNS} FROM curfew_sessions WHERE token_hash = ?`;
export const SELECT_BY_ID = `SELECT ${SESSION_COLUMNS} FROM curfew_sessions WHERE id = ?`;
// Used only after an optimistic write lost a race: the row lock makes the second decision final.
export const LOCK_BY_HASH = `${SELECT_BY_HASH} FOR UPDATE`;
export const LOCK_BY_ID = `${SELECT_BY_ID} FOR UPDATE`;

// The single-row writes are compare-and-set on the whole mutable state of an active row, which is
// its token hash, `ended_at` and `last_activity_at` (everything else is written once, at insert).
// The caller decided from a read of exactly that state and computed the new values in
// JavaScript; if anything changed since, the write matches no row and the caller reads again.
// That is what keeps a late touch from reviving an ended session or moving activity backwards,
// and a rotated-out hash from being touched or ended.
// The primary key is forced: MariaDB otherwise reads this one row through the idle index, whose
// (ended_at, last_activity_at) the condition also pins (with the key appended, a one-row range
// too), and so locks that index entry before the row. A sweep or sign-out locks the row first,
// then that entry as it ends the row: the opposite order, and a deadlock under load.
const SAME_STATE = 'seq = ? AND token_hash = ? AND ended_at IS NULL AND last_activity_at = ?';
const BY_KEY = 'curfew_sessions FORCE INDEX (PRIMARY)';
// Activity moves the kept idle deadline with it (the caller computes both).
export const TOUCH = `
  UPDATE ${BY_KEY} SET last_activity_at = ?, idle_expires_at = ? WHERE ${SAME_STATE}`;
export const END_ONE = `UPDATE ${BY_KEY} SET ended_at = ?, end_reason = ? WHERE ${SAME_STATE}`;
export const ROTATE = `
  UPDATE ${BY_KEY} SET token_hash = ?, last_activity_at = ?, idle_expires_at = ?
  WHERE ${SAME_STATE}`;
// A reauthentication: new token, activity and authentication now, the new level and limits.
export const REAUTHENTICATE = `
  UPDATE ${BY_KEY} SET token_hash = ?, last_activity_at = ?, idle_expires_at = ?,
    idle_timeout = ?, absolute_expires_at = ?, aal = ?, methods = ?, authenticated_at = ?
  WHERE ${SAME_STATE}`;

// The ExpiryRule of core/store.ts in SQL, for the multi-row writes, which end rows already locked
// by the same transaction (so JavaScript computes the same values from the locked read). Neither
// CASE reads a column this statement assigns: MySQL assigns left to right, and a CASE reading
// `ended_at` would see the new value.
// Each row's own limits, the idle one as its kept deadline. Parameters: now, now, now | now, now,
// reason.
const ABSOLUTE_EXPIRED = 'absolute_expires_at <= ?';
const IDLE_EXPIRED = '(idle_expires_at IS NOT NULL AND idle_expires_at <= ?)';
const END_WITH_RULE = `
  ended_at = CASE WHEN ${ABSOLUTE_EXPIRED} THEN absolute_expires_at
    WHEN ${IDLE_EXPIRED} THEN idle_expires_at ELSE ? END,
  end_reason = CASE WHEN ${ABSOLUTE_EXPIRED} THEN 'absolute_timeout'
    WHEN ${IDLE_EXPIRED} THEN 'idle_timeout' ELSE ? END`;

/**
 * Ends the listed rows with the rule; a text-protocol statement (`query`), because the list's
 * length varies and every distinct prepared text would stay cached on the server per connection.
 */
export const END_LOCKED = `
  UPDATE curfew_sessions SET ${END_WITH_RULE} WHERE seq IN (?) AND ended_at IS NULL`;

export function endWithRuleParams(now: number, reason: string): MysqlValue[] {
  return [now, now, now, now, now, reason];
}

// A user's active sessions, through one of two indexes ending (last_activity_at, id): with a
// tenant (`tenant_id <=> ?`, which matches NULL too) on (user_id, tenant_id, ended_at, ...), for
// every tenant on (user_id, ended_at, ...). After the equalities on the leading columns (ended_at
// IS NULL is one), each index holds the scope's active sessions in listing order, so a page is a
// short range walk from one end, whatever the user's session count. The hints pin that index:
// the optimiser's estimate is the whole range (it cannot count on the LIMIT), and for a tenant's
// page it was seen to take the every-tenant index, which walks past (and discards) the other
// tenants' sessions in between.
const userIndex = (scoped: boolean) =>
  scoped ? 'curfew_sessions_user_tenant_activity' : 'curfew_sessions_user_activity';
const inTenant = (scoped: boolean) => (scoped ? 'AND tenant_id <=> ?' : '');

/**
 * One page of a user's valid sessions, most recently active first. Each session has its own
 * limits, so expired ones (not yet swept) are passed over one by one: the sweep keeps them few.
 * The page start is written out as a disjunction, which MariaDB turns into a range on
 * (last_activity_at, id); it does not for the row comparison `(a, b) < (?, ?)`.
 * Parameters: user, [tenant,] [after: activity, activity, id,] now, now, how many.
 */
export const listUser = (scoped: boolean, after: boolean) => `
  SELECT ${SESSION_COLUMNS} FROM curfew_sessions FORCE INDEX (${userIndex(scoped)})
  WHERE user_id = ? ${inTenant(scoped)} AND ended_at IS NULL
    ${after ? 'AND (last_activity_at < ? OR (last_activity_at = ? AND id < ?))' : ''}
    AND absolute_expires_at > ? AND (idle_expires_at IS NULL OR idle_expires_at > ?)
  ORDER BY last_activity_at DESC, id DESC
  LIMIT ?`;

/**
 * The cap's view of a scope: its active sessions in listing order, read under the scope's lock.
 * Parameters: user, tenant.
 */
export const SELECT_SCOPE = `
  SELECT ${SESSION_COLUMNS} FROM curfew_sessions FORCE INDEX (${userIndex(true)})
  WHERE user_id = ? AND tenant_id <=> ? AND ended_at IS NULL
  ORDER BY last_activity_at DESC, id DESC`;

/** Creates the scope's lock row if it is new, and locks it. Parameters: scope key. */
export const LOCK_SCOPE_CREATE =
  'INSERT INTO curfew_session_scopes (scope) VALUES (?) ON DUPLICATE KEY UPDATE scope = scope';
export const LOCK_SCOPE = 'SELECT scope FROM curfew_session_scopes WHERE scope = ? FOR UPDATE';

/**
 * A batch of a tenant's sessions (or everyone's, by the absolute index), by a plain read, as
 * userCandidates does for a user. Parameters: [tenant,] the id to leave alone or '', how many.
 */
export const tenantCandidates = (everyone: boolean) =>
  everyone
    ? `SELECT seq FROM curfew_sessions FORCE INDEX (curfew_sessions_absolute)
       WHERE ended_at IS NULL AND CAST(id AS BINARY) <> ?
       ORDER BY absolute_expires_at, seq LIMIT ?`
    : `SELECT seq FROM curfew_sessions FORCE INDEX (curfew_sessions_tenant_active)
       WHERE tenant_id <=> ? AND ended_at IS NULL AND CAST(id AS BINARY) <> ?
       ORDER BY seq LIMIT ?`;

/**
 * "Sign out everywhere", one batch: up to `limit` of the scope's active sessions but one, by a
 * plain read (no lock, a snapshot as of the statement), least recently active first. It reads the
 * index only (every column it needs is in it). CAST: the exception compares byte for byte, as
 * ascii_bin would not ('a' = 'a '), and any string can be compared without a collation error;
 * no session has the empty id that stands for "no exception".
 * Parameters: user, [tenant,] the id to leave alone or '', how many.
 */
export const userCandidates = (scoped: boolean) => `
  SELECT seq FROM curfew_sessions FORCE INDEX (${userIndex(scoped)})
  WHERE user_id = ? ${inTenant(scoped)} AND ended_at IS NULL AND CAST(id AS BINARY) <> ?
  ORDER BY last_activity_at, id
  LIMIT ?`;

/**
 * Locks the listed rows that are still active, by primary key in key order, waiting for any
 * that another transaction holds (no SKIP LOCKED: a row held by a touch must still be ended). Two
 * of these lock in the same order and so never deadlock; a sweep skips what they hold. A row
 * ended meanwhile is read as it is after the wait and left out. Text protocol: the list varies.
 */
export const LOCK_LISTED = `
  SELECT ${END_COLUMNS} FROM curfew_sessions FORCE INDEX (PRIMARY)
  WHERE seq IN (?) AND ended_at IS NULL
  ORDER BY seq
  FOR UPDATE`;

// The sweep's two halves, absolute expiries first. Each finds candidates with a plain read of its
// own index (oldest expiry first, so a batch never reads live rows), then locks them by primary
// key with SKIP LOCKED, so that concurrent sweepers take disjoint rows instead of queueing behind
// each other. Locking through the secondary index instead deadlocked sweepers: InnoDB keeps the
// lock it took on an index entry whose row it then skips, and the sweeper that owns the row needs
// that entry to end it. By primary key, a sweep locks only rows it ends. A sweeper whose
// candidates are all held by others reads the next page of them, after the last (expiry, seq)
// it saw: the index ends in the primary key, so that order is the index's own. The hints pin
// the one right plan: with most rows expired (a backlog) a scan would read far more.
// Parameters: the bound, the page's start (expiry, expiry, seq), [now,] how many.
export const SWEEP_ABSOLUTE_CANDIDATES = `
  SELECT seq, absolute_expires_at FROM curfew_sessions FORCE INDEX (curfew_sessions_absolute)
  WHERE ended_at IS NULL AND absolute_expires_at <= ?
    AND (absolute_expires_at > ? OR (absolute_expires_at = ? AND seq > ?))
  ORDER BY absolute_expires_at, seq LIMIT ?`;
export const SWEEP_IDLE_CANDIDATES = `
  SELECT seq, idle_expires_at FROM curfew_sessions FORCE INDEX (curfew_sessions_idle_deadline)
  WHERE ended_at IS NULL AND idle_expires_at <= ?
    AND (idle_expires_at > ? OR (idle_expires_at = ? AND seq > ?))
    AND absolute_expires_at > ?
  ORDER BY idle_expires_at, seq LIMIT ?`;
// Text protocol (`query`): the id list's length varies. The primary key is forced, since the
// optimiser would otherwise often prefer the expiry index (and lock through it, the deadlock
// above); ORDER BY that key, so the LIMIT stops the read instead of sorting (and locking) every
// candidate first. Parameters: ids, the bound(s), how many.
export const LOCK_ABSOLUTE = `
  SELECT ${END_COLUMNS} FROM curfew_sessions FORCE INDEX (PRIMARY)
  WHERE seq IN (?) AND ended_at IS NULL AND absolute_expires_at <= ?
  ORDER BY seq LIMIT ?
  FOR UPDATE SKIP LOCKED`;
export const LOCK_IDLE = `
  SELECT ${END_COLUMNS} FROM curfew_sessions FORCE INDEX (PRIMARY)
  WHERE seq IN (?) AND ended_at IS NULL AND idle_expires_at <= ? AND absolute_expires_at > ?
  ORDER BY seq LIMIT ?
  FOR UPDATE SKIP LOCKED`;

export const PURGE = `
  DELETE FROM curfew_sessions WHERE ended_at < ? ORDER BY ended_at LIMIT ?`;

// Reports only. The absolute index starts with ended_at, so the active count reads only active
// rows; the ended count reads ended rows through the same index's ended_at prefix.
// COUNT_ACTIVE: now, now. COUNT_ENDED: since, now.
export const COUNT_ACTIVE = `
  SELECT count(*) FROM curfew_sessions FORCE INDEX (curfew_sessions_absolute)
  WHERE ended_at IS NULL AND absolute_expires_at > ?
    AND (idle_expires_at IS NULL OR idle_expires_at > ?)`;
export const COUNT_ENDED = `
  SELECT end_reason, count(*) FROM curfew_sessions FORCE INDEX (curfew_sessions_absolute)
  WHERE ended_at >= ? AND ended_at <= ?
  GROUP BY end_reason`;

export const PING = 'SELECT 1';

/**
 * The server's clock as epoch milliseconds. UNIX_TIMESTAMP of NOW(6) is independent of the
 * session's time zone; NOW(6) is the statement's start, on the server.
 */
export const STORE_TIME = 'SELECT UNIX_TIMESTAMP(NOW(6)) * 1000';
