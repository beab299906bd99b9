// The store-conformance suite: what every SessionStore must do, checked through a real
// SessionManager. This file holds the suite's frame (options, the store of each case, the leak
// check at the end); each area's cases are in a file of their own beside it.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CurfewError } from '../../core/errors.js';
import type { SessionEvent } from '../../core/events.js';
import { SessionManager, type SessionManagerOptions } from '../../core/manager.js';
import type { PolicyOptions } from '../../core/policy.js';
import type { SessionStore } from '../../core/store.js';
import { hashSessionToken } from '../../core/token.js';
import { ManualClock } from '../manual-clock.js';
import { type AssuranceCase, registerAssuranceCases } from './assurance.js';
import { registerBigUserCases } from './big-user.js';
import { registerConnectionCases } from './connections.js';
import type { ConformanceContext } from './context.js';
import { registerEndingCases } from './ending.js';
import { registerListingCases } from './listing.js';
import { registerRaceCases } from './races.js';
import { registerStorageCases } from './storage.js';
import { registerTimeoutCases } from './timeouts.js';
import { registerUpkeepCases } from './upkeep.js';

/** A store ready for the suite, and how to dispose of it. */
export interface StoreUnderTest {
  /** An empty store: no sessions from an earlier case may be visible. */
  store: SessionStore;
  /**
   * Another handle on the same data (a second connection or client), to check that atomicity
   * holds across connections as it must across processes. Omit for in-process stores.
   */
  openSecond?: () => SessionStore | Promise<SessionStore>;
  /** Closes connections and removes data; called after each case. */
  close?: () => void | Promise<void>;
}

/** The names of the suite's cases, for {@link StoreConformanceOptions.skip}. */
export type ConformanceCase =
  | 'create'
  | 'absolute-boundary'
  | 'idle-boundary'
  | 'both-expired'
  | 'coalesced-writes'
  | 'write-every-touch'
  | 'monotonic-activity'
  | 'touch-never-revives'
  | 'warnings'
  | 'revoke'
  | 'revoke-session-scope'
  | 'revoke-user-sessions'
  | 'revoke-user-sessions-batched'
  | 'list-user-sessions'
  | 'list-pages'
  | 'get-session'
  | 'rotate'
  | 'sweep'
  | 'purge'
  | 'count'
  | 'round-trip'
  | 'hash-only'
  | 'duplicate-hash'
  | 'bad-input'
  | 'race-expired-ends-once'
  | 'race-revoke-vs-validate'
  | 'race-concurrent-creates'
  | 'race-concurrent-sweeps'
  | 'race-revoke-all'
  | 'big-user-revoke'
  | 'big-user-sweep'
  | 'second-connection'
  | 'clock-skew'
  | AssuranceCase;

/**
 * Options for {@link runStoreConformance}.
 *
 * @example
 * ```ts
 * const options: StoreConformanceOptions = {
 *   name: 'RedisStore',
 *   createStore: async () => ({ store: new RedisStore(client), close: () => client.flushdb() }),
 *   skip: { 'second-connection': 'covered by the cluster suite' },
 * };
 * ```
 */
export interface StoreConformanceOptions {
  /** Shown in the suite's title. */
  name: string;
  /** Makes a fresh, empty store for each case. */
  createStore: () => StoreUnderTest | Promise<StoreUnderTest>;
  /** Cases to skip, each with the reason, which is printed in the case's title. */
  skip?: Partial<Record<ConformanceCase, string>>;
  /** How many concurrent callers the race cases use (default 100). */
  concurrency?: number;
  /**
   * How many sessions the one user of the `big-user-*` cases holds (default 100,000): the size
   * at which "sign out everywhere", listing, counting and sweeping must still be right.
   */
  bigUserSessions?: number;
  /** How many sessions the tenant of the `big-tenant-revoke` case holds (default 100,000). */
  bigTenantSessions?: number;
}

