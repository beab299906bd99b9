// The harness's load balancer: one address in front of the service's instances, as an operator
// would run them. Round robin over the instances it believes up; an instance is out once its
// /readyz fails or does not answer within 500 ms (checked every 250 ms) and back once it
// answers again. A request that could not connect is tried on the next instance (it never
// reached the first, so trying again cannot do it twice); once a request has been sent, a
// broken connection is never retried: the client's connection is cut, as a real balancer does,
// and the client sees no answer.
//
// Every forward is logged (the client's x-chaos-call header -> instance), so the history knows
// which instance a call reached even when no answer came back.
import http from 'node:http';

/**
 * @param {Array<{ name: string, url: string }>} instances
 */
export async function startBalancer(instances) {
  const pool = instances.map((instance) => ({
    ...instance,
    up: true,
    // Idle connections closed after 30 s, before the service closes them (its keep-alive timeout
    // is 65 s): a balancer that keeps them longer may send a request down a connection the
    // service is closing, and lose it.
    agent: new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 30_000 }),
  }));
  /** @type {Map<string, string>} call id -> instance name */
  const routes = new Map();
  let next = 0;

  const choose = (skip) => {
    const candidates = pool.filter((instance) => instance.up && !skip.has(instance));
    // With every instance out, try them all anyway: a balancer with nothing healthy still sends.
    const list = candidates.length > 0 ? candidates : pool.filter((i) => !skip.has(i));
    if (list.length === 0) return undefined;
    next = (next + 1) % list.length;
    return list[next];
  };

  const forward = (request, response, body, tried) => {
    const instance = choose(tried);
    if (instance === undefined) {
      response.socket?.destroy();
      return;
    }
    tried.add(instance);
    const callId = request.headers['x-chaos-call'];
    if (typeof callId === 'string') routes.set(callId, instance.name);
    const target = new URL(request.url, instance.url);
    const outgoing = http.request(target, {
      method: request.method,
      headers: request.headers,
      agent: instance.agent,
    });
    let sent = false;
    outgoing.on('socket', (socket) => {
      const mark = () => {
        sent = true;
      };
      if (socket.connecting) socket.once('connect', mark);
      else mark();
    });
    outgoing.on('response', (answer) => {
      response.writeHead(answer.statusCode ?? 502, {
        ...answer.headers,
        'x-chaos-instance': instance.name,
      });
      answer.pipe(response);
      answer.on('error', () => response.socket?.destroy());
    });
    outgoing.on('error', () => {
      if (!sent && !response.headersSent) {
        instance.up = false;
        forward(request, response, body, tried);
      } else {
        response.socket?.destroy();
      }
    });
    outgoing.end(body);
  };

  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => forward(request, response, Buffer.concat(chunks), new Set()));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  let checking = true;
  const check = async (instance) => {
    try {
      const answer = await fetch(`${instance.url}/readyz`, { signal: AbortSignal.timeout(500) });
      await answer.arrayBuffer();
      instance.up = answer.ok;
    } catch {
      instance.up = false;
    }
  };
  const loop = (async () => {
    while (checking) {
      await Promise.all(pool.map(check));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Which instance a call (by its x-chaos-call id) was sent to, last. */
    routes,
    /** Instances currently in rotation, by name. */
    up: () => pool.filter((instance) => instance.up).map((instance) => instance.name),
    async close() {
      checking = false;
      await loop;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      for (const instance of pool) instance.agent.destroy();
    },
  };
}
