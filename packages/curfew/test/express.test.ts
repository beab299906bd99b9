// The shared HTTP cases on curfew/express. Express has no in-process injector, so each app
// listens on an ephemeral 127.0.0.1 port for the length of one test.
import { createServer } from 'node:http';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { MemoryStore, SessionManager } from '../src/index.js';
import {
  createSessionMiddleware,
  endSession,
  reauthenticateSession,
  renewSession,
  startSession,
} from '../src/integrations/express.js';
import { closeServer, listenOnLoopback, sendRaw } from './support/http-client.js';
import { type MakeApp, runIntegrationCases } from './support/integration-cases.js';

const makeApp: MakeApp = async ({ sessions, carrier }) => {
  const session = createSessionMiddleware({ sessions, carrier });
  const app = express();
  app.post('/login', session.with({ optional: true }), async (req, res) => {
    const user = typeof req.query.user === 'string' ? req.query.user : '42';
    const { session: created, jwt } = await startSession(req, res, { userId: user });
    res.json({ jwt, sessionId: created.id });
  });
  app.get('/me', session, (req, res) => {
    res.json({ userId: req.session!.session.userId, sessionId: req.session!.session.id });
  });
  app.get('/status', session.with({ touch: false }), (req, res) => {
    res.json({ secondsRemaining: req.session!.secondsRemaining });
  });
  app.get('/session/status', session.status);
  app.post('/session/keep-alive', session.keepAlive);
  app.get('/shared', session.with({ noStore: false }), (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/public', session.with({ optional: true }), (req, res) => {
    res.json({ userId: req.session?.session.userId ?? null, refusal: req.sessionRefusal ?? null });
  });
  app.post('/action', session, (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/logout', session, async (req, res) => {
    res.json({ ended: await endSession(req, res) });
  });
  app.post('/renew', session, async (req, res) => {
    const renewed = await renewSession(req, res);
    res.json({ renewed: renewed !== null, jwt: renewed?.jwt ?? null });
  });
  app.post('/sensitive', session.with({ maxAge: '5m', minAal: 3 }), (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/reauthenticate', session, async (req, res) => {
    const aal = req.query.aal === undefined ? undefined : (Number(req.query.aal) as 1 | 2 | 3);
    const renewed = await reauthenticateSession(req, res, { aal, methods: ['pwd', 'otp'] });
    res.json({ reauthenticated: renewed !== null, jwt: renewed?.jwt ?? null });
  });
  app.use(
    (error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ error: error.name });
    },
  );
  const server = createServer(app);
  const base = await listenOnLoopback(server);
  return { send: (request) => sendRaw(base, request), close: () => closeServer(server) };
};

runIntegrationCases('express', makeApp);

describe('curfew/express', () => {
  const sessions = new SessionManager({ store: new MemoryStore() });

  it('checks its options when called', () => {
    expect(() => createSessionMiddleware(undefined as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'options' }),
    );
    expect(() => createSessionMiddleware({ sessions }).with(null as never)).toThrow(
      expect.objectContaining({ field: 'route' }),
    );
  });

  it('records the request IP (as Express sees it) and user agent on a new session', async () => {
    const app = express();
    app.post(
      '/login',
      createSessionMiddleware({ sessions }).with({ optional: true }),
      async (req, res) => {
        const { session } = await startSession(req, res, { userId: '42' });
        res.json({ ip: session.ipAddress, userAgent: session.userAgent });
      },
    );
    const server = createServer(app);
    const base = await listenOnLoopback(server);
    try {
      const response = await sendRaw(base, {
        method: 'POST',
        path: '/login',
        headers: { 'user-agent': 'UA/1' },
      });
      expect(JSON.parse(response.body)).toEqual({ ip: '127.0.0.1', userAgent: 'UA/1' });
    } finally {
      await closeServer(server);
    }
  });

  it('says plainly when a helper runs without the middleware', async () => {
    const req = { method: 'POST', headers: {} };
    await expect(startSession(req, {} as never, { userId: '42' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/startSession: curfew's middleware has not run/),
    });
  });
});
