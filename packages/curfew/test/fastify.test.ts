// The shared HTTP cases on curfew/fastify, in-process through inject(): no port is opened.
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { MemoryStore, SessionManager } from '../src/index.js';
import {
  createSessionPlugin,
  endSession,
  reauthenticateSession,
  renewSession,
  startSession,
} from '../src/integrations/fastify.js';
import { type MakeApp, runIntegrationCases } from './support/integration-cases.js';

const makeApp: MakeApp = async ({ sessions, carrier }) => {
  const app = Fastify();
  await app.register(
    createSessionPlugin({
      sessions,
      carrier,
      routes: { status: '/session/status', keepAlive: '/session/keep-alive' },
    }),
  );
  const optional = { config: { session: { optional: true } } };
  app.post<{ Querystring: { user?: string } }>('/login', optional, async (request, reply) => {
    const { session, jwt } = await startSession(request, reply, {
      userId: request.query.user ?? '42',
    });
    return { jwt, sessionId: session.id };
  });
  app.get('/me', async (request) => ({
    userId: request.session!.session.userId,
    sessionId: request.session!.session.id,
  }));
  app.get('/status', { config: { session: { touch: false } } }, async (request) => ({
    secondsRemaining: request.session!.secondsRemaining,
  }));
  app.get('/shared', { config: { session: { noStore: false } } }, async () => ({ ok: true }));
  app.get('/public', optional, async (request) => ({
    userId: request.session?.session.userId ?? null,
    refusal: request.sessionRefusal,
  }));
  app.post('/action', async () => ({ ok: true }));
  app.post('/logout', async (request, reply) => ({ ended: await endSession(request, reply) }));
  app.post('/renew', async (request, reply) => {
    const renewed = await renewSession(request, reply);
    return { renewed: renewed !== null, jwt: renewed?.jwt ?? null };
  });
  app.post('/sensitive', { config: { session: { maxAge: '5m', minAal: 3 } } }, async () => ({
    ok: true,
  }));
  app.post<{ Querystring: { aal?: string } }>('/reauthenticate', async (request, reply) => {
    const aal =
      request.query.aal === undefined ? undefined : (Number(request.query.aal) as 1 | 2 | 3);
    const renewed = await reauthenticateSession(request, reply, { aal, methods: ['pwd', 'otp'] });
    return { reauthenticated: renewed !== null, jwt: renewed?.jwt ?? null };
  });
  await app.ready();
  return {
    send: async ({ method = 'GET', path, headers = {} }) => {
      const response = await app.inject({
        method: method as 'GET',
        url: path,
        headers: { host: 'app.example.test', ...headers },
      });
      const out = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        for (const one of Array.isArray(value) ? value : [value]) out.append(name, String(one));
      }
      return { status: response.statusCode, headers: out, body: response.body };
    },
    close: () => app.close(),
  };
};

runIntegrationCases('fastify', makeApp);

describe('curfew/fastify', () => {
  const sessions = new SessionManager({ store: new MemoryStore() });

  it('checks its options when called, and a route config when the route is added', async () => {
    expect(() => createSessionPlugin({ sessions, carrier: {} as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'carrier' }),
    );
    const app: FastifyInstance = Fastify();
    await app.register(createSessionPlugin({ sessions }));
    expect(() =>
      app.get('/bad', { config: { session: { optional: 'yes' as never } } }, async () => 'x'),
    ).toThrow(expect.objectContaining({ field: 'optional' }));
    await app.close();
  });

  it('leaves a route with config.session false alone, and reaches only the scope it is registered in', async () => {
    const app = Fastify();
    app.get('/outside', async (request) => ({ session: request.session ?? 'undecorated' }));
    await app.register(async (scope) => {
      await scope.register(createSessionPlugin({ sessions }));
      scope.get('/inside', async () => 'secret');
      scope.get('/healthz', { config: { session: false } }, async () => 'ok');
    });
    expect((await app.inject('/inside')).statusCode).toBe(401);
    expect((await app.inject('/healthz')).body).toBe('ok');
    expect((await app.inject('/outside')).json()).toEqual({ session: 'undecorated' });
    await app.close();
  });

  it('records the request IP and user agent on a new session', async () => {
    const app = Fastify();
    await app.register(createSessionPlugin({ sessions }));
    app.post('/login', { config: { session: { optional: true } } }, async (request, reply) => {
      const { session } = await startSession(request, reply, { userId: '42' });
      return { ip: session.ipAddress, userAgent: session.userAgent };
    });
    const response = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'user-agent': 'UA/1' },
      remoteAddress: '198.51.100.9',
    });
    expect(response.json()).toEqual({ ip: '198.51.100.9', userAgent: 'UA/1' });
    await app.close();
  });
});
