// RedisStore's key layout as data: ids and key names as stored, without a server.
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../src/stores/redis/codec.js';
import {
  decodeId,
  encodeId,
  keyName,
  luaKeyFunctions,
  luaRecordFunctions,
} from '../src/stores/redis/key-layout.js';

describe('session ids as the Redis store keeps them', () => {
  it('stores a UUID as its 16 bytes and any other id as it is, and reads both back', () => {
    const uuid = '0343ffb9-07ec-46e2-bb45-856c82710e9a';
    expect(encodeId(uuid)).toHaveLength(17);
    const ids = [
      uuid,
      '0343FFB9-07EC-46E2-BB45-856C82710E9A', // not as curfew makes them: kept as text
      'legacy:session/42',
      'u', // a one-letter id that looks like the UUID marker
      'ü😀'.repeat(10),
      'x'.repeat(64),
    ];
    for (const id of ids) expect(decodeId(encodeId(id))).toBe(id);
    expect(new Set(ids.map((id) => encodeId(id).toString('hex'))).size).toBe(ids.length);
    expect(() => decodeId(Buffer.from('zoo'))).toThrow(/not a session id/);
  });

  it('builds the same key names in TypeScript as the generated Lua', () => {
    const layout = { prefix: 'app:', buckets: 8 };
    const id = encodeId('0343ffb9-07ec-46e2-bb45-856c82710e9a');
    expect(keyName(layout, 'record', { b: '5', id })).toEqual(
      Buffer.concat([Buffer.from('app:{5}:s:'), id]),
    );
    expect(keyName(layout, 'absolute', { b: '5' })).toBe('app:{5}:exp');
    expect(keyName(layout, 'token', { hash: 'ab'.repeat(32) })).toEqual(
      Buffer.concat([Buffer.from('app:t:'), Buffer.alloc(32, 0xab)]),
    );
    const lua = luaKeyFunctions();
    expect(lua).toContain(
      "local function k_record(b, id) return P .. '{' .. b .. '}' .. ':s:' .. id end",
    );
    expect(lua).toContain("local function k_token(hash) return P .. 't:' .. hash end");
    expect(lua).toContain(
      "local function k_scope(b, scope) return P .. '{' .. b .. '}' .. ':u:' .. scope end",
    );
  });
});

describe('session records', () => {
  const session = {
    id: '0343ffb9-07ec-46e2-bb45-856c82710e9a',
    tokenHash: 'ab'.repeat(32),
    userId: 'ada',
    tenantId: 'acme',
    appType: 'tenant_app',
    ipAddress: '203.0.113.7',
    userAgent: 'Mozilla/5.0',
    createdAt: 1_000,
    lastActivityAt: 2_000,
    absoluteExpiresAt: 43_201_000,
    idleTimeout: 900_000,
    aal: 3 as const,
    methods: ['hwk', 'pin'],
    authenticatedAt: 1_500,
    endedAt: null,
    endReason: null,
  };

  it('round-trip every field, with and without a user agent or an idle limit', () => {
    for (const variant of [
      session,
      { ...session, userAgent: null },
      { ...session, userAgent: '' },
      { ...session, idleTimeout: null, methods: [] },
    ]) {
      expect(decodeRecord(variant.id, encodeRecord(variant))).toEqual(variant);
    }
  });

  it('read a record from before levels as AAL1, authenticated at creation, 15 minutes idle', () => {
    // The old form: the fields up to the user id, then the user agent (absent when null).
    for (const userAgent of ['Mozilla/5.0', null]) {
      const fields = [
        '2000',
        '43201000',
        '1000',
        '',
        '',
        'tenant_app',
        '203.0.113.7',
        'acme',
        'ada',
      ];
      if (userAgent !== null) fields.push(userAgent);
      const legacy = Buffer.concat([
        Buffer.from(session.tokenHash, 'hex'),
        Buffer.from(fields.join('\u0000')),
      ]);
      expect(decodeRecord(session.id, legacy)).toEqual({
        ...session,
        userAgent,
        aal: 1,
        methods: [],
        authenticatedAt: 1_000,
        idleTimeout: 900_000,
      });
    }
    // The same rule in the scripts' Lua: the field count tells the forms apart.
    expect(luaRecordFunctions()).toContain('if #parts <= LEGACY_HEAD + 1 then');
  });
});
