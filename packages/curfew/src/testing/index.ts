/**
 * Test helpers for curfew and for anyone writing a store: a manual clock and the
 * store-conformance suite (needs vitest).
 *
 * @example
 * ```ts
 * import { runStoreConformance } from 'curfew/testing';
 * import { MyStore } from '../src/my-store.js';
 *
 * runStoreConformance({ name: 'MyStore', createStore: async () => ({ store: new MyStore() }) });
 * ```
 * @packageDocumentation
 */
export {
  type ConformanceCase,
  runStoreConformance,
  type StoreConformanceOptions,
  type StoreUnderTest,
} from './conformance/index.js';
export { ManualClock } from './manual-clock.js';
