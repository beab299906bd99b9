import type { EndedSession, StoredSession } from '../../core/store.js';
import { decodeId, LEGACY_IDLE_TIMEOUT, LEGACY_RECORD_HEAD, RECORD_FIELDS } from './key-layout.js';

// A record is one string: the token hash's 32 bytes, then RECORD_FIELDS separated by NUL. One
// string instead of a hash of fields because Redis keeps a small hash compact only while every
// value is at most 64 bytes (`hash-max-listpack-value`), and a browser's user agent is longer: as
// a hash, a session cost about 1 KB in the record alone; as a string, a third of that.

const NUL = 0;

/**
 * A session as a record. Throws for values the format cannot hold (NUL in a text field, which the
 * manager never passes, or a hash that is not 64 hex characters).
 * @internal
 */
export function encodeRecord(session: StoredSession): Buffer {
  if (!/^[0-9a-f]{64}$/.test(session.tokenHash)) {
    throw new Error('tokenHash must be 64 lowercase hex characters');
  }
  const values: Record<(typeof RECORD_FIELDS)[number], string | null> = {
    la: time(session.lastActivityAt, 'lastActivityAt'),
    ax: time(session.absoluteExpiresAt, 'absoluteExpiresAt'),
    c: time(session.createdAt, 'createdAt'),
    ea: session.endedAt === null ? '' : time(session.endedAt, 'endedAt'),
    er: session.endReason ?? '',
    app: session.appType,
    ip: session.ipAddress ?? '',
    tid: session.tenantId ?? '',
    uid: session.userId,
    it: session.idleTimeout === null ? '' : time(session.idleTimeout, 'idleTimeout'),
    aal: String(session.aal),
    am: session.methods.join(' '),
    at: time(session.authenticatedAt, 'authenticatedAt'),
    ua: session.userAgent,
  };
  const parts: string[] = [];
  for (const field of RECORD_FIELDS) {
    const value = values[field];
    if (value === null) break; // only `ua`, the last, is ever left out
    if (value.includes('\u0000')) throw new Error(`${field} must not contain NUL`);
    parts.push(value);
  }
  return Buffer.concat([Buffer.from(session.tokenHash, 'hex'), Buffer.from(parts.join('\u0000'))]);
}

function time(value: number, field: string): string {
  // Lua keeps numbers as doubles: whole milliseconds are exact up to 2^53.
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${field} must be whole epoch milliseconds`);
  }
  return String(value);
}

/**
 * Reads a record as the scripts return it (raw bytes) for the session `id`.
 * @internal
 */
export function decodeRecord(id: string, record: unknown): StoredSession {
  if (!Buffer.isBuffer(record) || record.length < 33) {
    throw new Error('unexpected reply from Redis: expected a session record');
  }
  // Split on NUL (no field holds one); the field count tells the current form from the one
  // written before sessions carried a level (LEGACY_RECORD_HEAD).
  const parts: string[] = [];
  let start = 32;
  for (;;) {
    const end = record.indexOf(NUL, start);
    if (end === -1) {
      parts.push(record.toString('utf8', start));
      break;
    }
    parts.push(record.toString('utf8', start, end));
    start = end + 1;
  }
  const legacy = parts.length <= LEGACY_RECORD_HEAD + 1;
  const head = legacy ? LEGACY_RECORD_HEAD : RECORD_FIELDS.length - 1;
  if (parts.length !== head && parts.length !== head + 1) {
    throw new Error('unexpected reply from Redis: a session record is incomplete');
  }
  const [la, ax, c, ea, er, app, ip, tid, uid, it, aal, am, at] = parts as string[];
  const createdAt = Number(c);
  return {
    id,
    tokenHash: record.toString('hex', 0, 32),
    userId: uid!,
    tenantId: tid === '' ? null : tid!,
    appType: app!,
    ipAddress: ip === '' ? null : ip!,
    userAgent: parts.length === head + 1 ? parts[head]! : null,
    createdAt,
    lastActivityAt: Number(la),
    absoluteExpiresAt: Number(ax),
    idleTimeout: legacy ? LEGACY_IDLE_TIMEOUT : it === '' ? null : Number(it),
    aal: legacy ? 1 : (Number(aal) as 1 | 2 | 3),
    methods: legacy || am === '' ? [] : am!.split(' '),
    authenticatedAt: legacy ? createdAt : Number(at),
    endedAt: ea === '' ? null : Number(ea),
    endReason: er === '' ? null : er!,
  };
}

export function decodeRecords(reply: unknown): StoredSession[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis: expected records');
  const sessions: StoredSession[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    sessions.push(decodeRecord(decodeId(asBuffer(reply[i])), reply[i + 1]));
  }
  return sessions;
}

/** A reply's bulk string, which `callBuffer` gives as a Buffer. @internal */
export function asBuffer(value: unknown): Buffer {
  if (!Buffer.isBuffer(value)) throw new Error('unexpected reply from Redis: expected bytes');
  return value;
}

/** What a caller needs of an ended session, from its record. @internal */
export function toEnded(session: StoredSession): EndedSession {
  if (session.endedAt === null || session.endReason === null) {
    throw new Error('unexpected reply from Redis: the session was not ended');
  }
  return {
    id: session.id,
    userId: session.userId,
    tenantId: session.tenantId,
    endReason: session.endReason,
    endedAt: session.endedAt,
  };
}
