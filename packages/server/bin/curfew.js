#!/usr/bin/env node
// npm links a workspace's bin only if the file exists at install time, and dist/ does not exist
// until the first build: this committed launcher keeps `npx curfew` linked after a fresh `npm ci`.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('curfew: not built yet; run `npm run build` at the repository root\n');
  process.exit(1);
}
await import(cli.href);
