import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiKeyError,
  ApiKeyring,
  checkKeyStrength,
  hashApiKey,
  parseApiKeyFile,
  parseApiKeyList,
} from '../src/api-keys.js';
import { ConfigError, loadConfig, type ServerConfig } from '../src/config.js';
import { createApiKey, revokeApiKey, rotateApiKey } from '../src/key-lifecycle.js';
import { keyStoreFor, loadKeys as loadKeysFrom } from '../src/key-setup.js';
import { readApiKeyFile } from '../src/key-stores/file-key-store.js';

// The keys as `curfew serve` on SQLite or memory: loads them: from the key file.
const loadKeys = (config: ServerConfig, options?: { interactive?: boolean }) =>
  loadKeysFrom(config, keyStoreFor(config, undefined), options);

// Random keys, as an operator must give: 128 bits of hex, 240 bits of base64url.
const KEY_A = 'e3ebbe2c0673ff4386fb4fb70cace3be';
const KEY_B = 'neEgkHPXQq6kSo_pRSaIa37wJ1BNeqWTEcJr5muk';

function configError(env: Record<string, string>, flags = {}): string {
  try {
    loadConfig(env, flags);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      storeUrl: 'sqlite:./data/curfew.db',
      store: { kind: 'sqlite', path: './data/curfew.db' },
      sweepInterval: 60_000,
      sweepPause: 0,
      apiKeys: [],
      apiKeysFile: resolve('data/api-keys'),
      apiKeysFileExplicit: false,
      dataDir: resolve('data'),
      logLevel: 'info',
      tls: null,
      tlsTerminatedByProxy: false,
      http: {
        requestTimeout: 10_000,
        headersTimeout: 5_000,
        keepAliveTimeout: 65_000,
        maxHeaderSize: 16_384,
      },
      shutdownTimeout: 10_000,
      storeConnection: { poolSize: 10, timeout: 2_000 },
    });
    expect(config.policy).toMatchObject({
      preset: 'nist-800-63b-rev3-aal2',
      idleTimeout: 30 * 60_000,
      absoluteTimeout: 12 * 3_600_000,
    });
  });

  it('reads every variable, and a flag wins over its variable', () => {
    const config = loadConfig(
      {
        CURFEW_HOST: '0.0.0.0',
        CURFEW_TLS_TERMINATED_BY_PROXY: 'true',
        CURFEW_REQUEST_TIMEOUT: '30s',
        CURFEW_HEADERS_TIMEOUT: '20s',
        CURFEW_KEEP_ALIVE_TIMEOUT: '2m',
        CURFEW_MAX_HEADER_SIZE: '8192',
        CURFEW_SHUTDOWN_TIMEOUT: '45s',
        CURFEW_PORT: '9000',
        CURFEW_STORE: 'memory:',
        CURFEW_POLICY: 'nist-800-63b-rev4-aal2',
        CURFEW_IDLE_TIMEOUT: '20m',
        CURFEW_ABSOLUTE_TIMEOUT: '8h',
        CURFEW_ABSOLUTE_WARNING: '10m',
        CURFEW_IDLE_WARNING: '90s',
        CURFEW_ACTIVITY_WRITE_INTERVAL: '0',
        CURFEW_SWEEP_INTERVAL: '5m',
        CURFEW_SWEEP_PAUSE: '50ms',
        CURFEW_API_KEYS: `ops:${KEY_A}:*,billing:${KEY_B}:acme`,
        CURFEW_API_KEYS_FILE: '/etc/curfew/keys',
        CURFEW_LOG_LEVEL: 'warn',
      },
      { port: '9001', idleTimeout: '15m' },
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9001,
      store: { kind: 'memory' },
      sweepInterval: 300_000,
      sweepPause: 50,
      apiKeysFile: '/etc/curfew/keys',
      apiKeysFileExplicit: true,
      logLevel: 'warn',
      tlsTerminatedByProxy: true,
      http: {
        requestTimeout: 30_000,
        headersTimeout: 20_000,
        keepAliveTimeout: 120_000,
        maxHeaderSize: 8192,
      },
      shutdownTimeout: 45_000,
      apiKeys: [
        { name: 'ops', tenantId: null, scope: 'admin', sha256: hashApiKey(KEY_A) },
        { name: 'billing', tenantId: 'acme', scope: 'sessions', sha256: hashApiKey(KEY_B) },
      ],
    });
    expect(config.policy).toMatchObject({
      preset: 'nist-800-63b-rev4-aal2',
      idleTimeout: 15 * 60_000,
      absoluteTimeout: 8 * 3_600_000,
      absoluteWarning: 10 * 60_000,
      idleWarning: 90_000,
      activityWriteInterval: 0,
    });
  });

  it('keeps the data folder beside the SQLite file', () => {
    expect(loadConfig({ CURFEW_STORE: 'sqlite:/var/lib/curfew/s.db' }).dataDir).toBe(
      '/var/lib/curfew',
    );
    expect(loadConfig({ CURFEW_STORE: 'sqlite:/var/lib/curfew/s.db' }).apiKeysFile).toBe(
      '/var/lib/curfew/api-keys',
    );
  });

  it.each([
    [{ CURFEW_PORT: 'http' }, /^CURFEW_PORT: expected a port number from 0 to 65535$/],
    [{ CURFEW_PORT: '70000' }, /^CURFEW_PORT: /],
    [
      { CURFEW_STORE: 'mongodb://x' },
      /^CURFEW_STORE: expected sqlite:PATH, memory:, postgres:.* or redis\+cluster:/,
    ],
    [{ CURFEW_STORE: 'sqlite:' }, /^CURFEW_STORE: /],
    [{ CURFEW_STORE: 'postgres://' }, /^CURFEW_STORE: expected a URL .*, with a host$/],
    [{ CURFEW_STORE: 'mysql://root@db' }, /^CURFEW_STORE: .*with the database named$/],
    [{ CURFEW_STORE: 'redis+cluster://a:1,b' }, /^CURFEW_STORE: .*each node as HOST:PORT$/],
    [{ CURFEW_STORE: 'redis+cluster://a:70000' }, /^CURFEW_STORE: .*each node as HOST:PORT$/],
    [{ CURFEW_STORE_POOL_SIZE: '0' }, /^CURFEW_STORE_POOL_SIZE: expected a whole number/],
    [{ CURFEW_STORE_POOL_SIZE: '2.5' }, /^CURFEW_STORE_POOL_SIZE: expected a whole number/],
    [{ CURFEW_STORE_TIMEOUT: '10ms' }, /^CURFEW_STORE_TIMEOUT: expected a duration from 100ms/],
    [{ CURFEW_POLICY: 'strict' }, /^CURFEW_POLICY: expected one of nist-800-63b-rev3-aal2, /],
    [{ CURFEW_IDLE_TIMEOUT: 'forever' }, /^CURFEW_IDLE_TIMEOUT: expected a duration such as 90s/],
    [{ CURFEW_ABSOLUTE_WARNING: '-5m' }, /^CURFEW_ABSOLUTE_WARNING: expected a duration/],
    [
      { CURFEW_SWEEP_INTERVAL: '10ms' },
      /^CURFEW_SWEEP_INTERVAL: expected 0 \(no sweeping\) or at least 1s$/,
    ],
    [{ CURFEW_SWEEP_PAUSE: 'a bit' }, /^CURFEW_SWEEP_PAUSE: expected a duration/],
    [{ CURFEW_SWEEP_PAUSE: '1m' }, /^CURFEW_SWEEP_PAUSE: expected at most 10s/],
    [{ CURFEW_LOG_LEVEL: 'loud' }, /^CURFEW_LOG_LEVEL: expected one of fatal, error, warn/],
    [
      { CURFEW_API_KEYS: 'nokey' },
      /^CURFEW_API_KEYS: entry 1: expected NAME:KEY:TENANT or NAME:KEY:\*\[:SCOPE\]$/,
    ],
    [
      { CURFEW_API_KEYS: `ops:${KEY_A}:*,x:short:acme` },
      /^CURFEW_API_KEYS: entry 2 \(x\): the key must be random: at least 128 bits/,
    ],
    [
      { CURFEW_API_KEYS: `bad name:${KEY_A}:*` },
      /^CURFEW_API_KEYS: entry 1: the key name must match/,
    ],
    // What used to make an admin key now says exactly what to write instead.
    [
      { CURFEW_API_KEYS: `ops:${KEY_A}` },
      /^CURFEW_API_KEYS: entry 1 \(ops\): say which tenant the key is for: write ops:<key>:\* for every tenant/,
    ],
    [
      { CURFEW_API_KEYS: `ops:${KEY_A}:*:root` },
      /^CURFEW_API_KEYS: entry 1 \(ops\): the last field must be a scope \(validate, sessions, metrics, admin\)/,
    ],
    [
      { CURFEW_API_KEYS: `ops:${KEY_A}:acme:admin` },
      /^CURFEW_API_KEYS: entry 1 \(ops\): an admin key is for every tenant; write \* as its tenant$/,
    ],
    [
      { CURFEW_API_KEYS: `ops:${KEY_A}:acme:metrics` },
      /^CURFEW_API_KEYS: entry 1 \(ops\): a metrics key is for every tenant/,
    ],
    [{ CURFEW_API_KEYS: `ops:${'a'.repeat(64)}:*` }, /the key must be random/],
    [{ CURFEW_API_KEYS: `ops:${'0123456789abcdef'.repeat(2)}:*` }, /the key must be random/],
    [{ CURFEW_API_KEYS: 'ops:password-password-password-pass:*' }, /the key must be random/],
    [{ CURFEW_API_KEYS: `ops:${KEY_A.slice(0, 31)}:*` }, /the key must be random/],
    [{ CURFEW_API_KEYS: 'ops:correct horse battery staple, really:*' }, /entry/],
  ])('refuses %j in one line naming the variable', (env, pattern) => {
    expect(configError(env)).toMatch(pattern);
  });

  it.each([
    ['postgres://curfew@db.internal:5433/app', { kind: 'postgres' }],
    ['postgresql://db/app?sslmode=require', { kind: 'postgres' }],
    [
      'mysql://root@127.0.0.1:3306/test',
      { kind: 'mysql', url: 'mysql://root@127.0.0.1:3306/test' },
    ],
    ['mariadb://root@db/app', { kind: 'mysql', url: 'mysql://root@db/app' }],
    ['redis://127.0.0.1:6379/2', { kind: 'redis' }],
    ['rediss://:pw@cache:6380', { kind: 'redis' }],
    [
      'redis+cluster://ops:p%40ss@10.0.0.1:7000,[::1]:7001',
      {
        kind: 'redis-cluster',
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '::1', port: 7001 },
        ],
        username: 'ops',
        password: 'p@ss',
        tls: false,
      },
    ],
  ])('reads the store URL %s', (url, expected) => {
    expect(loadConfig({ CURFEW_STORE: url }).store).toMatchObject(expected);
  });

  it('never shows a store password: the URL is kept redacted for banners and logs', () => {
    const config = loadConfig({ CURFEW_STORE: 'postgres://app:s3cret@db:5432/app' });
    expect(config.storeUrl).toBe('postgres://app:***@db:5432/app');
    expect(loadConfig({ CURFEW_STORE: 'redis+cluster://:s3cret@a:1,b:2' }).storeUrl).toBe(
      'redis+cluster://:***@a:1,b:2',
    );
    expect(configError({ CURFEW_STORE: 'postgres://app:s3cret@' })).not.toContain('s3cret');
  });

  it('takes pool size and store timeout, with defaults of 10 and 2 s', () => {
    expect(loadConfig({}).storeConnection).toEqual({ poolSize: 10, timeout: 2_000 });
    expect(
      loadConfig({ CURFEW_STORE_POOL_SIZE: '25' }, { storeTimeout: '500ms' }).storeConnection,
    ).toEqual({ poolSize: 25, timeout: 500 });
  });

  it('names the flag when the bad value came from a flag', () => {
    expect(configError({}, { port: 'x' })).toMatch(/^--port: expected a port number/);
    expect(configError({}, { idleTimeout: '2h' })).toMatch(/^--idle-timeout: 2h is longer than/);
  });

  it('refuses a policy looser than its preset, naming the variable and the limit', () => {
    const message = configError({ CURFEW_IDLE_TIMEOUT: '2h' });
    expect(message).toBe(
      'CURFEW_IDLE_TIMEOUT: 2h is longer than the 30m allowed by nist-800-63b-rev3-aal2 at AAL2',
    );
    expect(configError({ CURFEW_ABSOLUTE_TIMEOUT: '1d' })).toMatch(
      /^CURFEW_ABSOLUTE_TIMEOUT: 1d is longer than the 12h allowed/,
    );
    expect(configError({ CURFEW_IDLE_TIMEOUT: '30s' })).toMatch(
      /^CURFEW_ACTIVITY_WRITE_INTERVAL: 1m must be shorter than every idle timeout \(the shortest is 30s\)$/,
    );
  });

  it('will not listen beyond loopback in plain HTTP unless told a proxy terminates TLS', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'curfew.internal']) {
      expect(configError({ CURFEW_HOST: host })).toMatch(
        new RegExp(
          `^CURFEW_HOST: ${host.replaceAll('.', '\\.')} is not a loopback address, and without TLS every token and API key would cross the network in clear text; set CURFEW_TLS_CERT and CURFEW_TLS_KEY, or CURFEW_TLS_TERMINATED_BY_PROXY=true`,
        ),
      );
    }
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', 'localhost']) {
      expect(loadConfig({ CURFEW_HOST: host }).host).toBe(host);
    }
    expect(
      loadConfig({ CURFEW_HOST: '0.0.0.0', CURFEW_TLS_CERT: 'c.pem', CURFEW_TLS_KEY: 'k.pem' }).tls,
    ).toEqual({ cert: resolve('c.pem'), key: resolve('k.pem'), clientCa: null });
    expect(configError({ CURFEW_TLS_CERT: 'c.pem' })).toBe(
      'CURFEW_TLS_CERT: TLS needs both CURFEW_TLS_CERT and CURFEW_TLS_KEY',
    );
    expect(configError({ CURFEW_TLS_CLIENT_CA: 'ca.pem' })).toMatch(
      /^CURFEW_TLS_CLIENT_CA: client certificates need TLS/,
    );
    expect(configError({ CURFEW_TLS_TERMINATED_BY_PROXY: 'yes' })).toBe(
      'CURFEW_TLS_TERMINATED_BY_PROXY: expected true or false',
    );
  });

  it('checks the HTTP limits against each other and their ranges', () => {
    expect(configError({ CURFEW_HEADERS_TIMEOUT: '20s' })).toBe(
      'CURFEW_HEADERS_TIMEOUT: expected a duration from 1s to 10s (the request timeout)',
    );
    expect(configError({ CURFEW_REQUEST_TIMEOUT: '500ms' })).toMatch(
      /^CURFEW_REQUEST_TIMEOUT: expected a duration from 1s to 10m$/,
    );
    expect(configError({ CURFEW_MAX_HEADER_SIZE: '100' })).toMatch(
      /^CURFEW_MAX_HEADER_SIZE: expected a number of bytes/,
    );
    expect(configError({ CURFEW_KEEP_ALIVE_TIMEOUT: 'long' })).toMatch(
      /^CURFEW_KEEP_ALIVE_TIMEOUT: expected a duration such as/,
    );
  });

  it('never repeats an API key in an error', () => {
    const secret = 'S3CRET-but-too-short';
    expect(configError({ CURFEW_API_KEYS: `ops:${secret}` })).not.toContain(secret);
    expect(configError({ CURFEW_API_KEYS: `ops:${secret}:*` })).not.toContain(secret);
    expect(configError({ CURFEW_API_KEYS: `ops:${KEY_A}:acme:eu` })).not.toContain(KEY_A);
  });
});

