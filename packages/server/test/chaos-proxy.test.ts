// The fault proxy must fail the network exactly as told and otherwise be a wire: bytes through
// unchanged and in order, latency that delays without reordering, a drop that swallows without a
// reset, resets the client sees as ECONNRESET, and nothing left open after close(). And the soak
// plot must be an SVG whose labels cannot break it. Real sockets on loopback.
import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
// @ts-expect-error: plain JavaScript, run by the harness as it is.
import { startFaultProxy } from '../chaos/fault-proxy.js';
// @ts-expect-error: plain JavaScript, run by the harness as it is.
import { plotSoak } from '../chaos/plot.js';

type Proxy = {
  port: number;
  host: string;
  setLatency(ms: number, jitterMs?: number): void;
  drop(on?: boolean): void;
  reset(): void;
  refuse(on?: boolean): void;
  clear(): void;
  stats(): {
    connections: number;
    open: number;
    resets: number;
    bytesUp: number;
    bytesDown: number;
  };
  close(): Promise<void>;
};
type Target = { port: number; accepted: Socket[]; server: Server };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (a second at most) for `read` to settle on what `check` accepts, and returns it. */
async function eventually<T>(read: () => T, check: (value: T) => boolean): Promise<T> {
  const until = performance.now() + 1_000;
  let value = read();
  while (!check(value) && performance.now() < until) {
    await sleep(5);
    value = read();
  }
  return value;
}

/** A loopback server that echoes (or, paused, reads nothing until told). */
async function startTarget({ paused = false } = {}): Promise<Target> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
    if (paused) socket.pause();
    else socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, accepted, server };
}

/** The proxy's figures once the connections it reset have closed on its side too. */
const statsOnce = (proxy: Proxy, open: number) =>
  eventually(
    () => proxy.stats(),
    (stats) => stats.open === open,
  );

async function startProxy(target: Target): Promise<Proxy> {
  const proxy: Proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: target.port } });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client connected through the proxy, with what it receives and how it ends. */
async function client(proxy: Proxy) {
  const socket = connect(proxy.port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<{ code: string | undefined }>((resolve) => {
    let code: string | undefined;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      code = error.code;
    });
    socket.on('close', () => resolve({ code }));
  });
  // A connection reset as it is accepted may fail its connect (ECONNRESET) rather than after.
  await Promise.race([new Promise((resolve) => socket.once('connect', resolve)), ended]);
  const received = () => Buffer.concat(chunks);
  /** Resolves once `bytes` have arrived in all; fails at once if the connection ends first. */
  const receive = async (bytes: number) => {
    while (received().length < bytes) {
      if (socket.destroyed) throw new Error(`closed after ${received().length} of ${bytes} bytes`);
      await Promise.race([new Promise((resolve) => socket.once('data', resolve)), ended]);
    }
    return received();
  };
  return { socket, received, receive, ended };
}

