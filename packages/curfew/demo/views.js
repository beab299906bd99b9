// The demo's pages, rendered on the server. Every interpolated value goes through `html`, which
// escapes it, so a hostile user agent in the sessions list stays text.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

class Markup {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

function escapeHtml(value) {
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(escapeHtml).join('');
  if (value === null || value === undefined || value === false) return '';
  return String(value).replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

/** A template tag that escapes every value, except nested `html` results. */
export function html(strings, ...values) {
  let text = strings[0];
  values.forEach((value, i) => {
    text += escapeHtml(value) + strings[i + 1];
  });
  return new Markup(text);
}

/** Milliseconds as the page says them: "2 minutes", "40 seconds", "1 hour 30 minutes". */
export function spoken(ms) {
  if (ms > 0 && ms < 1000) return `${ms} milliseconds`;
  const parts = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ]) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) parts.push(`${count} ${unit}${count === 1 ? '' : 's'}`);
  }
  return parts.join(' ') || '0 seconds';
}

function layout({ title, body, policy, pollMs }) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · curfew demo</title>
<link rel="stylesheet" href="/static/demo.css">
<script type="module" src="/static/demo.js"></script>
</head>
<body data-poll-ms="${pollMs}" data-idle-warning="${policy.idleWarning / 1000}" data-absolute-warning="${policy.absoluteWarning / 1000}">
<a class="skip" href="#main">Skip to content</a>
<header class="banner-top">
  <p class="brand">curfew demo</p>
  <p class="demo-note">A demonstration: no passwords, made-up users, short timeouts.</p>
