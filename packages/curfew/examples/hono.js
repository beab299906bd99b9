// curfew on Hono (Node adapter), with the session token inside a JWT sent as
// `Authorization: Bearer`, as an API for a mobile or single-page client. Run from the root:
//   npm run build && JWT_SECRET=$(openssl rand -base64 32) node packages/curfew/examples/hono.js
// then, for example:
//   curl -s -X POST localhost:3000/login -H 'content-type: application/json' -d '{"userId":"ada"}'
//   curl -i localhost:3000/me -H 'authorization: Bearer <accessToken from the login answer>'
import { randomBytes } from 'node:crypto';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { MemoryStore, SessionManager } from 'curfew';
import { createSessionMiddleware, endSession, startSession } from 'curfew/hono';
import { createJwtCarrier } from 'curfew/jwt';
import { Hono } from 'hono';

const sessions = new SessionManager({ store: new MemoryStore() });
const carrier = createJwtCarrier({
  issuer: 'http://localhost:3000',
  audience: 'curfew-example',
  algorithms: ['HS256'],
  // Without JWT_SECRET, a random one: every JWT then dies with the process, as do the sessions.
  verifyKey: process.env.JWT_SECRET
    ? Buffer.from(process.env.JWT_SECRET, 'base64')
    : randomBytes(32),
});
const session = createSessionMiddleware({
  sessions,
  carrier,
  clientIp: (c) => getConnInfo(c).remote.address,
});
const app = new Hono();

// Optional: a sign-in request has no session yet. startSession ends any it carried.
app.post('/login', session.with({ optional: true }), async (c) => {
  // A real app checks a password or a passkey here.
  const body = await c.req.json().catch(() => ({}));
  const userId = typeof body.userId === 'string' ? body.userId : 'demo';
  const { jwt, session: created } = await startSession(c, { userId });
  return c.json({ accessToken: jwt, expiresAt: created.absoluteExpiresAt });
});

// Required: a bad signature, a wrong issuer or a revoked session all get 401 problem+json.
app.get('/me', session, (c) => {
  const { session: current, secondsRemaining, warning } = c.get('session');
  return c.json({ userId: current.userId, secondsRemaining, warning });
});

// A status poll must not count as activity, or an idle client would never time out.
app.get('/status', session.with({ touch: false }), (c) =>
  c.json({ secondsRemaining: c.get('session').secondsRemaining }),
);

// The JWT stays signed, but its session is revoked: the next request with it gets 401.
app.post('/logout', session, async (c) => {
  await endSession(c);
  return c.body(null, 204);
});

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => {
  console.log(`curfew hono example on http://localhost:${info.port}`);
});