describe('the fault proxy', () => {
  it('passes bytes unchanged both ways, a 1 MiB payload and a half-close included', async () => {
    const target = await startTarget();
    const proxy = await startProxy(target);
    const a = await client(proxy);
    const payload = randomBytes(1024 * 1024);
    a.socket.end(payload);
    const echoed = await a.receive(payload.length);
    expect(echoed.equals(payload)).toBe(true);
    // The client's FIN went through and the target's came back: a clean close, not a reset.
    expect(await a.ended).toEqual({ code: undefined });
    expect(proxy.stats()).toMatchObject({
      connections: 1,
      resets: 0,
      bytesUp: payload.length,
      bytesDown: payload.length,
    });
  });

  it('stops reading from a sender while the receiver is backed up', async () => {
    const target = await startTarget({ paused: true });
    const proxy = await startProxy(target);
    const a = await client(proxy);
    const payload = randomBytes(16 * 1024 * 1024);
    a.socket.write(payload);
    await sleep(150);
    // Without backpressure the proxy reads all of it into its own memory at once; with it, no
    // more than the kernel's buffers take before the target's window closes (about 4 MiB).
    expect(proxy.stats().bytesUp).toBeLessThan(payload.length / 2);
    const [socket] = target.accepted;
    const got: Buffer[] = [];
    socket!.on('data', (chunk: Buffer) => got.push(chunk));
    socket!.resume();
    while (got.reduce((sum, chunk) => sum + chunk.length, 0) < payload.length) {
      await new Promise((resolve) => socket!.once('data', resolve));
    }
    expect(Buffer.concat(got).equals(payload)).toBe(true);
  });

  it('delays by at least the latency each way, keeps the order, and clear() ends it', async () => {
    const target = await startTarget();
    const proxy = await startProxy(target);
    const a = await client(proxy);
    // Jitter as large as the gap between writes: a queue that sorted by due time, or none,
    // would deliver them out of order.
    proxy.setLatency(40, 30);
    const messages = Array.from({ length: 30 }, (_, i) => `<${i}>`);
    const t0 = performance.now();
    let firstAt = 0;
    a.socket.once('data', () => {
      firstAt = performance.now();
    });
    for (const message of messages) {
      a.socket.write(message);
      await sleep(1);
    }
    const all = messages.join('');
    expect((await a.receive(all.length)).toString()).toBe(all);
    expect(firstAt - t0).toBeGreaterThanOrEqual(80);

    proxy.clear();
    const t1 = performance.now();
    a.socket.write('!');
    await a.receive(all.length + 1);
    expect(performance.now() - t1).toBeLessThan(80);
  });

  it('drops: holds everything, connects nothing new, then resets what it held', async () => {
    const target = await startTarget();
    const proxy = await startProxy(target);
    const before = await client(proxy);
    before.socket.write('ping');
    await before.receive(4);

    proxy.drop();
    before.socket.write('lost');
    const during = await client(proxy);
    during.socket.write('lost too');
    await sleep(300);
    expect(before.received().toString()).toBe('ping');
    expect(during.received().length).toBe(0);
    // Accepted here but never connected onward, and no byte crossed.
    expect(target.accepted.length).toBe(1);
    expect(proxy.stats()).toMatchObject({ connections: 2, open: 2, bytesUp: 4, resets: 0 });

    proxy.drop(false);
    expect(await before.ended).toEqual({ code: 'ECONNRESET' });
    expect(await during.ended).toEqual({ code: 'ECONNRESET' });
    const after = await client(proxy);
    after.socket.write('pong');
    expect((await after.receive(4)).toString()).toBe('pong');
    expect(await statsOnce(proxy, 1)).toMatchObject({ connections: 3, open: 1, resets: 2 });
  });

  it('reset() resets both sides of every open connection, and new ones still work', async () => {
    const target = await startTarget();
    const proxy = await startProxy(target);
    const a = await client(proxy);
    const b = await client(proxy);
    a.socket.write('x');
    b.socket.write('y');
    await Promise.all([a.receive(1), b.receive(1)]);
    const upstreamClosed = target.accepted.map(
      (socket) => new Promise((resolve) => socket.once('close', resolve)),
    );

    proxy.reset();
    proxy.reset();
    expect(await a.ended).toEqual({ code: 'ECONNRESET' });
    expect(await b.ended).toEqual({ code: 'ECONNRESET' });
    await Promise.all(upstreamClosed);
    const c = await client(proxy);
    c.socket.write('z');
    expect((await c.receive(1)).toString()).toBe('z');
    expect(await statsOnce(proxy, 1)).toMatchObject({ connections: 3, open: 1, resets: 2 });
  });

  it('refuse() resets new connections before they reach the target', async () => {
    const target = await startTarget();
    const proxy = await startProxy(target);
    proxy.refuse();
    const a = await client(proxy);
    expect(await a.ended).toEqual({ code: 'ECONNRESET' });
    expect(target.accepted.length).toBe(0);

    proxy.refuse(false);
    const b = await client(proxy);
    b.socket.write('ok');
    expect((await b.receive(2)).toString()).toBe('ok');
    expect(await statsOnce(proxy, 1)).toMatchObject({ connections: 2, open: 1, resets: 1 });
  });

  it('passes on a target that is down as a reset, without crashing', async () => {
    const target = await startTarget();
    await new Promise((resolve) => target.server.close(resolve));
    const proxy = await startProxy(target);
    const a = await client(proxy);
    expect(await a.ended).toEqual({ code: 'ECONNRESET' });
    expect(await statsOnce(proxy, 0)).toMatchObject({ connections: 1, open: 0, resets: 0 });
  });

  it('close() leaves no socket, server or timer behind', async () => {
    const target = await startTarget();
    // Timers are counted by spying: vitest's own come and go on the process's list.
    const sockets = () =>
      process
        .getActiveResourcesInfo()
        .filter((kind) => kind.startsWith('TCP'))
        .sort()
        .join(',');
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const clearTimer = vi.spyOn(globalThis, 'clearTimeout');
    cleanups.push(() => {
      setTimer.mockRestore();
      clearTimer.mockRestore();
    });
    // Whatever the tests before closed leaves this list on the loop's next turn.
    await sleep(5);
    const idle = sockets();
    const proxy = await startProxy(target);
    proxy.drop();
    const held = await client(proxy);
    proxy.drop(false);
    await held.ended;
    const a = await client(proxy);
    a.socket.write('x');
    await a.receive(1);
    // A chunk queued behind a long latency: its timer must go with the proxy.
    proxy.setLatency(5_000);
    a.socket.write('y');
    await sleep(20);
    expect(proxy.stats().bytesUp).toBe(1);

    await proxy.close();
    await proxy.close();
    await a.ended;
    // The target's end of the connection closes once it has read the proxy's FIN.
    await Promise.all(
      target.accepted.map((s) => (s.closed ? null : new Promise((r) => s.once('close', r)))),
    );
    expect(await eventually(sockets, (now) => now === idle)).toBe(idle);
    expect(proxy.stats().open).toBe(0);
    const latencyTimers = setTimer.mock.calls
      .map((call, i) => ({ ms: call[1] ?? 0, timer: setTimer.mock.results[i]?.value }))
      .filter(({ ms }) => ms > 4_000);
    expect(latencyTimers.length).toBe(1);
    const cleared = new Set(clearTimer.mock.calls.map((call) => call[0]));
    expect(cleared.has(latencyTimers[0]?.timer)).toBe(true);
  });
});

