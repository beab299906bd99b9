// How fast SessionManager.validate is on RedisStore, next to its floor measured in the same run:
// the very script the store runs (same SHA, same key, same arguments, captured from the store
// itself), issued by hand as an EVALSHA through the bare ioredis client, after hashing the token
// as curfew does.
//
// - 1 and 64 validations in flight, at 10,000 and at 1,000,000 stored sessions, each size alone
//   in a private redis-server of its own (so the small one's keyspace really is small). Tokens
//   are drawn at random from the whole keyspace. The clock is held still 1 s after the sessions'
//   last activity, so no activity write is due: the coalesced path, which all but one validation
//   per session per minute takes. Ours and floor run in alternating slices, round after round,
//   and each ratio is the median of the per-round ratios, so drift hits both sides alike.
// - Then the 1,000,000 sessions, all past their absolute expiry for a sweeper 13 hours later,
//   are swept through SessionManager in batches of 1,000 while validations of live sessions
//   arrive at a fixed rate; their latency is measured from the moment each was due (open loop),
//   so a stall cannot hide by delaying the next request.
//
// The sessions are loaded through RedisStore.insert itself, a thousand calls in flight on a
// connection of their own (ioredis writes them back to back, so they travel pipelined): every
// key, record and TTL is exactly what the store writes. Loopback only, on two redis-servers this
// bench starts on spare ports and always stops. Imports the built library: `npm run build` first.
// Exits 1 when a count is wrong or a validation fails; a ratio below target prints MISS.
import { randomUUID } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { SessionManager } from '../dist/index.js';
import { RECOMMENDED_REDIS_OPTIONS, RedisStore } from '../dist/stores/redis/index.js';
import { keyName } from '../dist/stores/redis/key-layout.js';
import { TARGETED_SCRIPTS } from '../dist/stores/redis/scripts.js';
import {
  alternateRounds,
  fmt,
  median,
  pct,
  percentile,
  printTable,
  rate,
  roundSlowdown,
  sha256,
  token,
} from './support/measure.js';
import { startRedis, usedMemory } from './support/redis-servers.js';

const SMALL = 10_000;
const LARGE = 1_000_000;
const IN_FLIGHT = [1, 64];
const ROUNDS = 12;
const SLICE_MS = 200;
const LOAD_IN_FLIGHT = 1_000;
const SWEEP_BATCH = 1_000;
const LIVE = 1_000;
const SWEEP_VALIDATIONS_PER_SECOND = 1_000;
const TARGET_RATIO = 0.7;
const TARGET_SLOWDOWN = 0.3;
const TARGET_P99_MS = 20;

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const NOW = T0 + 1_000; // every stored session last active at T0: no write due
const IDLE = 30 * 60_000;
const INTERVAL = 60_000;
const RETENTION = 30 * 24 * HOUR;
const SWEEP_AT = T0 + 13 * HOUR; // every stored session is past its absolute expiry

const began = performance.now();
const progress = (message) =>
  process.stderr.write(`… ${((performance.now() - began) / 1000).toFixed(0)} s: ${message}\n`);

// ---------------------------------------------------------------------------------------------
// Private redis-servers, always stopped: at the end, on an error, on Ctrl-C.

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(130)); // the exit handler kills the servers
}

async function startServer(name) {
  const server = await startRedis(name);
  const client = new Redis({
    host: '127.0.0.1',
    port: server.port,
    ...RECOMMENDED_REDIS_OPTIONS,
    lazyConnect: true,
  });
  // Loading keeps a thousand inserts in flight: its own connection, without the command timeout
  // that the measured client keeps.
  const loader = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
  for (const c of [client, loader]) c.on('error', () => undefined);
  await Promise.all([client.connect(), loader.connect()]);
  return {
    name,
    port: server.port,
    client,
    loader,
    async stop() {
      client.disconnect();
      loader.disconnect();
      await server.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Loading, through the store's own insert.

function session(i) {
  const createdAt = T0 - (i % 600_000); // created in the ten minutes before T0
  return {
    id: randomUUID(),
    tokenHash: sha256(token(i)),
    userId: `user-${Math.floor(i / 10)}`, // ten sessions per user
    tenantId: i % 3 === 0 ? null : `tenant-${i % 50}`,
    appType: 'control_panel',
    ipAddress: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
    createdAt,
    lastActivityAt: T0,
    absoluteExpiresAt: createdAt + 12 * HOUR,
    idleTimeout: IDLE,
    aal: 2,
    methods: ['pwd', 'otp'],
    authenticatedAt: createdAt,
    endedAt: null,
    endReason: null,
  };
}

async function load(server, size) {
  const store = new RedisStore(server.loader);
  const before = await usedMemory(server.client);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: LOAD_IN_FLIGHT }, async () => {
      while (next < size) {
        const i = next;
        next += 1;
        await store.insert(session(i));
      }
    }),
  );
  const ms = performance.now() - started;
  const used = await usedMemory(server.client);
  return { ms, bytesPerSession: (used - before) / size };
}

