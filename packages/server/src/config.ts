import { resolve } from 'node:path';
import {
  CurfewError,
  DEFAULT_POLICY_PRESET,
  formatDuration,
  POLICY_PRESETS,
  type Policy,
  type PolicyOptions,
  type PolicyPresetName,
  parseDuration,
  resolvePolicy,
} from 'curfew';
import type { LevelWithSilent } from 'pino';
import { type ApiKey, ApiKeyError, parseApiKeyList } from './api-keys.js';
import { LOG_LEVELS } from './logger.js';
import { DEFAULT_STORE_CONNECTION, type StoreConnection } from './store-connection.js';
import {
  DEFAULT_STORE_URL,
  dataDirectory,
  parseStoreUrl,
  redactStoreUrl,
  type StoreLocation,
} from './store-url.js';

/**
 * One setting: its environment variable, its equal CLI flag, and what it accepts. This table
 * drives parsing, `--help` and the README's configuration table alike.
 */
export interface Setting {
  env: string;
  /** The flag without dashes; given as `--flag VALUE`. */
  flag: string;
  /** Placeholder for help texts. */
  value: string;
  description: string;
  /**
   * The value used when the setting is not given, as it would be typed: parsed and checked by the
   * same code as a given value, and shown in help. The one place each default is written.
   */
  default?: string;
  /** Shown in help for a default that is not a value (`the preset’s`, `no cap`). */
  defaultText?: string;
}

// The default policy, for the help texts of the settings that default to the preset's values.
const PRESET_DEFAULTS = resolvePolicy({ preset: DEFAULT_POLICY_PRESET });

