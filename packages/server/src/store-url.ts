import { dirname, resolve } from 'node:path';
/** The default store: a SQLite file under `./data`. */
export const DEFAULT_STORE_URL = 'sqlite:./data/curfew.db';

/** One Redis Cluster seed node. */
export interface ClusterNode {
  host: string;
  port: number;
}

/**
 * Where sessions live, from a `CURFEW_STORE` URL:
 * - `sqlite:PATH`: a file, created with its folder (`sqlite::memory:` for a private database);
 * - `memory:`: in this process only;
 * - `postgres://…` (or `postgresql://`): a node-postgres connection string;
 * - `mysql://…` (or `mariadb://`): a mysql2 connection URI, which must name the database;
 * - `redis://…` (or `rediss://` for TLS): one Redis server, optionally `/DB`;
 * - `redis+cluster://[user:password@]host:port,host:port,…` (or `rediss+cluster://`): seed
 *   nodes of a Redis Cluster.
 */
export type StoreLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'memory' }
  | { kind: 'postgres'; url: string }
  | { kind: 'mysql'; url: string }
  | { kind: 'redis'; url: string }
  | {
      kind: 'redis-cluster';
      nodes: ClusterNode[];
      username: string | undefined;
      password: string | undefined;
      tls: boolean;
    };

const ACCEPTED =
  'sqlite:PATH, memory:, postgres://…, mysql://…/DATABASE, redis://… or redis+cluster://HOST:PORT,HOST:PORT';

/**
 * Reads a store URL, or throws an `Error` whose message says what is accepted. The message never
 * repeats the URL, which may hold a password.
 *
 * @example
 * ```ts
 * parseStoreUrl('sqlite:./data/curfew.db'); // { kind: 'sqlite', path: './data/curfew.db' }
 * parseStoreUrl('postgres://curfew@db.internal/app'); // { kind: 'postgres', url: '…' }
 * parseStoreUrl('redis+cluster://10.0.0.1:6379,10.0.0.2:6379'); // { kind: 'redis-cluster', … }
 * ```
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (url === 'memory:') return { kind: 'memory' };
  if (url.startsWith('sqlite:')) {
    // Accept sqlite:PATH and sqlite://PATH (the form some tools write).
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=[^/])/, '');
    if (path.length === 0) throw new Error('expected sqlite:PATH with a file path, or memory:');
    return { kind: 'sqlite', path };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'postgres':
    case 'postgresql':
      return { kind: 'postgres', url: checkServerUrl(url, 'postgres://USER@HOST:PORT/DATABASE') };
    case 'mysql':
    case 'mariadb': {
      const parsed = new URL(checkServerUrl(url, 'mysql://USER@HOST:PORT/DATABASE'));
      if (parsed.pathname.length <= 1) {
        throw new Error('expected mysql://USER@HOST:PORT/DATABASE, with the database named');
      }
      // mysql2 reads only mysql:// URIs; mariadb:// is the same protocol.
      parsed.protocol = 'mysql:';
      return { kind: 'mysql', url: parsed.href };
    }
    case 'redis':
    case 'rediss':
      return { kind: 'redis', url: checkServerUrl(url, 'redis://[:PASSWORD@]HOST:PORT[/DB]') };
    case 'redis+cluster':
    case 'rediss+cluster':
      return parseClusterUrl(url, scheme === 'rediss+cluster');
    default:
      throw new Error(`expected ${ACCEPTED}`);
  }
}

/**
 * The URL as it may be shown in a banner or a log: any password replaced by `***`.
 *
 * @example
 * ```ts
 * redactStoreUrl('postgres://app:s3cret@db/app'); // "postgres://app:***@db/app"
 * ```
 */
export function redactStoreUrl(url: string): string {
  // userinfo is everything between "//" and the last "@" before the path.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i, (_match, scheme, userinfo) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon === -1 ? userinfo : `${userinfo.slice(0, colon)}:***`}@`;
  });
}

function checkServerUrl(url: string, form: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`expected a URL of the form ${form}`);
  }
  if (parsed.hostname === '') throw new Error(`expected a URL of the form ${form}, with a host`);
  return url;
}

function parseClusterUrl(url: string, tls: boolean): StoreLocation {
  const form = 'redis+cluster://[USER:PASSWORD@]HOST:PORT,HOST:PORT';
  const rest = url.slice(url.indexOf(':') + 1);
  if (!rest.startsWith('//')) throw new Error(`expected ${form}`);
  const authority = rest.slice(2).replace(/\/$/, '');
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  const hosts = at === -1 ? authority : authority.slice(at + 1);
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon)) || undefined;
    password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  }
  const nodes = hosts.split(',').map((entry) => {
    const match = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/i.exec(entry.trim());
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65_535) {
      throw new Error(`expected ${form}: each node as HOST:PORT`);
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  return { kind: 'redis-cluster', nodes, username, password, tls };
}

/**
 * The folder that keeps the service's own files (the first-start admin key's hash): the SQLite
 * file's folder, else `./data`.
 *
 * @example
 * ```ts
 * dataDirectory({ kind: 'sqlite', path: '/var/lib/curfew/sessions.db' }); // "/var/lib/curfew"
 * ```
 */
export function dataDirectory(location: StoreLocation): string {
  if (location.kind === 'sqlite' && location.path !== ':memory:') {
    return dirname(resolve(location.path));
  }
  return resolve('data');
}
