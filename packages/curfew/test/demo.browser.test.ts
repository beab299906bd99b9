// The demo, clicked through in headless Chromium (Debian's, driven by playwright-core). The
// demo runs in-process with a short policy and a clock the test can move forward, so idle and
// absolute expiry take seconds, not minutes. Locally a missing Chromium skips this file loudly;
// in CI (CI=true) it fails instead.
//
// UPDATE_SCREENSHOTS=1 writes the screenshots to docs/ for the README; otherwise they go to a
// temporary directory, so a test run never changes tracked files.
import { mkdtempSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SessionManager } from 'curfew';
import { SqliteStore } from 'curfew/sqlite';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumAvailable, CHROMIUM_FLAGS as FLAGS } from './support/chromium.js';
import { closeServer, listenOnLoopback, sendRaw } from './support/http-client.js';

const available = chromiumAvailable("the demo's browser tests");

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const shots = process.env.UPDATE_SCREENSHOTS
  ? join(repo, 'docs')
  : mkdtempSync(join(tmpdir(), 'curfew-demo-shots-'));

// Short enough to reach every state by moving the clock; the gaps between them leave the
// warnings room to show.
const POLICY = {
  idleTimeout: '60s',
  absoluteTimeout: '150s',
  idleWarning: '20s',
  absoluteWarning: '40s',
  activityWriteInterval: '1s',
};
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

interface Demo {
  base: string;
  /** Status requests (GET /api/status) since the last reset. */
  polls: number;
  advance(ms: number): void;
  close(): Promise<void>;
}

type CreateDemoApp = (options: {
  sessions: SessionManager;
  clock: () => number;
  pollMs: number;
  sensitiveMaxAge?: number;
}) => RequestListener;

async function startDemo(options: { sensitiveMaxAge?: number } = {}): Promise<Demo> {
  // The demo is plain JavaScript, run as `node`; load it as it is.
  const appModule = new URL('../demo/app.js', import.meta.url).href;
  const { createDemoApp } = (await import(appModule)) as { createDemoApp: CreateDemoApp };
  let offset = 0;
  const clock = () => Date.now() + offset;
  const db = new Database(':memory:');
  const sessions = new SessionManager({ store: new SqliteStore(db), policy: POLICY, clock });
  const app = createDemoApp({ sessions, clock, pollMs: 300, ...options });
  const demo = {
    base: '',
    polls: 0,
    advance: (ms: number) => {
      offset += ms;
    },
    close: async () => {
      await closeServer(server);
      db.close();
    },
  };
  const server = createServer((req, res) => {
    if (req.url === '/api/status') demo.polls += 1;
    app(req, res);
  });
  demo.base = (await listenOnLoopback(server)).replace('127.0.0.1', 'localhost');
  return demo;
}

