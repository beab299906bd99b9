import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';
import { rememberingIsoFormatter } from './iso-time.js';

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
  const timestamp = isoTimestamp();
  const options = {
    level,
    base: { service: 'curfew' },
    timestamp,
    serializers: { err: pino.stdSerializers.err },
  };
  const sink = destination ?? new TurnBuffer(pino.destination({ dest: 1, sync: true }));
  const logger = pino(options, sink);
  // The request line, as pino would write it for `logger.info(fields, 'request')` with these
  // options, without pino's generic walk over the fields: it is the one line every request writes.
  requestLineWriters.set(logger, (fields) => {
    if (!logger.isLevelEnabled('info')) return;
    const key = fields.key === undefined ? '' : `,"key":${quote(fields.key)}`;
    const remote = fields.remote === undefined ? '' : `,"remote":${quote(fields.remote)}`;
    sink.write(
      `{"level":30${timestamp()},"service":"curfew","requestId":${quote(fields.requestId)},"method":${quote(fields.method)},"route":${quote(fields.route)},"status":${fields.status},"ms":${fields.ms}${key}${remote},"msg":"request"}\n`,
    );
  });
  return logger;
}

/**
 * The fields of the one log line per request. Strings come from bounded or checked sources, never
 * from a body; each is escaped as JSON requires all the same, so that the line stays one valid
 * JSON object whatever a check elsewhere lets through.
 */
export interface RequestLogFields {
  /** A UUID, or a client's id that matched `[A-Za-z0-9._:-]{1,128}`. */
  requestId: string;
  /** An HTTP method, as Node's parser accepted it (letters and `-`). */
  method: string;
  /** A route pattern of the app, or `(unmatched)`: never a raw path. */
  route: string;
  status: number;
  /** Finite: it is written as a JSON number. */
  ms: number;
  key: string | undefined;
  remote: string | undefined;
}

/**
 * `JSON.stringify(text)` for a string: short printable ASCII, what request lines hold, needs only
 * quotes around it, found without JSON.stringify's setup (which cost more than the check).
 */
function quote(text: string): string {
  if (text.length > 128) return JSON.stringify(text);
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || code > 0x7e) return JSON.stringify(text);
  }
  return `"${text}"`;
}

const requestLineWriters = new WeakMap<Logger, (fields: RequestLogFields) => void>();

/**
 * How to write the request line on `logger`: the direct writer for a logger made by
 * {@link createLogger}, `logger.info(fields, 'request')` for any other.
 * @internal
 */
export function requestLineWriter(logger: Logger): (fields: RequestLogFields) => void {
  return requestLineWriters.get(logger) ?? ((fields) => logger.info(fields, 'request'));
}

/**
 * pino's `isoTime`, formatted once per millisecond: under load a dozen lines share each one.
 */
function isoTimestamp(): () => string {
  const formatNow = rememberingIsoFormatter();
  let text = '';
  let field = '';
  return () => {
    const now = formatNow(Date.now());
    if (now !== text) {
      text = now;
      field = `,"time":"${now}"`;
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
 * Hands the lines written during one turn of the event loop to `target` as one string, written
 * synchronously: one system call per turn, however many requests the turn answered. Before, an
 * asynchronous SonicBoom with a minimum length re-measured its growing buffer on every line and
 * went through the thread pool for each write, which cost more per request than the line itself.
 * A synchronous write also leaves nothing in flight to lose when the process exits. A stdout
 * reader that stops reading will block the turn's write (pino's default destination does the
 * same, per line) rather than let the buffer grow without bound.
 */
class TurnBuffer implements DestinationStream {
  readonly #target: SonicBoom;
  #lines: string[] = [];
  #scheduled = false;

  constructor(target: SonicBoom) {
    this.#target = target;
    // A turn's lines must not be lost to a process.exit() in that turn.
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

  /** Called by `logger.flush()`: the target writes synchronously, so drained is written. */
  flush(done?: (error?: Error) => void): void {
    this.#drain();
    this.#target.flush(done);
  }

  flushSync(): void {
    try {
      this.#drain();
    } catch {
      // At exit, a destination that broke has nowhere to put them.
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
