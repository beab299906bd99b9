import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { SessionStore } from 'curfew';
import type { Metrics } from './metrics.js';

// Every method of the contract, optional ones included: listed as a record over the contract's
// keys, so a method added to SessionStore does not compile until it is listed (and forwarded).
// `false`: forwarded as it is, untimed (a synchronous question, not a store call).
const METHODS = {
  insert: true,
  validate: true,
  rotate: true,
  findById: true,
  endSession: true,
  endUserSessions: true,
  endSessions: true,
  listUserSessions: true,
  sweep: true,
  purgeEnded: true,
  countSessions: true,
  ping: true,
  storeTime: true,
  isUnavailable: false,
} satisfies Record<keyof SessionStore, boolean>;

/**
 * Wraps a store so that every call's duration lands in `metrics` (`curfew_store_duration_seconds`),
 * failed calls included, and, given a tracer, each call is a client span (`curfew.store
 * validate`), the child of whatever span is active. The wrapper is a plain object with the same methods (optional ones only
 * when the store has them), so the manager cannot tell the difference.
 *
 * @example
 * ```ts
 * const metrics = new Metrics();
 * const sessions = new SessionManager({ store: instrumentStore(new MemoryStore(), metrics) });
 * ```
 */
export function instrumentStore(
  store: SessionStore,
  metrics: Metrics,
  tracing?: { tracer: Tracer; store: string },
): SessionStore {
  const wrapped: Record<string, unknown> = {};
  for (const [method, timed] of Object.entries(METHODS) as Array<[keyof SessionStore, boolean]>) {
    const original = store[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof original !== 'function') continue;
    if (!timed) {
      wrapped[method] = original.bind(store);
      continue;
    }
    // Not an async wrapper: that would add a promise and a turn of its own to every store call.
    // The caller gets the store's own promise; the timing hangs off it.
    wrapped[method] = (...args: unknown[]): Promise<unknown> => {
      const started = performance.now();
      // A child of the active span (the request's, when the app traces). Only the operation and
      // the store's kind: never an argument, which may be a token hash.
      const span = tracing?.tracer.startSpan(`curfew.store ${method}`, {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system.name': tracing.store, 'curfew.store.operation': method },
      });
      const observe = () => {
        metrics.observeStore(method, (performance.now() - started) / 1000);
        span?.end();
      };
      const failed = (error: unknown) => {
        // The error's class and code say what failed; its message may quote a driver's row data.
        span?.setStatus({ code: SpanStatusCode.ERROR });
        span?.setAttribute(
          'error.type',
          String((error as { code?: unknown })?.code ?? (error as Error)?.name ?? 'Error'),
        );
        observe();
      };
      let pending: Promise<unknown>;
      try {
        // The same promise back for a native one; a thenable or a bare value is wrapped as await would.
        pending = Promise.resolve(original.apply(store, args));
      } catch (error) {
        failed(error);
        return Promise.reject(error);
      }
      pending.then(observe, failed);
      return pending;
    };
  }
  return wrapped as unknown as SessionStore;
}
