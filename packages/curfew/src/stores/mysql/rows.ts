import type { EndReason } from '../../core/end-reason.js';
import type { StoredSession } from '../../core/store.js';
import type { MysqlValue } from './pool.js';

/** A full row: the session, and `seq`, the primary key every single-row write goes through. */
export interface SessionRow {
  seq: number;
  session: StoredSession;
}

/** The part of a row that ending it needs (statements.ts END_COLUMNS). */
export interface EndRow {
  seq: number;
  id: string;
  userId: string;
  tenantId: string | null;
  lastActivityAt: number;
  absoluteExpiresAt: number;
  idleTimeout: number | null;
}

// Number(): a pool made with `bigNumberStrings` returns BIGINT columns as strings. Every time
// here is epoch milliseconds, far inside the doubles' exact range.
function time(value: unknown): number {
  return Number(value);
}

function text(value: unknown): string {
  return String(value);
}

function nullableText(value: unknown): string | null {
  return value === null ? null : String(value);
}

/** Decodes a row read with statements.ts SESSION_COLUMNS read as arrays (pool.ts `read`). */
export function decodeSession(row: unknown[]): SessionRow {
  return {
    seq: time(row[0]),
    session: {
      id: text(row[1]),
      tokenHash: text(row[2]),
      userId: text(row[3]),
      tenantId: nullableText(row[4]),
      appType: text(row[5]),
      ipAddress: nullableText(row[6]),
      userAgent: nullableText(row[7]),
      createdAt: time(row[8]),
      lastActivityAt: time(row[9]),
      absoluteExpiresAt: time(row[10]),
      endedAt: row[11] === null ? null : time(row[11]),
      endReason: nullableText(row[12]) as EndReason | null,
      idleTimeout: row[13] === null ? null : time(row[13]),
      aal: Number(row[14]) as 1 | 2 | 3,
      methods: text(row[15]) === '' ? [] : text(row[15]).split(' '),
      authenticatedAt: time(row[16]),
    },
  };
}

/** Decodes a row read with statements.ts END_COLUMNS read as arrays (pool.ts `read`). */
export function decodeEndRow(row: unknown[]): EndRow {
  return {
    seq: time(row[0]),
    id: text(row[1]),
    userId: text(row[2]),
    tenantId: nullableText(row[3]),
    lastActivityAt: time(row[4]),
    absoluteExpiresAt: time(row[5]),
    idleTimeout: row[6] === null ? null : time(row[6]),
  };
}

/** The insert's values, in statements.ts INSERT order. */
export function insertValues(session: StoredSession): MysqlValue[] {
  return [
    session.id,
    session.tokenHash,
    session.userId,
    session.tenantId,
    session.appType,
    session.ipAddress,
    session.userAgent,
    session.createdAt,
    session.lastActivityAt,
    session.absoluteExpiresAt,
    session.endedAt,
    session.endReason,
    session.idleTimeout,
    session.aal,
    session.methods.join(' '),
    session.authenticatedAt,
    session.idleTimeout === null ? null : session.lastActivityAt + session.idleTimeout,
  ];
}
