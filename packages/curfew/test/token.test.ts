import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSessionToken, hashSessionToken, isWellFormedToken } from '../src/index.js';

describe('tokens', () => {
  it('are 43 base64url characters carrying 32 random bytes', () => {
    const tokens = new Set(Array.from({ length: 1000 }, generateSessionToken));
    expect(tokens.size).toBe(1000);
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(isWellFormedToken(token)).toBe(true);
    }
  });

  it('hash to lowercase hex SHA-256 of their UTF-8 bytes', () => {
    expect(hashSessionToken('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    const token = generateSessionToken();
    expect(hashSessionToken(token)).toBe(
      createHash('sha256').update(Buffer.from(token, 'utf8')).digest('hex'),
    );
    expect(hashSessionToken(token)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['x'.repeat(16), true],
    ['x'.repeat(256), true],
    ['x'.repeat(15), false],
    ['x'.repeat(257), false],
    ['abc+def/ghi=jklmnop', false],
    [`${'x'.repeat(20)}\n`, false],
    [42, false],
    [null, false],
  ])('%j well-formed: %s', (value, expected) => {
    expect(isWellFormedToken(value)).toBe(expected);
  });
});
