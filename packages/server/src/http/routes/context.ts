import type { SessionManager } from 'curfew';
import type { Metrics } from '../../metrics.js';
import type { TokenAccess } from '../token-access.js';

/** What route handlers work with. Built once per app. */
export interface RouteContext {
  manager: SessionManager;
  tokens: TokenAccess;
  metrics: Metrics;
  /** Epoch milliseconds; the same clock as the manager's, for `serverTime`. */
  clock: () => number;
  /** Why this instance should not take traffic beyond the store being down, or `null`. */
  unready: () => string | null;
}