/** Every setting, in the order help texts list them. */
export const SETTINGS = {
  host: {
    env: 'CURFEW_HOST',
    flag: 'host',
    value: 'HOST',
    description:
      'Address to listen on. Anything but a loopback address needs TLS (CURFEW_TLS_CERT) or CURFEW_TLS_TERMINATED_BY_PROXY=true.',
    default: '127.0.0.1',
  },
  port: {
    env: 'CURFEW_PORT',
    flag: 'port',
    value: 'PORT',
    description: 'Port to listen on (0: any free port).',
    default: '8080',
  },
  store: {
    env: 'CURFEW_STORE',
    flag: 'store',
    value: 'URL',
    description:
      'Where sessions live: sqlite:PATH, memory:, postgres://…, mysql://…/DATABASE, redis://… or redis+cluster://HOST:PORT,HOST:PORT.',
    default: DEFAULT_STORE_URL,
  },
  storePoolSize: {
    env: 'CURFEW_STORE_POOL_SIZE',
    flag: 'store-pool-size',
    value: 'N',
    description: 'Connections per process to PostgreSQL or MySQL (1 to 1000).',
    default: String(DEFAULT_STORE_CONNECTION.poolSize),
  },
  storeTimeout: {
    env: 'CURFEW_STORE_TIMEOUT',
    flag: 'store-timeout',
    value: 'DURATION',
    description:
      'Longest a store call may take, connecting included, before it answers 503 (100ms to 1m).',
    default: formatDuration(DEFAULT_STORE_CONNECTION.timeout),
  },
  policy: {
    env: 'CURFEW_POLICY',
    flag: 'policy',
    value: 'PRESET',
    description: `Policy preset: ${Object.keys(POLICY_PRESETS).join(', ')}.`,
    default: DEFAULT_POLICY_PRESET,
  },
  idleTimeout: {
    env: 'CURFEW_IDLE_TIMEOUT',
    flag: 'idle-timeout',
    value: 'DURATION',
    description: 'Idle timeout; at most the preset’s.',
    defaultText: 'the preset’s',
  },
  absoluteTimeout: {
    env: 'CURFEW_ABSOLUTE_TIMEOUT',
    flag: 'absolute-timeout',
    value: 'DURATION',
    description: 'Absolute timeout; at most the preset’s.',
    defaultText: 'the preset’s',
  },
  absoluteWarning: {
    env: 'CURFEW_ABSOLUTE_WARNING',
    flag: 'absolute-warning',
    value: 'DURATION',
    description: 'Warn this long before the absolute expiry.',
    defaultText: `the preset’s (${formatDuration(PRESET_DEFAULTS.absoluteWarning)} for ${DEFAULT_POLICY_PRESET})`,
  },
  idleWarning: {
    env: 'CURFEW_IDLE_WARNING',
    flag: 'idle-warning',
    value: 'DURATION',
    description: 'Warn this long before the idle expiry.',
    defaultText: `the preset’s (${formatDuration(PRESET_DEFAULTS.idleWarning)} for ${DEFAULT_POLICY_PRESET})`,
  },
  limits: {
    env: 'CURFEW_LIMITS',
    flag: 'limits',
    value: 'JSON',
    description:
      'Limits by level, and stricter ones by tenant and app type: {"levels":{"3":{"idleTimeout":"10m"}},"tenants":{"acme":{"absoluteTimeout":"8h"}},"appTypes":{"control_panel":{"idleTimeout":"10m"}}}. Levels at most the preset’s.',
  },
  maxSessionsPerUser: {
    env: 'CURFEW_MAX_SESSIONS_PER_USER',
    flag: 'max-sessions-per-user',
    value: 'N',
    description: 'At most N valid sessions per user within a tenant (1 to 10000).',
    defaultText: 'no cap',
  },
  onSessionLimit: {
    env: 'CURFEW_ON_SESSION_LIMIT',
    flag: 'on-session-limit',
    value: 'ACTION',
    description:
      'At the cap: evict-oldest (end the least recently active session) or refuse (409).',
    defaultText: PRESET_DEFAULTS.onSessionLimit,
  },
  activityWriteInterval: {
    env: 'CURFEW_ACTIVITY_WRITE_INTERVAL',
    flag: 'activity-write-interval',
    value: 'DURATION',
    description: 'Write activity at most this often per session (0: always).',
    defaultText: `the preset’s (${formatDuration(PRESET_DEFAULTS.activityWriteInterval)} for ${DEFAULT_POLICY_PRESET})`,
  },
  sweepInterval: {
    env: 'CURFEW_SWEEP_INTERVAL',
    flag: 'sweep-interval',
    value: 'DURATION',
    description: 'End expired sessions this often, jittered (0: never).',
    default: '1m',
  },
  sweepPause: {
    env: 'CURFEW_SWEEP_PAUSE',
    flag: 'sweep-pause',
    value: 'DURATION',
    description: 'Wait this long between a sweep’s batches of 1000, to leave room to validations.',
    default: '0',
  },
  clockSkewWarn: {
    env: 'CURFEW_CLOCK_SKEW_WARN',
    flag: 'clock-skew-warn',
    value: 'DURATION',
    description:
      'Log a warning when this instance’s clock is further than this from the store server’s (checked at start and every minute; network stores only). A fast clock stretches every session it touches by the difference (100ms to 1m).',
    default: '1s',
  },
  clockSkewMax: {
    env: 'CURFEW_CLOCK_SKEW_MAX',
    flag: 'clock-skew-max',
    value: 'DURATION',
    description:
      'Past this skew, /readyz fails (503 CLOCK_SKEW) so a load balancer takes the instance out of rotation (at least the warning threshold, at most 1h).',
    default: '10s',
  },
  rateLimit: {
    env: 'CURFEW_RATE_LIMIT',
    flag: 'rate-limit',
    value: 'N/DURATION',
    description:
      'At most N requests per DURATION for each API key, per instance (100/1s); more get 429 with Retry-After. Bursts up to N.',
    defaultText: 'no limit',
  },
  retention: {
    env: 'CURFEW_RETENTION',
    flag: 'retention',
    value: 'DURATION',
    description:
      'Delete ended sessions (the audit trail, with IP addresses and user agents) this long after they ended, on the sweep’s timer (1h to 3650d).',
    default: '30d',
  },
  apiKeys: {
    env: 'CURFEW_API_KEYS',
    flag: 'api-keys',
    value: 'LIST',
    description:
      "Comma-separated NAME:KEY:TENANT[:SCOPE]: TENANT is a tenant or '*' for every tenant; SCOPE validate, sessions, metrics or admin (default: admin for '*', sessions for a tenant); KEY random, 128+ bits (32+ hex or 22+ base64url characters).",
  },
  apiKeysFile: {
    env: 'CURFEW_API_KEYS_FILE',
    flag: 'api-keys-file',
    value: 'PATH',
    description:
      'A key file to keep the API keys in (hashes only, one JSON object per key, as curfew keys writes them), instead of the store (PostgreSQL, MySQL, Redis) or the default file (SQLite, memory:).',
    defaultText: 'in the store; <data folder>/api-keys on SQLite and memory:',
  },
  logLevel: {
    env: 'CURFEW_LOG_LEVEL',
    flag: 'log-level',
    value: 'LEVEL',
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    default: 'info',
  },
  tlsCert: {
    env: 'CURFEW_TLS_CERT',
    flag: 'tls-cert',
    value: 'PATH',
    description:
      'PEM certificate chain: serve HTTPS. Needs CURFEW_TLS_KEY. Reloaded on SIGHUP and when the file changes.',
  },
  tlsKey: {
    env: 'CURFEW_TLS_KEY',
    flag: 'tls-key',
    value: 'PATH',
    description: 'PEM private key for CURFEW_TLS_CERT.',
  },
  tlsClientCa: {
    env: 'CURFEW_TLS_CLIENT_CA',
    flag: 'tls-client-ca',
    value: 'PATH',
    description:
      'PEM CA certificates: require every client to present a certificate they signed (mTLS), before any request is read.',
  },
  tlsTerminatedByProxy: {
    env: 'CURFEW_TLS_TERMINATED_BY_PROXY',
    flag: 'tls-terminated-by-proxy',
    value: 'BOOL',
    description:
      'true: plain HTTP on a non-loopback address is allowed, because a TLS-terminating proxy in front carries the traffic.',
    default: 'false',
  },
  requestTimeout: {
    env: 'CURFEW_REQUEST_TIMEOUT',
    flag: 'request-timeout',
    value: 'DURATION',
    description:
      'A request must arrive whole (headers and body) within this; a slower client gets 408 and is disconnected (1s to 10m).',
    default: '10s',
  },
  headersTimeout: {
    env: 'CURFEW_HEADERS_TIMEOUT',
    flag: 'headers-timeout',
    value: 'DURATION',
    description: 'A request’s headers must arrive within this (1s up to the request timeout).',
    default: '5s',
  },
  keepAliveTimeout: {
    env: 'CURFEW_KEEP_ALIVE_TIMEOUT',
    flag: 'keep-alive-timeout',
    value: 'DURATION',
    description:
      'Close a keep-alive connection idle this long. Keep it longer than a load balancer’s idle timeout (60s on many), so the balancer closes first (1s to 10m).',
    default: '65s',
  },
  maxHeaderSize: {
    env: 'CURFEW_MAX_HEADER_SIZE',
    flag: 'max-header-size',
    value: 'BYTES',
    description:
      'Largest request head (request line and headers) accepted: 431 above (1024 to 65536).',
    default: '16384',
  },
  shutdownTimeout: {
    env: 'CURFEW_SHUTDOWN_TIMEOUT',
    flag: 'shutdown-timeout',
    value: 'DURATION',
    description:
      'On SIGTERM, how long requests in flight get to finish before the process exits 1 (1s to 10m).',
    default: '10s',
  },
} as const satisfies Record<string, Setting>;

