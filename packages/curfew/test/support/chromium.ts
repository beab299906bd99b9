// Debian's Chromium for the browser tests, driven by playwright-core (never `npx playwright
// install`). Locally a missing Chromium skips a browser test file loudly; in CI (CI=true) it fails.
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];

/** Whether Chromium is here; throws in CI when it is not, warns (naming `what`) otherwise. */
export function chromiumAvailable(what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is required in CI: apt-get install -y chromium`);
  console.warn(
    `\n!!! ${CHROMIUM} is missing: ${what} are SKIPPED on this machine.\n` +
      '!!! Install it with `apt-get install -y chromium`; CI fails instead of skipping.\n',
  );
  return false;
}
