// A TCP proxy between the service and its store that misbehaves on command: it adds latency,
// black-holes packets like a network partition, resets connections, refuses new ones. The fault
// harness puts it on the wire to see what the service does when the network, not the store,
// fails: a store restart is honest (connections close), a partition is not (nothing comes back).
//
// One proxied connection is a pair of sockets, the client's (accepted here) and the upstream one
// (to the store), and two directions: up (client to store) and down (store to client). Each
// direction is a queue of chunks with the time each is due, so latency never reorders bytes.
import net from 'node:net';

// Bytes a direction may hold back for latency before it stops reading its source: a slow network
// must slow the sender down, not grow this process's memory without bound.
const QUEUE_HIGH_WATER = 1024 * 1024;
// A queued marker for the source's end (FIN) and for its reset (RST), kept in order with the data.
const END = Symbol('end');
const RESET = Symbol('reset');

/**
 * Resets a socket (TCP RST), or closes it quietly if it never connected: `resetAndDestroy` on a
 * socket still connecting waits for a connection that may never come.
 *
 * @param {net.Socket | null} socket
 */
function rst(socket) {
  if (socket === null || socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/**
 * Starts a proxy on 127.0.0.1 (port 0 = any free port) forwarding to `target`. Faults apply at
 * once to every connection and until cleared.
 *
 * @param {{ target: { host: string, port: number }, port?: number }} options
 * @returns {Promise<{
 *   port: number,
 *   host: string,
 *   setLatency(ms: number, jitterMs?: number): void,
 *   drop(on?: boolean): void,
 *   reset(): void,
 *   refuse(on?: boolean): void,
 *   clear(): void,
 *   stats(): { connections: number, open: number, resets: number, bytesUp: number,
 *     bytesDown: number },
 *   close(): Promise<void>,
 * }>}
 */
export async function startFaultProxy({ target: { host, port: targetPort }, port = 0 }) {
  let latencyMs = 0;
  let jitterMs = 0;
  let dropping = false;
  let refusing = false;
  // `bytesUp` and `bytesDown` count bytes handed on, so bytes a drop swallowed are not in them;
  // `resets` counts connections the faults reset (reset, refuse, the end of a drop), not resets
  // merely passed on from one side to the other.
  const counts = { connections: 0, resets: 0, bytesUp: 0, bytesDown: 0 };
  /** @type {Set<Connection>} */
  const connections = new Set();

  /**
   * @typedef {{ due: number, item: Buffer | typeof END | typeof RESET }} Queued
   * @typedef {{
   *   from: net.Socket, to: net.Socket, counter: 'bytesUp' | 'bytesDown', queue: Queued[],
   *   queuedBytes: number, lastDue: number, timer: NodeJS.Timeout | null, blocked: boolean,
   *   paused: boolean,
   * }} Direction
   * @typedef {{
   *   client: net.Socket, upstream: net.Socket | null, blackholed: boolean,
   *   directions: Direction[],
   * }} Connection
   */

  /** Pauses or resumes a direction's source: held back by a partition or by a full queue. */
  function flow(connection, direction) {
    const hold =
      connection.blackholed || direction.blocked || direction.queuedBytes > QUEUE_HIGH_WATER;
    if (hold === direction.paused) return;
    direction.paused = hold;
    if (hold) direction.from.pause();
    else direction.from.resume();
  }

  function deliver(connection, direction, item) {
    const { to } = direction;
    if (to.destroyed) return;
    if (item === RESET) {
      rst(to);
    } else if (item === END) {
      to.end();
    } else {
      counts[direction.counter] += item.length;
      if (!to.write(item)) {
        direction.blocked = true;
        flow(connection, direction);
      }
    }
  }

  function schedule(connection, direction) {
    if (direction.timer !== null || direction.queue.length === 0 || connection.blackholed) return;
    const wait = Math.max(0, direction.queue[0].due - performance.now());
    direction.timer = setTimeout(() => {
      direction.timer = null;
      flush(connection, direction);
    }, wait);
  }

  function flush(connection, direction) {
    const now = performance.now();
    // Timers may fire a little early by this clock; what is not due yet waits for the next one.
    while (direction.queue.length > 0 && direction.queue[0].due <= now && !connection.blackholed) {
      const { item } = /** @type {Queued} */ (direction.queue.shift());
      if (Buffer.isBuffer(item)) direction.queuedBytes -= item.length;
      deliver(connection, direction, item);
    }
    flow(connection, direction);
    schedule(connection, direction);
  }

  function send(connection, direction, item) {
    // Bytes read after a partition began went nowhere; healing it resets the connection anyway.
    if (connection.blackholed) return;
    if (latencyMs === 0 && jitterMs === 0 && direction.queue.length === 0) {
      deliver(connection, direction, item);
      return;
    }
    // Never due before what is already queued: jitter delays, it does not reorder a stream.
    const due = Math.max(
      direction.lastDue,
      performance.now() + latencyMs + Math.random() * jitterMs,
    );
    direction.lastDue = due;
    direction.queue.push({ due, item });
    if (Buffer.isBuffer(item)) direction.queuedBytes += item.length;
    flow(connection, direction);
    schedule(connection, direction);
  }

  function discardQueues(connection) {
    for (const direction of connection.directions) {
      if (direction.timer !== null) clearTimeout(direction.timer);
      direction.timer = null;
      direction.queue = [];
      direction.queuedBytes = 0;
    }
  }

  /** Sends what `from` reads on to `to`, through the direction's queue. */
  function forward(connection, from, to, counter) {
    /** @type {Direction} */
    const direction = {
      from,
      to,
      counter,
      queue: [],
      queuedBytes: 0,
      lastDue: 0,
      timer: null,
      blocked: false,
      paused: false,
    };
    from.on('data', (chunk) => send(connection, direction, chunk));
    from.on('end', () => send(connection, direction, END));
    // A side that breaks (ECONNRESET, EPIPE) breaks the pair: the other side learns it as a
    // peer would, by a reset, after the bytes that came before it.
    from.on('close', (hadError) => {
      if (hadError) send(connection, direction, RESET);
    });
    to.on('drain', () => {
      direction.blocked = false;
      flow(connection, direction);
    });
    connection.directions.push(direction);
  }

  /** Holds everything on a connection, as a partition does; healing it resets the connection. */
  function blackhole(connection) {
    connection.blackholed = true;
    discardQueues(connection);
    connection.client.pause();
    connection.upstream?.pause();
  }

  function resetConnection(connection) {
    // Already reset (its sockets close on the next turn of the loop): count it once.
    if (connection.client.destroyed && (connection.upstream?.destroyed ?? true)) return;
    discardQueues(connection);
    rst(connection.client);
    rst(connection.upstream);
    counts.resets += 1;
  }

  /** Resolves once every socket of the connection has closed. */
  function closed(connection) {
    const sockets = [connection.client, connection.upstream].filter((socket) => socket !== null);
    return Promise.all(
      sockets.map(
        (socket) =>
          new Promise((resolve) => {
            if (socket.closed) resolve(undefined);
            else socket.once('close', resolve);
          }),
      ),
    );
  }

  function accept(client) {
    counts.connections += 1;
    // Errors are expected here (that is the point of the proxy); each one ends in 'close'.
    client.on('error', () => {});
    if (refusing) {
      counts.resets += 1;
      rst(client);
      return;
    }
    /** @type {Connection} */
    const connection = { client, upstream: null, blackholed: false, directions: [] };
    connections.add(connection);
    const forget = () => {
      discardQueues(connection);
      connections.delete(connection);
    };
    if (dropping) {
      // Accepted by the kernel, never connected onward: the client's bytes stay in its buffers.
      blackhole(connection);
      client.on('close', forget);
      return;
    }
    const upstream = net.connect({ host, port: targetPort, allowHalfOpen: true });
    upstream.on('error', () => {});
    connection.upstream = upstream;
    forward(connection, client, upstream, 'bytesUp');
    forward(connection, upstream, client, 'bytesDown');
    closed(connection).then(forget, forget);
  }

  const server = net.createServer({ allowHalfOpen: true }, accept);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(undefined);
    });
  });
  // An accept that fails (EMFILE) costs that one connection; the proxy must not crash the run.
  server.on('error', () => {});
  const address = /** @type {net.AddressInfo} */ (server.address());

  /** Delays every chunk, both directions, by `ms` plus up to `jitter` more, in order. */
  function setLatency(ms, jitter = 0) {
    if (!(Number.isFinite(ms) && ms >= 0 && Number.isFinite(jitter) && jitter >= 0)) {
      throw new RangeError(`latency must be finite and >= 0, got ${ms} ± ${jitter} ms`);
    }
    latencyMs = ms;
    jitterMs = jitter;
  }

  /**
   * While on, nothing crosses: open connections stop reading, new ones are accepted and never
   * connected onward. Turning it off resets every connection that was held, as the peers would
   * eventually time them out, and lets new ones through.
   */
  function drop(on = true) {
    dropping = on;
    for (const connection of connections) {
      if (on) blackhole(connection);
      else if (connection.blackholed) resetConnection(connection);
    }
  }

  /** Resets (TCP RST) both sides of every open connection now. */
  function reset() {
    for (const connection of connections) resetConnection(connection);
  }

  /** While on, every new connection is reset as soon as it is accepted. */
  function refuse(on = true) {
    refusing = on;
  }

  /** No latency, no drop (held connections reset), no refusal. */
  function clear() {
    setLatency(0, 0);
    drop(false);
    refuse(false);
  }

  function stats() {
    return { ...counts, open: connections.size };
  }

  /** @type {Promise<void> | null} */
  let closing = null;
  /** Stops listening and destroys every connection; resolves once all sockets have closed. */
  function close() {
    closing ??= (async () => {
      const listening = new Promise((resolve) => server.close(() => resolve(undefined)));
      const all = [...connections];
      for (const connection of all) {
        discardQueues(connection);
        connection.client.destroy();
        connection.upstream?.destroy();
      }
      await Promise.all([listening, ...all.map(closed)]);
    })();
    return closing;
  }

  return {
    port: address.port,
    host: '127.0.0.1',
    setLatency,
    drop,
    reset,
    refuse,
    clear,
    stats,
    close,
  };
}
