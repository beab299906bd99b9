import type { EndReason } from '../core/end-reason.js';
import {
  compareListOrder,
  type EndedSession,
  type ExpiryRule,
  findExpiry,
  type ListPosition,
  matchesOwner,
  type SessionCounts,
  type SessionFilter,
  type SessionOwner,
  type SessionStore,
  type StoredSession,
  type StoreEndInput,
  type StoreEndUserInput,
  type StoreEndUserResult,
  type StoreInsertResult,
  type StoreListInput,
  type StoreRotateInput,
  type StoreSessionCap,
  type StoreSweepInput,
  type StoreValidateInput,
  type StoreValidateResult,
  type UserScope,
} from '../core/store.js';
import { SortedList } from './sorted-list.js';

type ActiveList = SortedList<StoredSession, ListPosition>;

/**
 * A complete {@link SessionStore} in this process's memory, for tests and development. It keeps
 * the same rules as the database stores (unique hashes, atomic check-and-change, hashes only),
 * but its sessions vanish when the process ends and are not shared between processes.
 *
 * Each user's active sessions are kept in listing order, per user and per user and tenant, so a
 * page of them, an activity write and "sign out everywhere" cost the same for a user with a
 * hundred thousand sessions as for one with ten.
 *
 * @example
 * ```ts
 * import { MemoryStore, SessionManager } from 'curfew';
 *
 * const sessions = new SessionManager({ store: new MemoryStore() });
 * ```
 */
export class MemoryStore implements SessionStore {
  readonly #byHash = new Map<string, StoredSession>();
  readonly #byId = new Map<string, StoredSession>();
  /** Active sessions by user id, and by user id and tenant ({@link scopeKey}), listing order. */
  readonly #byUser = new Map<string, ActiveList>();
  readonly #byUserTenant = new Map<string, ActiveList>();
  /** Active sessions by tenant ({@link tenantKey}), for ending a tenant's or everyone's. */
  readonly #byTenant = new Map<string, Set<StoredSession>>();

  /** How many sessions it holds, ended ones included. */
  get size(): number {
    return this.#byId.size;
  }