/** Checks that every tag opened is closed in order, and that no `&` starts a non-entity. */
function expectWellFormed(svg: string) {
  const stack: string[] = [];
  for (const [tag, closing, name, selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (closing) expect(stack.pop(), tag).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(svg).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
}

describe('the soak plot', () => {
  const samples = (n: number, base: number) =>
    Array.from({ length: n }, (_, i) => ({
      t: i,
      rssMiB: base + Math.sin(i / 10),
      heapMiB: base / 4 + (i % 7),
      lagMs: i % 97 === 0 ? 40 : 2,
    }));

  it('draws one line per series per chart, with labels escaped', () => {
    const svg: string = plotSoak(
      [
        { label: 'SQLite', samples: samples(600, 90) },
        { label: 'a<b&c', samples: samples(600, 70) },
      ],
      { title: 'soak <10 min> & more' },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expectWellFormed(svg);
    expect(svg.match(/<path /g)?.length).toBe(6);
    expect(svg).toContain('a&lt;b&amp;c');
    expect(svg).not.toContain('a<b&c');
    expect(svg).toMatch(/<title[^>]*>soak &lt;10 min&gt; &amp; more<\/title>/);
    expect(svg).toMatch(/<desc[^>]*>[^<]+<\/desc>/);
    expect(svg).not.toContain('class="bound"');
    // Ten minutes: the axis is in minutes, not seconds.
    expect(svg).toMatch(/>10<\/text>/);
    expect(svg).not.toMatch(/>600<\/text>/);
  });

  it('draws a dashed line labelled "bound" for each bound given', () => {
    const svg: string = plotSoak([{ label: 'Redis', samples: samples(120, 80) }], {
      bounds: { rssMiB: 120, lagMs: 100 },
    });
    expectWellFormed(svg);
    expect(svg.match(/<line class="bound"[^>]*stroke-dasharray/g)?.length).toBe(2);
    expect(svg.match(/>bound<\/text>/g)?.length).toBe(3); // two charts and the legend
  });

  it('thins long series to about a thousand points, keeping the peaks', () => {
    const long = samples(20_000, 90);
    long[12_345]!.lagMs = 500;
    const svg: string = plotSoak([{ label: 'overnight', samples: long }]);
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
    expect(paths.length).toBe(3);
    for (const d of paths) expect(d.split(/[ML]/).length - 1).toBeLessThanOrEqual(1_002);
    // The lag chart's axis still reaches the spike.
    expect(svg).toMatch(/>500<\/text>/);
  });
});
