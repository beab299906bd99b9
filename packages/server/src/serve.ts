import { formatDuration, type Policy, SessionManager, type SessionStore } from 'curfew';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type ClockSkewMonitor, startClockSkewMonitor } from './clock-skew.js';
import type { ServerConfig } from './config.js';
import { buildApp } from './http/app.js';
import { instrumentStore } from './instrument-store.js';
import { keyStoreFor, type LoadedKeys, loadKeys, watchKeys } from './key-setup.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { openStore } from './open-store.js';
import { RateLimiter } from './rate-limit.js';
import { startSweepTimer } from './sweep-timer.js';
import { type LoadedTls, readTls, watchTls } from './tls.js';
import { type Tracing, tracingFromEnv } from './tracing.js';
import { runUpkeep } from './upkeep.js';
import { VERSION } from './version.js';

export { VERSION } from './version.js';

/**
 * A started service.
 *
 * @example
 * ```ts
 * const server = await startServer(loadConfig(process.env), { write: (line) => console.error(line) });
 * process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
 * ```
 */
export interface RunningServer {
  /** `http://host:port` (or `https://`), with the port actually bound. */
  url: string;
  app: FastifyInstance;
  logger: Logger;
  /**
   * Reads the TLS files again and serves new connections with them; on a file that cannot be
   * used, logs why and keeps serving with the certificate it has. Resolves to whether it
   * reloaded. Without TLS, does nothing. Called on SIGHUP and when a file changes.
   */
  reloadTls(): Promise<boolean>;
  /**
   * Stops accepting connections, lets requests in flight finish, stops the sweep, closes the
   * store. Safe to call more than once.
   */
  close(): Promise<void>;
}

/**
 * Starts `curfew serve`: loads the keys (making the first admin key if there is none), opens the
 * store (running migrations), listens, starts the jittered sweep, and writes the banner: the
 * URL, the store, the policy with its timeouts, and how to authenticate.
 *
 * @example
 * ```ts
 * const server = await startServer(config, { write: (text) => process.stderr.write(text) });
 * ```
 */
export async function startServer(
  config: ServerConfig,
  output: { write(text: string): void; isTTY?: boolean | undefined },
  options: {
    env?: NodeJS.ProcessEnv | undefined;
    /**
     * Replaces the opened store before anything uses it. For the fault harness only
     * (`chaos/broken-instance.js` runs a deliberately broken store through it, to prove its
     * checker catches one); no setting or flag reaches it.
     */
    wrapStore?: ((store: SessionStore) => SessionStore) | undefined;
  } = {},
): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const opened = await openStore(config.store, {
    connection: config.storeConnection,
    retention: config.retention,
    onDriverError: throttled(10_000, (error: Error & { code?: unknown }) =>
      logger.warn({ code: error.code, reason: error.message }, 'store connection trouble'),
    ),
  });
  for (const warning of opened.warnings) logger.warn({ store: config.storeUrl }, warning);
  let keys: LoadedKeys;
  try {
    // The keys live in the store when it keeps them (shared by every instance on it).
    keys = await loadKeys(config, keyStoreFor(config, opened.keys), {
      interactive: output.isTTY === true,
    });
  } catch (error) {
    await opened.close();
    throw error;
  }
  if (keys.createdAdminKeyFile !== undefined) {
    logger.warn(
      { path: keys.createdAdminKeyFile },
      'no API key was configured: an admin key was made and written to this file (mode 0600); read it, store it elsewhere, delete the file',
    );
  }
  let app: FastifyInstance | undefined;
  let stopWatching: () => Promise<void> = async () => {};
  let skewMonitor: ClockSkewMonitor | undefined;
  let tracing: Tracing | undefined;
  try {
    let tls: LoadedTls | null = config.tls === null ? null : await readTls(config.tls);
    const metrics = new Metrics({ store: config.store.kind });
    // OpenTelemetry's own variables (OTEL_*), read as its SDKs read them.
    const traced = await tracingFromEnv(options.env ?? process.env, VERSION);
    tracing = traced?.tracing;
    const manager = new SessionManager({
      store: instrumentStore(
        options.wrapStore?.(opened.store) ?? opened.store,
        metrics,
        tracing === undefined ? undefined : { tracer: tracing.tracer, store: config.store.kind },
      ),
      policy: config.policy,
      logger: logger.child({ component: 'sessions' }),
      onEvent: metrics.onEvent,
    });
    // Measured before listening, so a badly skewed instance is never ready for a moment.
    skewMonitor = startClockSkewMonitor({
      manager,
      warn: config.clockSkew.warn,
      max: config.clockSkew.max,
      logger,
      metrics,
    });
    await skewMonitor.check();
    app = buildApp({
      manager,
      unready: skewMonitor.unready,
      keys: keys.keyring,
      logger,
      metrics,
      version: VERSION,
      tracer: tracing?.tracer,
      rateLimiter: config.rateLimit === null ? undefined : new RateLimiter(config.rateLimit),
      server: { limits: config.http, https: tls?.options },
    });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `${tls === null ? 'http' : 'https'}://${host}:${port}`;
    logger.info(
      { url, store: config.storeUrl, policy: config.policy.preset, tls: tls !== null },
      'listening',
    );

    const server = app.server as { setSecureContext?: (options: LoadedTls['options']) => void };
    let reloading: Promise<boolean> | undefined;
    const reloadTls = (): Promise<boolean> => {
      if (config.tls === null) return Promise.resolve(false);
      const files = config.tls;
      // A change to the certificate and the key a moment apart is one reload, run once both are
      // read; a reload asked for while one runs waits for it rather than racing it.
      reloading = (reloading ?? Promise.resolve(false)).then(async () => {
        try {
          const next = await readTls(files);
          server.setSecureContext!(next.options);
          tls = next;
          logger.info({ certificate: next.summary }, 'TLS certificate reloaded');
          return true;
        } catch (error) {
          logger.warn(
            { reason: (error as Error).message },
            'TLS files could not be reloaded; still serving the certificate loaded before',
          );
          return false;
        }
      });
      return reloading;
    };
    const stopTlsWatch =
      config.tls === null ? () => {} : watchTls(config.tls, () => void reloadTls());
    // Keys created, revoked or rotated in the key store (by curfew keys, on any machine sharing
    // it) take effect within a second, without a restart.
    const stopKeyWatch = watchKeys({ keys, envKeys: config.apiKeys, logger });
    stopWatching = async () => {
      stopTlsWatch();
      await stopKeyWatch();
    };

    const stopSweep =
      config.sweepInterval > 0
        ? startSweepTimer({
            interval: config.sweepInterval,
            sweep: () =>
              runUpkeep(manager, {
                pause: config.sweepPause,
                retention: config.retention,
                metrics,
              }),
            onError: (error) =>
              logger.warn({ code: (error as { code?: unknown }).code }, 'sweep or purge failed'),
          })
        : async () => {};

    output.write(
      banner({
        config,
        url,
        sources: keys.sources,
        createdAdminKey: keys.createdAdminKey,
        createdAdminKeyFile: keys.createdAdminKeyFile,
        tls,
        traces: traced?.description ?? null,
        warnings: opened.warnings,
      }),
    );

    const running = app;
    let closing: Promise<void> | undefined;
    return {
      url,
      app: running,
      logger,
      reloadTls,
      close() {
        closing ??= (async () => {
          skewMonitor?.stop();
          await stopSweep();
          await running.close();
          // After the last request: its key's last-used time is written before the store closes.
          await stopWatching();
          await opened.close();
          await tracing?.shutdown();
          logger.info('stopped');
          await new Promise<void>((resolve) => logger.flush(() => resolve()));
        })();
        return closing;
      },
    };
  } catch (error) {
    await stopWatching();
    skewMonitor?.stop();
    await tracing?.shutdown();
    await app?.close();
    await opened.close();
    throw error;
  }
}

