// A private MariaDB server for the fault harness (see private-server.js for the lifecycle).
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

const MARIADBD = '/usr/sbin/mariadbd';
const MARIADB_INSTALL_DB = '/usr/bin/mariadb-install-db';
const MARIADB_CLIENT = '/usr/bin/mariadb';

/**
 * Starts a private MariaDB server: `mariadb-install-db` in a new temporary directory (root
 * without a password, no test database), then `mariadbd` on a spare loopback port with its socket
 * in that directory, and a database `test`. No option file is read (`--no-defaults`), so the
 * shared server's configuration never applies.
 *
 * Tuned for speed: a small buffer pool and `innodb_flush_log_at_trx_commit=2` (the log written
 * to the kernel at each commit, flushed to disk each second): a SIGKILL loses nothing
 * acknowledged, only an operating-system crash could.
 *
 * @returns {Promise<{
 *   kind: 'mariadb', url: string, port: number, dir: string, socket: string,
 *   readonly pid: number | null,
 *   stop(): Promise<void>, start(): Promise<void>, kill(): Promise<void>,
 *   destroy(): Promise<void>, sql(text: string, database?: string): Promise<string>,
 * }>} `url` is `mysql://root@127.0.0.1:PORT/test`; `stop` is a clean shutdown (SIGTERM);
 *   `sql` runs statements through the mariadb client over TCP (in `test` unless told) and
 *   returns its batch output without column names.
 */
export async function startMariadb() {
  const dir = makeDir('mariadb');
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mariadbd.sock');
  const logFile = join(dir, 'mariadbd.log');
  // The same InnoDB sizes at install and at every start, so no start has to resize the redo log.
  const innodb = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M'];
  let port = 0;
  let server = null;
  const entry = trackHandle({ dir, servers: () => (server === null ? [] : [server]) });

  const client = async (args) => {
    const { stdout } = await run(
      MARIADB_CLIENT,
      ['--no-defaults', '-u', 'root', '--connect-timeout=3', '-N', '-B', ...args],
      { env: CLIENT_ENV, timeout: 30_000 },
    );
    return stdout;
  };
  const tcp = () => ['--protocol=TCP', '-h', '127.0.0.1', '-P', String(port)];
  const sql = (text, database = 'test') => client([...tcp(), '-e', text, database]);

  const startAt = async (at) => {
    port = at;
    server = new ServerProcess({
      command: MARIADBD,
      args: [
        // --no-defaults must come first: it keeps /etc/mysql (the shared server's) out.
        '--no-defaults',
        // mariadbd refuses to run as root unless told to.
        '--user=root',
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mariadbd.pid')}`,
        `--tmpdir=${dir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        '--skip-log-bin',
        '--innodb-flush-log-at-trx-commit=2',
        ...innodb,
        '--max-connections=200',
        // Without an option file the server's default would be latin1.
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
      ],
      logFile,
    });
    server.launch();
    try {
      await waitReady(
        `mariadbd on port ${port}`,
        async () => (await accepts(port)) && (await client([...tcp(), '-e', 'SELECT 1'])) === '1\n',
        { server, logFile },
      );
    } catch (error) {
      await server.kill();
      throw error;
    }
  };

  try {
    await runLogged(
      MARIADB_INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--user=root',
        '--skip-test-db',
        // root@localhost, root@127.0.0.1 and root@::1, all without a password.
        '--auth-root-authentication-method=normal',
        '--skip-name-resolve',
        ...innodb,
      ],
      { logFile: join(dir, 'install.log') },
    );
    await startOnFreePort(startAt);
    // Over the socket: the database `test` does not exist yet for the TCP form of sql().
    await client([`--socket=${socket}`, '-e', 'CREATE DATABASE IF NOT EXISTS test']);
  } catch (error) {
    await entry.destroy();
    throw error;
  }

  return serverHandle(
    'mariadb',
    entry,
    { current: () => server, stopSignal: 'SIGTERM', relaunch: () => startAt(port) },
    { url: `mysql://root@127.0.0.1:${port}/test`, port, dir, socket, sql },
  );
}
