// curfew/browser must stay small: every app that warns before expiry ships it on every page.
// Measured as an app ships it: bundled and minified by esbuild, then gzipped (scripts/browser-size.js,
// also `npm run size -w curfew`).
import { expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript script, without types.
import { BROWSER_TARGETS, measure } from '../scripts/browser-size.js';

for (const { entry, name, target } of BROWSER_TARGETS as Array<{
  entry: string;
  name: string;
  target: number;
}>) {
  it(`${name} is at most ${target} bytes minified and gzipped`, async () => {
    const { minified, gzipped } = (await measure(entry)) as { minified: number; gzipped: number };
    expect(minified).toBeGreaterThan(gzipped);
    expect(gzipped).toBeLessThanOrEqual(target);
  });
}
