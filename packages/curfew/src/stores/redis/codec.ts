import type { EndedSession, StoredSession } from '../../core/store.js';

// The record hash's fields (see key-layout.ts); a null value is an absent field.

/** @internal */
export function encodeSession(session: StoredSession, userKey: string): string[] {
  const fields = [
    'id',
    session.id,
    'th',
    session.tokenHash,
    'uid',
    session.userId,
    'uh',
    userKey,
    'app',
    session.appType,
    'c',
    time(session.createdAt, 'createdAt'),
    'la',
    time(session.lastActivityAt, 'lastActivityAt'),
    'ax',
    time(session.absoluteExpiresAt, 'absoluteExpiresAt'),
  ];
  if (session.tenantId !== null) fields.push('tid', session.tenantId);
  if (session.ipAddress !== null) fields.push('ip', session.ipAddress);
  if (session.userAgent !== null) fields.push('ua', session.userAgent);
  if (session.endedAt !== null) fields.push('ea', time(session.endedAt, 'endedAt'));
  if (session.endReason !== null) fields.push('er', session.endReason);
  return fields;
}

function time(value: number, field: string): string {
  // Lua keeps numbers as doubles: whole milliseconds are exact up to 2^53.
  if (!Number.isSafeInteger(value)) throw new Error(`${field} must be whole epoch milliseconds`);
  return String(value);
}

/** Decodes a record as the scripts reply with it: `[field, value, field, value, …]`. @internal */
export function decodeSession(reply: unknown): StoredSession {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis: expected a record');
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  const required = (field: string): string => {
    const value = map.get(field);
    if (value === undefined) throw new Error(`unexpected reply from Redis: no ${field}`);
    return value;
  };
  const ended = map.get('ea');
  return {
    id: required('id'),
    tokenHash: required('th'),
    userId: required('uid'),
    tenantId: map.get('tid') ?? null,
    appType: required('app'),
    ipAddress: map.get('ip') ?? null,
    userAgent: map.get('ua') ?? null,
    createdAt: Number(required('c')),
    lastActivityAt: Number(required('la')),
    absoluteExpiresAt: Number(required('ax')),
    endedAt: ended === undefined ? null : Number(ended),
    endReason: map.get('er') ?? null,
  };
}

/** @internal */
export function decodeSessions(reply: unknown): StoredSession[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis: expected records');
  return reply.map(decodeSession);
}

/** Decodes an ended session as the end and sweep scripts reply with it (`brief`). @internal */
export function decodeEnded(reply: unknown): EndedSession {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis: expected a session');
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  const id = map.get('id');
  const userId = map.get('uid');
  const endedAt = map.get('ea');
  const endReason = map.get('er');
  if (
    id === undefined ||
    userId === undefined ||
    endedAt === undefined ||
    endReason === undefined
  ) {
    throw new Error('unexpected reply from Redis: the session was not ended');
  }
  return { id, userId, tenantId: map.get('tid') ?? null, endReason, endedAt: Number(endedAt) };
}

/** @internal */
export function decodeEndedList(reply: unknown): EndedSession[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis: expected sessions');
  return reply.map(decodeEnded);
}
