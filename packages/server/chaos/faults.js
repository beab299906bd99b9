// The faults the harness injects, each with the stores it applies to. A fault is injected at 30%
// of a scenario and cleared `duration` later (3 s unless it says); the context it gets holds the
// instances (kill, restart, signal), the store's handle from private-stores.js and, for faults
// on the wire, the proxy between the instances and the store.

const NETWORK = ['postgres', 'mariadb', 'redis'];
const ALL = ['sqlite', ...NETWORK, 'redis-cluster'];

/** By name: what it does, the stores it runs on, whether it needs the proxy, inject and clear. */
export const FAULTS = {
  none: {
    describe: 'no fault: the baseline',
    stores: ALL,
  },
  kill: {
    describe: 'SIGKILL of one of two instances under load, restarted 3 s later',
    stores: ALL,
    inject: async (ctx) => ctx.kill('i1'),
    clear: async (ctx) => ctx.restart('i1'),
  },
  pause: {
    describe: 'SIGSTOP of one of two instances for 3 s, then SIGCONT',
    stores: ALL,
    inject: async (ctx) => ctx.signal('i2', 'SIGSTOP'),
    clear: async (ctx) => ctx.signal('i2', 'SIGCONT'),
  },
  'store-restart': {
    describe: 'the store stopped for 3 s and started again',
    stores: NETWORK,
    inject: async (ctx) => ctx.store.stop(),
    clear: async (ctx) => ctx.store.start(),
  },
  latency: {
    describe: '100 ms ± 50 ms added to every packet between the instances and the store, 3 s',
    stores: NETWORK,
    proxy: true,
    inject: async (ctx) => ctx.proxy.setLatency(100, 50),
    clear: async (ctx) => ctx.proxy.clear(),
  },
  drop: {
    describe: 'every packet between the instances and the store dropped for 3 s (no reset)',
    stores: NETWORK,
    proxy: true,
    inject: async (ctx) => ctx.proxy.drop(true),
    clear: async (ctx) => ctx.proxy.drop(false),
  },
  reset: {
    describe: 'every store connection reset, every 250 ms for 3 s',
    stores: NETWORK,
    proxy: true,
    inject: async (ctx) => {
      ctx.proxy.reset();
      ctx.resetting = setInterval(() => ctx.proxy.reset(), 250);
    },
    clear: async (ctx) => clearInterval(ctx.resetting),
  },
  maxmemory: {
    describe: 'Redis full (maxmemory, noeviction) for 3 s: writes refused',
    stores: ['redis'],
    inject: async (ctx) => {
      await ctx.store.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      // A limit below what is used: every write that needs memory is refused with OOM.
      await ctx.store.cli('CONFIG', 'SET', 'maxmemory', '1');
    },
    clear: async (ctx) => ctx.store.cli('CONFIG', 'SET', 'maxmemory', '0'),
  },
  failover: {
    describe: 'a Redis Cluster master SIGKILLed; its replica promoted; the old master restarted',
    stores: ['redis-cluster'],
    duration: 1_000,
    inject: async (ctx) => {
      ctx.failover = await ctx.store.killMaster();
    },
    clear: async (ctx) => ctx.store.restartNode(ctx.failover.killed),
  },
};

/** The short form run in CI: one fault of each kind that needs no private server but Redis. */
export const SHORT = [
  ['sqlite', 'kill'],
  ['sqlite', 'pause'],
  ['redis', 'store-restart'],
  ['redis', 'reset'],
];
