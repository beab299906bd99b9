import type { Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ConfigError } from './config.js';

/**
 * OpenTelemetry tracing as the service uses it: a tracer for request and store-call spans, and
 * the way to flush and stop it.
 *
 * @example
 * ```ts
 * const tracing = await startTracing({ exporter: new InMemorySpanExporter(), batch: false });
 * const app = buildApp({ manager, keys, tracer: tracing.tracer });
 * await tracing.shutdown();
 * ```
 */
export interface Tracing {
  tracer: Tracer;
  /** Exports what is left and stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing with a given exporter: a Node tracer provider (whose registration installs the
 * AsyncLocalStorage context, so that a store call's span is the child of its request's), a
 * resource naming the service, and a batch (or, for tests, simple) span processor. The SDK
 * packages load only here: a service without tracing never loads them.
 *
 * @example
 * ```ts
 * const { InMemorySpanExporter } = await import('@opentelemetry/sdk-trace-base');
 * const tracing = await startTracing({ exporter: new InMemorySpanExporter(), batch: false });
 * ```
 */
export async function startTracing(options: {
  exporter: SpanExporter;
  /** Batch spans before export (default `true`); `false` exports each as it ends. */
  batch?: boolean;
  serviceName?: string;
  version?: string;
}): Promise<Tracing> {
  const [
    { NodeTracerProvider },
    { BatchSpanProcessor, SimpleSpanProcessor },
    { resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  const processor =
    options.batch === false
      ? new SimpleSpanProcessor(options.exporter)
      : new BatchSpanProcessor(options.exporter);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': options.serviceName ?? 'curfew',
      ...(options.version === undefined ? {} : { 'service.version': options.version }),
    }),
    spanProcessors: [processor],
  });
  provider.register();
  return {
    tracer: provider.getTracer('curfew', options.version),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * Tracing as the standard `OTEL_*` variables configure it, or `null` when they leave it off.
 * It is off unless asked for: `OTEL_TRACES_EXPORTER` set to `otlp` or `console`, or an OTLP
 * endpoint given (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); and
 * always off with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The OTLP exporter (HTTP)
 * reads its endpoint, headers and timeout from the same variables; the provider reads
 * `OTEL_TRACES_SAMPLER`; `OTEL_SERVICE_NAME` names the service (default `curfew`).
 *
 * @example
 * ```ts
 * const started = await tracingFromEnv(process.env, VERSION);
 * if (started) console.log(started.description); // "OTLP over HTTP to http://collector:4318"
 * ```
 */
export async function tracingFromEnv(
  env: NodeJS.ProcessEnv,
  version: string,
): Promise<{ tracing: Tracing; description: string } | null> {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const exporterName = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (exporterName === 'none') return null;
  if (exporterName === undefined || exporterName === '') {
    if (!endpoint) return null;
  } else if (exporterName !== 'otlp' && exporterName !== 'console') {
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER: curfew exports traces with otlp (over HTTP) or console, not ${exporterName}`,
    );
  }
  const serviceName = env.OTEL_SERVICE_NAME || 'curfew';
  if (exporterName === 'console') {
    const { ConsoleSpanExporter } = await import('@opentelemetry/sdk-trace-base');
    return {
      tracing: await startTracing({ exporter: new ConsoleSpanExporter(), serviceName, version }),
      description: 'to the console',
    };
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  return {
    tracing: await startTracing({ exporter: new OTLPTraceExporter(), serviceName, version }),
    description: `OTLP over HTTP to ${endpoint ? withoutCredentials(endpoint) : 'http://localhost:4318 (the default)'}`,
  };
}

// For the banner: an endpoint may carry a user and password; neither belongs in a log.
function withoutCredentials(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return '(an endpoint that is not a URL)';
  }
}
