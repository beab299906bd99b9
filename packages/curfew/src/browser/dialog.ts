// An accessible session-expiry warning for curfew/browser's monitor: an alertdialog that takes
// focus and gives it back, announces the time left at a few steps rather than every second,
// offers "Stay signed in" for the idle limit, and says plainly when the limit cannot be extended.
import type { SessionLimit, SessionMonitor } from './index.js';

/**
 * The words the dialog shows; every one can be replaced (for another language, or another tone).
 *
 * @example
 * ```ts
 * const texts: Partial<SessionDialogTexts> = { stay: 'Keep me signed in' };
 * ```
 */
export interface SessionDialogTexts {
  title: string;
  /** The idle warning, given the time left as text ("1 minute 30 seconds"). */
  idle(left: string): string;
  /** The absolute warning: it cannot be extended; say what to do. */
  absolute(left: string): string;
  stay: string;
  dismiss: string;
  expiredTitle: string;
  expired: string;
  signIn: string;
  /** Shown when "Stay signed in" did not work. */
  failed: string;
}

const TEXTS: SessionDialogTexts = {
  title: 'Your session is about to end',
  idle: (left) => `You will be signed out in ${left} because you have been inactive.`,
  absolute: (left) =>
    `Your session ends in ${left} and cannot be extended. Save your work now, then sign in again.`,
  stay: 'Stay signed in',
  dismiss: 'OK',
  expiredTitle: 'Your session has ended',
  expired: 'For your security you have been signed out. Sign in again to continue.',
  signIn: 'Sign in again',
  failed: 'Your session could not be extended. Save your work, then sign in again.',
};

/**
 * Options for {@link createSessionDialog}.
 *
 * @example
 * ```ts
 * const options: SessionDialogOptions = { signInUrl: '/login', texts: { stay: 'Continue' } };
 * ```
 */
export interface SessionDialogOptions {
  /** Where "Sign in again" leads once the session has ended (default `/`). */
  signInUrl?: string;
  texts?: Partial<SessionDialogTexts>;
  /** Where the dialog element is added (default `document.body`). */
  parent?: HTMLElement;
}

/**
 * The dialog's element and how to remove it.
 *
 * @example
 * ```ts
 * const { element, destroy } = createSessionDialog(monitor);
 * ```
 */
export interface SessionDialog {
  readonly element: HTMLDialogElement;
  destroy(): void;
}

// Seconds left at which the countdown is announced to screen readers (besides when it opens).
const STEPS = [120, 60, 30, 10];

// Every selector inside :where(), so it weighs nothing: any rule of the app's for these classes
// wins, wherever it stands in the cascade.
const STYLE = `:where(.curfew-dialog){max-width:min(28rem,calc(100vw - 2rem));padding:1.25rem;border:1px solid var(--curfew-dialog-border,#888);border-radius:var(--curfew-dialog-radius,.5rem);background:var(--curfew-dialog-bg,#fff);color:var(--curfew-dialog-fg,#111);font:inherit;box-shadow:0 .5rem 2rem #0004;transition:opacity .2s}:where(.curfew-dialog)::backdrop{background:#0006}:where(.curfew-dialog h2){margin:0 0 .5rem;font-size:1.2rem}:where(.curfew-dialog button,.curfew-dialog a){font:inherit;min-height:2.75rem;padding:.5rem 1rem;margin-top:1rem;border-radius:.375rem;cursor:pointer;display:inline-block}:where(.curfew-dialog .curfew-primary){background:var(--curfew-dialog-accent,#1d4ed8);color:#fff;border:0;text-decoration:none}:where(.curfew-sr){position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}@media (prefers-reduced-motion:reduce){:where(.curfew-dialog){transition:none}}`;

let styled = false;
// A constructed stylesheet: a page whose Content-Security-Policy allows no inline style still
// gets the dialog's (CSP governs <style> elements, not stylesheets built by script).
function addStyle(): void {
  if (styled) return;
  styled = true;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(STYLE);
  document.adoptedStyleSheets = [sheet, ...document.adoptedStyleSheets];
}

/** "1 minute 5 seconds", "45 seconds": how the time left is written and announced. */
function spoken(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return m === 0
    ? unit(s, 'second')
    : s === 0
      ? unit(m, 'minute')
      : `${unit(m, 'minute')} ${unit(s, 'second')}`;
}

