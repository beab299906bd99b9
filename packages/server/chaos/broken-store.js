// Deliberately broken stores, for the harness's own test: a green run means something only if
// a run on a broken service is red. Each mode is a mistake real session layers make. They exist
// here, in the harness, and reach the service only through `startServer`'s `wrapStore` option
// (see broken-instance.js): no setting or flag of `curfew serve` can turn one on.

/** The broken modes, by name, with the rule the checker must report for each. */
export const BROKEN_MODES = {
  // A short cache in front of validation, the classic way to save a store round trip: a token
  // revoked on one instance (or this one) stays valid here for the cache's life.
  'validation-cache': { rule: 'stale-token' },
  // A create acknowledged without being written (a write lost to a failover, a fire-and-forget
  // insert): every fifth session the client was given never existed.
  'unwritten-create': { rule: 'lost' },
};

const CACHE_MS = 2_000;

/**
 * Wraps `store` so it breaks as `mode` says; every method not broken is the store's own.
 *
 * @param {import('curfew').SessionStore} store
 * @param {keyof typeof BROKEN_MODES} mode
 * @returns {import('curfew').SessionStore}
 */
export function breakStore(store, mode) {
  if (!(mode in BROKEN_MODES)) throw new Error(`unknown broken mode ${mode}`);
  // A proxy, so that optional methods (ping, storeTime, isUnavailable) stay as the store has them.
  const broken = Object.create(null);
  if (mode === 'validation-cache') {
    const cache = new Map(); // token hash -> { at, result }
    broken.validate = async (tokenHash, input) => {
      const hit = cache.get(tokenHash);
      if (hit !== undefined && performance.now() - hit.at < CACHE_MS) return hit.result;
      const result = await store.validate(tokenHash, input);
      if (result.status === 'valid') cache.set(tokenHash, { at: performance.now(), result });
      return result;
    };
  }
  if (mode === 'unwritten-create') {
    let count = 0;
    broken.insert = async (session, cap) => {
      count += 1;
      if (count % 5 === 0) return { inserted: true, ended: [] };
      return store.insert(session, cap);
    };
  }
  return new Proxy(store, {
    get(target, name) {
      if (name in broken) return broken[name];
      const value = target[name];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