// ---------------------------------------------------------------------------------------------
// Measurement.

const LAYOUT = { prefix: 'curfew:', buckets: 1 }; // RedisStore's defaults on a single Redis

/** What the floor sends to validate a token hash: EVALSHA's arguments, as the store sends them. */
function floorCommand(hash) {
  const validate = TARGETED_SCRIPTS.validate.token;
  return [
    validate.sha,
    1,
    keyName(LAYOUT, 'token', { hash }),
    LAYOUT.prefix,
    String(RETENTION),
    'p', // the store keeps its pointers in its scripts, and has no id pointers (one bucket)
    '',
    '',
    Buffer.from(hash, 'hex'),
    String(NOW),
    '', // unused since sessions carry their own idle limit
    String(INTERVAL),
    '', // no owner: any user
    '', // any tenant
    '',
  ];
}

/** Checks, once, that the floor sends byte for byte what RedisStore.validate sends. */
async function checkFloor(client) {
  const sent = [];
  const recording = {
    callBuffer: (command, args) => {
      sent.push([command, ...args]);
      return client.callBuffer(command, args);
    },
    ping: () => client.ping(),
  };
  const hash = sha256(token(0));
  await new RedisStore(recording).validate(hash, { now: NOW, touchInterval: INTERVAL });
  const expected = ['EVALSHA', ...floorCommand(hash)];
  const same = (a, b) =>
    Buffer.isBuffer(a) || Buffer.isBuffer(b)
      ? Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b)
      : String(a) === String(b);
  // The first command: EVALSHA (an EVAL of the source follows when the server lacks the script).
  const first = sent[0] ?? [];
  if (first.length !== expected.length || !first.every((arg, i) => same(arg, expected[i]))) {
    throw new Error('the floor would not send what the store sends');
  }
}

function contestants(target) {
  const sessions = new SessionManager({ store: target.store, clock: () => NOW });
  const pickToken = () => token(Math.floor(Math.random() * target.size));
  return {
    async ours() {
      const result = await sessions.validate(pickToken());
      if (!result.valid) throw new Error(`ours: ${result.reason}`);
    },
    async floor() {
      // Exactly what RedisStore.validate sends: same script, key and arguments.
      const reply = await target.client.callBuffer('EVALSHA', floorCommand(sha256(pickToken())));
      if (String(reply[0]) !== 'valid') throw new Error(`floor: ${reply[0]}`);
    },
  };
}

async function compare(targets, inFlight) {
  const runs = targets.map((target) => contestants(target));
  for (const run of runs) {
    await rate(run.ours, inFlight, SLICE_MS / 2); // warm both paths
    await rate(run.floor, inFlight, SLICE_MS / 2);
  }
  const samples = await alternateRounds(
    runs.map((run) => ({
      ours: () => rate(run.ours, inFlight, SLICE_MS),
      floor: () => rate(run.floor, inFlight, SLICE_MS),
    })),
    ROUNDS,
  );
  return {
    sizes: samples.map((s, i) => ({
      size: targets[i].size,
      ours: median(s.ours),
      floor: median(s.floor),
      ratio: median(s.ratio),
    })),
    slowdown: roundSlowdown(samples[0].ours, samples[1].ours),
  };
}

/**
 * Validates live sessions at a fixed rate while `work` runs; each latency is measured from the
 * moment the validation was due (open loop), so a stall cannot hide by delaying the next one.
 */
