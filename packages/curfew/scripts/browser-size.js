// The size of curfew's browser modules as an app ships them: bundled and minified by esbuild,
// then gzipped (level 9), next to each module's target. Exits 1 when one is over its target.
// The same measurement runs in the test suite (test/browser-size.test.ts).
//
//   npm run build -w curfew && npm run size -w curfew
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** Each browser entry point and its target, bytes of min+gzip. */
export const BROWSER_TARGETS = [
  { entry: 'browser/index.js', name: 'curfew/browser', target: 4096 },
  { entry: 'browser/dialog.js', name: 'curfew/browser/dialog', target: 3072 },
];

/** Bundles, minifies and gzips one built entry point; returns its sizes in bytes. */
export async function measure(entry) {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(`../dist/${entry}`, import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let over = false;
  for (const { entry, name, target } of BROWSER_TARGETS) {
    const { minified, gzipped } = await measure(entry);
    const ok = gzipped <= target;
    over ||= !ok;
    console.log(
      `${name}: ${minified} bytes minified, ${gzipped} bytes min+gzip; target <= ${target} (${(gzipped / target).toFixed(2)} of it): ${ok ? 'ok' : 'OVER'}`,
    );
  }
  process.exitCode = over ? 1 : 0;
}
