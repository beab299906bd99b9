// curfew/browser and its dialog in headless Chromium (Debian's, driven by playwright-core),
// against an Express app using the integration's status and keep-alive routes. Two tabs of one
// browser share the session: what one learns, the other shows within a second, and only one
// polls. The server's clock moves forward in jumps (the pages learn the time left from its
// headers), so the warning and the expiry take seconds, not minutes. Locally a missing Chromium
// skips this file loudly; in CI (CI=true) it fails instead.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import express from 'express';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, SessionManager } from '../src/index.js';
import { createSessionMiddleware, endSession, startSession } from '../src/integrations/express.js';
import { CHROMIUM, chromiumAvailable, CHROMIUM_FLAGS as FLAGS } from './support/chromium.js';
import { closeServer, listenOnLoopback } from './support/http-client.js';

const available = chromiumAvailable("curfew/browser's tests");

const IDLE_SECONDS = 60;
const WARN_SECONDS = 30;
const POLL_SECONDS = 0.4;
const dist = new URL('../dist/browser/', import.meta.url);
const axe = readFileSync(
  new URL('../../../node_modules/axe-core/axe.min.js', import.meta.url),
  'utf8',
);

interface Server {
  base: string;
  sessions: SessionManager;
  /**
   * Status requests by tab, from the `tab` query parameter each page puts in its status URL;
   * keep-alive requests under `keep-alive`.
   */
  polls: Map<string, number>;
  advance(ms: number): void;
  close(): Promise<void>;
}