function banner(input: {
  config: ServerConfig;
  url: string;
  sources: string[];
  createdAdminKey: string | undefined;
  createdAdminKeyFile: string | undefined;
  tls: LoadedTls | null;
  traces: string | null;
  warnings: string[];
}): string {
  const { config, url, sources, createdAdminKey, createdAdminKeyFile, tls, traces, warnings } =
    input;
  const transport =
    tls !== null
      ? `on: ${tls.summary}`
      : config.tlsTerminatedByProxy
        ? 'off: plain HTTP, for a TLS-terminating proxy in front (CURFEW_TLS_TERMINATED_BY_PROXY)'
        : 'off: plain HTTP on loopback only';
  const lines = [
    `curfew ${VERSION} listening on ${url}`,
    `  tls     ${transport}`,
    `  store   ${config.storeUrl}`,
    `  policy  ${describePolicy(config.policy)}`,
    `  sweep   ${config.sweepInterval === 0 ? 'off (and so is the retention purge)' : `every ${formatDuration(config.sweepInterval)} (jittered); ended sessions deleted after ${formatDuration(config.retention)}`}`,
    `  keys    ${sources.join('; ')}`,
    `  traces  ${traces === null ? 'off (set OTEL_EXPORTER_OTLP_ENDPOINT to export them)' : traces}`,
    '  auth    send Authorization: Bearer <API key> on /v1/* and /metrics; /healthz, /readyz and /openapi.json are open',
    ...warnings.map((warning) => `  WARNING ${warning}`),
  ];
  if (createdAdminKey !== undefined) {
    lines.push(
      '',
      '  No API key was configured, so an admin key was made. It is shown this once; only its',
      `  SHA-256 is kept. Store it now:`,
      '',
      `    ${createdAdminKey}`,
      '',
      `  Try: curl -s ${url}/v1/sessions -H "Authorization: Bearer ${createdAdminKey}" \\`,
      `         -H 'Content-Type: application/json' -d '{"userId":"42"}'`,
    );
  }
  if (createdAdminKeyFile !== undefined) {
    lines.push(
      '',
      '  No API key was configured, so an admin key was made. Only its SHA-256 is kept in the key',
      `  file; the key itself was written to ${createdAdminKeyFile} (readable only by this user).`,
      '  Read it, store it where your secrets live, and delete that file.',
    );
  }
  return `${lines.join('\n')}\n`;
}

// A driver that cannot reach its server reports every retry; one line per period is enough.
function throttled<T>(period: number, write: (value: T) => void): (value: T) => void {
  let last = -Infinity;
  return (value) => {
    const now = performance.now();
    if (now - last < period) return;
    last = now;
    write(value);
  };
}

/** The policy in one line, as the banner and `curfew stats` show it. */
export function describePolicy(policy: Policy): string {
  const idle = policy.idleTimeout === null ? 'none' : formatDuration(policy.idleTimeout);
  return (
    `${policy.preset}: idle ${idle}, absolute ${formatDuration(policy.absoluteTimeout)}, ` +
    `warnings ${formatDuration(policy.absoluteWarning)} absolute / ${formatDuration(policy.idleWarning)} idle, ` +
    `activity written at most every ${formatDuration(policy.activityWriteInterval)}`
  );
}
