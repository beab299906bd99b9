// What every area of the store-conformance suite shares: the store under test, the clock, the
// events and secrets seen so far, and the helpers that make managers and sessions. The objects
// are the same for the whole suite and reset before each case, so an area can take them once,
// when it registers its cases.
import type { SessionEvent } from '../../core/events.js';
import type { IssuedSession, SessionManager, SessionManagerOptions } from '../../core/manager.js';
import type { PolicyOptions } from '../../core/policy.js';
import type { ManualClock } from '../manual-clock.js';
import type { ConformanceCase, StoreUnderTest } from './index.js';

/** @internal */
export const MINUTE = 60_000;
/** @internal */
export const HOUR = 60 * MINUTE;
/** @internal */
export const EMPTY_PAGE = { sessions: [], nextCursor: null };

/** The suite's shared state and helpers, as each area receives them. @internal */
export interface ConformanceContext {
  /** The store of the running case: the same object, refilled before each case. */
  readonly current: StoreUnderTest;
  /** The managers' clock: the same clock, set back to its start before each case. */
  readonly clock: ManualClock;
  /** Events of the running case. */
  readonly events: SessionEvent[];
  /** Every token and hash handed out, for the leak check at the end. */
  readonly secrets: Set<string>;
  /** Every log line, event and error message, for the leak check at the end. */
  readonly said: string[];
  /** How many concurrent callers the race cases use. */
  readonly concurrency: number;
  /** How many sessions the one user of the big cases holds. */
  readonly bigUser: number;
  manager(policy?: PolicyOptions, extra?: Partial<SessionManagerOptions>): SessionManager;
  create(
    sessions: SessionManager,
    userId?: string,
    tenantId?: string | null,
  ): Promise<IssuedSession>;
  expectCurfewError(run: () => Promise<unknown>, code: string, field?: string): Promise<void>;
  test(name: ConformanceCase, title: string, body: () => Promise<void>, timeout?: number): void;
  tallyingManager(policy?: PolicyOptions): {
    sessions: SessionManager;
    ended: Map<string, string>;
    sample: string[];
    endedTwice: () => number;
  };
  createMany(
    sessions: SessionManager,
    count: number,
    userId: string,
    tenantId: string | null,
  ): Promise<Array<{ token: string; id: string }>>;
}
