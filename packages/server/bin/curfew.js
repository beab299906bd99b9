#!/usr/bin/env node
// npm links a workspace's bin only if the file exists at install time, and dist/ does not exist
// until the first build: this committed launcher keeps `npx curfew` linked after a fresh `npm ci`.
// In the repository, a build that is missing or older than its sources is made (`npm run build`
// at the root) before running, and only then: an up-to-date `npm start` answers in a second.
// The CLI is imported, not spawned, so signals reach the server itself (`npm start` execs this).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
const root = new URL('../../../', import.meta.url);
const inCheckout = existsSync(new URL('packages/curfew/package.json', root));

if (inCheckout ? buildIsStale() : !existsSync(cli)) {
  if (!inCheckout) {
    process.stderr.write('curfew: dist/ is missing; build the package first\n');
    process.exit(1);
  }
  process.stderr.write(
    'curfew: the build is missing or older than its sources; building (npm run build)...\n',
  );
  const build = spawnSync('npm', ['run', 'build'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (build.status !== 0 || !existsSync(cli)) {
    process.stderr.write('curfew: the build failed; run `npm run build` at the repository root\n');
    process.exit(1);
  }
}
await import(cli.href);

/**
 * Whether either package's build is missing or older than any of its sources: its src/, its
 * package.json and tsconfig files, and the shared tsconfig.base.json. tsc writes every output on
 * each build, so one output file's time stands for the whole build.
 */
function buildIsStale() {
  const packages = [
    ['packages/curfew/', 'dist/index.js'],
    ['packages/server/', 'dist/cli.js'],
  ];
  const base = statSync(new URL('tsconfig.base.json', root)).mtimeMs;
  return packages.some(([dir, output]) => {
    const built = new URL(`${dir}${output}`, root);
    if (!existsSync(built)) return true;
    const builtAt = statSync(built).mtimeMs;
    const settings = readdirSync(new URL(dir, root)).filter(
      (name) => name === 'package.json' || /^tsconfig.*\.json$/.test(name),
    );
    return (
      base > builtAt ||
      settings.some((name) => statSync(new URL(`${dir}${name}`, root)).mtimeMs > builtAt) ||
      newestIn(new URL(`${dir}src/`, root)) > builtAt
    );
  });
}

function newestIn(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return newest;
}