describe.skipIf(!available)('the demo in Chromium', { timeout: 60_000 }, () => {
  let browser: Browser;
  let demo: Demo;
  const contexts: BrowserContext[] = [];
  const pages: Page[] = [];
  const pageErrors: string[] = [];

  /** Moves the server's clock, and every open page's with it, so neither looks skewed. */
  async function advance(ms: number): Promise<void> {
    for (const page of pages) {
      // A page that is navigating away has no clock left to move; its next one starts afresh.
      await page
        .evaluate((step) => {
          (globalThis as unknown as { __shift: (ms: number) => void }).__shift(step);
        }, ms)
        .catch(() => undefined);
    }
    demo.advance(ms);
  }

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 20_000 });
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    pages.splice(0);
    for (const context of contexts.splice(0)) await context.close();
    await demo?.close();
    expect(pageErrors.splice(0), 'errors in the page').toEqual([]);
  });

  async function open(
    options: {
      userAgent?: string;
      clockSkewMs?: number;
      viewport?: { width: number; height: number };
    } = {},
  ): Promise<Page> {
    const context = await browser.newContext({
      viewport: options.viewport ?? { width: 1000, height: 760 },
      locale: 'en-US',
      timezoneId: 'UTC',
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    });
    contexts.push(context);
    // Date.now() with a shift: a wrong wall clock (clockSkewMs), or one that moves with the
    // server's test clock (advance).
    await context.addInitScript(`{
      const realNow = Date.now;
      let shift = ${options.clockSkewMs ?? 0};
      Date.now = () => realNow() + shift;
      globalThis.__shift = (ms) => { shift += ms; };
    }`);
    const page = await context.newPage();
    pages.push(page);
    page.setDefaultTimeout(5_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(demo.base);
    return page;
  }

  /** A second tab of the same browser as `first`, on the demo: the same session. */
  async function secondTab(first: Page): Promise<Page> {
    const page = await first.context().newPage();
    pages.push(page);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(demo.base);
    return page;
  }

  async function signIn(page: Page, name: string): Promise<void> {
    // With the keyboard, as anyone may.
    await page.getByRole('button', { name: `Sign in as ${name}` }).focus();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe(`Signed in as ${name}`);
  }

  /** Signs in without a browser and returns the session cookie. */
  async function signInOverHttp(user: string, userAgent: string): Promise<string> {
    const response = await sendRaw(demo.base, {
      method: 'POST',
      path: '/sign-in',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent },
      body: `user=${user}`,
    });
    expect(response.status).toBe(303);
    return response.headers.getSetCookie()[0]!.split(';')[0]!;
  }

  /** Where the home page sends a cookie: null while it is signed in. */
  async function landingOf(cookie: string): Promise<string | null> {
    const response = await sendRaw(demo.base, { path: '/', headers: { cookie } });
    return response.status === 200 ? null : response.headers.get('location');
  }

  const countdown = async (page: Page) => {
    const [minutes, seconds] = (await page.getByRole('timer').textContent())!.split(':');
    return Number(minutes) * 60 + Number(seconds);
  };

  it('signs in and counts the session down, correcting for a browser clock seven minutes fast', async () => {
    demo = await startDemo();
    const page = await open({ clockSkewMs: 7 * 60_000 });
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    expect(await page.textContent('main')).toContain('There are no passwords');
    await signIn(page, 'Ada Lovelace');

    const first = await countdown(page);
    expect(first).toBeGreaterThanOrEqual(57);
    expect(first).toBeLessThanOrEqual(60);
    await expect.poll(() => countdown(page), { timeout: 3_000 }).toBeLessThan(first);
    // Skew corrected: the session reads "just now", not seven minutes in the past.
    const row = page.locator('#sessions tbody tr');
    await expect.poll(() => row.locator('.ago').first().textContent()).toBe('just now');
    await expect
      .poll(async () => Number(await page.getAttribute('#clock-note', 'data-skew')))
      .toBeLessThanOrEqual(-415);
    expect(await page.textContent('#clock-note')).toContain('7 minutes ahead of the server');
    expect(await row.textContent()).toContain('This session');
    await page.screenshot({ path: join(shots, 'demo-signed-in.png') });
  });

  it('asks who you are before a sensitive action, then lets it through with both timers restarted', async () => {
    demo = await startDemo({ sensitiveMaxAge: 30_000 });
    const page = await open();
    await signIn(page, 'Ada Lovelace');
    const action = page.getByRole('button', { name: 'Change recovery email' });
    const result = page.locator('#sensitive-result');
    await action.click();
    await expect.poll(() => result.textContent()).toContain('Your recovery email was changed');

    // 35 seconds on: still signed in (60 s idle, 150 s absolute; no warning yet), but the
    // sign-in is too old.
    await advance(35_000);
    const absoluteLeft = async () => {
      const [minutes, seconds] = (await page.textContent('#absolute-left'))!.split(':');
      return Number(minutes) * 60 + Number(seconds);
    };
    await expect.poll(absoluteLeft).toBeLessThanOrEqual(115);
    await action.click();
    const prompt = page.getByRole('form', { name: 'Confirm it’s you' });
    await expect.poll(() => prompt.isVisible()).toBe(true);
    await expect.poll(() => page.locator(':focus').textContent()).toBe('Confirm it’s you');
    expect(await result.textContent()).toBe('');
    await page.screenshot({ path: join(shots, 'demo-reauthenticate.png') });

    await page.getByLabel('One-time code').fill('12345');
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await expect.poll(() => page.textContent('#reauth-error')).toContain('six digits');
    await page.getByLabel('One-time code').fill('123456');
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await expect.poll(() => result.textContent()).toContain('Your recovery email was changed');
    expect(await prompt.isVisible()).toBe(false);
    expect(await page.getByRole('status').first().textContent()).toContain(
      'Both timers of this session started again',
    );
    // The countdown shows the restarted timers: the full 150 s absolute and 60 s idle again.
    await expect.poll(absoluteLeft).toBeGreaterThanOrEqual(145);
    expect(await countdown(page)).toBeGreaterThanOrEqual(55);
  });

  it('lists a second browser, signs it out from the first, and the second lands on the signed-out screen', async () => {
    demo = await startDemo();
    const laptop = await open();
    await signIn(laptop, 'Ada Lovelace');
    const phone = await open({ userAgent: IPHONE });
    await signIn(phone, 'Ada Lovelace');

    const rows = laptop.locator('#sessions tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await laptop.getByRole('table').textContent()).toContain('Safari on iOS');
    expect(await rows.filter({ hasText: 'This session' }).textContent()).toContain(
      'Headless Chrome on Linux',
    );
    await laptop.screenshot({ path: join(shots, 'demo-sessions.png') });

    await rows
      .filter({ hasText: 'Safari on iOS' })
      .getByRole('button', { name: 'Sign out' })
      .click();
    await expect
      .poll(() => laptop.getByRole('status').first().textContent())
      .toContain('The other session was signed out');
    await expect.poll(() => rows.count()).toBe(1);

    // The phone's next status poll is refused, and it says that the session ended (not who
    // ended it: the 401 never says).
    await phone.waitForURL(/\/signed-out\?reason=ended$/);
    expect(await phone.textContent('.reason')).toBe(
      'This session was signed out: from this browser, from another device, or by an administrator.',
    );
    await phone.screenshot({ path: join(shots, 'demo-signed-out.png') });
  });

  it('signs out everywhere else, and only the same user', async () => {
    demo = await startDemo();
    const page = await open();
    await signIn(page, 'Grace Hopper');
    // The other sessions need no browser of their own: a sign-in by plain HTTP makes one.
    const phone = await signInOverHttp('grace', IPHONE);
    const otherUser = await signInOverHttp('alan', 'curl/8.5.0');
    await expect.poll(() => page.locator('#sessions tbody tr').count()).toBe(2);
    await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await expect
      .poll(() => page.getByRole('status').first().textContent())
      .toBe('Every other session was signed out.');
    await expect.poll(() => page.locator('#sessions tbody tr').count()).toBe(1);
    expect(await landingOf(phone)).toBe('/signed-out?reason=ended');
    expect(await landingOf(otherUser)).toBeNull();
  });

  it('lets an idle tab time out although it keeps polling, and says why', async () => {
    demo = await startDemo();
    const page = await open();
    await signIn(page, 'Alan Turing');
    await advance(40_000);
    // Several polls happen in this second; none of them may count as activity.
    await page.waitForTimeout(1_000);
    expect(page.url()).toBe(`${demo.base}/`);
    await advance(21_000);
    await page.waitForURL(/\/signed-out\?reason=idle$/);
    expect(await page.textContent('.reason')).toBe(
      'You were signed out because there was no activity for 1 minute.',
    );
  });

  it('warns in a dialog before the idle and the absolute expiry; "Stay signed in" records activity', async () => {
    demo = await startDemo();
    const page = await open();
    await signIn(page, 'Ada Lovelace');
    const dialog = page.getByRole('alertdialog', { name: 'Your session is about to end' });

    // 45 s in: 15 s left, inside the 20 s idle warning.
    await advance(45_000);
    await expect.poll(() => dialog.isVisible()).toBe(true);
    expect(await dialog.textContent()).toContain('because you have been inactive');
    await page.screenshot({ path: join(shots, 'demo-dialog.png') });
    // Keyboard only: the dialog has the focus; Tab reaches "Stay signed in", Enter presses it.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Stay signed in');
    await page.keyboard.press('Enter');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await page.textContent('#notice')).toBe('Activity recorded. You are still signed in.');
    expect(await countdown(page)).toBeGreaterThanOrEqual(55);

    await advance(45_000);
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Stay signed in' }).click();
    await expect.poll(() => dialog.isVisible()).toBe(false);

    // 115 s in: 35 s before the 150 s limit, inside the 40 s absolute warning. It cannot be
    // extended: the dialog says so, and what to do.
    await advance(25_000);
    await expect.poll(() => dialog.isVisible()).toBe(true);
    expect(await dialog.textContent()).toContain('cannot be extended. Save your work now');
    expect(await dialog.getByRole('button', { name: 'Stay signed in' }).count()).toBe(0);
    await dialog.getByRole('button', { name: 'OK' }).click();
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await countdown(page)).toBeLessThanOrEqual(35);

    await advance(40_000);
    await page.waitForURL(/\/signed-out\?reason=absolute$/);
    expect(await page.textContent('.reason')).toBe(
      'Your session reached its limit of 2 minutes 30 seconds. For your security, please sign in again.',
    );
  });

  it('keeps two tabs in step: one polls, "Stay signed in" and signing out reach the other', async () => {
    demo = await startDemo();
    const first = await open();
    await signIn(first, 'Ada Lovelace');
    const second = await secondTab(first);
    await expect.poll(() => countdown(second)).toBeGreaterThan(50);

    // Polled every 300 ms by one tab: about 10 status requests in 3 s, not 20.
    demo.polls = 0;
    await first.waitForTimeout(3_000);
    expect(demo.polls).toBeGreaterThanOrEqual(6);
    expect(demo.polls).toBeLessThanOrEqual(13);

    await advance(45_000);
    for (const page of [first, second]) {
      await expect.poll(() => page.getByRole('alertdialog').isVisible()).toBe(true);
    }
    // The tab that must catch up is the one in front (a background tab's timers, which draw the
    // countdown, run once a second at most; its state is already right).
    await first.bringToFront();
    const pressed = performance.now();
    await second.getByRole('button', { name: 'Stay signed in' }).click();
    await expect.poll(() => countdown(first), { interval: 50 }).toBeGreaterThanOrEqual(55);
    expect(performance.now() - pressed).toBeLessThan(1_000);
    await expect.poll(() => first.getByRole('alertdialog').isVisible()).toBe(false);

    const clicked = performance.now();
    await first.getByRole('button', { name: 'Sign out' }).first().click();
    await second.waitForURL(/\/signed-out\?reason=ended$/, { timeout: 1_000 });
    expect(performance.now() - clicked).toBeLessThan(1_000);
    await first.waitForURL(/\/signed-out\?reason=logout$/);
  });

  it('warns both tabs at the configured time with at least 20 seconds, then expires both', async () => {
    demo = await startDemo();
    const first = await open();
    await signIn(first, 'Ada Lovelace');
    const second = await secondTab(first);
    // 35 s of the 60 s gone: 25 s left, not yet inside the 20 s warning.
    await advance(35_000);
    await first.waitForTimeout(1_000);
    for (const page of [first, second]) {
      expect(await page.getByRole('alertdialog').isVisible()).toBe(false);
    }
    expect(await countdown(first)).toBeGreaterThan(20);
    // Seconds later the 20 s mark is reached, on the page's own clock: the warning shows then,
    // with the 20 seconds the policy gives (19 if a second ticked while the page drew it).
    await first.getByRole('alertdialog').waitFor({ timeout: 8_000 });
    const text = (await first.getByRole('alertdialog').textContent())!;
    const left = Number(/signed out in (\d+) seconds/.exec(text)?.[1]);
    expect(left).toBeGreaterThanOrEqual(19);
    expect(left).toBeLessThanOrEqual(20);
    await second.bringToFront();
    await second.getByRole('alertdialog').waitFor({ timeout: 2_000 });
    // Nothing done: both tabs leave for the signed-out page, saying why.
    await advance(25_000);
    for (const page of [first, second]) await page.waitForURL(/\/signed-out\?reason=idle$/);
  });

  it('counts down alike on a page whose clock is 10 minutes fast', async () => {
    demo = await startDemo();
    const right = await open();
    const fast = await open({ clockSkewMs: 10 * 60_000 });
    await signIn(right, 'Ada Lovelace');
    await signIn(fast, 'Grace Hopper');
    await expect.poll(() => countdown(fast)).toBeLessThan(60);
    const [a, b] = [await countdown(right), await countdown(fast)];
    expect(Math.abs(a - b)).toBeLessThanOrEqual(2);
    expect(b).toBeGreaterThan(50);
  });

  it('fits a phone: nothing wider than 390 px, the sessions as blocks', async () => {
    demo = await startDemo();
    const page = await open({ viewport: { width: 390, height: 844 }, userAgent: IPHONE });
    await signIn(page, 'Ada Lovelace');
    await signInOverHttp(
      'ada',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    );
    await page.reload();
    await expect.poll(() => page.locator('#sessions tbody tr').count()).toBe(2);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    const table = await page.locator('#sessions table').boundingBox();
    expect(table!.x + table!.width).toBeLessThanOrEqual(390);
    expect(await page.getByRole('table').count()).toBe(1);
    expect(await page.textContent('footer')).toContain(
      'signed out after 1 minute without activity',
    );
    await page.screenshot({ path: join(shots, 'demo-phone.png'), fullPage: true });
  });
});
