// curfew on Express, with the session in a __Host- cookie. Run from the repository root:
//   npm run build && node packages/curfew/examples/express.js
// then, for example (browsers send the cookie by themselves):
//   curl -i -X POST localhost:3000/login -H 'content-type: application/json' -d '{"userId":"ada"}'
//   curl -i localhost:3000/me -H 'cookie: __Host-session=<token from Set-Cookie>'
import { MemoryStore, SessionManager } from 'curfew';
import { createSessionMiddleware, endSession, startSession } from 'curfew/express';
import express from 'express';

const sessions = new SessionManager({ store: new MemoryStore() });
const session = createSessionMiddleware({ sessions });
const app = express();
app.use(express.json());

// Optional: a sign-in request has no session yet. startSession ends any it carried.
app.post('/login', session.with({ optional: true }), async (req, res) => {
  // A real app checks a password or a passkey here.
  const userId = typeof req.body?.userId === 'string' ? req.body.userId : 'demo';
  const { session: created } = await startSession(req, res, { userId });
  res.json({ sessionId: created.id });
});

// Required: without a valid session the middleware answers 401 problem+json.
app.get('/me', session, (req, res) => {
  const { session: current, secondsRemaining, warning } = req.session;
  res.json({ userId: current.userId, secondsRemaining, warning });
});

// A status poll must not count as activity, or an idle tab would never time out.
app.get('/status', session.with({ touch: false }), (req, res) => {
  res.json({ secondsRemaining: req.session.secondsRemaining });
});

app.post('/logout', session, async (req, res) => {
  await endSession(req, res);
  res.status(204).end();
});

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`curfew express example on http://localhost:${server.address().port}`);
});
