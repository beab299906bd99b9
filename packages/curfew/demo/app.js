// The demo web app on curfew/express: sign in as a demo user, watch the session count down,
// get warned, stay signed in, see and end your other sessions, confirm who you are before a
// sensitive action, and learn why you were signed out.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createSessionMiddleware,
  endSession,
  reauthenticateSession,
  startSession,
} from 'curfew/express';
import express from 'express';
import { describeUserAgent } from './user-agent.js';
import { homePage, sessionsTable, signedOutPage, signInPage } from './views.js';

/** The demo's users. There are no passwords: it is a demo, and says so on every page. */
export const DEMO_USERS = Object.freeze({
  ada: 'Ada Lovelace',
  grace: 'Grace Hopper',
  alan: 'Alan Turing',
});

const PUBLIC = join(dirname(fileURLToPath(import.meta.url)), 'public');

/**
 * Builds the demo app.
 *
 * @param {object} options
 * @param {import('curfew').SessionManager} options.sessions
 * @param {() => number} [options.clock] the manager's clock, for the `serverTime` the page uses
 *   to correct for the browser's clock (tests move both together)
 * @param {number} [options.pollMs] how often the page checks its session (default 5000)
 * @param {number} [options.sensitiveMaxAge] how recent a sign-in the sensitive action needs, in
 *   milliseconds (default 5 minutes)
 */
export function createDemoApp({
  sessions,
  clock = Date.now,
  pollMs = 5000,
  sensitiveMaxAge = 5 * 60_000,
}) {
  const policy = sessions.policy;
  const session = createSessionMiddleware({ sessions });
  const page = { policy, pollMs, sensitiveMaxAge };
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
    });
    next();
  });
  app.use('/static', express.static(PUBLIC, { index: false }));
  // curfew/browser and its dialog, as built in the package's dist/.
  for (const [path, module] of [
    ['/static/curfew/browser.js', 'curfew/browser'],
    ['/static/curfew/dialog.js', 'curfew/browser/dialog'],
  ]) {
    const file = fileURLToPath(import.meta.resolve(module));
    app.get(path, (_req, res) => res.type('text/javascript').sendFile(file));
  }
  app.get('/favicon.ico', (_req, res) => res.status(204).end());
  app.use(express.urlencoded({ extended: false, limit: '2kb' }));

  const sendPage = (res, markup) => {
    res.set('Cache-Control', 'no-store').type('html').send(String(markup));
  };

  const rowsFor = async (current) => {
    // The demo shows the first page (100, most recently active first): enough for one person.
    const { sessions: list } = await sessions.listUserSessions(current.session.userId);
    return sessionsTable(
      list.map((s) => ({
        id: s.id,
        device: describeUserAgent(s.userAgent),
        ipAddress: s.ipAddress?.replace(/^::ffff:/, '') ?? null,
        createdAt: s.createdAt.toISOString(),
        lastActivityAt: s.lastActivityAt.toISOString(),
        current: s.id === current.session.id,
      })),
    );
  };

  // Loading the page is activity; a stale cookie sends the browser to the reason it went stale.
  app.get('/', session.with({ optional: true }), async (req, res) => {
    const current = req.session;
    if (!current) {
      const refusal = req.sessionRefusal;
      if (refusal && refusal.reason !== 'missing') {
        // Only the kind of ending reaches the browser: whoever holds this cookie (perhaps not
        // its owner) learns that it expired or ended, never that an administrator ended it.
        const kind = refusal.reason === 'not_found' ? 'ended' : refusal.reason;
        return res.redirect(303, `/signed-out?reason=${kind}`);
      }
      return sendPage(res, signInPage({ ...page, users: DEMO_USERS }));
    }
    const notice = typeof req.query.notice === 'string' ? req.query.notice : undefined;
    sendPage(
      res,
      homePage({
        ...page,
        name: DEMO_USERS[current.session.userId] ?? current.session.userId,
        current,
        sessionsHtml: await rowsFor(current),
        notice,
      }),
    );
  });

  app.post('/sign-in', session.with({ optional: true }), async (req, res) => {
    const user = req.body?.user;
    if (typeof user !== 'string' || !Object.hasOwn(DEMO_USERS, user)) {
      return res.status(400).type('text').send('Choose one of the demo users.');
    }
    await startSession(req, res, { userId: user, appType: 'demo' });
    res.redirect(303, '/');
  });

  app.post('/sign-out', session.with({ optional: true }), async (req, res) => {
    if (req.session) await endSession(req, res);
    res.redirect(303, '/signed-out?reason=logout');
  });

  app.get('/signed-out', (req, res) => {
    const reason = typeof req.query.reason === 'string' ? req.query.reason : '';
    sendPage(res, signedOutPage({ ...page, reason }));
  });

  app.post('/sessions/sign-out-others', session, async (req, res) => {
    await sessions.revokeUserSessions(req.session.session.userId, {
      exceptSessionId: req.session.session.id,
      reason: 'user_revoke',
    });
    res.redirect(303, '/?notice=signed-out-others');
  });

  app.post('/sessions/:id/sign-out', session, async (req, res) => {
    // Scoped to the signed-in user: nobody can end someone else's session by guessing an id.
    const ended = await sessions.revokeSession(req.params.id, {
      userId: req.session.session.userId,
      reason: 'user_revoke',
    });
    res.redirect(303, `/?notice=${ended ? 'signed-out-other' : 'not-found'}`);
  });

  const status = async (req, res) => {
    res.set('Cache-Control', 'no-store').json({
      serverTime: clock(),
      absoluteExpiresAt: req.session.session.absoluteExpiresAt.toISOString(),
      sessionsHtml: String(await rowsFor(req.session)),
    });
  };
  // A sensitive action: it needs a sign-in from the last few minutes. An older one gets curfew's
  // step-up answer (401, RFC 9470), and the page asks the user to confirm who they are.
  app.post('/api/recovery-email', session.with({ maxAge: sensitiveMaxAge }), (_req, res) => {
    res.set('Cache-Control', 'no-store').json({
      message: 'Your recovery email was changed. (A demo: nothing was sent anywhere.)',
    });
  });

  // "Confirm it's you": a real app checks a password, passkey or one-time code here. The demo
  // takes any six digits, then records the reauthentication: new cookie, both timers restarted.
  app.post('/api/reauthenticate', session, async (req, res) => {
    if (typeof req.body?.code !== 'string' || !/^\d{6}$/.test(req.body.code)) {
      return res.status(400).json({ message: 'Enter the six digits of your code.' });
    }
    const renewed = await reauthenticateSession(req, res, { methods: ['otp'] });
    if (renewed === null) return res.status(401).json({ reason: 'ended' });
    await status(req, res);
  });

  // The page's own polling: not activity, so a tab left open still times out.
  app.get('/api/status', session.with({ touch: false }), status);
  // "Stay signed in": activity, recorded by the middleware's validation.
  app.post('/api/activity', session, status);

  app.use((error, _req, res, _next) => {
    console.error(error);
    res.status(500).type('text').send('Something went wrong.');
  });
  return app;
}
