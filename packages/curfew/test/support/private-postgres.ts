// A throwaway PostgreSQL cluster for fault tests: made with initdb in a temporary directory,
// listening on a spare loopback port, stopped and started at will, and deleted afterwards. The
// shared server is never touched.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A private cluster; `stop` and `start` keep its data and port. */
export interface PrivatePostgres {
  port: number;
  /** `fast` disconnects clients and shuts down cleanly; `immediate` is a crash. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops it if running and deletes its directory. */
  destroy(): Promise<void>;
}

/** The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl, if any. */
export function findPostgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

/**
 * Whether a private cluster can be made here: locally a loud skip when it cannot, in CI a
 * failure (as for the shared services).
 */
export function privatePostgresAvailable(): boolean {
  const bin = findPostgresBin();
  const asRoot = process.getuid?.() === 0;
  const why =
    bin === null
      ? 'no initdb under /usr/lib/postgresql/*/bin'
      : asRoot && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')
        ? 'running as root without runuser to switch to the postgres user'
        : null;
  if (why === null) return true;
  if (process.env.CI) throw new Error(`a private PostgreSQL cluster is required in CI: ${why}`);
  console.warn(
    `\n!!! PostgreSQL fault tests are SKIPPED on this machine: ${why}.\n` +
      '!!! Install the PostgreSQL server package to run them; CI fails instead of skipping.\n',
  );
  return false;
}

/** Creates and starts a cluster owned by the `postgres` OS user (initdb refuses root). */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = findPostgresBin();
  if (bin === null) throw new Error('no initdb found');
  const dir = mkdtempSync(join(tmpdir(), 'curfew-pgfault-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const asPostgres = (command: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { timeout: 60_000 })
      : run(join(bin, command), args, { timeout: 60_000 });

  await asPostgres('initdb', [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const port = await sparePort();
  const start = async () => {
    await asPostgres('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=50`,
      'start',
    ]);
  };
  let running = false;
  const cluster: PrivatePostgres = {
    port,
    async start() {
      await start();
      running = true;
    },
    async stop(mode) {
      await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
    },
    async destroy() {
      if (running) await cluster.stop('immediate').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}

function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