/** The name of a setting in {@link SETTINGS}. */
export type SettingName = keyof typeof SETTINGS;

/**
 * The service's configuration, checked.
 *
 * @example
 * ```ts
 * const config = loadConfig(process.env, {});
 * console.log(config.port, config.policy.idleTimeout);
 * ```
 */
export interface ServerConfig {
  host: string;
  port: number;
  /** The store URL as it may be shown: any password replaced by `***`. */
  storeUrl: string;
  store: StoreLocation;
  /** Pool size and per-call time bound for the network stores. */
  storeConnection: StoreConnection;
  policy: Policy;
  /** Milliseconds between sweeps; 0: no sweeping. */
  sweepInterval: number;
  /** Milliseconds between the batches of one sweep; 0: none. */
  sweepPause: number;
  /** Milliseconds an ended session is kept before it is deleted. */
  retention: number;
  /** Requests per window for each API key; `null`: no limit. */
  rateLimit: { limit: number; window: number } | null;
  /** Milliseconds of clock skew to the store past which to warn, and to fail `/readyz`. */
  clockSkew: { warn: number; max: number };
  /** Keys from `CURFEW_API_KEYS` (hashed as soon as they are read). */
  apiKeys: ApiKey[];
  /** The key file: `CURFEW_API_KEYS_FILE`, else `<data folder>/api-keys`. */
  apiKeysFile: string;
  /** Whether `apiKeysFile` was named explicitly. */
  apiKeysFileExplicit: boolean;
  /** Where the service keeps its own files. */
  dataDir: string;
  logLevel: LevelWithSilent;
  /** Certificate, key and client CA files for HTTPS; `null`: plain HTTP. */
  tls: TlsFiles | null;
  /** Plain HTTP beyond loopback was allowed explicitly, for a TLS-terminating proxy in front. */
  tlsTerminatedByProxy: boolean;
  http: HttpLimits;
  /** Milliseconds requests in flight get after SIGTERM. */
  shutdownTimeout: number;
}