  async insert(session: StoredSession, cap?: StoreSessionCap): Promise<StoreInsertResult> {
    if (this.#byHash.has(session.tokenHash)) throw new Error('duplicate token hash');
    if (this.#byId.has(session.id)) throw new Error('duplicate session id');
    const room = cap === undefined ? { ended: [], refused: false } : this.#makeRoom(session, cap);
    // Expired sessions the cap looked at are ended either way, and reported, so their events go.
    if (room.refused) return { inserted: false, ended: room.ended };
    const ended = room.ended;
    const row = { ...session, methods: [...session.methods] };
    this.#byHash.set(row.tokenHash, row);
    this.#byId.set(row.id, row);
    if (row.endedAt === null) this.#index(row);
    return { inserted: true, ended };
  }

  /**
   * Under a cap, ends what must go before a new session of the scope may be added: expired
   * sessions (their timeout), then the least recently active valid ones (`session_limit`).
   * `refused` when the cap refuses instead. Synchronous, so no other call can interleave.
   */
  #makeRoom(
    session: StoredSession,
    cap: StoreSessionCap,
  ): { ended: EndedSession[]; refused: boolean } {
    const list = this.#byUserTenant.get(scopeKey(session.userId, session.tenantId));
    if (list === undefined) return { ended: [], refused: false };
    const valid: StoredSession[] = [];
    const ended: EndedSession[] = [];
    for (const row of [...list.from(undefined)]) {
      if (findExpiry(row, cap) === null) valid.push(row);
      else ended.push(this.#endWithRule(row, { now: cap.now, reason: 'session_limit' }));
    }
    const excess = valid.length - (cap.max - 1);
    if (excess <= 0) return { ended, refused: false };
    if (cap.action === 'refuse') return { ended, refused: true };
    // `valid` is in listing order, most recently active first: the last ones go.
    for (const row of valid.slice(valid.length - excess)) {
      ended.push(this.#endWithRule(row, { now: cap.now, reason: 'session_limit' }));
    }
    return { ended, refused: false };
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    const row = this.#byHash.get(tokenHash);
    if (row === undefined || !matchesOwner(row, input.owner)) return { status: 'missing' };
    if (row.endedAt !== null) return { status: 'ended', session: copy(row) };
    const expiry = findExpiry(row, input);
    if (expiry !== null) {
      this.#end(row, expiry.reason, expiry.at);
      return { status: 'expired', session: copy(row), endedNow: true };
    }
    const touched =
      input.touchInterval !== null && input.now - row.lastActivityAt >= input.touchInterval;
    if (touched && input.now > row.lastActivityAt) this.#moveActivity(row, input.now);
    return { status: 'valid', session: copy(row), touched };
  }

  async rotate(
    oldHash: string,
    newHash: string,
    input: StoreRotateInput,
  ): Promise<StoredSession | null> {
    const row = this.#byHash.get(oldHash);
    if (row === undefined || row.endedAt !== null || findExpiry(row, input) !== null) return null;
    if (!matchesOwner(row, input.owner)) return null;
    if (this.#byHash.has(newHash)) throw new Error('duplicate token hash');
    this.#byHash.delete(oldHash);
    row.tokenHash = newHash;
    if (input.now > row.lastActivityAt) this.#moveActivity(row, input.now);
    const renewed = input.reauthentication;
    if (renewed !== undefined) {
      row.aal = renewed.aal;
      row.methods = [...renewed.methods];
      row.idleTimeout = renewed.idleTimeout;
      row.absoluteExpiresAt = renewed.absoluteExpiresAt;
      row.authenticatedAt = input.now;
    }
    this.#byHash.set(newHash, row);
    return copy(row);
  }

  async findById(id: string): Promise<StoredSession | null> {
    const row = this.#byId.get(id);
    return row === undefined ? null : copy(row);
  }

  async endSession(
    target: { tokenHash: string; owner?: SessionOwner } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    const row =
      'tokenHash' in target ? this.#byHash.get(target.tokenHash) : this.#byId.get(target.id);
    if (row === undefined || row.endedAt !== null) return null;
    if (!matchesOwner(row, target.owner)) return null;
    return this.#endWithRule(row, input);
  }

  async endSessions(filter: SessionFilter, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const sets =
      filter.tenantId === undefined
        ? [...this.#byTenant.values()]
        : [this.#byTenant.get(tenantKey(filter.tenantId))].filter((set) => set !== undefined);
    const chosen: StoredSession[] = [];
    outer: for (const set of sets) {
      for (const row of set) {
        if (chosen.length >= input.limit) break outer;
        if (row.id !== input.exceptId) chosen.push(row);
      }
    }
    return {
      ended: chosen.map((row) => this.#endWithRule(row, input)),
      done: chosen.length < input.limit,
    };
  }

  async endUserSessions(scope: UserScope, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const list = this.#listFor(scope);
    const chosen: StoredSession[] = [];
    if (list !== undefined) {
      // From the least recently active end, where taking rows out moves the least.
      for (const row of list.fromEnd()) {
        if (chosen.length >= input.limit) break;
        if (row.id !== input.exceptId) chosen.push(row);
      }
    }
    return {
      ended: chosen.map((row) => this.#endWithRule(row, input)),
      done: chosen.length < input.limit,
    };
  }

  async listUserSessions(scope: UserScope, input: StoreListInput): Promise<StoredSession[]> {
    const rows: StoredSession[] = [];
    const list = this.#listFor(scope);
    if (list === undefined) return rows;
    for (const row of list.from(input.after)) {
      if (rows.length >= input.limit) break;
      if (findExpiry(row, input) === null) rows.push(copy(row));
    }
    return rows;
  }

  async sweep(input: StoreSweepInput): Promise<EndedSession[]> {
    // Absolute expiries first, as the database stores do, so the order of the audit trail
    // does not depend on the engine.
    const absolute: StoredSession[] = [];
    const idle: StoredSession[] = [];
    for (const row of this.#byId.values()) {
      if (row.endedAt !== null) continue;
      const expiry = findExpiry(row, input);
      if (expiry?.reason === 'absolute_timeout') absolute.push(row);
      else if (expiry?.reason === 'idle_timeout') idle.push(row);
      if (absolute.length >= input.limit) break;
    }
    return [...absolute, ...idle]
      .slice(0, input.limit)
      .map((row) => this.#endWithRule(row, { ...input, reason: 'idle_timeout' }));
  }

  async countSessions(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts> {
    const counts: SessionCounts = { active: 0, endedByReason: {} };
    for (const row of this.#byId.values()) {
      if (row.endedAt === null) {
        if (findExpiry(row, input) === null) counts.active += 1;
      } else if (row.endedAt >= input.endedSince && row.endedAt <= input.now) {
        const reason = row.endReason!;
        counts.endedByReason[reason] = (counts.endedByReason[reason] ?? 0) + 1;
      }
    }
    return counts;
  }

  async purgeEnded(input: { endedBefore: number; limit: number }): Promise<number> {
    let deleted = 0;
    for (const row of this.#byId.values()) {
      if (deleted >= input.limit) break;
      if (row.endedAt === null || row.endedAt >= input.endedBefore) continue;
      this.#byId.delete(row.id);
      this.#byHash.delete(row.tokenHash);
      deleted += 1;
    }
    return deleted;
  }

  async ping(): Promise<void> {}

  #listFor(scope: UserScope): ActiveList | undefined {
    return scope.tenantId === undefined
      ? this.#byUser.get(scope.userId)
      : this.#byUserTenant.get(scopeKey(scope.userId, scope.tenantId));
  }

  #index(row: StoredSession): void {
    for (const [map, key] of this.#places(row)) {
      let list = map.get(key);
      if (list === undefined) {
        list = new SortedList(compareListOrder);
        map.set(key, list);
      }
      list.add(row);
    }
    const key = tenantKey(row.tenantId);
    let tenant = this.#byTenant.get(key);
    if (tenant === undefined) {
      tenant = new Set();
      this.#byTenant.set(key, tenant);
    }
    tenant.add(row);
  }

  #unindex(row: StoredSession): void {
    for (const [map, key] of this.#places(row)) {
      const list = map.get(key);
      list?.delete(row);
      if (list?.size === 0) map.delete(key);
    }
    const key = tenantKey(row.tenantId);
    const tenant = this.#byTenant.get(key);
    tenant?.delete(row);
    if (tenant?.size === 0) this.#byTenant.delete(key);
  }

  #places(row: StoredSession): Array<[Map<string, ActiveList>, string]> {
    return [
      [this.#byUser, row.userId],
      [this.#byUserTenant, scopeKey(row.userId, row.tenantId)],
    ];
  }

  /** Records activity: out of the listing order at its old place, back in at its new one. */
  #moveActivity(row: StoredSession, at: number): void {
    for (const [map, key] of this.#places(row)) map.get(key)?.delete(row);
    row.lastActivityAt = at;
    for (const [map, key] of this.#places(row)) map.get(key)?.add(row);
  }

  #end(row: StoredSession, reason: EndReason, at: number): void {
    this.#unindex(row);
    row.endedAt = at;
    row.endReason = reason;
  }

  #endWithRule(row: StoredSession, input: StoreEndInput): EndedSession {
    const expiry = findExpiry(row, input);
    if (expiry === null) this.#end(row, input.reason, input.now);
    else this.#end(row, expiry.reason, expiry.at);
    return {
      id: row.id,
      userId: row.userId,
      tenantId: row.tenantId,
      endReason: row.endReason!,
      endedAt: row.endedAt!,
    };
  }
}

/** A row handed out: a copy, so a caller's changes never reach the store. */
function copy(row: StoredSession): StoredSession {
  return { ...row, methods: [...row.methods] };
}

/** A tenant as a map key: `null` apart from every tenant id (which cannot hold a NUL). */
function tenantKey(tenantId: string | null): string {
  return tenantId === null ? '\u0000' : tenantId;
}

/** A user and tenant as one map key; the NUL cannot occur in either (checked at creation). */
function scopeKey(userId: string, tenantId: string | null): string {
  return tenantId === null ? `${userId}\u0000` : `${userId}\u0000\u0000${tenantId}`;
}
