// A private PostgreSQL server for the fault harness (see private-server.js for the lifecycle).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  accepts,
  CLIENT_ENV,
  makeDir,
  run,
  runLogged,
  ServerProcess,
  serverHandle,
  startOnFreePort,
  trackHandle,
  waitReady,
} from './private-server.js';

/** The bin folder of the newest PostgreSQL under /usr/lib/postgresql. */
function postgresBin() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const version = versions.find((name) => existsSync(join(root, name, 'bin', 'postgres')));
  if (version === undefined) throw new Error(`no PostgreSQL server under ${root}/*/bin`);
  return join(root, version, 'bin');
}

/** The uid and gid of a system user, from /etc/passwd. */
function systemUser(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`no system user ${name} to run PostgreSQL as`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Removes the System V shared memory segment a SIGKILLed postmaster leaves behind; a restart
 * would reuse it, but a destroyed server never restarts. Found by its key in postmaster.pid (a
 * key derived from this server's port) rather than by id, since an id may have been recycled.
 */
function removeOrphanedSegment(dataDir) {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const key = readFileSync(pidFile, 'utf8').split('\n')[6]?.trim().split(/\s+/)[0];
  if (key === undefined || !/^\d+$/.test(key)) return;
  try {
    execFileSync('ipcrm', ['-M', key], { stdio: 'ignore' });
  } catch {
    // Already removed by a clean stop or by the restart that reused it.
  }
}

/**
 * Starts a private PostgreSQL server: `initdb` (trust authentication, user `postgres`) in a new
 * temporary directory, then `postgres` on a spare loopback port, with its Unix socket in that
 * directory. Run as the `postgres` system user when this process is root, since PostgreSQL
 * refuses to run as root.
 *
 * Tuned for speed: fsync off and small shared buffers. Commits still reach the kernel before they
 * are acknowledged (synchronous_commit stays on) and full-page writes stay on, so a SIGKILL loses
 * nothing acknowledged; only an operating-system crash could.
 *
 * @returns {Promise<{
 *   kind: 'postgres', url: string, port: number, dir: string, dataDir: string,
 *   readonly pid: number | null,
 *   stop(): Promise<void>, start(): Promise<void>, kill(): Promise<void>,
 *   destroy(): Promise<void>, sql(text: string): Promise<string>,
 * }>} `url` is `postgres://postgres@127.0.0.1:PORT/postgres`; `pid` is the postmaster's;
 *   `stop` is a fast shutdown (SIGINT: sessions ended, checkpoint); `kill` SIGKILLs the
 *   postmaster and every backend; `sql` runs statements through psql and returns its
 *   unaligned, tuples-only output.
 */
export async function startPostgres() {
  const bin = postgresBin();
  const dir = makeDir('postgres');
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const asUser = process.getuid?.() === 0 ? systemUser('postgres') : {};
  if (asUser.uid !== undefined) chownSync(dir, asUser.uid, asUser.gid);
  const env = { PATH: CLIENT_ENV.PATH, LC_ALL: 'C' };
  let port = 0;
  let server = null;
  const entry = trackHandle({
    dir,
    servers: () => (server === null ? [] : [server]),
    teardown: () => removeOrphanedSegment(dataDir),
  });

  const sql = async (text) => {
    const connection = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres'];
    const { stdout } = await run(
      join(bin, 'psql'),
      ['-X', '-w', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', ...connection, '-c', text],
      { env: { ...CLIENT_ENV, PGCONNECT_TIMEOUT: '3' }, timeout: 30_000 },
    );
    return stdout;
  };

  const settings = [
    'listen_addresses=127.0.0.1',
    'fsync=off',
    'shared_buffers=16MB',
    'max_connections=100',
    'huge_pages=off',
    // Dynamic shared memory as files in the data folder, not in /dev/shm, so that a SIGKILLed
    // server leaves nothing outside its directory.
    'dynamic_shared_memory_type=mmap',
  ].flatMap((setting) => ['-c', setting]);

  const startAt = async (at) => {
    port = at;
    server = new ServerProcess({
      command: join(bin, 'postgres'),
      args: ['-D', dataDir, '-p', String(port), '-k', dir, ...settings],
      logFile,
      env,
      ...asUser,
      withChildren: true,
    });
    server.launch();
    try {
      await waitReady(
        `postgres on port ${port}`,
        async () => (await accepts(port)) && (await sql('SELECT 1')).trim() === '1',
        { server, logFile },
      );
    } catch (error) {
      await server.kill();
      throw error;
    }
  };

  try {
    await runLogged(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions']
        // C locale: nothing to look up, and byte order, which the store's columns use anyway.
        .concat(['-E', 'UTF8', '--locale=C']),
      { logFile: join(dir, 'initdb.log'), env, ...asUser },
    );
    await startOnFreePort(startAt);
  } catch (error) {
    await entry.destroy();
    throw error;
  }

  return serverHandle(
    'postgres',
    entry,
    { current: () => server, stopSignal: 'SIGINT', relaunch: () => startAt(port) },
    { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dir, dataDir, sql },
  );
}