async function openLoop(sessions, tokens, work) {
  const latencies = [];
  let failures = 0;
  let pending = 0;
  let issued = 0;
  const start = performance.now();
  const every = 1000 / SWEEP_VALIDATIONS_PER_SECOND;
  let stopping = false;
  const ticker = setInterval(() => {
    const now = performance.now();
    while (!stopping && start + issued * every <= now) {
      const due = start + issued * every;
      const t = tokens[issued % tokens.length];
      issued += 1;
      pending += 1;
      sessions
        .validate(t)
        .then((result) => {
          if (!result.valid) failures += 1;
          latencies.push(performance.now() - due);
        })
        .catch(() => {
          failures += 1;
        })
        .finally(() => {
          pending -= 1;
        });
    }
  }, 2);
  let result;
  try {
    result = await work();
  } finally {
    stopping = true;
    clearInterval(ticker);
  }
  while (pending > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    result,
    validations: latencies.length,
    failures,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? 0,
  };
}

/** Redis's own count and time (µs) of EVALSHA calls so far, from INFO commandstats. */
async function evalshaStats(client) {
  const stats = await client.info('commandstats');
  const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
  return line === null ? { calls: 0, usec: 0 } : { calls: Number(line[1]), usec: Number(line[2]) };
}

/** Sweeps the large server's sessions while live ones are validated at a fixed rate. */
async function sweepUnderLoad(target) {
  const live = new SessionManager({ store: target.store, clock: () => SWEEP_AT });
  const tokens = [];
  for (let i = 0; i < LIVE; i += 1) tokens.push((await live.create({ userId: `live-${i}` })).token);
  const sweeper = new SessionManager({ store: target.store, clock: () => SWEEP_AT });

  // The same load with nothing else going on: what this machine gives before any sweep.
  const baseline = await openLoop(live, tokens, () => new Promise((r) => setTimeout(r, 5_000)));
  const before = await evalshaStats(target.client);
  const sweep = await openLoop(live, tokens, async () => {
    const sweepStart = performance.now();
    const swept = await sweeper.sweepExpired({ batchSize: SWEEP_BATCH });
    return { swept, ms: performance.now() - sweepStart };
  });
  const after = await evalshaStats(target.client);
  const scripts = after.calls - before.calls - sweep.validations;
  return {
    baseline,
    sweep,
    swept: sweep.result.swept,
    sweepMs: sweep.result.ms,
    // Validations are EVALSHAs too, a few microseconds each: the rest is the sweep's scripts.
    sweepScripts: scripts,
    usecPerSweepScript: (after.usec - before.usec) / Math.max(1, scripts),
  };
}

