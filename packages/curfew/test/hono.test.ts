// The shared HTTP cases on curfew/hono, in-process through app.request(): no port is opened.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { MemoryStore, SessionManager } from '../src/index.js';
import {
  createSessionMiddleware,
  endSession,
  reauthenticateSession,
  renewSession,
  startSession,
} from '../src/integrations/hono.js';
import { type MakeApp, runIntegrationCases } from './support/integration-cases.js';

const makeApp: MakeApp = async ({ sessions, carrier }) => {
  const session = createSessionMiddleware({ sessions, carrier });
  const app = new Hono();
  app.post('/login', session.with({ optional: true }), async (c) => {
    const { session: created, jwt } = await startSession(c, {
      userId: c.req.query('user') ?? '42',
    });
    return c.json({ jwt, sessionId: created.id });
  });
  app.get('/me', session, (c) => {
    const current = c.get('session');
    return c.json({ userId: current.session.userId, sessionId: current.session.id });
  });
  app.get('/status', session.with({ touch: false }), (c) =>
    c.json({ secondsRemaining: c.get('session').secondsRemaining }),
  );
  app.get('/session/status', session.status);
  app.post('/session/keep-alive', session.keepAlive);
  app.get('/shared', session.with({ noStore: false }), (c) => c.json({ ok: true }));
  app.get('/public', session.with({ optional: true }), (c) =>
    c.json({
      userId: c.get('session')?.session.userId ?? null,
      refusal: c.get('sessionRefusal'),
    }),
  );
  app.post('/action', session, (c) => c.json({ ok: true }));
  app.post('/logout', session, async (c) => c.json({ ended: await endSession(c) }));
  app.post('/renew', session, async (c) => {
    const renewed = await renewSession(c);
    return c.json({ renewed: renewed !== null, jwt: renewed?.jwt ?? null });
  });
  app.post('/sensitive', session.with({ maxAge: '5m', minAal: 3 }), (c) => c.json({ ok: true }));
  app.post('/reauthenticate', session, async (c) => {
    const query = c.req.query('aal');
    const aal = query === undefined ? undefined : (Number(query) as 1 | 2 | 3);
    const renewed = await reauthenticateSession(c, { aal, methods: ['pwd', 'otp'] });
    return c.json({ reauthenticated: renewed !== null, jwt: renewed?.jwt ?? null });
  });
  app.onError((error, c) => c.json({ error: error.name }, 500));
  return {
    send: async ({ method = 'GET', path, headers = {} }) => {
      const response = await app.request(`http://app.example.test${path}`, { method, headers });
      return { status: response.status, headers: response.headers, body: await response.text() };
    },
  };
};

runIntegrationCases('hono', makeApp);

describe('curfew/hono', () => {
  it('checks its options when called', () => {
    expect(() => createSessionMiddleware({} as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'sessions' }),
    );
    const sessions = new SessionManager({ store: new MemoryStore() });
    expect(() => createSessionMiddleware({ sessions, clientIp: 'x' as never })).toThrow(
      expect.objectContaining({ field: 'clientIp' }),
    );
    const session = createSessionMiddleware({ sessions });
    expect(() => session.with({ touch: 'no' as never })).toThrow(
      expect.objectContaining({ field: 'touch' }),
    );
  });

  it('records the client IP given by clientIp, and says when the middleware is missing', async () => {
    const sessions = new SessionManager({ store: new MemoryStore() });
    const session = createSessionMiddleware({ sessions, clientIp: () => '203.0.113.7' });
    const app = new Hono();
    app.post('/login', session.with({ optional: true }), async (c) => {
      const { session: created } = await startSession(c, { userId: '42' });
      return c.json({ ip: created.ipAddress, userAgent: created.userAgent });
    });
    app.post('/bare', async (c) => c.json({ ended: await endSession(c) }));
    app.onError((error, c) => c.json({ message: error.message }, 500));
    const login = await app.request('/login', {
      method: 'POST',
      headers: { 'user-agent': 'UA/1' },
    });
    expect(await login.json()).toEqual({ ip: '203.0.113.7', userAgent: 'UA/1' });
    const bare = await app.request('/bare', { method: 'POST' });
    expect(((await bare.json()) as { message: string }).message).toMatch(
      /endSession: curfew's middleware has not run/,
    );
  });
});
