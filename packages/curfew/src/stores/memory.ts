import type { EndReason } from '../core/end-reason.js';
import {
  type EndedSession,
  type ExpiryRule,
  findExpiry,
  matchesOwner,
  type SessionCounts,
  type SessionOwner,
  type SessionStore,
  type StoredSession,
  type StoreEndInput,
  type StoreSweepInput,
  type StoreValidateInput,
  type StoreValidateResult,
  type UserScope,
} from '../core/store.js';

/**
 * A complete {@link SessionStore} in this process's memory, for tests and development. It keeps
 * the same rules as the database stores (unique hashes, atomic check-and-change, hashes only),
 * but its sessions vanish when the process ends and are not shared between processes.
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
  readonly #byUser = new Map<string, Set<StoredSession>>();

  /** How many sessions it holds, ended ones included. */
  get size(): number {
    return this.#byId.size;
  }

  async insert(session: StoredSession): Promise<void> {
    if (this.#byHash.has(session.tokenHash)) throw new Error('duplicate token hash');
    if (this.#byId.has(session.id)) throw new Error('duplicate session id');
    const row = { ...session };
    this.#byHash.set(row.tokenHash, row);
    this.#byId.set(row.id, row);
    let forUser = this.#byUser.get(row.userId);
    if (forUser === undefined) {
      forUser = new Set();
      this.#byUser.set(row.userId, forUser);
    }
    forUser.add(row);
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    const row = this.#byHash.get(tokenHash);
    if (row === undefined) return { status: 'missing' };
    if (row.endedAt !== null) return { status: 'ended', session: { ...row } };
    const expiry = findExpiry(row, input);
    if (expiry !== null) {
      end(row, expiry.reason, expiry.at);
      return { status: 'expired', session: { ...row }, endedNow: true };
    }
    const touched =
      input.touchInterval !== null && input.now - row.lastActivityAt >= input.touchInterval;
    if (touched && input.now > row.lastActivityAt) row.lastActivityAt = input.now;
    return { status: 'valid', session: { ...row }, touched };
  }

  async rotate(oldHash: string, newHash: string, rule: ExpiryRule): Promise<StoredSession | null> {
    const row = this.#byHash.get(oldHash);
    if (row === undefined || row.endedAt !== null || findExpiry(row, rule) !== null) return null;
    if (this.#byHash.has(newHash)) throw new Error('duplicate token hash');
    this.#byHash.delete(oldHash);
    row.tokenHash = newHash;
    if (rule.now > row.lastActivityAt) row.lastActivityAt = rule.now;
    this.#byHash.set(newHash, row);
    return { ...row };
  }

  async findById(id: string): Promise<StoredSession | null> {
    const row = this.#byId.get(id);
    return row === undefined ? null : { ...row };
  }

  async endSession(
    target: { tokenHash: string } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    const row =
      'tokenHash' in target ? this.#byHash.get(target.tokenHash) : this.#byId.get(target.id);
    if (row === undefined || row.endedAt !== null) return null;
    if ('id' in target && !matchesOwner(row, target.owner)) return null;
    return endWithRule(row, input);
  }

  async endUserSessions(
    scope: UserScope,
    input: StoreEndInput & { exceptId?: string | undefined },
  ): Promise<EndedSession[]> {
    const ended: EndedSession[] = [];
    for (const row of this.#byUser.get(scope.userId) ?? []) {
      if (row.endedAt !== null || row.id === input.exceptId || !matchesOwner(row, scope)) continue;
      ended.push(endWithRule(row, input));
    }
    return ended;
  }

  async listUserSessions(
    scope: UserScope,
    rule: ExpiryRule & { limit: number },
  ): Promise<StoredSession[]> {
    const rows: StoredSession[] = [];
    for (const row of this.#byUser.get(scope.userId) ?? []) {
      if (row.endedAt === null && matchesOwner(row, scope) && findExpiry(row, rule) === null) {
        rows.push({ ...row });
      }
    }
    rows.sort((a, b) => b.lastActivityAt - a.lastActivityAt || (a.id < b.id ? -1 : 1));
    return rows.slice(0, rule.limit);
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
      .map((row) => endWithRule(row, { ...input, reason: 'idle_timeout' }));
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
      const forUser = this.#byUser.get(row.userId);
      forUser?.delete(row);
      if (forUser?.size === 0) this.#byUser.delete(row.userId);
      deleted += 1;
    }
    return deleted;
  }

  async ping(): Promise<void> {}
}

function end(row: StoredSession, reason: EndReason, at: number): void {
  row.endedAt = at;
  row.endReason = reason;
}

function endWithRule(row: StoredSession, input: StoreEndInput): EndedSession {
  const expiry = findExpiry(row, input);
  if (expiry === null) end(row, input.reason, input.now);
  else end(row, expiry.reason, expiry.at);
  return {
    id: row.id,
    userId: row.userId,
    tenantId: row.tenantId,
    endReason: row.endReason!,
    endedAt: row.endedAt!,
  };
}
