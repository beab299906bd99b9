import { Writable } from 'node:stream';
import { MemoryStore, SessionManager } from 'curfew';
import { ManualClock } from 'curfew/testing';
import { afterEach, expect, it } from 'vitest';
import { ApiKeyring } from '../src/api-keys.js';
import { type ClockSkewMonitor, startClockSkewMonitor } from '../src/clock-skew.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/metrics.js';

const MINUTE = 60_000;
const monitors: ClockSkewMonitor[] = [];
afterEach(() => {
  for (const monitor of monitors.splice(0)) monitor.stop();
});

/**
 * A store whose server clock the test sets: a MemoryStore with the `storeTime` a network store
 * has. The stores' own `storeTime` is checked against real servers in the conformance suite
 * (clock-skew); here the subject is what the service does with the reading.
 */
class StoreWithClock extends MemoryStore {
  serverTime = 0;
  down = false;
  async storeTime(): Promise<number> {
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return this.serverTime;
  }
}

async function gauge(metrics: Metrics): Promise<number> {
  return Number(/^curfew_store_clock_skew_seconds (\S+)$/m.exec(await metrics.render())?.[1]);
}

function setup() {
  const clock = new ManualClock(Date.parse('2026-03-01T09:00:00.000Z'));
  const store = new StoreWithClock();
  const lines: string[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  const metrics = new Metrics();
  const manager = new SessionManager({ store, clock: clock.now });
  const monitor = startClockSkewMonitor({ manager, warn: 1_000, max: 10_000, logger, metrics });
  monitors.push(monitor);
  const app = buildApp({
    manager,
    keys: new ApiKeyring([]),
    metrics,
    unready: monitor.unready,
  });
  const flush = () => new Promise<void>((resolve) => logger.flush(() => resolve()));
  return { clock, store, lines, metrics, monitor, app, flush };
}

it('exports the skew, warns past the threshold, and fails /readyz past the maximum', async () => {
  const { clock, store, lines, metrics, monitor, app, flush } = setup();

  // In step (within the round trip): ready, nothing logged.
  store.serverTime = clock.now();
  await monitor.check();
  expect(Math.abs(monitor.last()!.skew)).toBeLessThan(50);
  expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  await flush();
  expect(lines.join('')).not.toContain('clock');

  // This instance 5 s fast: a warning, still ready.
  store.serverTime = clock.now() - 5_000;
  await monitor.check();
  // This clock minus the store's, less half the (tiny) round trip.
  expect(await gauge(metrics)).toBeCloseTo(5, 1);
  expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  await flush();
  const warning = JSON.parse(lines.at(-1)!);
  expect(warning).toMatchObject({ level: 40, unready: false, warnMs: 1000, maxMs: 10000 });
  expect(warning.skewMs).toBeGreaterThanOrEqual(5_000);
  expect(warning.skewMs).toBeLessThan(5_050);

  // 25 minutes fast, as in the report that a 30-minute session lived 50 minutes: not ready.
  store.serverTime = clock.now() - 25 * MINUTE;
  await monitor.check();
  const unready = await app.inject({ method: 'GET', url: '/readyz' });
  expect(unready.statusCode).toBe(503);
  expect(unready.json()).toMatchObject({
    code: 'CLOCK_SKEW',
    detail: expect.stringMatching(
      /^this instance's clock is 15000\d\d ms from the store's; at most 10000 ms is allowed$/,
    ),
  });
  // Slow counts the same as fast.
  store.serverTime = clock.now() + 25 * MINUTE;
  await monitor.check();
  expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
  expect(await gauge(metrics)).toBeCloseTo(-1500, 1);

  // The store down: the last reading stands (readyz fails on the store anyway).
  store.down = true;
  await monitor.check();
  expect(monitor.last()!.skew).toBeLessThan(-25 * MINUTE + 100);
  store.down = false;

  // Fixed: ready again at the next check.
  store.serverTime = clock.now();
  await monitor.check();
  expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
});

it('measures nothing on a store that shares this machine’s clock', async () => {
  const manager = new SessionManager({ store: new MemoryStore() });
  const metrics = new Metrics();
  const monitor = startClockSkewMonitor({ manager, warn: 1_000, max: 10_000, metrics });
  monitors.push(monitor);
  await monitor.check();
  expect(monitor.last()).toBeNull();
  expect(monitor.unready()).toBeNull();
  expect(await metrics.render()).not.toContain('clock_skew');
});
