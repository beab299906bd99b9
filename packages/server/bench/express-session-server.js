// The peer for the HTTP benchmark's Redis pairing: an Express app keeping its sessions with
// express-session and connect-redis on the same Redis as `curfew serve`, set up the way Express's
// and connect-redis's own docs set up a rolling session: `rolling: true` (every answer renews the
// cookie, and the store's TTL with it), `resave: false`, `saveUninitialized: false`, a signed
// cookie (express-session signs it with `secret`) with a 30-minute max age, the node-redis client
// connect-redis asks for. `POST /login` starts a session; `GET /me` reads it and answers 401
// without one. No logging. The cookie is not `secure` only because the bench speaks plain HTTP on
// loopback, where a secure cookie would never be set.
//
//   REDIS_URL=redis://127.0.0.1:6379 SESSION_SECRET=… node bench/express-session-server.js
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';

const client = createClient({ url: process.env.REDIS_URL });
client.on('error', (error) => process.stderr.write(`redis: ${error.message}\n`));
await client.connect();

const app = express();
app.use(
  session({
    store: new RedisStore({ client }),
    secret: process.env.SESSION_SECRET ?? 'bench-secret-0123456789abcdefghijklmnop',
    name: 'sid',
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: 30 * 60_000 },
  }),
);
app.post('/login', (req, res, next) => {
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.userId = '42';
    res.json({ ok: true });
  });
});
app.get('/me', (req, res) => {
  if (req.session.userId === undefined) return res.status(401).json({ valid: false });
  res.json({ valid: true, userId: req.session.userId });
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stderr.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  void client.quit().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