async function startApp(options: { absoluteTimeout?: string } = {}): Promise<Server> {
  let offset = 0;
  const sessions = new SessionManager({
    store: new MemoryStore(),
    clock: () => Date.now() + offset,
    policy: {
      idleTimeout: `${IDLE_SECONDS}s`,
      absoluteTimeout: options.absoluteTimeout ?? '1h',
      idleWarning: '20s',
      absoluteWarning: '5m',
      activityWriteInterval: '1s',
    },
  });
  const session = createSessionMiddleware({ sessions });
  const polls = new Map<string, number>();
  const app = express();
  app.get('/login', session.with({ optional: true }), async (req, res) => {
    await startSession(req, res, { userId: 'ada' });
    res.redirect(303, `/app?tab=${encodeURIComponent(String(req.query.tab ?? 'a'))}`);
  });
  app.post('/logout', session, async (req, res) => {
    res.json({ ended: await endSession(req, res) });
  });
  app.get(
    '/session/status',
    (req, _res, next) => {
      const tab = String(req.query.tab);
      polls.set(tab, (polls.get(tab) ?? 0) + 1);
      next();
    },
    session.status,
  );
  app.post(
    '/session/keep-alive',
    (_req, _res, next) => {
      polls.set('keep-alive', (polls.get('keep-alive') ?? 0) + 1);
      next();
    },
    session.keepAlive,
  );
  app.get('/browser/:file', (req, res) => {
    if (!/^(index|dialog)\.js$/.test(req.params.file)) return void res.sendStatus(404);
    res.type('text/javascript').send(readFileSync(new URL(req.params.file, dist)));
  });
  app.get('/app', (req, res) => {
    const tab = JSON.stringify(String(req.query.tab ?? 'a'));
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orders</title></head>
<body><main><h1>Orders</h1><p><button id="work" type="button">Some work</button>
<button id="sign-out" type="button">Sign out</button></p></main>
<script type="module">
import { createSessionMonitor } from '/browser/index.js';
import { createSessionDialog } from '/browser/dialog.js';
const monitor = createSessionMonitor({
  statusUrl: '/session/status?tab=' + encodeURIComponent(${tab}),
  keepAliveUrl: '/session/keep-alive',
  idleWarning: ${WARN_SECONDS},
  pollInterval: ${POLL_SECONDS},
});
window.events = [];
for (const type of ['warning', 'extended', 'expired', 'signed-out']) {
  monitor.on(type, (detail) => window.events.push({ type, ...detail }));
}
window.monitor = monitor;
createSessionDialog(monitor, { signInUrl: '/login' });
document.getElementById('sign-out').addEventListener('click', async () => {
  await fetch('/logout', { method: 'POST' });
  monitor.signedOut();
});
</script></body></html>`);
  });
  const server = createServer(app);
  const base = (await listenOnLoopback(server)).replace('127.0.0.1', 'localhost');
  return {
    base,
    sessions,
    polls,
    advance: (ms) => {
      offset += ms;
    },
    close: () => closeServer(server),
  };
}

type Remaining = { idle: number | null; absolute: number | null };
type Event = { type: string; limit?: string; secondsLeft?: number; canExtend?: boolean };

const remaining = (page: Page) =>
  page.evaluate(() =>
    (globalThis as unknown as { monitor: { remaining(): Remaining } }).monitor.remaining(),
  );
const events = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { events: Event[] }).events);

/** Milliseconds until `check` holds on the page (polled every 50 ms, at most 5 s). */
async function within(page: Page, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > 5_000) throw new Error('not within 5 s');
    await page.waitForTimeout(50);
  }
  return performance.now() - started;
}

describe.skipIf(!available)('curfew/browser in Chromium', { timeout: 60_000 }, () => {
  let browser: Browser;
  let app: Server;
  let context: BrowserContext;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 20_000 });
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    app = await startApp();
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US' });
  });
  afterEach(async () => {
    await context.close();
    await app.close();
    expect(errors.splice(0), 'errors in the page').toEqual([]);
  });

  /** Opens a tab; the first signs in. `shiftMs` moves that tab's Date.now() only. */
  async function tab(name: string, options: { signIn?: boolean; shiftMs?: number } = {}) {
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    page.setDefaultTimeout(5_000);
    if (options.shiftMs) {
      await page.addInitScript(
        `{ const realNow = Date.now; Date.now = () => realNow() + ${options.shiftMs}; }`,
      );
    }
    await page.goto(`${app.base}${options.signIn ? '/login' : '/app'}?tab=${name}`);
    await page.waitForFunction(
      () =>
        (globalThis as { monitor?: { remaining(): Remaining } }).monitor?.remaining().idle != null,
    );
    return page;
  }

  it('polls from one tab only, and the poll never extends the idle timeout', async () => {
    const a = await tab('a', { signIn: true });
    const b = await tab('b');
    const id = (await app.sessions.listUserSessions('ada')).sessions[0]!.id;
    const before = (await app.sessions.getSession(id))!.lastActivityAt.getTime();
    app.polls.clear();
    await a.waitForTimeout(3_000);
    const counts = [app.polls.get('a') ?? 0, app.polls.get('b') ?? 0].sort((x, y) => x - y);
    // About 3 / 0.4 polls from the tab holding the lock, none from the other.
    expect(counts[0]).toBe(0);
    expect(counts[1]).toBeGreaterThanOrEqual(5);
    expect(counts[1]).toBeLessThanOrEqual(9);
    expect((await app.sessions.getSession(id))!.lastActivityAt.getTime()).toBe(before);
    // Both tabs count down alike.
    const [left, right] = await Promise.all([remaining(a), remaining(b)]);
    expect(Math.abs(left.idle! - right.idle!)).toBeLessThanOrEqual(1);
    // The polling tab closes: the other takes over the lock and polls.
    const leader = (app.polls.get('a') ?? 0) > 0 ? a : b;
    const other = leader === a ? 'b' : 'a';
    await leader.close();
    app.polls.clear();
    await (leader === a ? b : a).waitForTimeout(1_500);
    expect(app.polls.get(other) ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('shows the same countdown on a page whose clock is 10 minutes fast', async () => {
    const a = await tab('a', { signIn: true });
    const skewed = await tab('s', { shiftMs: 10 * 60_000 });
    expect(
      await skewed.evaluate(() => Date.now() - performance.timeOrigin - performance.now()),
    ).toBeGreaterThan(590_000);
    const [left, right] = await Promise.all([remaining(a), remaining(skewed)]);
    expect(Math.abs(left.idle! - right.idle!)).toBeLessThanOrEqual(1);
    expect(Math.abs(left.absolute! - right.absolute!)).toBeLessThanOrEqual(1);
    expect(right.idle).toBeGreaterThan(IDLE_SECONDS - 5);
  });

  it('warns in every tab with at least 20 seconds, and "Stay signed in" by keyboard extends both', async () => {
    const a = await tab('a', { signIn: true });
    const b = await tab('b');
    // 35 s pass on the server: 25 s are left, inside the 30 s warning.
    app.advance(35_000);
    for (const page of [a, b]) {
      await page.getByRole('alertdialog').waitFor();
      const [warning] = (await events(page)).filter((event) => event.type === 'warning');
      expect(warning).toMatchObject({ limit: 'idle', canExtend: true });
      expect(warning!.secondsLeft).toBeGreaterThanOrEqual(20);
    }
    const dialog = a.getByRole('alertdialog');
    expect(await dialog.getAttribute('aria-modal')).toBe('true');
    await expect(dialog.getByRole('heading').textContent()).resolves.toBe(
      'Your session is about to end',
    );
    // No automated accessibility violations in the open dialog.
    await a.addScriptTag({ content: axe });
    const violations = (await a.evaluate(
      'axe.run(document.querySelector("dialog")).then((r) => r.violations.map((v) => v.id))',
    )) as string[];
    expect(violations).toEqual([]);
    // Keyboard only: the focus is in the dialog; Tab reaches "Stay signed in", Enter presses it.
    await a.keyboard.press('Tab');
    const focused = await a.evaluate('document.activeElement?.textContent');
    expect(focused).toBe('Stay signed in');
    const pressed = performance.now();
    await a.keyboard.press('Enter');
    // Both tabs: the dialog closes and the countdown starts again, within a second.
    for (const page of [a, b]) {
      await within(page, async () => (await remaining(page)).idle! > IDLE_SECONDS - 3);
      expect(performance.now() - pressed).toBeLessThan(1_000);
      await page.getByRole('alertdialog').waitFor({ state: 'hidden' });
      expect((await events(page)).map((event) => event.type)).toContain('extended');
    }
    // The focus went back to where it was before the dialog took it.
    expect(await a.evaluate('document.activeElement?.tagName')).toBe('BODY');
  });

  it('leads to the expired state in every tab when nothing is done', async () => {
    const a = await tab('a', { signIn: true });
    const b = await tab('b');
    app.advance(35_000);
    await a.getByRole('alertdialog').waitFor();
    app.advance(30_000);
    for (const page of [a, b]) {
      await page.getByRole('heading', { name: 'Your session has ended' }).waitFor();
      expect((await events(page)).filter((event) => event.type === 'expired')).toEqual([
        { type: 'expired', limit: 'idle' },
      ]);
      expect(await page.getByRole('link', { name: 'Sign in again' }).getAttribute('href')).toBe(
        '/login',
      );
    }
  });

  it('sends app-reported activity at most once a minute, and never extends the absolute limit', async () => {
    const a = await tab('a', { signIn: true });
    type Monitor = { activity(): void; staySignedIn(): Promise<boolean> };
    app.polls.set('keep-alive', 0);
    await a.evaluate(() => {
      const { monitor } = globalThis as unknown as { monitor: Monitor };
      for (let i = 0; i < 5; i++) monitor.activity();
    });
    await a.waitForTimeout(500);
    expect(app.polls.get('keep-alive')).toBe(1);

    // A session whose absolute limit is near: the warning says it cannot be extended, and
    // "Stay signed in" is refused without asking the server.
    await context.close();
    await app.close();
    app = await startApp({ absoluteTimeout: '45s' });
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US' });
    const b = await tab('b', { signIn: true });
    await b.getByRole('alertdialog').waitFor();
    const [warning] = (await events(b)).filter((event) => event.type === 'warning');
    expect(warning).toMatchObject({ limit: 'absolute', canExtend: false });
    expect(await b.getByRole('alertdialog').textContent()).toContain('cannot be extended');
    expect(await b.getByRole('button', { name: 'Stay signed in' }).count()).toBe(0);
    app.polls.set('keep-alive', 0);
    expect(
      await b.evaluate(() =>
        (globalThis as unknown as { monitor: Monitor }).monitor.staySignedIn(),
      ),
    ).toBe(false);
    expect(app.polls.get('keep-alive')).toBe(0);
  });

  it('signs out every tab within a second of signing out in one', async () => {
    const a = await tab('a', { signIn: true });
    const b = await tab('b');
    const clicked = performance.now();
    await a.getByRole('button', { name: 'Sign out' }).click();
    await within(b, async () => (await events(b)).some((event) => event.type === 'signed-out'));
    expect(performance.now() - clicked).toBeLessThan(1_000);
    expect((await events(a)).map((event) => event.type)).toEqual(['signed-out']);
  });
});
