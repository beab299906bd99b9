// curfew in the browser: a session monitor that learns the remaining time from curfew's
// response headers, counts down on the page's monotonic clock, keeps every tab of the origin in
// step, and never keeps a session alive by itself. No dependencies; DOM only.

/** Which limit: the idle timeout (can be extended by activity) or the absolute one (cannot). */
export type SessionLimit = 'idle' | 'absolute';

/**
 * What the monitor knows, in seconds left from now (`null`: no idle limit, or not known yet).
 *
 * @example
 * ```ts
 * const { idle, absolute } = monitor.remaining();
 * ```
 */
export interface SessionRemaining {
  idle: number | null;
  absolute: number | null;
}

/**
 * The events a monitor emits, with their details.
 *
 * @example
 * ```ts
 * monitor.on('warning', ({ limit, secondsLeft, canExtend }) => showDialog(limit, secondsLeft, canExtend));
 * ```
 */
export interface SessionMonitorEvents {
  /** A limit is near: `secondsLeft` until it; `canExtend` is false for the absolute limit. */
  warning: { limit: SessionLimit; secondsLeft: number; canExtend: boolean };
  /** The session was extended (here or in another tab): the warning, if any, is over. */
  extended: SessionRemaining;
  /** The session ran out: which limit ended it. */
  expired: { limit: SessionLimit };
  /** The user signed out (here or in another tab), or the server no longer knows the session. */
  'signed-out': Record<string, never>;
}

/**
 * Options for {@link createSessionMonitor}.
 *
 * @example
 * ```ts
 * const options: SessionMonitorOptions = { statusUrl: '/session/status', keepAliveUrl: '/session/keep-alive' };
 * ```
 */
export interface SessionMonitorOptions {
  /** A route answering with the session headers without touching it (`GET`). */
  statusUrl: string;
  /** A route that records activity (`POST`), for "Stay signed in" and app-reported activity. */
  keepAliveUrl: string;
  /** Seconds before the idle limit to warn (default 120; never less than 20, WCAG 2.2.1). */
  idleWarning?: number;
  /** Seconds before the absolute limit to warn (default 600; never less than 20). */
  absoluteWarning?: number;
  /** How often the polling tab asks the status route, in seconds (default 60). */
  pollInterval?: number;
  /** At most one keep-alive per this many seconds from {@link SessionMonitor.activity} (default 60). */
  activityInterval?: number;
  /** The BroadcastChannel and lock name shared by the tabs (default `curfew-session`). */
  channel?: string;
  /**
   * The fetch to call the routes with (default `globalThis.fetch`); also how an app whose status
   * route answers more than the time left reads the rest.
   */
  fetch?: typeof fetch;
}

/**
 * A running session monitor.
 *
 * @example
 * ```ts
 * const monitor = createSessionMonitor({ statusUrl: '/session/status', keepAliveUrl: '/session/keep-alive' });
 * const response = await monitor.fetch('/api/orders'); // headers read, activity as the server counts it
 * ```
 */
export interface SessionMonitor {
  /** Seconds left before each limit, counted on this page's monotonic clock. */
  remaining(): SessionRemaining;
  /** Reads curfew's headers from any response of the app (a 401 means the session is over). */
  observe(response: Response): void;
  /** `fetch`, with the answer observed. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * "Stay signed in": calls the keep-alive route. Resolves `false` without calling it once the
   * absolute limit is within its warning (it cannot be extended), or when the server refuses.
   */
  staySignedIn(): Promise<boolean>;
  /** The user did something the app counts as activity: a keep-alive at most once per `activityInterval`. */
  activity(): void;
  /** Tells every tab that the user signed out (call it after the app's own sign-out). */
  signedOut(): void;
  /** Asks the status route now (whether or not this tab is the one that polls). */
  refresh(): Promise<void>;
  on<K extends keyof SessionMonitorEvents>(
    type: K,
    listener: (detail: SessionMonitorEvents[K]) => void,
  ): () => void;
  /** Stops timers, leaves the channel and releases the polling lock. */
  stop(): void;
}

type Message =
  | { t: 'ask' }
  | { t: 'left'; idle: number | null; absolute: number | null; extended: boolean }
  | { t: 'out' }
  | { t: 'expired'; limit: SessionLimit };

