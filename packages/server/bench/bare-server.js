// The floor for the HTTP benchmark: a bare Fastify route that parses the same JSON body and
// answers a fixed JSON body, with nothing else (no logger, no auth, no schema, no store).
import Fastify from 'fastify';

const app = Fastify();
const answer = {
  valid: true,
  session: {
    id: '6f1c0b7e-3c1a-4a8e-9d2f-6c1f0e2b9a77',
    userId: '42',
    tenantId: null,
    appType: 'control_panel',
    ipAddress: null,
    userAgent: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    lastActivityAt: '2026-01-01T00:00:00.000Z',
    absoluteExpiresAt: '2026-01-01T12:00:00.000Z',
    idleTimeoutSeconds: 1800,
    aal: 2,
    methods: ['pwd', 'otp'],
    authenticatedAt: '2026-01-01T00:00:00.000Z',
    active: true,
    endedAt: null,
    endReason: null,
  },
  secondsRemaining: 1800,
  idleSecondsRemaining: 1800,
  absoluteSecondsRemaining: 43200,
  warning: null,
  serverTime: '2026-01-01T00:00:00.000Z',
};
app.post('/v1/sessions/validate', async () => answer);
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address();
process.stderr.write(`listening on http://127.0.0.1:${port}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
