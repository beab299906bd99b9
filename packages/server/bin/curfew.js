#!/usr/bin/env node
// npm links a workspace's bin only if the file exists at install time, and dist/ does not exist
// until the first build: this committed launcher keeps `npx curfew` linked after a fresh `npm ci`.
// In the repository, a missing build is made once (`npm run build` at the root) before running.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  const root = new URL('../../../', import.meta.url);
  if (!existsSync(new URL('packages/curfew/package.json', root))) {
    process.stderr.write('curfew: dist/ is missing; build the package first\n');
    process.exit(1);
  }
  process.stderr.write('curfew: first run in this checkout, building (npm run build)...\n');
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
