// Tests what is published: the built `dist/`, its exports map, and its imports.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => join(entry.parentPath, entry.name));
}

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]/g)].map(
    (match) => match[1]!,
  );
}

describe('the published package', () => {
  it('works from dist through its package name', async () => {
    const curfew = await import('curfew');
    const sessions = new curfew.SessionManager({ store: new curfew.MemoryStore() });
    const { token } = await sessions.create({ userId: 'dist' });
    expect(await sessions.validate(token)).toMatchObject({ valid: true });
    expect(Object.keys(curfew)).toEqual(
      expect.arrayContaining([
        'SessionManager',
        'MemoryStore',
        'generateSessionToken',
        'hashSessionToken',
        'resolvePolicy',
        'CurfewError',
      ]),
    );
  });

  it('has no runtime dependency: the core imports only node: modules and itself', () => {
    const package_ = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(package_.dependencies ?? {}).toEqual({});
    for (const file of jsFiles(dist)) {
      const name = relative(dist, file);
      for (const specifier of importsOf(file)) {
        if (name.startsWith('testing/') && specifier === 'vitest') continue;
        // jose, an optional peer dependency, is loaded only by the curfew/jwt entry point.
        if (name === 'carriers/jwt.js' && specifier === 'jose') continue;
        expect(
          specifier.startsWith('node:') || specifier.startsWith('.'),
          `${name} imports ${specifier}`,
        ).toBe(true);
      }
    }
  });

  it('keeps every arrow pointing down: core imports no store, carrier or integration', () => {
    for (const file of jsFiles(join(dist, 'core'))) {
      for (const specifier of importsOf(file)) {
        expect(
          specifier.startsWith('node:') || specifier.startsWith('./'),
          `${file}: ${specifier}`,
        ).toBe(true);
      }
    }
  });
});
