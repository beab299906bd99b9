import type { SessionStore } from 'curfew';
import type { Metrics } from './metrics.js';

type StoreMethod = Exclude<keyof SessionStore, 'ping'>;
const METHODS: readonly StoreMethod[] = [
  'insert',
  'validate',
  'rotate',
  'findById',
  'endSession',
  'endUserSessions',
  'listUserSessions',
  'sweep',
  'purgeEnded',
];

/**
 * Wraps a store so that every call's duration lands in `metrics` (`curfew_store_duration_seconds`),
 * failed calls included. The wrapper is a plain object with the same methods, so the manager
 * cannot tell the difference.
 *
 * @example
 * ```ts
 * const metrics = new Metrics();
 * const sessions = new SessionManager({ store: instrumentStore(new MemoryStore(), metrics) });
 * ```
 */
export function instrumentStore(store: SessionStore, metrics: Metrics): SessionStore {
  const wrapped: Record<string, unknown> = {};
  for (const method of [...METHODS, 'ping'] as const) {
    const original = store[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof original !== 'function') continue;
    wrapped[method] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await original.apply(store, args);
      } finally {
        metrics.observeStore(method, (performance.now() - started) / 1000);
      }
    };
  }
  return wrapped as unknown as SessionStore;
}
