import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

/** The log levels `CURFEW_LOG_LEVEL` accepts. */
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
 * so nothing from a request body, a token or an API key can reach a log line; the redaction
 * below is a second line of defence for anything that passes a whole object by mistake.
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
    redact: {
      paths: [
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'headers',
        '*.headers',
        'body',
        '*.body',
      ],
      remove: true,
    },
    serializers: { err: pino.stdSerializers.err },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
