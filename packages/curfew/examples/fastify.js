// curfew on Fastify, with the session in a __Host- cookie. Run from the repository root:
//   npm run build && node packages/curfew/examples/fastify.js
// then, for example (browsers send the cookie by themselves):
//   curl -i -X POST localhost:3000/login -H 'content-type: application/json' -d '{"userId":"ada"}'
//   curl -i localhost:3000/me -H 'cookie: __Host-session=<token from Set-Cookie>'
import { MemoryStore, SessionManager } from 'curfew';
import { createSessionPlugin, endSession, startSession } from 'curfew/fastify';
import Fastify from 'fastify';

const sessions = new SessionManager({ store: new MemoryStore() });
const app = Fastify();

// Registered on the root instance, the plugin covers every route; each may adjust it.
await app.register(createSessionPlugin({ sessions }));

app.get('/healthz', { config: { session: false } }, async () => 'ok');

// Optional: a sign-in request has no session yet. startSession ends any it carried.
app.post('/login', { config: { session: { optional: true } } }, async (request, reply) => {
  // A real app checks a password or a passkey here.
  const userId = typeof request.body?.userId === 'string' ? request.body.userId : 'demo';
  const { session } = await startSession(request, reply, { userId });
  return { sessionId: session.id };
});

// Required (the default): without a valid session the plugin answers 401 problem+json.
app.get('/me', async (request) => {
  const { session, secondsRemaining, warning } = request.session;
  return { userId: session.userId, secondsRemaining, warning };
});

// A status poll must not count as activity, or an idle tab would never time out.
app.get('/status', { config: { session: { touch: false } } }, async (request) => ({
  secondsRemaining: request.session.secondsRemaining,
}));

app.post('/logout', async (request, reply) => {
  await endSession(request, reply);
  return reply.code(204).send();
});

await app.listen({ port: Number(process.env.PORT ?? 3000), host: 'localhost' });
console.log(`curfew fastify example on http://localhost:${app.server.address().port}`);
