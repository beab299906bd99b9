// Type-level tests of the integrations as published (through the package name, so from dist/):
// what a handler sees is typed without casts, and routes take only valid options.
import { MemoryStore, SessionManager, type SessionValidationResult } from 'curfew';
import type { RequestSession, SessionRefusal } from 'curfew/express';
import { createSessionMiddleware as expressSession } from 'curfew/express';
import { createSessionPlugin } from 'curfew/fastify';
import { createSessionMiddleware as honoSession } from 'curfew/hono';
import { createJwtCarrier, type JwtCarrier } from 'curfew/jwt';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';

const sessions = new SessionManager({ store: new MemoryStore() });

describe('integration types', () => {
  it('RequestSession is the valid branch of the validation result', () => {
    expectTypeOf<RequestSession>().toEqualTypeOf<
      Extract<SessionValidationResult, { valid: true }>
    >();
  });

  it('hono: c.get("session") is never null on a required route, nullable on an optional one', () => {
    const session = honoSession({ sessions });
    const app = new Hono();
    app.get('/me', session, (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<RequestSession>();
      return c.text('ok');
    });
    app.get('/status', session.with({ touch: false }), (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<RequestSession>();
      return c.text('ok');
    });
    app.get('/', session.with({ optional: true }), (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<RequestSession | null>();
      expectTypeOf(c.get('sessionRefusal')).toEqualTypeOf<SessionRefusal | null>();
      return c.text('ok');
    });
  });

  it('express: req.session and req.sessionRefusal are on every Request', () => {
    const app = express();
    app.get('/me', expressSession({ sessions }), (req, res) => {
      expectTypeOf(req.session).toEqualTypeOf<RequestSession | undefined>();
      expectTypeOf(req.sessionRefusal).toEqualTypeOf<SessionRefusal | undefined>();
      res.end();
    });
  });

  it('fastify: request.session, and config.session takes route options or false', () => {
    const app = Fastify();
    void app.register(createSessionPlugin({ sessions }));
    app.get('/me', async (request) => {
      expectTypeOf(request.session).toEqualTypeOf<RequestSession | null>();
      return 'ok';
    });
    app.get('/status', { config: { session: { touch: false } } }, async () => 'ok');
    app.get('/healthz', { config: { session: false } }, async () => 'ok');
    // @ts-expect-error: touch is a boolean
    app.get('/bad', { config: { session: { touch: 'no' } } }, async () => 'ok');
  });

  it('jwt: the carrier signs and is a bearer carrier', () => {
    const carrier = createJwtCarrier({
      issuer: 'i',
      audience: 'a',
      algorithms: ['HS256'],
      verifyKey: new Uint8Array(32),
    });
    expectTypeOf(carrier).toEqualTypeOf<JwtCarrier>();
    expectTypeOf(carrier.kind).toEqualTypeOf<'bearer'>();
    const withNone = () =>
      createJwtCarrier({
        issuer: 'i',
        audience: 'a',
        // @ts-expect-error: none is never an algorithm
        algorithms: ['none'],
        verifyKey: new Uint8Array(32),
      });
    expectTypeOf(withNone).toBeFunction();
  });
});
