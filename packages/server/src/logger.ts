import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';
import { formatIsoTime } from './iso-time.js';

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
    timestamp: isoTimestamp(),
    serializers: { err: pino.stdSerializers.err },
  };
  return pino(options, destination ?? new TurnBuffer(pino.destination({ dest: 1, sync: false })));
}

/**
 * pino's `isoTime`, formatted once per millisecond: under load a dozen lines share each one.
 */
function isoTimestamp(): () => string {
  let formattedAt = Number.NaN;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== formattedAt) {
      formattedAt = now;
      field = `,"time":"${formatIsoTime(now)}"`;
    }
    return field;
  };
}

type SonicBoom = ReturnType<typeof pino.destination>;

// Every TurnBuffer, held weakly, for the one exit listener that empties them.
const liveBuffers = new Set<WeakRef<TurnBuffer>>();

function flushAtExit(): void {
  for (const buffer of liveBuffers) buffer.deref()?.flushSync();
}

/**
 * Hands the lines written during one turn of the event loop to `target` as one string. SonicBoom
 * measures its whole pending buffer on every write and, asynchronous, goes through the thread pool
 * for each flush; together that cost more per request line than formatting it. Here a line costs
 * an array push, and the turn's lines one write: fewer system calls than a fixed minimum length,
 * and no line waits for the next request to be written.
 */
class TurnBuffer implements DestinationStream {
  readonly #target: SonicBoom;
  #lines: string[] = [];
  #scheduled = false;

  constructor(target: SonicBoom) {
    this.#target = target;
    // A turn's lines must not be lost to a process.exit() in that turn. pino's own exit hook
    // for `target`, registered before this one, runs first, so order is kept.
    if (liveBuffers.size === 0) process.once('exit', flushAtExit);
    liveBuffers.add(new WeakRef(this));
  }

  write(line: string): boolean {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
    return true;
  }

  /** Called by `logger.flush()`: the buffered lines, then SonicBoom's own buffer. */
  flush(done?: (error?: Error) => void): void {
    this.#drain();
    this.#target.flush(done);
  }

  flushSync(): void {
    if (this.#lines.length === 0) return;
    try {
      this.#drain();
      this.#target.flushSync();
    } catch {
      // At exit, a destination that pino has already ended or that broke has nowhere to put them.
    }
  }

  readonly #drain = (): void => {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const text = this.#lines.join('');
    this.#lines = [];
    this.#target.write(text);
  };
}