</header>
<main id="main" tabindex="-1">
${body}
</main>
<footer>
  <p>Timeouts in this demo: signed out after <strong>${spoken(policy.idleTimeout)}</strong> without activity, and after <strong>${spoken(policy.absoluteTimeout)}</strong> at most;
  warned <strong>${spoken(policy.idleWarning)}</strong> and <strong>${spoken(policy.absoluteWarning)}</strong> before them.
  (curfew's default, NIST SP 800-63B AAL2: 30 minutes and 12 hours.)</p>
</footer>
</body>
</html>`;
}

/** The sign-in page: pick a demo user. */
export function signInPage({ users, policy, pollMs }) {
  const buttons = Object.entries(users).map(
    ([id, name]) =>
      html`<li><button type="submit" name="user" value="${id}">Sign in as ${name}</button></li>`,
  );
  return layout({
    title: 'Sign in',
    policy,
    pollMs,
    body: html`<h1>Sign in</h1>
<p>This is a demo of curfew's server-side sessions. There are no passwords: choose who you want to be.</p>
<form method="post" action="/sign-in" aria-labelledby="choose-user">
  <p id="choose-user">Demo users</p>
  <ul class="users">${buttons}</ul>
</form>
<p>Sign in from a second browser (or a private window) too, to watch sessions from both.</p>`,
  });
}

const NOTICES = {
  'signed-out-other': 'The other session was signed out. Its next request will be refused.',
  'signed-out-others': 'Every other session was signed out.',
  'not-found': 'That session had already ended.',
};

/** The signed-in page: the countdown and the active sessions; the warning is curfew/browser's dialog. */
export function homePage({ name, current, sessionsHtml, policy, pollMs, notice, sensitiveMaxAge }) {
  const noticeText = NOTICES[notice];
  return layout({
    title: `Signed in as ${name}`,
    policy,
    pollMs,
    body: html`<div class="title-row">
  <h1>Signed in as ${name}</h1>
  <form id="sign-out" method="post" action="/sign-out"><button type="submit" class="secondary">Sign out</button></form>
</div>
<p id="notice" role="status" class="notice">${noticeText ?? ''}</p>

<section class="timer" aria-labelledby="timer-title">
  <h2 id="timer-title">Time left in this session</h2>
  <p class="countdown"><span id="countdown" role="timer" aria-live="off">${clock(current.secondsRemaining)}</span></p>
  <dl class="limits">
    <div><dt>Without activity, ends in</dt><dd id="idle-left">${current.idleSecondsRemaining === null ? 'never' : clock(current.idleSecondsRemaining)}</dd></div>
    <div><dt>At the latest, ends in</dt><dd><span id="absolute-left">${clock(current.absoluteSecondsRemaining)}</span> <span id="absolute-at" class="muted"></span></dd></div>
  </dl>
  <p class="muted" id="clock-note">Counted down on this page from the server's numbers, checked every ${spoken(pollMs)} (which does not count as activity).</p>
</section>

<section class="sensitive" aria-labelledby="sensitive-title">
  <h2 id="sensitive-title">A sensitive action</h2>
  <p>Changing your recovery email needs a sign-in from the last ${spoken(sensitiveMaxAge)}. Confirming who you are restarts both of this session's timers.</p>
  <p><button type="button" id="sensitive-action">Change recovery email</button></p>
  <p id="sensitive-result" role="status"></p>
  <form id="reauth" class="reauth" aria-labelledby="reauth-title" novalidate hidden>
    <h3 id="reauth-title" tabindex="-1">Confirm it’s you</h3>
    <p id="reauth-why">It has been more than ${spoken(sensitiveMaxAge)} since you signed in. Enter the code from your authenticator app (in this demo, any six digits).</p>
    <p><label for="reauth-code">One-time code</label>
    <input id="reauth-code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required aria-describedby="reauth-why reauth-error"></p>
    <p id="reauth-error" class="error" role="alert"></p>
    <p><button type="submit">Confirm and continue</button> <button type="button" id="reauth-cancel" class="secondary">Cancel</button></p>
  </form>
</section>

<section aria-labelledby="sessions-title">
  <h2 id="sessions-title">Your active sessions</h2>
  <div id="sessions">${sessionsHtml}</div>
</section>`,
  });
}

/** The table of a user's active sessions; also sent to the page by every status poll. */
export function sessionsTable(rows) {
  const others = rows.filter((row) => !row.current).length;
  const body = rows.map(
    (
      row,
    ) => html`<tr role="row" data-session="${row.id}"${row.current ? html` class="current"` : ''}>
  <th role="rowheader" scope="row" id="device-${row.id}">${row.device}${row.current ? html` <span class="badge">This session</span>` : ''}</th>
  <td role="cell" data-label="IP address">${row.ipAddress ?? 'unknown'}</td>
  <td role="cell" data-label="Signed in"><time datetime="${row.createdAt}">${row.createdAt}</time> <span class="ago"></span></td>
  <td role="cell" data-label="Last active"><time datetime="${row.lastActivityAt}">${row.lastActivityAt}</time> <span class="ago"></span></td>
  <td role="cell">${
    row.current
      ? html`<span class="muted">—</span>`
      : html`<form method="post" action="/sessions/${row.id}/sign-out"><button type="submit" class="secondary" aria-describedby="device-${row.id}">Sign out</button></form>`
  }</td>
</tr>`,
  );
  return html`<table role="table">
  <caption>${rows.length} active session${rows.length === 1 ? '' : 's'} for your account</caption>
  <thead role="rowgroup"><tr role="row"><th role="columnheader" scope="col">Device</th><th role="columnheader" scope="col">IP address</th><th role="columnheader" scope="col">Signed in</th><th role="columnheader" scope="col">Last active</th><th role="columnheader" scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
  <tbody role="rowgroup">${body}</tbody>
</table>
${
  others > 0
    ? html`<form method="post" action="/sessions/sign-out-others"><button type="submit" class="secondary">Sign out everywhere else</button></form>`
    : html`<p class="muted">No other sessions.</p>`
}`;
}

const REASONS = {
  idle: (policy) =>
    `You were signed out because there was no activity for ${spoken(policy.idleTimeout)}.`,
  absolute: (policy) =>
    `Your session reached its limit of ${spoken(policy.absoluteTimeout)}. For your security, please sign in again.`,
  ended: () =>
    'This session was signed out: from this browser, from another device, or by an administrator.',
  logout: () => 'You signed out.',
};

/** The signed-out page, saying why. */
export function signedOutPage({ reason, policy, pollMs }) {
  const explain = Object.hasOwn(REASONS, reason) ? REASONS[reason] : null;
  return layout({
    title: 'Signed out',
    policy,
    pollMs,
    body: html`<h1>You are signed out</h1>
<p class="reason" data-reason="${explain ? reason : 'unknown'}">${explain ? explain(policy) : 'Your session is no longer valid.'}</p>
<p><a class="button" href="/">Sign in again</a></p>`,
  });
}

function clock(seconds) {
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}