/**
 * The PEM files of `CURFEW_TLS_*`, as absolute paths.
 *
 * @example
 * ```ts
 * const tls: TlsFiles = { cert: '/etc/curfew/cert.pem', key: '/etc/curfew/key.pem', clientCa: null };
 * ```
 */
export interface TlsFiles {
  cert: string;
  key: string;
  /** Require client certificates signed by these CAs (mTLS); `null`: none asked for. */
  clientCa: string | null;
}

/**
 * How long a client may take and how large its request head may be, in milliseconds and bytes.
 *
 * @example
 * ```ts
 * const limits: HttpLimits = { requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 65_000, maxHeaderSize: 16_384 };
 * ```
 */
export interface HttpLimits {
  requestTimeout: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  maxHeaderSize: number;
}

/**
 * A configuration value that cannot be used. `message` is one line that names the variable (or
 * flag) and says what it accepts; it never repeats an API key.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Raw values by setting name, from CLI flags; a flag wins over its environment variable. */
export type SettingValues = Partial<Record<SettingName, string | undefined>>;

/**
 * Reads the configuration from environment variables and flags (flags win) and checks every
 * value, throwing a {@link ConfigError} for the first bad one.
 *
 * @example
 * ```ts
 * try {
 *   loadConfig(process.env, { port: '9000' });
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.message); // "CURFEW_PORT: expected …"
 * }
 * ```
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: SettingValues = {}): ServerConfig {
  const read = (name: SettingName): { value: string; label: string } | undefined => {
    const setting = SETTINGS[name];
    const fromFlag = flags[name];
    if (fromFlag !== undefined) return { value: fromFlag, label: `--${setting.flag}` };
    const fromEnv = env[setting.env];
    // An empty variable counts as unset, as shells and compose files often leave them.
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, label: setting.env };
    return undefined;
  };
  // A setting with a default: given, or its default, checked by the same code either way.
  const value = (name: DefaultedSetting): { value: string; label: string } =>
    read(name) ?? { value: SETTINGS[name].default, label: SETTINGS[name].env };

  const host = value('host').value;
  const port = parsePort(value('port'));
  const storeSetting = value('store');
  let store: StoreLocation;
  try {
    store = parseStoreUrl(storeSetting.value);
  } catch (error) {
    throw new ConfigError(`${storeSetting.label}: ${(error as Error).message}`);
  }
  const storeConnection = readStoreConnection(value);
  const policy = readPolicy(read);
  const sweep = value('sweepInterval');
  const sweepInterval = duration(sweep);
  if (sweepInterval !== 0 && sweepInterval < 1000) {
    throw new ConfigError(`${sweep.label}: expected 0 (no sweeping) or at least 1s`);
  }
  const pause = value('sweepPause');
  const sweepPause = duration(pause);
  if (sweepPause > 10_000) {
    throw new ConfigError(`${pause.label}: expected at most 10s between a sweep's batches`);
  }
  const retention = durationWithin(value('retention'), 3_600_000, 3650 * 86_400_000, '1h to 3650d');
  const clockSkewWarn = durationWithin(value('clockSkewWarn'), 100, 60_000, '100ms to 1m');
  const clockSkewMax = durationWithin(
    value('clockSkewMax'),
    clockSkewWarn,
    3_600_000,
    `${formatDuration(clockSkewWarn)} (the warning threshold) to 1h`,
  );
  const rateLimit = readRateLimit(read('rateLimit'));
  const tls = readTls(read);
  const proxy = value('tlsTerminatedByProxy');
  if (proxy.value !== 'true' && proxy.value !== 'false') {
    throw new ConfigError(`${proxy.label}: expected true or false`);
  }
  const tlsTerminatedByProxy = proxy.value === 'true';
  if (tls === null && !tlsTerminatedByProxy && !isLoopback(host)) {
    throw new ConfigError(
      `${read('host')!.label}: ${host} is not a loopback address, and without TLS every token and API key would cross the network in clear text; set CURFEW_TLS_CERT and CURFEW_TLS_KEY, or CURFEW_TLS_TERMINATED_BY_PROXY=true if a TLS-terminating proxy is in front`,
    );
  }
  const http = readHttpLimits(value);
  const shutdown = value('shutdownTimeout');
  const shutdownTimeout = durationWithin(shutdown, 1000, 600_000, '1s to 10m');

  const keysSetting = read('apiKeys');
  let apiKeys: ApiKey[] = [];
  if (keysSetting !== undefined) {
    try {
      apiKeys = parseApiKeyList(keysSetting.value);
    } catch (error) {
      if (error instanceof ApiKeyError)
        throw new ConfigError(`${keysSetting.label}: ${error.message}`);
      throw error;
    }
  }
  const dataDir = dataDirectory(store);
  const keysFile = read('apiKeysFile');

  const level = value('logLevel');
  if (!(LOG_LEVELS as readonly string[]).includes(level.value)) {
    throw new ConfigError(`${level.label}: expected one of ${LOG_LEVELS.join(', ')}`);
  }

  return {
    host,
    port,
    storeUrl: redactStoreUrl(storeSetting.value),
    store,
    storeConnection,
    policy,
    sweepInterval,
    sweepPause,
    retention,
    rateLimit,
    clockSkew: { warn: clockSkewWarn, max: clockSkewMax },
    apiKeys,
    apiKeysFile: keysFile === undefined ? resolve(dataDir, 'api-keys') : resolve(keysFile.value),
    apiKeysFileExplicit: keysFile !== undefined,
    dataDir,
    logLevel: level.value as LevelWithSilent,
    tls,
    tlsTerminatedByProxy,
    http,
    shutdownTimeout,
  };
}

/** The settings that have a default value. */
type DefaultedSetting = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { default: string } ? K : never;
}[SettingName];