async function main() {
  const started = performance.now();
  const servers = [];
  let failed = false;
  try {
    const small = await startServer('small');
    servers.push(small);
    const large = await startServer('large');
    servers.push(large);
    const version = /redis_version:(\S+)/.exec(await small.client.info('server'))?.[1];
    console.log('curfew: SessionManager.validate on RedisStore against its floor (bare EVALSHA)');
    console.log(`node ${process.version}, ${process.platform} ${process.arch}, pid ${process.pid}`);
    console.log(
      `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
        `load average ${loadavg()[0].toFixed(1)} at start`,
    );
    console.log(`redis-server ${version}, private, loopback, no persistence; ioredis client\n`);

    const setups = [];
    const targets = [];
    for (const [server, size] of [
      [small, SMALL],
      [large, LARGE],
    ]) {
      progress(`loading ${fmt(size)} sessions into the ${server.name} server`);
      const loaded = await load(server, size);
      progress(`loaded in ${fmt(loaded.ms)} ms`);
      setups.push(
        `${fmt(size)} in ${fmt(loaded.ms)} ms (${fmt(loaded.bytesPerSession)} bytes/session)`,
      );
      targets.push({ size, client: server.client, store: new RedisStore(server.client) });
    }
    for (const server of servers) await checkFloor(server.client);

    const rows = [];
    const slowdowns = [];
    for (const inFlight of IN_FLIGHT) {
      progress(`${inFlight} in flight`);
      const { sizes, slowdown } = await compare(targets, inFlight);
      progress(
        sizes
          .map((r) => `${fmt(r.size)}: ours ${fmt(r.ours)}/s floor ${fmt(r.floor)}/s`)
          .join('; '),
      );
      for (const row of sizes) rows.push({ inFlight, ...row });
      slowdowns.push({ inFlight, slowdown, small: sizes[0].ours, large: sizes[1].ours });
    }

    progress(`sweeping ${fmt(LARGE)} expired sessions under load`);
    const sweep = await sweepUnderLoad(targets[1]);

    console.log(
      `tokens drawn at random from all stored sessions; ${ROUNDS} rounds of ${SLICE_MS} ms ` +
        'slices; rates are medians, ratio (ours/floor) the median of the per-round ratios\n',
    );
    printTable(
      ['sessions', 'in flight', 'ours/s', 'floor/s', 'ratio', 'target', ''],
      rows.map((r) => [
        fmt(r.size),
        String(r.inFlight),
        fmt(r.ours),
        fmt(r.floor),
        r.ratio.toFixed(2),
        `≥ ${TARGET_RATIO.toFixed(2)}`,
        r.ratio >= TARGET_RATIO ? 'ok' : 'MISS',
      ]),
      [1, 2, 3, 4],
    );
    console.log(
      `\n${fmt(LARGE)} vs ${fmt(SMALL)} stored sessions, ours. slowdown: median over rounds of ` +
        `1 - rate at ${fmt(LARGE)} / rate at ${fmt(SMALL)}, both from the same round`,
    );
    printTable(
      ['in flight', `at ${fmt(SMALL)}/s`, `at ${fmt(LARGE)}/s`, 'slowdown', 'target', ''],
      slowdowns.map((s) => [
        String(s.inFlight),
        fmt(s.small),
        fmt(s.large),
        s.slowdown >= 0 ? pct(s.slowdown) : `${pct(s.slowdown)} (faster)`,
        `≤ ${pct(TARGET_SLOWDOWN)}`,
        s.slowdown <= TARGET_SLOWDOWN ? 'ok' : 'MISS',
      ]),
      [1, 2, 3],
    );

    const ended = sweep.swept.absolute + sweep.swept.idle;
    const latency = (run) =>
      `${fmt(run.validations)} validations, ${run.failures} failed; p50 ${run.p50.toFixed(2)} ms, ` +
      `p99 ${run.p99.toFixed(2)} ms, max ${run.max.toFixed(1)} ms`;
    console.log(
      `\nsweep of ${fmt(LARGE)} expired sessions in batches of ${fmt(SWEEP_BATCH)} ` +
        `(the store ends at most 100 per script), with ${fmt(SWEEP_VALIDATIONS_PER_SECOND)} ` +
        'validations/s of live sessions arriving meanwhile (open loop, latency from when due):',
    );
    console.log(
      `ended ${fmt(ended)} (absolute ${fmt(sweep.swept.absolute)}, idle ${fmt(sweep.swept.idle)}) ` +
        `in ${(sweep.sweepMs / 1000).toFixed(1)} s = ${fmt((ended / sweep.sweepMs) * 1000)}/s; ` +
        `${fmt(sweep.sweepScripts)} scripts, ${(sweep.usecPerSweepScript / 1000).toFixed(2)} ms ` +
        'each on average inside Redis (INFO commandstats)',
    );
    const p99ok = sweep.sweep.p99 < TARGET_P99_MS;
    console.log(
      `during the sweep: ${latency(sweep.sweep)}; p99 target < ${TARGET_P99_MS} ms ` +
        `${p99ok ? 'ok' : 'MISS'}`,
    );
    console.log(`same load, no sweep (5 s before it): ${latency(sweep.baseline)}`);
    console.log(`\nsetup: ${setups.join('; ')}`);
    console.log(
      `total ${((performance.now() - started) / 1000).toFixed(0)} s, ` +
        `load average ${loadavg()[0].toFixed(1)} at the end`,
    );
    if (ended !== LARGE || sweep.swept.absolute !== LARGE) {
      console.error(`expected ${LARGE} absolute expiries to be swept, got ${ended}`);
      failed = true;
    }
    if (sweep.sweep.failures + sweep.baseline.failures > 0) {
      console.error('validations of live sessions failed during the sweep');
      failed = true;
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
