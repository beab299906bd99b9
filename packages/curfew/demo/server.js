// Starts the demo: `npm run demo` at the repository root. Sessions live in SQLite, in a file
// under the system's temporary directory unless DEMO_DB says where.
//
//   PORT                   default 3000
//   DEMO_DB                SQLite file, default <tmp>/curfew-demo/sessions.db
//   DEMO_IDLE_TIMEOUT      default 2m   (durations as curfew reads them: 90s, 2m, 1h30m)
//   DEMO_ABSOLUTE_TIMEOUT  default 10m
//   DEMO_IDLE_WARNING      default 1m   warn this long before the idle timeout
//   DEMO_ABSOLUTE_WARNING  default 2m   warn this long before the absolute timeout
//   DEMO_POLL_INTERVAL     default 5s   how often the page checks its session
//   DEMO_SENSITIVE_MAX_AGE default 1m   how recent a sign-in the sensitive action needs
//
// The timeouts must be no looser than curfew's default preset (30 minutes idle, 12 hours).
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { parseDuration, SessionManager } from 'curfew';
import { SqliteStore } from 'curfew/sqlite';
import { createDemoApp } from './app.js';

const env = process.env;
const duration = (name, fallback) => parseDuration(env[name] ?? fallback, name);
const idleTimeout = duration('DEMO_IDLE_TIMEOUT', '2m');
const policy = {
  idleTimeout,
  absoluteTimeout: duration('DEMO_ABSOLUTE_TIMEOUT', '10m'),
  idleWarning: duration('DEMO_IDLE_WARNING', '1m'),
  absoluteWarning: duration('DEMO_ABSOLUTE_WARNING', '2m'),
  // Short, so "Stay signed in" always lands; curfew's default (1 minute) suits real traffic.
  activityWriteInterval: Math.min(5_000, Math.floor(idleTimeout / 4)),
};

const file = env.DEMO_DB ?? join(tmpdir(), 'curfew-demo', 'sessions.db');
mkdirSync(dirname(file), { recursive: true });
const db = new Database(file);
const sessions = new SessionManager({ store: new SqliteStore(db), policy });
const app = createDemoApp({
  sessions,
  pollMs: duration('DEMO_POLL_INTERVAL', '5s'),
  sensitiveMaxAge: duration('DEMO_SENSITIVE_MAX_AGE', '1m'),
});

// Expired sessions are refused on their next request anyway; the sweep ends the forgotten ones.
const sweeper = setInterval(() => {
  sessions.sweepExpired().catch((error) => console.error('sweep failed', error));
}, 30_000);
sweeper.unref();

const server = app.listen(Number(env.PORT ?? 3000), () => {
  const { port } = server.address();
  console.log(`curfew demo on http://localhost:${port} (sessions in ${file})`);
  console.log('Browsers accept its Secure cookie over plain HTTP only on localhost.');
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(() => db.close());
    server.closeAllConnections();
  });
}
