// The signed-in page's behaviour: count down from the server's numbers, warn before either
// timeout, "Stay signed in", keep the sessions list fresh, and leave for the signed-out page as
// soon as the server refuses the session.
//
// Remaining time comes from the Session-*-Expires-In response headers, which are relative: the
// countdown runs on performance.now(), so a wrong or changing wall clock cannot skew it. Wall-clock
// times (signed in, last active, ends at) are shifted by the server's clock offset, measured on
// every poll from its serverTime, so they read right on this browser's own clock.

const countdown = document.getElementById('countdown');
if (countdown) start();

function start() {
  const data = document.body.dataset;
  const pollMs = Number(data.pollMs);
  const warnAt = { idle: Number(data.idleWarning), absolute: Number(data.absoluteWarning) };
  const $ = (id) => document.getElementById(id);
  const warning = $('warning');
  const warningText = $('warning-text');
  const notice = $('notice');
  const stay = $('stay-signed-in');

  let anchor = null; // { at: performance.now() ms, idle: s | null, absolute: s }
  let offset = 0; // server clock minus this browser's clock, ms
  let absoluteExpiresAt = 0; // server epoch ms
  let shownWarning = null;
  let sessionsHtml = null;
  let inFlight = null;

  async function call(method, path, form) {
    const sent = Date.now();
    const sentMono = performance.now();
    const response = await fetch(path, {
      method,
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
      ...(form === undefined ? {} : { body: new URLSearchParams(form) }),
    });
    if (response.status === 401) {
      const problem = await response.json().catch(() => ({}));
      const reason = problem.reason ?? 'unknown';
      window.location.assign(`/signed-out?reason=${encodeURIComponent(reason)}`);
      return null;
    }
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    const body = await response.json();
    const received = Date.now();
    // The server measured at about the middle of the round trip.
    offset = body.serverTime - (sent + received) / 2;
    const idle = response.headers.get('Session-Idle-Expires-In');
    anchor = {
      at: (sentMono + performance.now()) / 2,
      idle: idle === null ? null : Number(idle),
      absolute: Number(response.headers.get('Session-Absolute-Expires-In')),
    };
    absoluteExpiresAt = Date.parse(body.absoluteExpiresAt);
    updateSessions(body.sessionsHtml);
    render();
    return body;
  }

  function poll() {
    inFlight ??= call('GET', '/api/status')
      .catch((error) => console.warn('status check failed', error))
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  }

  function left() {
    const elapsed = (performance.now() - anchor.at) / 1000;
    const idle = anchor.idle === null ? null : Math.max(0, anchor.idle - elapsed);
    const absolute = Math.max(0, anchor.absolute - elapsed);
    return { idle, absolute, soonest: idle === null ? absolute : Math.min(idle, absolute) };
  }

  function render() {
    if (anchor === null) return;
    const { idle, absolute, soonest } = left();
    countdown.textContent = clock(soonest);
    $('idle-left').textContent = idle === null ? 'never' : clock(idle);
    $('absolute-left').textContent = clock(absolute);
    $('absolute-at').textContent = `(at ${localTime(absoluteExpiresAt)})`;
    const kind =
      absolute <= warnAt.absolute
        ? 'absolute'
        : idle !== null && idle <= warnAt.idle
          ? 'idle'
          : null;
    showWarning(kind, soonest);
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
        : `Counted down on this page from the server's numbers, checked every ${spoken(pollMs / 1000)} (which does not count as activity).`;
    // At zero the server decides; it will say why the session ended.
    if (soonest <= 0) void poll();
  }

  function showWarning(kind, soonest) {
    warning.hidden = kind === null;
    $('warning-left').textContent = clock(soonest);
    if (kind === shownWarning) return;
    shownWarning = kind;
    if (kind !== null) notice.textContent = '';
    // Written once per warning, so a screen reader announces it once, not every second.
    warningText.textContent =
      kind === 'idle'
        ? `You have been inactive for a while. You will be signed out at ${localTime(Date.now() + offset + soonest * 1000)} unless you choose "Stay signed in".`
        : kind === 'absolute'
          ? `This session reaches its time limit at ${localTime(absoluteExpiresAt)}, and then you will need to sign in again. Save your work.`
          : '';
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

  stay.addEventListener('click', async () => {
    stay.disabled = true;
    try {
      const body = await call('POST', '/api/activity');
      if (body === null) return;
      notice.textContent =
        shownWarning === 'absolute'
          ? `Activity recorded. You stay signed in until ${localTime(absoluteExpiresAt)}, when this session reaches its limit.`
          : 'Activity recorded. You are still signed in.';
    } finally {
      stay.disabled = false;
    }
  });

  // The sensitive action: a step-up answer (401 insufficient_user_authentication, RFC 9470)
  // means the session is fine but too old for this; ask the user to confirm, then try again.
  const sensitive = $('sensitive-action');
  const result = $('sensitive-result');
  const reauth = $('reauth');
  const reauthError = $('reauth-error');
  async function changeRecoveryEmail() {
    const response = await fetch('/api/recovery-email', {
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
    if (response.status === 401) {
      window.location.assign(`/signed-out?reason=${encodeURIComponent(body.reason ?? 'unknown')}`);
      return;
    }
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
  setInterval(poll, pollMs);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void poll();
  });
  void poll();

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