type ValueReader = (name: DefaultedSetting) => { value: string; label: string };

/**
 * Whether listening on `host` keeps traffic on this machine: `localhost`, 127.0.0.0/8, `::1`.
 *
 * @example
 * ```ts
 * isLoopback('127.0.0.1'); // true
 * isLoopback('0.0.0.0'); // false: every interface
 * ```
 */
export function isLoopback(host: string): boolean {
  return (
    host === 'localhost' ||
    host === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    /^::ffff:127\./i.test(host)
  );
}

function readRateLimit(
  setting: { value: string; label: string } | undefined,
): { limit: number; window: number } | null {
  if (setting === undefined) return null;
  const match = /^(\d{1,7})\/(.+)$/.exec(setting.value);
  const limit = match === null ? Number.NaN : Number(match[1]);
  let window = Number.NaN;
  if (match !== null) {
    try {
      window = parseDuration(match[2]!, setting.label);
    } catch {
      // Reported below, with the whole format.
    }
  }
  if (!(limit >= 1 && window >= 1)) {
    throw new ConfigError(
      `${setting.label}: expected N/DURATION, at least 1 request per at least 1ms, such as 100/1s or 6000/1m`,
    );
  }
  return { limit, window };
}

function readTls(read: Reader): TlsFiles | null {
  const cert = read('tlsCert');
  const key = read('tlsKey');
  const clientCa = read('tlsClientCa');
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) {
      throw new ConfigError(
        `${clientCa.label}: client certificates need TLS: set CURFEW_TLS_CERT and CURFEW_TLS_KEY too`,
      );
    }
    return null;
  }
  if (cert === undefined || key === undefined) {
    const given = (cert ?? key)!;
    throw new ConfigError(`${given.label}: TLS needs both CURFEW_TLS_CERT and CURFEW_TLS_KEY`);
  }
  return {
    cert: resolve(cert.value),
    key: resolve(key.value),
    clientCa: clientCa === undefined ? null : resolve(clientCa.value),
  };
}

