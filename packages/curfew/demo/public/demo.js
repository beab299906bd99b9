// The signed-in page's behaviour, on curfew/browser: the session monitor counts down from the
// server's numbers and keeps every tab of the demo in step (one tab polls; a "Stay signed in",
// a sign-out or an expiry in one reaches all), and its dialog warns before either timeout. This
// file adds what is the demo's own: the countdown display, the sessions list, the sensitive
// action, and leaving for the signed-out page, with the reason, when the session is over.
//
// Remaining time comes from the Session-*-Expires-In response headers, which are relative: the
// monitor counts on performance.now(), so a wrong or changing wall clock cannot skew it. Wall-clock
// times (signed in, last active, ends at) are shifted by the server's clock offset, measured from
// its serverTime on every status answer, so they read right on this browser's own clock.
import { createSessionMonitor } from '/static/curfew/browser.js';
import { createSessionDialog } from '/static/curfew/dialog.js';

const countdown = document.getElementById('countdown');
if (countdown) start();

function start() {
  const data = document.body.dataset;
  const pollMs = Number(data.pollMs);
  const $ = (id) => document.getElementById(id);
  const notice = $('notice');

  let offset = 0; // server clock minus this browser's clock, ms
  let absoluteExpiresAt = 0; // server epoch ms
  let sessionsHtml = null;
  let leaving = false;

  // What a status answer carries besides the time left, shared with the other tabs (which do
  // not poll) over a channel of the demo's own.
  const shared = new BroadcastChannel('curfew-demo-page');
  const apply = (status) => {
    offset = status.offset;
    absoluteExpiresAt = status.absoluteExpiresAt;
    updateSessions(status.sessionsHtml);
    render();
  };
  shared.onmessage = ({ data: status }) => apply(status);
  async function readStatus(response, sent) {
    if (!response.ok) return;
    const body = await response.clone().json();
    if (typeof body.serverTime !== 'number') return;
    // The server measured at about the middle of the round trip.
    const status = {
      offset: body.serverTime - (sent + Date.now()) / 2,
      absoluteExpiresAt: Date.parse(body.absoluteExpiresAt),
      sessionsHtml: body.sessionsHtml,
    };
    apply(status);
    shared.postMessage(status);
  }

  const monitor = createSessionMonitor({
    statusUrl: '/api/status',
    keepAliveUrl: '/api/activity',
    idleWarning: Number(data.idleWarning),
    absoluteWarning: Number(data.absoluteWarning),
    pollInterval: pollMs / 1000,
    channel: 'curfew-demo',
    fetch: (input, init) => {
      const sent = Date.now();
      return fetch(input, init).then((response) => {
        void readStatus(response, sent);
        return response;
      });
    },
  });
  createSessionDialog(monitor, { signInUrl: '/' });
  const leave = (reason) => {
    if (leaving) return;
    leaving = true;
    window.location.assign(`/signed-out?reason=${encodeURIComponent(reason)}`);
  };
  monitor.on('expired', ({ limit }) => leave(limit));
  // Signed out in another tab, from another device or by an administrator: the answer never
  // says which, and neither does the page.
  monitor.on('signed-out', () => leave('ended'));
  monitor.on('extended', () => {
    notice.textContent = 'Activity recorded. You are still signed in.';
  });
  // This tab's own sign-out: the form does it; the other tabs hear of it at once.
  $('sign-out').addEventListener('submit', () => {
    leaving = true;
    monitor.signedOut();
  });

  function render() {
    const { idle, absolute } = monitor.remaining();
    if (absolute === null) return;
    const soonest = idle === null ? absolute : Math.min(idle, absolute);
    countdown.textContent = clock(soonest);
    $('idle-left').textContent = idle === null ? 'never' : clock(idle);
    $('absolute-left').textContent = clock(absolute);
    if (absoluteExpiresAt > 0)
      $('absolute-at').textContent = `(at ${localTime(absoluteExpiresAt)})`;
    for (const time of document.querySelectorAll('#sessions time[datetime]')) {
      const at = Date.parse(time.dateTime);
      time.textContent = localTime(at);
      time.nextElementSibling.textContent = ago(Date.now() + offset - at);
    }
    const skew = Math.round(offset / 1000);
    const note = $('clock-note');
    note.dataset.skew = String(skew);
    note.textContent =
      Math.abs(skew) >= 2
        ? `This browser's clock is ${spoken(Math.abs(skew))} ${skew > 0 ? 'behind' : 'ahead of'} the server's; the times here are corrected for it.`
        : `Counted down on this page from the server's numbers, checked every ${spoken(pollMs / 1000)} by one of your tabs (which does not count as activity).`;
  }

  function updateSessions(html) {
    if (html === sessionsHtml) return;
    sessionsHtml = html;
    const container = $('sessions');
    const focused = container.contains(document.activeElement)
      ? document.activeElement.closest('tr')?.dataset.session
      : undefined;
    container.innerHTML = html;
    if (focused !== undefined) {
      const again = container.querySelector(`tr[data-session="${CSS.escape(focused)}"] button`);
      (again ?? $('sessions-title')).focus();
    }
  }

  async function call(method, path, form) {
    const response = await monitor.fetch(path, {
      method,
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
      ...(form === undefined ? {} : { body: new URLSearchParams(form) }),
    });
    if (response.status === 401) return null; // the monitor has seen it, and leaves
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  }

  // The sensitive action: a step-up answer (401 insufficient_user_authentication, RFC 9470)
  // means the session is fine but too old for this; ask the user to confirm, then try again.
  const sensitive = $('sensitive-action');
  const result = $('sensitive-result');
  const reauth = $('reauth');
  const reauthError = $('reauth-error');
  async function changeRecoveryEmail() {
    const response = await monitor.fetch('/api/recovery-email', {
      method: 'POST',
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 && body.code === 'INSUFFICIENT_USER_AUTHENTICATION') {
      result.textContent = '';
      reauth.hidden = false;
      $('reauth-title').focus();
      return;
    }
    if (response.status === 401) return; // the monitor has seen it, and leaves
    result.textContent = body.message ?? 'Something went wrong.';
  }
  sensitive.addEventListener('click', () => void changeRecoveryEmail());
  reauth.addEventListener('submit', async (event) => {
    event.preventDefault();
    const code = $('reauth-code').value.trim();
    if (!/^\d{6}$/.test(code)) {
      reauthError.textContent = 'Enter the six digits of your code.';
      return;
    }
    reauthError.textContent = '';
    const body = await call('POST', '/api/reauthenticate', { code });
    if (body === null) return;
    reauth.hidden = true;
    $('reauth-code').value = '';
    notice.textContent = 'Confirmed. Both timers of this session started again.';
    await changeRecoveryEmail();
    sensitive.focus();
  });
  $('reauth-cancel').addEventListener('click', () => {
    reauth.hidden = true;
    sensitive.focus();
  });

  $('sessions-title').tabIndex = -1;
  setInterval(render, 250);
  // A background tab draws at most once a second; back in front, it is right at once.
  document.addEventListener('visibilitychange', render);
  render();

  /** A server epoch time as this browser's clock shows it. */
  function localTime(serverMs) {
    return new Date(serverMs - offset).toLocaleTimeString([], {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }
}

function clock(seconds) {
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

function spoken(seconds) {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.round(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

function ago(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 10) return 'just now';
  if (seconds < 3600) return `${spoken(seconds)} ago`;
  const hours = Math.floor(seconds / 3600);
  return `${hours} hour${hours === 1 ? '' : 's'} ago`;
}