describe('API keys', () => {
  it('authenticates by hash, and tells admin from tenant keys', () => {
    const keyring = new ApiKeyring(
      parseApiKeyList(`ops:${KEY_A}:*,billing:${KEY_B}:acme:eu:validate`),
    );
    expect(keyring.authenticate(KEY_A)).toEqual({ name: 'ops', tenantId: null, scope: 'admin' });
    expect(keyring.authenticate(KEY_B)).toEqual({
      name: 'billing',
      tenantId: 'acme:eu',
      scope: 'validate',
    });
    expect(keyring.authenticate(`${KEY_A}x`)).toBeNull();
    expect(keyring.authenticate('')).toBeNull();
    expect(keyring.authenticate('x'.repeat(100_000))).toBeNull();
    expect(keyring.size).toBe(2);
    expect(keyring.adminCount).toBe(1);
  });

  it('refuses the same key twice and the same name twice', () => {
    expect(() => new ApiKeyring(parseApiKeyList(`a:${KEY_A}:*,b:${KEY_A}:acme`))).toThrow(
      /"b" is the same key as another entry/,
    );
    expect(() => new ApiKeyring(parseApiKeyList(`a:${KEY_A}:*,a:${KEY_B}:*`))).toThrow(
      /name "a" is used twice/,
    );
  });

  it('reads key files of hashes, with comments and blank lines', () => {
    const hash = hashApiKey(KEY_A);
    const other = hashApiKey(KEY_B);
    const keys = parseApiKeyFile(
      `# keys\n\nops:${hash}:*:admin\nbilling:${other}:acme:eu:validate\nprobe:${hash}:*:metrics\n`,
      'f',
    );
    expect(keys).toEqual([
      { name: 'ops', sha256: hash, tenantId: null, scope: 'admin' },
      { name: 'billing', sha256: other, tenantId: 'acme:eu', scope: 'validate' },
      { name: 'probe', sha256: hash, tenantId: null, scope: 'metrics' },
    ]);
    // Lines written before scopes keep what they meant: an admin key, a tenant's key.
    expect(parseApiKeyFile(`ops:${hash}\nbilling:${other}:acme:eu\n`, 'f')).toEqual([
      { name: 'ops', sha256: hash, tenantId: null, scope: 'admin' },
      { name: 'billing', sha256: other, tenantId: 'acme:eu', scope: 'sessions' },
    ]);
    expect(() => parseApiKeyFile(`ops:${hash}:acme:admin\n`, 'f')).toThrow(
      /^f line 1: an admin key is for every tenant/,
    );
    expect(() => parseApiKeyFile(`ops:${KEY_A}\n`, 'keys.txt')).toThrow(
      /^keys.txt line 1: expected a JSON entry, or NAME:SHA256:TENANT:SCOPE with a 64-character hex hash$/,
    );
    expect(() => parseApiKeyFile(`ops:${KEY_A}\n`, 'keys.txt')).toThrow(ApiKeyError);
  });
});

