// The demo without a browser: its user-agent labels, its escaping, its access rules, and
// `demo/server.js` (what `npm run demo` runs) starting on SQLite as documented.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MemoryStore, SessionManager } from 'curfew';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, listenOnLoopback, sendRaw } from './support/http-client.js';

const demoDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo');
const load = async <T>(file: string) => (await import(join(demoDir, file))) as T;
const { describeUserAgent } = await load<{ describeUserAgent: (ua: unknown) => string }>(
  'user-agent.js',
);
const { createDemoApp } = await load<{
  createDemoApp: (options: { sessions: SessionManager }) => RequestListener;
}>('app.js');

const form = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body,
});

describe('describeUserAgent', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox on Linux'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
      'Edge on Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      'Safari on macOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
      'Chrome on Android',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1',
      'Chrome on iOS',
    ],
    ['curl/8.5.0', 'curl'],
    ['', 'Unknown device'],
    [null, 'Unknown device'],
    ['SomethingElse/1.0', 'Unknown device'],
  ])('%s → %s', (userAgent, expected) => {
    expect(describeUserAgent(userAgent)).toBe(expected);
  });
});

describe('the demo app', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function start() {
    const sessions = new SessionManager({ store: new MemoryStore() });
    const server = createServer(createDemoApp({ sessions }));
    const base = await listenOnLoopback(server);
    close = () => closeServer(server);
    const signIn = async (user: string, userAgent = 'test') => {
      const response = await sendRaw(base, {
        path: '/sign-in',
        ...form(`user=${user}`, { 'user-agent': userAgent }),
      });
      expect(response.status).toBe(303);
      return response.headers.getSetCookie()[0]!.split(';')[0]!;
    };
    return { base, sessions, signIn };
  }

  it('shows a hostile user agent as text', async () => {
    const { base, signIn } = await start();
    const cookie = await signIn('ada', '<img src=x onerror=alert(1)>');
    const page = await sendRaw(base, { path: '/', headers: { cookie } });
    expect(page.body).not.toContain('<img src=x');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('refuses an unknown demo user and a cross-site sign-in', async () => {
    const { base } = await start();
    expect((await sendRaw(base, { path: '/sign-in', ...form('user=mallory') })).status).toBe(400);
    const crossSite = await sendRaw(base, {
      path: '/sign-in',
      ...form('user=ada', { 'sec-fetch-site': 'cross-site' }),
    });
    expect(crossSite.status).toBe(403);
  });

  it("never ends another user's session, whatever id is posted", async () => {
    const { base, sessions, signIn } = await start();
    const alan = await signIn('alan');
    const ada = await signIn('ada');
    const [alanSession] = (await sessions.listUserSessions('alan')).sessions;
    const response = await sendRaw(base, {
      path: `/sessions/${alanSession!.id}/sign-out`,
      ...form('', { cookie: ada }),
    });
    expect(response.headers.get('location')).toBe('/?notice=not-found');
    expect((await sendRaw(base, { path: '/', headers: { cookie: alan } })).status).toBe(200);
  });

  it('sends a stale cookie to the signed-out page with its kind of ending, and signs out for good', async () => {
    const { base, signIn } = await start();
    const cookie = await signIn('grace');
    const out = await sendRaw(base, { path: '/sign-out', ...form('', { cookie }) });
    expect(out.headers.get('location')).toBe('/signed-out?reason=logout');
    expect(out.headers.get('clear-site-data')).toBe('"cookies", "cache"');
    const again = await sendRaw(base, { path: '/', headers: { cookie } });
    // Only the kind of ending: the cookie's holder may not be its owner.
    expect(again.headers.get('location')).toBe('/signed-out?reason=ended');
    const page = await sendRaw(base, { path: '/signed-out?reason=%3Cscript%3E' });
    expect(page.body).toContain('Your session is no longer valid.');
    expect(page.body).not.toContain('<script>');
  });
});

describe('npm run demo', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('is the root script, and serves the demo from SQLite on PORT', async () => {
    const root = JSON.parse(readFileSync(join(demoDir, '..', '..', '..', 'package.json'), 'utf8'));
    expect(root.scripts.demo).toContain('packages/curfew/demo/server.js');
    const file = join(mkdtempSync(join(tmpdir(), 'curfew-demo-test-')), 'sessions.db');
    child = spawn(process.execPath, [join(demoDir, 'server.js')], {
      env: { ...process.env, PORT: '0', DEMO_DB: file, DEMO_IDLE_TIMEOUT: '90s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${output}`)), 10_000);
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /on http:\/\/localhost:(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(`http://127.0.0.1:${match[1]}`);
        }
      };
      child!.stdout!.on('data', collect);
      child!.stderr!.on('data', collect);
    });
    const home = await sendRaw(base, { path: '/' });
    expect(home.body).toContain('There are no passwords');
    expect(home.body).toContain('<strong>1 minute 30 seconds</strong> without activity');
    const signIn = await sendRaw(base, { path: '/sign-in', ...form('user=ada') });
    expect(signIn.headers.get('session-idle-expires-in')).toMatch(/^(89|90)$/);
    const db = new Database(file, { readonly: true });
    try {
      const row = db.prepare('SELECT user_id AS userId FROM curfew_sessions').get() as {
        userId: string;
      };
      expect(row.userId).toBe('ada');
    } finally {
      db.close();
    }
  });
});
