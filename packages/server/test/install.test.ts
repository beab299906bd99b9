// What `npm ci` installs must run on every Node version the project says it supports: a
// dependency that asks for a newer Node makes npm warn (EBADENGINE) on a supported machine, and
// may use what that Node lacks. Read from the lockfile, which is exactly what `npm ci` installs.
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);
const read = (path: string) => JSON.parse(readFileSync(new URL(path, root), 'utf8'));

describe('npm ci', () => {
  it('installs nothing that asks for a newer Node than the project supports', () => {
    const supported: string = read('package.json').engines.node;
    const oldest = semver.minVersion(supported)!.version;
    // The packages say the same as the workspace root, or less.
    for (const workspace of ['packages/curfew', 'packages/server']) {
      const range: string = read(`${workspace}/package.json`).engines.node;
      expect(semver.satisfies(oldest, range), `${workspace} engines.node ${range}`).toBe(true);
    }
    const lock = read('package-lock.json') as {
      packages: Record<string, { engines?: { node?: string } }>;
    };
    const refusing = Object.entries(lock.packages)
      .filter(([, entry]) => typeof entry.engines?.node === 'string')
      .filter(([, entry]) => !semver.satisfies(oldest, entry.engines!.node!))
      .map(
        ([path, entry]) => `${path.replace(/^.*node_modules\//, '')} wants ${entry.engines!.node}`,
      );
    expect(refusing, `on Node ${oldest}`).toEqual([]);
    expect(Object.keys(lock.packages).length).toBeGreaterThan(100);
  });
});