/**
 * Registers the store-conformance suite (vitest `describe`/`it`) against a store factory: every
 * operation through a real {@link SessionManager} on a manual clock, the expiry boundaries to the
 * millisecond, coalesced and monotonic activity writes, scoping, sweeping in batches, bad input,
 * and races with many concurrent callers. Every event, log line and error produced is checked at
 * the end for any token or full token hash.
 *
 * @example
 * ```ts
 * // test/my-store.conformance.test.ts
 * import { runStoreConformance } from 'curfew/testing';
 *
 * runStoreConformance({
 *   name: 'MyStore',
 *   createStore: async () => {
 *     const store = await MyStore.connect(process.env.MY_URL);
 *     return { store, close: () => store.dropEverything() };
 *   },
 * });
 * ```
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const concurrency = options.concurrency ?? 100;
  const bigUser = options.bigUserSessions ?? 100_000;
  const skip = options.skip ?? {};
  // Everything curfew said during the suite, and every secret it handed out: compared at the end.
  const said: string[] = [];
  const secrets = new Set<string>();

  describe(`store conformance: ${options.name}`, () => {
    // One object of each for the whole suite, refilled before each case, so that the areas can
    // take them when they register their cases.
    const current: StoreUnderTest = { store: undefined as unknown as SessionStore };
    const clock = new ManualClock();
    const start = clock.now();
    const events: SessionEvent[] = [];

    beforeEach(async () => {
      const made = await options.createStore();
      current.store = made.store;
      current.openSecond = made.openSecond;
      current.close = made.close;
      clock.set(start);
      events.length = 0;
    });
    afterEach(async () => {
      await current.close?.();
    });

    function manager(
      policy: PolicyOptions = {},
      extra: Partial<SessionManagerOptions> = {},
    ): SessionManager {
      return new SessionManager({
        store: current.store,
        policy,
        clock: clock.now,
        logger: recordingLogger(said),
        onEvent(event) {
          events.push(event);
          said.push(JSON.stringify(event));
        },
        ...extra,
      });
    }

    async function create(
      sessions: SessionManager,
      userId = 'user-1',
      tenantId: string | null = null,
    ) {
      const issued = await sessions.create({ userId, tenantId });
      secrets.add(issued.token);
      secrets.add(hashSessionToken(issued.token));
      return issued;
    }

    async function expectCurfewError(run: () => Promise<unknown>, code: string, field?: string) {
      try {
        await run();
      } catch (error) {
        expect(error).toBeInstanceOf(CurfewError);
        const curfewError = error as CurfewError;
        said.push(`${curfewError.name}: ${curfewError.message} ${curfewError.field ?? ''}`);
        expect(curfewError.code).toBe(code);
        if (field !== undefined) expect(curfewError.field).toBe(field);
        return;
      }
      throw new Error(`expected a CurfewError ${code}, but nothing was thrown`);
    }

    function test(
      name: ConformanceCase,
      title: string,
      body: () => Promise<void>,
      timeout?: number,
    ): void {
      const reason = skip[name];
      if (reason !== undefined) it.skip(`${name}: ${title} (skipped: ${reason})`, body);
      else it(`${name}: ${title}`, body, timeout);
    }

    /**
     * A manager for the big cases: its events are tallied, not kept in `said` (the suite's
     * leak check compares every line with every secret, which a hundred thousand would swamp);
     * a sample of them is checked for leaks below instead.
     */
    function tallyingManager(policy: PolicyOptions = {}) {
      const ended = new Map<string, string>();
      let endedTwice = 0;
      const sample: string[] = [];
      const { debug: _perSession, ...logger } = recordingLogger(said);
      const sessions = new SessionManager({
        store: current.store,
        policy,
        clock: clock.now,
        logger,
        onEvent(event) {
          if (sample.length < 20) sample.push(JSON.stringify(event));
          if (event.type !== 'ended') return;
          if (ended.has(event.sessionId)) endedTwice += 1;
          ended.set(event.sessionId, event.reason);
        },
      });
      return { sessions, ended, sample, endedTwice: () => endedTwice };
    }

    /** Creates `count` sessions for one user, `concurrency` at a time; a millisecond per 1000. */
    async function createMany(
      sessions: SessionManager,
      count: number,
      userId: string,
      tenantId: string | null,
    ): Promise<Array<{ token: string; id: string }>> {
      const made: Array<{ token: string; id: string }> = new Array(count);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(concurrency, count) }, async () => {
          while (next < count) {
            const i = next++;
            if (i > 0 && i % 1000 === 0) clock.advance(1);
            const { token, session } = await sessions.create({ userId, tenantId });
            made[i] = { token, id: session.id };
          }
        }),
      );
      return made;
    }

    const context: ConformanceContext = {
      current,
      clock,
      events,
      secrets,
      said,
      concurrency,
      bigUser,
      manager,
      create,
      expectCurfewError,
      test,
      tallyingManager,
      createMany,
    };
    registerTimeoutCases(context);
    registerEndingCases(context);
    registerListingCases(context);
    registerUpkeepCases(context);
    registerStorageCases(context);
    registerRaceCases(context);
    registerBigUserCases(context);
    registerConnectionCases(context);

    registerAssuranceCases({
      get clock() {
        return clock;
      },
      get events() {
        return events;
      },
      get store() {
        return current.store;
      },
      get openSecond() {
        return current.openSecond;
      },
      concurrency,
      bigTenant: options.bigTenantSessions ?? 100_000,
      manager,
      async issue(sessions, input) {
        const issued = await sessions.create(input);
        secrets.add(issued.token);
        secrets.add(hashSessionToken(issued.token));
        return issued;
      },
      expectCurfewError,
      test,
    });

    afterAll(() => {
      // The whole suite's output, checked at once: no token, no full hash, anywhere.
      const leaks = said.filter((line) => [...secrets].some((secret) => line.includes(secret)));
      expect(leaks).toEqual([]);
      expect(said.length).toBeGreaterThan(0);
    });
  });
}

function recordingLogger(lines: string[]) {
  const write = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