const MIN_NOTICE = 20;

/**
 * Starts a session monitor. Deadlines are kept as `performance.now()` plus the relative seconds
 * curfew sends (`Session-Idle-Expires-In`, `Session-Absolute-Expires-In`), so a device clock that
 * is wrong, or changes, never moves the countdown. One tab of the origin polls the status route
 * (it holds a Web Lock; when it closes another takes over); every tab shares what any tab learns
 * over a BroadcastChannel, so a "Stay signed in", a sign-out or an expiry in one reaches all.
 * Nothing here records activity unless the app asks: the status route must not touch the session.
 *
 * @example
 * ```ts
 * import { createSessionMonitor } from 'curfew/browser';
 *
 * const monitor = createSessionMonitor({ statusUrl: '/session/status', keepAliveUrl: '/session/keep-alive' });
 * monitor.on('warning', ({ limit, secondsLeft }) => console.log(`${limit} limit in ${secondsLeft} s`));
 * monitor.on('expired', () => location.assign('/signed-out'));
 * ```
 */
export function createSessionMonitor(options: SessionMonitorOptions): SessionMonitor {
  const idleWarning = Math.max(MIN_NOTICE, options.idleWarning ?? 120);
  const absoluteWarning = Math.max(MIN_NOTICE, options.absoluteWarning ?? 600);
  const pollMs = (options.pollInterval ?? 60) * 1000;
  const activityMs = (options.activityInterval ?? 60) * 1000;
  const name = options.channel ?? 'curfew-session';
  const call = options.fetch ?? globalThis.fetch.bind(globalThis);
  const listeners: { [K in keyof SessionMonitorEvents]?: Set<(detail: never) => void> } = {};
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
  // Deadlines on this page's monotonic clock, in ms; null: none or not known.
  let idleAt: number | null = null;
  let absoluteAt: number | null = null;
  let known = false;
  let over = false;
  let warned: SessionLimit | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  let lastActivity = Number.NEGATIVE_INFINITY;
  let releaseLock: (() => void) | undefined;

  const emit = <K extends keyof SessionMonitorEvents>(type: K, detail: SessionMonitorEvents[K]) => {
    for (const listener of listeners[type] ?? []) (listener as (d: typeof detail) => void)(detail);
  };
  const post = (message: Message) => channel?.postMessage(message);
  const secondsUntil = (at: number | null) =>
    at === null ? null : Math.max(0, Math.ceil((at - performance.now()) / 1000));
  const remaining = (): SessionRemaining => ({
    idle: secondsUntil(idleAt),
    absolute: secondsUntil(absoluteAt),
  });

  const end = (type: 'expired' | 'signed-out', limit: SessionLimit = 'idle', share = true) => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    if (share) post(type === 'expired' ? { t: 'expired', limit } : { t: 'out' });
    if (type === 'expired') emit('expired', { limit });
    else emit('signed-out', {});
  };

  // Decides what is due now and sleeps until the next moment something will be.
  const check = () => {
    clearTimeout(timer);
    if (over || !known) return;
    const { idle, absolute } = remaining();
    if (absolute !== null && absolute <= 0) return end('expired', 'absolute');
    if (idle !== null && idle <= 0) return end('expired', 'idle');
    const due: SessionLimit | null =
      absolute !== null && absolute <= absoluteWarning
        ? 'absolute'
        : idle !== null && idle <= idleWarning
          ? 'idle'
          : null;
    if (due !== null && due !== warned) {
      warned = due;
      const secondsLeft = (due === 'absolute' ? absolute : idle) as number;
      emit('warning', { limit: due, secondsLeft, canExtend: due === 'idle' });
    }
    // The next moment anything changes: a warning starts, or a limit is reached.
    const moments = [
      idle === null ? null : idle - (warned === null ? idleWarning : 0),
      absolute === null ? null : absolute - (warned !== 'absolute' ? absoluteWarning : 0),
      idle,
      absolute,
    ].filter((s): s is number => s !== null && s > 0);
    const next = Math.min(...moments, pollMs / 1000);
    timer = setTimeout(check, Math.max(250, next * 1000));
  };

  const learn = (idle: number | null, absolute: number | null, share: boolean) => {
    if (over) return;
    const now = performance.now();
    const before = remaining();
    idleAt = idle === null ? null : now + idle * 1000;
    absoluteAt = absolute === null ? null : now + absolute * 1000;
    known = true;
    // Extended: a warning was showing and the idle limit moved out of it.
    const extended = warned === 'idle' && (idle === null || idle > idleWarning);
    if (extended) {
      warned = null;
      emit('extended', remaining());
    }
    if (
      share &&
      (before.idle !== secondsUntil(idleAt) || before.absolute !== secondsUntil(absoluteAt))
    ) {
      post({ t: 'left', idle, absolute, extended });
    }
    check();
  };

  const observe = (response: Response) => {
    if (response.status === 401) {
      // curfew's integrations say why (problem+json `reason`): a timeout is an expiry; a step-up
      // challenge (a sensitive route wants a fresher sign-in) leaves the session as it was;
      // anything else (signed out elsewhere, revoked) is a sign-out.
      void response
        .clone()
        .json()
        .catch(() => ({}))
        .then(({ reason }: { reason?: string }) => {
          if (reason === 'idle' || reason === 'absolute') end('expired', reason);
          else if (reason !== 'insufficient_user_authentication') end('signed-out');
        });
      return;
    }
    const absolute = response.headers.get('Session-Absolute-Expires-In');
    if (absolute === null) return;
    const idle = response.headers.get('Session-Idle-Expires-In');
    learn(idle === null ? null : Number(idle), Number(absolute), true);
  };

  const request = async (url: string, method: string) => {
    const response = await call(url, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { accept: 'application/json' },
    });
    observe(response);
    return response;
  };

  const refresh = async () => {
    if (over) return;
    try {
      await request(options.statusUrl, 'GET');
    } catch {
      // Offline or the server away: the countdown goes on from what was known.
    }
  };

  if (channel !== null) {
    channel.onmessage = ({ data }: MessageEvent<Message>) => {
      if (data.t === 'ask') {
        // A tab just opened: tell it what this one knows, so it need not wait for a poll.
        if (known && !over) post({ t: 'left', ...remaining(), extended: false });
      } else if (data.t === 'left') learn(data.idle, data.absolute, false);
      else if (data.t === 'out') end('signed-out', 'idle', false);
      else end('expired', data.limit, false);
    };
  }

  post({ t: 'ask' });
  // One tab polls: the one holding the lock. Without Web Locks every tab polls.
  const startPolling = () => {
    void refresh();
    pollTimer = setInterval(refresh, pollMs);
  };
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks) {
    void locks
      .request(`${name}-poll`, () => {
        if (over) return;
        startPolling();
        return new Promise<void>((resolve) => {
          releaseLock = resolve;
        });
      })
      .catch(() => {});
  } else {
    startPolling();
  }
  // A tab that comes back to the foreground catches up at once: timers are throttled in the
  // background, and the countdown it shows must be right the moment it is seen.
  const onVisible = () => {
    if (document.visibilityState === 'visible') check();
  };
  if (typeof document === 'object') document.addEventListener('visibilitychange', onVisible);

  return {
    remaining,
    observe,
    async fetch(input, init) {
      const response = await call(input, init);
      observe(response);
      return response;
    },
    async staySignedIn() {
      const { absolute } = remaining();
      if (over || (absolute !== null && absolute <= absoluteWarning)) return false;
      try {
        const response = await request(options.keepAliveUrl, 'POST');
        lastActivity = performance.now();
        return response.ok;
      } catch {
        return false;
      }
    },
    activity() {
      if (over || performance.now() - lastActivity < activityMs) return;
      lastActivity = performance.now();
      void request(options.keepAliveUrl, 'POST').catch(() => {});
    },
    signedOut: () => end('signed-out'),
    refresh,
    on(type, listener) {
      let set = listeners[type] as Set<typeof listener> | undefined;
      if (set === undefined) {
        set = new Set();
        (listeners as Record<string, Set<typeof listener>>)[type] = set;
      }
      set.add(listener);
      return () => set.delete(listener);
    },
    stop() {
      over = true;
      clearTimeout(timer);
      clearInterval(pollTimer);
      releaseLock?.();
      channel?.close();
      if (typeof document === 'object') document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