/**
 * Shows a warning dialog from a session monitor's events: an `alertdialog` (a modal `<dialog>`,
 * so the page behind is inert) that takes focus when a limit is near and gives it back when
 * closed. For the idle limit it offers "Stay signed in" (the monitor's keep-alive); for the
 * absolute limit it says the session cannot be extended and what to do. The countdown is shown
 * every second and announced at the opening and at 2 minutes, 1 minute, 30 and 10 seconds. When
 * the session ends it says so, with a link to sign in again; when another tab extends the session
 * or signs out, it closes. Styled by classes (`curfew-dialog`, `curfew-primary`) and CSS custom
 * properties (`--curfew-dialog-bg`, `-fg`, `-accent`, `-border`, `-radius`); no motion when the
 * user prefers reduced motion.
 *
 * @example
 * ```ts
 * import { createSessionMonitor } from 'curfew/browser';
 * import { createSessionDialog } from 'curfew/browser/dialog';
 *
 * const monitor = createSessionMonitor({ statusUrl: '/session/status', keepAliveUrl: '/session/keep-alive' });
 * createSessionDialog(monitor, { signInUrl: '/login' });
 * ```
 */
export function createSessionDialog(
  monitor: SessionMonitor,
  options: SessionDialogOptions = {},
): SessionDialog {
  const texts = { ...TEXTS, ...options.texts };
  addStyle();
  const dialog = document.createElement('dialog');
  dialog.className = 'curfew-dialog';
  dialog.setAttribute('role', 'alertdialog');
  dialog.setAttribute('aria-modal', 'true');
  dialog.setAttribute('aria-labelledby', 'curfew-dialog-title');
  dialog.setAttribute('aria-describedby', 'curfew-dialog-message');
  dialog.innerHTML =
    '<h2 id="curfew-dialog-title"></h2><p id="curfew-dialog-message"></p><p class="curfew-sr" aria-live="polite"></p><div></div>';
  const [title, message, live, actions] = dialog.children as unknown as [
    HTMLElement,
    HTMLElement,
    HTMLElement,
    HTMLElement,
  ];
  (options.parent ?? document.body).append(dialog);

  let limit: SessionLimit | null = null;
  let returnFocus: HTMLElement | null = null;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let announced = Number.POSITIVE_INFINITY;

  const left = () => {
    const { idle, absolute } = monitor.remaining();
    return (limit === 'absolute' ? absolute : idle) ?? 0;
  };
  const button = (label: string, primary: boolean, onClick: () => void) => {
    const element = document.createElement('button');
    element.type = 'button';
    element.textContent = label;
    if (primary) element.className = 'curfew-primary';
    element.addEventListener('click', onClick);
    return element;
  };
  const render = () => {
    const seconds = left();
    message.textContent = (limit === 'absolute' ? texts.absolute : texts.idle)(spoken(seconds));
    // The visible text changes every second; screen readers hear it only at a few steps.
    const step = STEPS.find((at) => seconds <= at && at < announced);
    if (step !== undefined) {
      announced = step;
      live.textContent = message.textContent;
    }
  };
  const close = () => {
    clearInterval(ticker);
    limit = null;
    if (dialog.open) dialog.close();
  };
  // The dialog itself takes the focus, so a screen reader reads its title and message first;
  // Tab then reaches its one action (and Escape closes it).
  dialog.tabIndex = -1;
  const open = () => {
    if (!dialog.open) {
      returnFocus = document.activeElement as HTMLElement | null;
      dialog.showModal();
    }
    dialog.focus();
  };
  // Focus goes back where it was, however the dialog closed (a button, Escape, another tab).
  dialog.addEventListener('close', () => {
    clearInterval(ticker);
    returnFocus?.focus();
    returnFocus = null;
  });

  const offs = [
    monitor.on('warning', (detail) => {
      limit = detail.limit;
      announced = Number.POSITIVE_INFINITY;
      title.textContent = texts.title;
      actions.replaceChildren(
        detail.canExtend
          ? button(texts.stay, true, async () => {
              if (!(await monitor.staySignedIn())) message.textContent = texts.failed;
            })
          : button(texts.dismiss, true, close),
      );
      render();
      clearInterval(ticker);
      ticker = setInterval(render, 1000);
      open();
    }),
    monitor.on('extended', close),
    monitor.on('signed-out', close),
    monitor.on('expired', () => {
      clearInterval(ticker);
      title.textContent = texts.expiredTitle;
      message.textContent = texts.expired;
      live.textContent = texts.expired;
      const link = document.createElement('a');
      link.className = 'curfew-primary';
      link.href = options.signInUrl ?? '/';
      link.textContent = texts.signIn;
      actions.replaceChildren(link);
      open();
    }),
  ];

  return {
    element: dialog,
    destroy() {
      for (const off of offs) off();
      close();
      dialog.remove();
    },
  };
}
