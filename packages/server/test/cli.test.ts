import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SessionManager } from 'curfew';
import { SqliteStore } from 'curfew/sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../src/api-keys.js';
import { runCapturedCli } from './support/cli.js';

let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'curfew-cli-'));
  env = { CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}` };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  return runCapturedCli(env, argv);
}

/** Works on the same file as the CLI, as another process would. */
async function withManager<T>(run: (manager: SessionManager) => Promise<T>): Promise<T> {
  const db = new Database(join(dir, 'curfew.db'));
  try {
    return await run(new SessionManager({ store: new SqliteStore(db) }));
  } finally {
    db.close();
  }
}

describe('help and usage', () => {
  it('prints help for the CLI and every command, exit 0', async () => {
    const main = await cli('--help');
    expect(main.code).toBe(0);
    for (const name of [
      'serve',
      'migrate',
      'sessions list',
      'sessions revoke',
      'sweep',
      'purge',
      'stats',
      'keys create',
    ]) {
      expect(main.stdout).toContain(name);
      const help = await cli(...name.split(' '), '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: curfew ${name}`);
    }
    expect((await cli('serve', '--help')).stdout).toContain('CURFEW_IDLE_TIMEOUT');
    expect((await cli('sessions', '--help')).code).toBe(0);
  });

  it('offers each one-shot command only the settings it reads, never the policy', async () => {
    const policyFlags = [
      '--policy',
      '--idle-timeout',
      '--absolute-timeout',
      '--absolute-warning',
      '--idle-warning',
      '--activity-write-interval',
    ];
    const expected: Record<string, string[]> = {
      'sessions list': ['--store', '--store-pool-size', '--store-timeout'],
      stats: ['--store', '--store-pool-size', '--store-timeout'],
      'sessions revoke': ['--store', '--store-pool-size', '--store-timeout', '--retention'],
      sweep: ['--store', '--store-pool-size', '--store-timeout', '--retention'],
      purge: ['--store', '--store-pool-size', '--store-timeout', '--retention'],
    };
    for (const [name, settings] of Object.entries(expected)) {
      const help = (await cli(...name.split(' '), '--help')).stdout;
      const section = help.slice(help.indexOf('Configuration'));
      expect(
        [...section.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]),
        name,
      ).toEqual(settings);
      for (const flag of policyFlags) expect(help, `${name} ${flag}`).not.toContain(flag);
    }
    // Given anyway, a policy flag is a usage error rather than silently ignored.
    const swept = await cli('sweep', '--idle-timeout', '5m', '--store', 'memory:');
    expect(swept.code).toBe(2);
    expect(swept.stderr).toMatch(/--idle-timeout/);
    // serve still takes them all.
    const serve = (await cli('serve', '--help')).stdout;
    for (const flag of policyFlags) expect(serve).toContain(flag);
  });

  it('exits 2 with one line on a usage error', async () => {
    for (const argv of [
      [],
      ['frobnicate'],
      ['sessions'],
      ['sessions', 'delete'],
      ['sessions', 'list'],
      ['sessions', 'list', '--user'],
      ['sessions', 'list', '--user', 'u', '--bogus'],
      ['sessions', 'list', '--user', 'u', 'stray'],
      ['sessions', 'list', '--user', 'u', '--limit', '0'],
      ['sessions', 'list', '--user', 'u', '--limit', 'ten'],
      ['sessions', 'list', '--user', 'u', '--all', '--cursor', 'abc'],
      ['sessions', 'revoke'],
      ['sessions', 'revoke', '--user', 'u', '--session', 's'],
      ['sessions', 'revoke', '--everyone', '--user', 'u'],
      ['sessions', 'revoke', '--everyone', '--tenant', 't'],
      ['sessions', 'revoke', '--session', 's', '--tenant', 't'],
      ['keys', 'create'],
      ['keys', 'create', '--name', 'has space'],
    ]) {
      const result = await cli(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      if (argv.length > 0) expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('exits 2 naming the variable on a bad configuration value', async () => {
    env.CURFEW_IDLE_TIMEOUT = 'soon';
    const result = await cli('sweep');
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^curfew: CURFEW_IDLE_TIMEOUT: expected a duration/);
    expect((await cli('sweep', '--store', 'nosql:')).stderr).toMatch(/^curfew: --store: expected/);
  });

  it('exits 1 with one plain line on a failure, and the stack only with --debug', async () => {
    env.CURFEW_STORE = `sqlite:${dir}`; // a folder, not a file
    const plain = await cli('sweep');
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    const debug = await cli('sweep', '--debug');
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

describe('commands on the store', () => {
  it('migrate brings the schema up to date, then finds nothing to do', async () => {
    const first = await cli('migrate');
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/schema 0 -> \d+ \(applied/);
    expect((await cli('migrate')).stdout).toMatch(/schema is up to date/);
    expect((await cli('migrate', '--store', 'memory:')).stdout).toBe(
      'memory:: nothing to migrate\n',
    );
  });

  it('lists a user’s sessions as a table or JSON, and revokes them', async () => {
    const [a, b] = await withManager(async (manager) => [
      await manager.create({
        userId: '42',
        tenantId: 'acme',
        ipAddress: '198.51.100.4',
        userAgent: 'Firefox',
      }),
      await manager.create({ userId: '42', tenantId: 'globex' }),
      await manager.create({ userId: '7' }),
    ]);
    const table = await cli('sessions', 'list', '--user', '42');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^ID\s+TENANT\s+APP\s+AAL\s+IP\s+LAST ACTIVITY\s+ABSOLUTE EXPIRY\s+USER AGENT\n/,
    );
    expect(table.stdout).toContain(a!.session.id);
    expect(table.stdout).toContain('198.51.100.4');
    expect(table.stdout).toContain(b!.session.id);
    expect(table.stdout).not.toContain(a!.token);

    const json = JSON.parse(
      (await cli('sessions', 'list', '--user', '42', '--tenant', 'acme', '--json')).stdout,
    );
    expect(json.sessions.map((s: { id: string }) => s.id)).toEqual([a!.session.id]);

    const one = await cli(
      'sessions',
      'revoke',
      '--session',
      a!.session.id,
      '--reason',
      'account_disabled',
    );
    expect(one).toMatchObject({ code: 0, stdout: `ended session ${a!.session.id}\n` });
    const again = await cli('sessions', 'revoke', '--session', a!.session.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no active session/);

    const all = await cli('sessions', 'revoke', '--user', '42');
    expect(all).toMatchObject({ code: 0, stdout: 'ended 1 session\n' });
    expect((await cli('sessions', 'list', '--user', '42')).stdout).toBe('no valid sessions\n');
    const view = await withManager((manager) => manager.getSession(b!.session.id));
    expect(view?.endReason).toBe('admin_revoke');
    expect((await withManager((manager) => manager.getSession(a!.session.id)))?.endReason).toBe(
      'account_disabled',
    );
  });

  it('ends every session of a tenant, then everyone’s', async () => {
    const made = await withManager(async (manager) => [
      await manager.create({ userId: 'a', tenantId: 'acme' }),
      await manager.create({ userId: 'b', tenantId: 'acme' }),
      await manager.create({ userId: 'a', tenantId: 'globex' }),
      await manager.create({ userId: 'c' }),
    ]);
    const tenant = await cli(
      'sessions',
      'revoke',
      '--tenant',
      'acme',
      '--reason',
      'tenant_suspended',
    );
    expect(tenant).toMatchObject({ code: 0, stdout: 'ended 2 sessions\n' });
    const views = await withManager((manager) =>
      Promise.all(made.map(({ session }) => manager.getSession(session.id))),
    );
    expect(views.map((v) => v?.endReason ?? null)).toEqual([
      'tenant_suspended',
      'tenant_suspended',
      null,
      null,
    ]);
    const everyone = await cli('sessions', 'revoke', '--everyone');
    expect(everyone).toMatchObject({ code: 0, stdout: 'ended 2 sessions\n' });
    const after = await withManager((manager) => manager.getSession(made[3]!.session.id));
    expect(after?.endReason).toBe('admin_revoke');
  });

  it('lists a page at a time, or every page with --all', async () => {
    // Five sessions a second apart, made through the same file as another process would.
    const db = new Database(join(dir, 'curfew.db'));
    let clock = Date.now() - 60_000;
    const timed = new SessionManager({ store: new SqliteStore(db), clock: () => clock });
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      clock += 1000;
      made.unshift((await timed.create({ userId: 'pager' })).session.id); // newest first
    }
    db.close();
    const first = await cli('sessions', 'list', '--user', 'pager', '--limit', '2', '--json');
    const page = JSON.parse(first.stdout) as {
      sessions: Array<{ id: string }>;
      nextCursor: string;
    };
    expect(page.sessions.map((s) => s.id)).toEqual(made.slice(0, 2));
    expect(page.nextCursor).toEqual(expect.any(String));
    const second = JSON.parse(
      (
        await cli(
          'sessions',
          'list',
          '--user',
          'pager',
          '--limit',
          '2',
          '--cursor',
          page.nextCursor,
          '--json',
        )
      ).stdout,
    ) as { sessions: Array<{ id: string }> };
    expect(second.sessions.map((s) => s.id)).toEqual(made.slice(2, 4));
    const table = await cli('sessions', 'list', '--user', 'pager', '--limit', '2');
    expect(table.stderr).toMatch(/^more sessions: add --cursor \S+ \(or --all\)\n$/);
    const all = JSON.parse(
      (await cli('sessions', 'list', '--user', 'pager', '--limit', '2', '--all', '--json')).stdout,
    ) as { sessions: Array<{ id: string }>; nextCursor: null };
    expect(all).toEqual({
      sessions: made.map((id) => expect.objectContaining({ id })),
      nextCursor: null,
    });
    const bad = await cli('sessions', 'list', '--user', 'pager', '--cursor', 'AAAA');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cursor/);
  });

  it('sweep ends expired sessions and stats counts them', async () => {
    // Sessions made 2 h ago by an earlier clock: idle-expired under the default 30 min.
    const past = Date.now() - 2 * 3_600_000;
    const db = new Database(join(dir, 'curfew.db'));
    const old = new SessionManager({ store: new SqliteStore(db), clock: () => past });
    await old.create({ userId: '1' });
    await old.create({ userId: '2' });
    db.close();
    await withManager(async (manager) => {
      const { token } = await manager.create({ userId: '3' });
      await manager.revoke(token);
      await manager.create({ userId: '4' });
    });

    const before = await cli('stats', '--json');
    expect(JSON.parse(before.stdout)).toMatchObject({ activeNow: 1, endedByReason: { logout: 1 } });
    const sweep = await cli('sweep');
    expect(sweep).toMatchObject({
      code: 0,
      stdout: 'ended 0 by absolute timeout, 2 by idle timeout\n',
    });
    expect(JSON.parse((await cli('sweep', '--json')).stdout)).toEqual({ absolute: 0, idle: 0 });
    const stats = await cli('stats');
    expect(stats.code).toBe(0);
    // The idle sessions ended at their expiry moment (1.5 h ago): inside the last 24 h.
    expect(stats.stdout).toMatch(/^active now: 1\nended in the last 24 h: 3\n/);
    expect(stats.stdout).toMatch(/idle_timeout\s+2/);
    expect(stats.stdout).toMatch(/logout\s+1/);
  });

  it('purge deletes ended sessions past the retention, or before a time, and never active ones', async () => {
    const day = 86_400_000;
    const made: Record<string, string> = {};
    // Ended 40, 20 and 5 days ago by an earlier clock; one still active from 40 days ago would
    // have expired, so the active one is made now.
    for (const [name, ago] of [
      ['forty', 40],
      ['twenty', 20],
      ['five', 5],
    ] as const) {
      const db = new Database(join(dir, 'curfew.db'));
      const then = new SessionManager({
        store: new SqliteStore(db),
        clock: () => Date.now() - ago * day,
      });
      const { token, session } = await then.create({ userId: name });
      await then.revoke(token);
      made[name] = session.id;
      db.close();
    }
    const active = await withManager((manager) => manager.create({ userId: 'active' }));
    const exists = (id: string) =>
      withManager(async (manager) => (await manager.getSession(id)) !== null);

    // The default: CURFEW_RETENTION, 30 days.
    expect(await cli('purge')).toMatchObject({ code: 0, stdout: 'deleted 1 ended session\n' });
    expect(await exists(made.forty!)).toBe(false);
    expect(await exists(made.twenty!)).toBe(true);

    // A duration is that long ago; a time must carry its offset.
    expect(JSON.parse((await cli('purge', '--ended-before', '10d', '--json')).stdout)).toEqual({
      purged: 1,
    });
    expect(await exists(made.twenty!)).toBe(false);
    const bare = await cli('purge', '--ended-before', '2026-01-01T00:00:00');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/--ended-before: expected an ISO 8601 time with its offset/);
    const now = new Date(Date.now() + 1000).toISOString();
    expect((await cli('purge', '--ended-before', now)).stdout).toBe('deleted 1 ended session\n');
    expect(await exists(made.five!)).toBe(false);
    expect(await exists(active.session.id)).toBe(true);

    env.CURFEW_RETENTION = '30s';
    expect((await cli('purge')).stderr).toMatch(
      /^curfew: CURFEW_RETENTION: expected a duration from 1h to 3650d/,
    );
  });

  it('keys list shows states without keys, revoke marks one, rotate replaces one', async () => {
    const billing = await cli('keys', 'create', '--name', 'billing', '--tenant', 'acme');
    await cli('keys', 'create', '--name', 'temp', '--tenant', 'acme', '--expires', '30d');
    await cli('keys', 'create', '--name', 'ops', '--tenant', '*');
    expect((await cli('keys', 'revoke', '--name', 'ops')).code).toBe(0);
    const rotated = await cli('keys', 'rotate', '--name', 'billing', '--grace', '10m');
    expect(rotated.code).toBe(0);
    expect(rotated.stdout.trim()).toMatch(/^cfk_/);
    expect(rotated.stdout.trim()).not.toBe(billing.stdout.trim());
    expect(rotated.stderr).toContain('accepted for 10m more');

    const listed = await cli('keys', 'list', '--json');
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows.map((row) => [row.name, row.tenant, row.scope, row.state])).toEqual([
      ['billing', 'acme', 'sessions', 'rotating'],
      ['temp', 'acme', 'sessions', 'active'],
      ['ops', '*', 'admin', 'revoked'],
    ]);
    expect(rows[0].hash).toBe(hashApiKey(rotated.stdout.trim()).slice(0, 8));
    const days = (Date.parse(rows[1].expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    const table = (await cli('keys', 'list')).stdout;
    expect(table).toMatch(
      /^NAME\s+TENANT\s+SCOPE\s+STATE\s+CREATED\s+EXPIRES\s+LAST USED\s+HASH\n/,
    );
    for (const made of [billing, rotated])
      expect(table + listed.stdout).not.toContain(made.stdout.trim());

    expect((await cli('keys', 'revoke', '--name', 'nobody')).code).toBe(2);
    expect(
      (await cli('keys', 'create', '--name', 'x', '--tenant', 'a', '--expires', 'soon')).code,
    ).toBe(2);
  });

  it('keys create appends a hash to the key file and prints the key once', async () => {
    const result = await cli('keys', 'create', '--name', 'billing', '--tenant', 'acme');
    expect(result.code).toBe(0);
    const key = result.stdout.trim();
    expect(key).toMatch(/^cfk_[A-Za-z0-9_-]{43}$/);
    expect(result.stderr).toContain('sessions key "billing" for tenant "acme"');
    const file = await readFile(join(dir, 'api-keys'), 'utf8');
    expect(JSON.parse(file)).toMatchObject({
      name: 'billing',
      sha256: hashApiKey(key),
      tenant: 'acme',
      scope: 'sessions',
    });

    env.CURFEW_API_KEYS_FILE = join(dir, 'other-keys');
    // No key is for every tenant by accident: without --tenant, nothing is made.
    const untenanted = await cli('keys', 'create', '--name', 'ops');
    expect(untenanted.code).toBe(2);
    expect(untenanted.stderr).toContain("--tenant '*'");
    const admin = await cli('keys', 'create', '--name', 'ops', '--tenant', '*');
    expect(admin.stderr).toContain('admin key "ops" for every tenant');
    const checker = await cli(
      'keys',
      'create',
      '--name',
      'checker',
      '--tenant',
      'acme',
      '--scope',
      'validate',
    );
    expect(checker.code).toBe(0);
    const lines = (await readFile(join(dir, 'other-keys'), 'utf8')).trim().split('\n');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        name: 'ops',
        sha256: hashApiKey(admin.stdout.trim()),
        tenant: '*',
        scope: 'admin',
      }),
      expect.objectContaining({
        name: 'checker',
        sha256: hashApiKey(checker.stdout.trim()),
        tenant: 'acme',
        scope: 'validate',
      }),
    ]);
    const tenantAdmin = await cli(
      'keys',
      'create',
      '--name',
      'x',
      '--tenant',
      'acme',
      '--scope',
      'admin',
    );
    expect(tenantAdmin.code).toBe(2);
    expect(tenantAdmin.stderr).toContain('an admin key is for every tenant');
    // The name is the flag at fault: a usage error, as for any other bad flag.
    const duplicate = await cli('keys', 'create', '--name', 'ops', '--tenant', '*');
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toMatch(/already has a key named "ops"/);
  });
});