function readHttpLimits(value: ValueReader): HttpLimits {
  const request = value('requestTimeout');
  const requestTimeout = durationWithin(request, 1000, 600_000, '1s to 10m');
  const headers = value('headersTimeout');
  const headersTimeout = durationWithin(
    headers,
    1000,
    requestTimeout,
    `1s to ${formatDuration(requestTimeout)} (the request timeout)`,
  );
  const keepAliveTimeout = durationWithin(value('keepAliveTimeout'), 1000, 600_000, '1s to 10m');
  const size = value('maxHeaderSize');
  const maxHeaderSize = /^\d{1,5}$/.test(size.value) ? Number(size.value) : Number.NaN;
  if (!(maxHeaderSize >= 1024 && maxHeaderSize <= 65_536)) {
    throw new ConfigError(`${size.label}: expected a number of bytes from 1024 to 65536`);
  }
  return { requestTimeout, headersTimeout, keepAliveTimeout, maxHeaderSize };
}

function durationWithin(
  setting: { value: string; label: string },
  min: number,
  max: number,
  range: string,
): number {
  const ms = duration(setting);
  if (ms < min || ms > max)
    throw new ConfigError(`${setting.label}: expected a duration from ${range}`);
  return ms;
}

type Reader = (name: SettingName) => { value: string; label: string } | undefined;

function readStoreConnection(value: ValueReader): StoreConnection {
  const size = value('storePoolSize');
  const poolSize = Number(size.value);
  if (!/^\d+$/.test(size.value) || poolSize < 1 || poolSize > 1000) {
    throw new ConfigError(`${size.label}: expected a whole number from 1 to 1000`);
  }
  const timeout = durationWithin(value('storeTimeout'), 100, 60_000, '100ms to 1m');
  return { poolSize, timeout };
}

const POLICY_DURATIONS = [
  'idleTimeout',
  'absoluteTimeout',
  'absoluteWarning',
  'idleWarning',
  'activityWriteInterval',
] as const;

