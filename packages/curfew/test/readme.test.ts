// The README's library example must run as printed: a reader will paste it.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

it('the README library example runs and prints what it promises', () => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it as a library'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toBeDefined();
  // Inside the repository, as the README says, so `curfew` resolves to the workspace package.
  const file = join(repo, `readme-example-${process.pid}.mjs`);
  writeFileSync(file, code!);
  try {
    const output = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
    expect(output).toMatch(/^session [0-9a-f-]{36} expires at \d{4}-/m);
    expect(output).toMatch(/user 42 seconds left 1(799|800)\n/);
    expect(output).toContain('active sessions 1 more: false');
    expect(output).toContain(
      "after logout { valid: false, reason: 'not_found', endReason: 'logout' }",
    );
  } finally {
    rmSync(file, { force: true });
  }
});