describe('the key lifecycle', () => {
  it('refuses an expired key, a revoked key, and a rotated-out key after its grace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'curfew-lifecycle-'));
    try {
      const path = join(dir, 'keys');
      const t0 = Date.parse('2026-12-01T00:00:00Z');
      const billing = await createApiKey(path, { name: 'billing', tenantId: 'acme', now: t0 });
      const temp = await createApiKey(path, {
        name: 'temp',
        tenantId: 'acme',
        scope: 'validate',
        now: t0,
        expiresAt: t0 + 3_600_000,
      });
      const ops = await createApiKey(path, { name: 'ops', tenantId: '*', now: t0 });
      const ring = new ApiKeyring(await readApiKeyFile(path));
      expect(ring.authenticate(temp.key, t0 + 3_599_999)).toMatchObject({ name: 'temp' });
      expect(ring.authenticate(temp.key, t0 + 3_600_000)).toBeNull();

      await revokeApiKey(path, 'ops', t0 + 10);
      const rotated = await rotateApiKey(path, 'billing', { grace: 60_000, now: t0 + 20 });
      ring.replace(await readApiKeyFile(path));
      expect(ring.authenticate(ops.key, t0 + 30)).toBeNull();
      expect(ring.authenticate(rotated.key, t0 + 30)).toMatchObject({
        name: 'billing',
        tenantId: 'acme',
      });
      expect(ring.authenticate(billing.key, t0 + 60_019)).toMatchObject({ name: 'billing' });
      expect(ring.authenticate(billing.key, t0 + 60_020)).toBeNull();
      expect(ring.authenticate(rotated.key, t0 + 86_400_000)).not.toBeNull();

      // The file keeps the revoked key for the record, and only hashes.
      const text = await readFile(path, 'utf8');
      for (const made of [billing, temp, ops, rotated]) expect(text).not.toContain(made.key);
      expect((await readApiKeyFile(path)).find((key) => key.name === 'ops')).toMatchObject({
        revokedAt: t0 + 10,
      });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      await expect(revokeApiKey(path, 'nobody', t0)).rejects.toThrow(/has no key named "nobody"/);
      await expect(rotateApiKey(path, 'ops', { grace: 0, now: t0 })).rejects.toThrow(/is revoked/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('key files on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'curfew-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes an admin key on the first start, keeps only its hash, and reuses it after', async () => {
    const config = loadConfig({ CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}` });
    const first = await loadKeys(config, { interactive: true });
    expect(first.createdAdminKey).toMatch(/^cfk_[A-Za-z0-9_-]{43}$/);
    expect(first.createdAdminKeyFile).toBeUndefined();
    const file = await readFile(join(dir, 'api-keys'), 'utf8');
    expect(
      file
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      expect.objectContaining({
        name: 'admin',
        sha256: hashApiKey(first.createdAdminKey!),
        tenant: '*',
        scope: 'admin',
        expiresAt: null,
        revokedAt: null,
      }),
    ]);
    expect(file).not.toContain(first.createdAdminKey!);
    expect((await stat(join(dir, 'api-keys'))).mode & 0o777).toBe(0o600);
    expect(first.keyring.authenticate(first.createdAdminKey!)).toEqual({
      name: 'admin',
      tenantId: null,
      scope: 'admin',
    });

    const second = await loadKeys(config);
    expect(second.createdAdminKey).toBeUndefined();
    expect(second.keyring.authenticate(first.createdAdminKey!)).not.toBeNull();
  });

  it('without a terminal, writes the first admin key to a file only its user can read', async () => {
    const config = loadConfig({ CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}` });
    // An earlier first start's file, left readable by others, is replaced and made private.
    await writeFile(join(dir, 'admin-key'), 'stale\n', { mode: 0o644 });
    const first = await loadKeys(config);
    expect(first.createdAdminKey).toBeUndefined();
    expect(first.createdAdminKeyFile).toBe(join(dir, 'admin-key'));
    const key = (await readFile(join(dir, 'admin-key'), 'utf8')).trim();
    expect((await stat(join(dir, 'admin-key'))).mode & 0o777).toBe(0o600);
    expect(first.keyring.authenticate(key)).toMatchObject({ scope: 'admin', tenantId: null });
  });

  it('makes no key when CURFEW_API_KEYS holds one', async () => {
    const config = loadConfig({
      CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}`,
      CURFEW_API_KEYS: `ops:${KEY_A}:*`,
    });
    const keys = await loadKeys(config);
    expect(keys.createdAdminKey).toBeUndefined();
    expect(keys.sources).toEqual(['1 from CURFEW_API_KEYS']);
  });

  it('refuses a named key file that holds no key, rather than inventing one', async () => {
    await writeFile(join(dir, 'keys'), '# nothing yet\n');
    const config = loadConfig({ CURFEW_API_KEYS_FILE: join(dir, 'keys') });
    await expect(loadKeys(config)).rejects.toThrow(/^CURFEW_API_KEYS_FILE: .* holds no key/);
  });

  it('appends keys made by createApiKey, refusing a name already used', async () => {
    const path = join(dir, 'nested', 'keys');
    const { key, entry } = await createApiKey(path, {
      name: 'billing',
      tenantId: 'acme',
      now: 1_000,
      expiresAt: 2_000,
    });
    expect(entry).toEqual({
      name: 'billing',
      tenantId: 'acme',
      scope: 'sessions',
      sha256: hashApiKey(key),
      createdAt: 1_000,
      expiresAt: 2_000,
      revokedAt: null,
      previous: null,
    });
    const ops = await createApiKey(path, { name: 'ops', tenantId: '*', now: 1_000 });
    expect(await readFile(path, 'utf8')).toBe(
      `{"name":"billing","sha256":"${hashApiKey(key)}","tenant":"acme","scope":"sessions","createdAt":"1970-01-01T00:00:01.000Z","expiresAt":"1970-01-01T00:00:02.000Z","revokedAt":null,"previous":null}\n` +
        `{"name":"ops","sha256":"${hashApiKey(ops.key)}","tenant":"*","scope":"admin","createdAt":"1970-01-01T00:00:01.000Z","expiresAt":null,"revokedAt":null,"previous":null}\n`,
    );
    // What it writes, it reads back; and its keys pass the strength check asked of operators.
    expect(await readApiKeyFile(path)).toEqual([entry, ops.entry]);
    expect(checkKeyStrength(key)).toBeNull();
    await expect(createApiKey(path, { name: 'ops', tenantId: '*' })).rejects.toThrow(
      /already has a key named "ops"/,
    );
  });
});
