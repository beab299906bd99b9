import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

/**
 * The log levels `CURFEW_LOG_LEVEL` accepts.
 *
 * @example
 * ```ts
 * if (!LOG_LEVELS.includes(level)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`);
 * ```
 */
export const LOG_LEVELS: readonly LevelWithSilent[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/**
 * The service's JSON logger (pino). Request lines are written by the app itself, field by field,
 * and the library logs ids only, so nothing from a request body, a token or an API key can reach
 * a log line (a test runs every route and searches the log for them). A redaction pass was
 * dropped for that reason: it cost more per request than the rest of the log line.
 *
 * @example
 * ```ts
 * const logger = createLogger('info'); // to stdout
 * const quiet = createLogger('silent');
 * ```
 */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'curfew' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err },
  };
  // Buffered writes: one system call per few kilobytes instead of one per request line. pino
  // flushes the buffer when the process exits, and `close()` in serve.ts flushes it on SIGTERM.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}