function readPolicy(read: Reader): Policy {
  const presetSetting = read('policy');
  const preset = presetSetting?.value ?? DEFAULT_POLICY_PRESET;
  if (!Object.hasOwn(POLICY_PRESETS, preset)) {
    throw new ConfigError(
      `${presetSetting!.label}: expected one of ${Object.keys(POLICY_PRESETS).join(', ')}`,
    );
  }
  const options: PolicyOptions = { preset: preset as PolicyPresetName };
  const labels = new Map<string, string>([
    ['policy.preset', presetSetting?.label ?? 'CURFEW_POLICY'],
  ]);
  for (const name of POLICY_DURATIONS) {
    const setting = read(name);
    if (setting === undefined) continue;
    options[name] = duration(setting);
    labels.set(`policy.${name}`, setting.label);
  }
  const limits = read('limits');
  if (limits !== undefined) {
    Object.assign(options, parseLimits(limits));
    for (const part of ['levels', 'tenants', 'appTypes'])
      labels.set(`policy.${part}`, limits.label);
  }
  const cap = read('maxSessionsPerUser');
  if (cap !== undefined) {
    if (!/^\d{1,5}$/.test(cap.value)) {
      throw new ConfigError(`${cap.label}: expected a whole number from 1 to 10000`);
    }
    options.maxSessionsPerUser = Number(cap.value);
    labels.set('policy.maxSessionsPerUser', cap.label);
  }
  const onLimit = read('onSessionLimit');
  if (onLimit !== undefined) {
    if (onLimit.value !== 'evict-oldest' && onLimit.value !== 'refuse') {
      throw new ConfigError(`${onLimit.label}: expected evict-oldest or refuse`);
    }
    options.onSessionLimit = onLimit.value;
    labels.set('policy.onSessionLimit', onLimit.label);
  }
  try {
    return resolvePolicy(options);
  } catch (error) {
    if (!(error instanceof CurfewError)) throw error;
    const field = error.field ?? 'policy.preset';
    const name = field.replace(/^policy\./, '');
    const label =
      labels.get(field) ??
      labels.get(field.split('.').slice(0, 2).join('.')) ??
      (Object.hasOwn(SETTINGS, name) ? SETTINGS[name as SettingName].env : undefined) ??
      labels.get('policy.preset')!;
    // The library's advice to set `custom: true` does not apply: the service takes no custom
    // policies, so an operator can only make a preset stricter.
    const reason = error.message
      .replace(/^policy\.([A-Za-z]+): /, '')
      .replace(/^policy\.((?:levels|tenants|appTypes)\.[^:]+): /, '$1: ')
      .replace(/; set custom: true to (allow|drop) it$/, '');
    throw new ConfigError(`${label}: ${reason}`);
  }
}

// The JSON of CURFEW_LIMITS: only the three parts it may set, so that it cannot carry a preset,
// `custom` or anything else the other settings own.
function parseLimits(setting: { value: string; label: string }): PolicyOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(setting.value);
  } catch {
    throw new ConfigError(
      `${setting.label}: expected a JSON object such as {"levels":{"3":{"idleTimeout":"10m"}}}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      `${setting.label}: expected a JSON object with levels, tenants or appTypes`,
    );
  }
  for (const key of Object.keys(parsed)) {
    if (key !== 'levels' && key !== 'tenants' && key !== 'appTypes') {
      throw new ConfigError(`${setting.label}: ${key} is not one of levels, tenants, appTypes`);
    }
  }
  return parsed as PolicyOptions;
}

function duration(setting: { value: string; label: string }): number {
  try {
    return parseDuration(setting.value, setting.label);
  } catch {
    throw new ConfigError(
      `${setting.label}: expected a duration such as 90s, 30m, 12h or 1h30m (units ms, s, m, h, d)`,
    );
  }
}

function parsePort(setting: { value: string; label: string }): number {
  const port = /^\d{1,5}$/.test(setting.value) ? Number(setting.value) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(`${setting.label}: expected a port number from 0 to 65535`);
  }
  return port;
}
