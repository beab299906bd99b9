import { CurfewError } from 'curfew';
import type { FastifyReply } from 'fastify';

/**
 * The stable codes an error response can carry in its `code` member. Clients switch on these,
 * never on `detail`.
 *
 * @example
 * ```ts
 * const problem = (await response.json()) as Problem;
 * if (problem.code === 'STORE_UNAVAILABLE') retryAfter(response.headers.get('retry-after'));
 * ```
 */
export type ProblemCode = (typeof PROBLEM_CODES)[number];

/** Every {@link ProblemCode}, in one list: the OpenAPI document's enum is made from it. */
export const PROBLEM_CODES = [
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'SESSION_LIMIT_REACHED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'STORE_UNAVAILABLE',
  'STORE_ERROR',
  'CLOCK_SKEW',
  'RATE_LIMITED',
  'INTERNAL',
] as const;

/**
 * An RFC 9457 problem document, as every error response carries it.
 *
 * @example
 * ```json
 * { "type": "urn:curfew:problem:not-found", "title": "Not Found", "status": 404,
 *   "detail": "no session with this id", "code": "NOT_FOUND" }
 * ```
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  /** For `INVALID_ARGUMENT`: the request field at fault. */
  field?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** The media type of every error response. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/**
 * An error that already knows its HTTP answer. Route handlers and hooks throw it; the app's
 * error handler turns it into a problem document.
 *
 * @example
 * ```ts
 * throw new HttpProblem(404, 'NOT_FOUND', 'no session with this id');
 * ```
 */
export class HttpProblem extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly field: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: ProblemCode,
    detail: string,
    options: { field?: string; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  /** The problem document for the response body. */
  toProblem(): Problem {
    const problem: Problem = {
      type: `urn:curfew:problem:${this.code.toLowerCase().replaceAll('_', '-')}`,
      title: TITLES[this.status] ?? 'Error',
      status: this.status,
      detail: this.message,
      code: this.code,
    };
    if (this.field !== undefined) problem.field = this.field;
    return problem;
  }
}

/**
 * A 400 `INVALID_ARGUMENT` naming the field at fault.
 *
 * @example
 * ```ts
 * throw invalidArgument('tenantId', 'expected a string of 1 to 255 characters');
 * ```
 */
export function invalidArgument(field: string, message: string): HttpProblem {
  return new HttpProblem(400, 'INVALID_ARGUMENT', `${field}: ${message}`, { field });
}

/** The 404 for anything this caller may not see, worded the same whether it exists or not. */
export function notFound(what = 'session'): HttpProblem {
  return new HttpProblem(404, 'NOT_FOUND', `no such ${what}`);
}

/**
 * A 405 `METHOD_NOT_ALLOWED` for a path that exists under other methods, with `Allow` naming them
 * (RFC 9110, section 15.5.6).
 *
 * @example
 * ```ts
 * return sendProblem(reply, methodNotAllowed(['POST']));
 * ```
 */
export function methodNotAllowed(allowed: readonly string[]): HttpProblem {
  return new HttpProblem(
    405,
    'METHOD_NOT_ALLOWED',
    `this path takes ${allowed.join(', ')}; see the Allow header`,
    { headers: { allow: allowed.join(', ') } },
  );
}

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * Decides the HTTP answer for anything thrown while serving a request. Only errors that are known
 * to come from the client become 4xx; everything else is a 500 that says nothing about internals.
 *
 * @example
 * ```ts
 * const problem = toHttpProblem(error);
 * reply.status(problem.status).send(problem.toProblem());
 * ```
 */
export function toHttpProblem(error: unknown, bodyLimit: number): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof CurfewError) {
    switch (error.code) {
      case 'INVALID_ARGUMENT':
        // Library messages start with the field already ("userId: expected …").
        return new HttpProblem(400, 'INVALID_ARGUMENT', error.message, {
          field: error.field ?? 'body',
        });
      case 'STORE_UNAVAILABLE':
        return storeUnavailable();
      case 'SESSION_LIMIT_REACHED':
        // The request was fine; the user's state forbids it until a session ends.
        return new HttpProblem(409, 'SESSION_LIMIT_REACHED', error.message);
      case 'STORE_ERROR':
        // Not an outage: no Retry-After, since retrying will not help.
        return new HttpProblem(
          500,
          'STORE_ERROR',
          'the session store answered with something unexpected; the server log has details',
        );
      default:
        return internal();
    }
  }
  const fastifyError = (
    typeof error === 'object' && error !== null ? error : {}
  ) as FastifyLikeError;
  if (Array.isArray(fastifyError.validation)) {
    return fromValidation(
      fastifyError.validation as AjvIssue[],
      String(fastifyError.validationContext ?? 'body'),
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem(
        413,
        'PAYLOAD_TOO_LARGE',
        `the request body is larger than ${bodyLimit} bytes`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'send the request body as application/json',
      );
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalidArgument('body', 'not well-formed JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidArgument('body', 'empty; expected a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidArgument('body', 'the body size does not match Content-Length');
    case 'FST_ERR_BAD_URL':
      return invalidArgument('path', 'the path is not validly percent-encoded');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return invalidArgument('path', 'a path segment is too long');
    case 'FST_ERR_NOT_FOUND':
      return notFound('route');
  }
  // Any other framework error that Fastify itself marks as the client's fault stays a 4xx,
  // with a generic detail: its message may quote what the client sent.
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return toHttpProblem({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' }, bodyLimit);
    if (status === 415) return toHttpProblem({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }, bodyLimit);
    if (status === 404) return notFound('route');
    return invalidArgument('request', 'the request could not be understood');
  }
  return internal();
}

/** A 503 `STORE_UNAVAILABLE` with `Retry-After`. */
export function storeUnavailable(): HttpProblem {
  return new HttpProblem(503, 'STORE_UNAVAILABLE', 'the session store is not answering', {
    headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
  });
}

function internal(): HttpProblem {
  return new HttpProblem(500, 'INTERNAL', 'an internal error occurred; the server log has details');
}

function fromValidation(issues: AjvIssue[], context: string): HttpProblem {
  const issue = issues[0] ?? {};
  const path = (issue.instancePath ?? '')
    .split('/')
    .filter((part) => part !== '')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  const params = issue.params ?? {};
  if (issue.keyword === 'required' && typeof params.missingProperty === 'string') {
    path.push(params.missingProperty);
  } else if (
    issue.keyword === 'additionalProperties' &&
    typeof params.additionalProperty === 'string'
  ) {
    path.push(params.additionalProperty);
  }
  // The whole body (or query) being the wrong type is reported under the part's own name.
  const field = path.length > 0 ? path.join('.') : context === 'querystring' ? 'query' : context;
  return invalidArgument(field, describeIssue(issue.keyword, params));
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a JSON object',
  array: 'an array',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

/**
 * What a schema keyword asks for, in words a client developer reads without knowing the
 * validator: "expected a string or an integer" rather than Ajv's "must be string,integer".
 */
function describeIssue(keyword: string | undefined, params: Record<string, unknown>): string {
  const limit = params.limit;
  switch (keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known field';
    case 'type': {
      const types = Array.isArray(params.type) ? params.type : String(params.type).split(',');
      return `expected ${types.map((type) => TYPE_NAMES[type] ?? type).join(' or ')}`;
    }
    case 'enum':
      if (!Array.isArray(params.allowedValues)) break;
      return `expected one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `expected ${JSON.stringify(params.allowedValue)}`;
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `expected at least ${limit} characters`;
    case 'maxLength':
      return `expected at most ${limit} characters`;
    case 'minimum':
      return `expected at least ${limit}`;
    case 'maximum':
      return `expected at most ${limit}`;
    case 'minItems':
      return `expected at least ${limit} items`;
    case 'maxItems':
      return `expected at most ${limit} items`;
    case 'pattern':
      return describePattern(String(params.pattern));
    case 'format':
      return params.format === 'date-time'
        ? 'expected an ISO 8601 time with its offset'
        : `expected the ${String(params.format)} format`;
  }
  return 'is not valid';
}

/** `^[a-z0-9_]{1,64}$` reads as "expected 1 to 64 characters from a-z0-9_". */
function describePattern(pattern: string): string {
  const match = /^\^\[([^\]]+)\](?:\{(\d+),(\d+)\}|(\+))\$$/.exec(pattern);
  if (match === null) return `expected the form ${pattern}`;
  const [, characters, min, max] = match;
  return min === undefined
    ? `expected only the characters ${characters}`
    : `expected ${min} to ${max} characters from ${characters}`;
}

/**
 * Writes a problem response: the status, `application/problem+json`, and the problem's own
 * headers (`WWW-Authenticate`, `Retry-After`).
 *
 * @example
 * ```ts
 * return sendProblem(reply, notFound());
 * ```
 */
export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  reply.status(problem.status);
  reply.header('cache-control', 'no-store');
  reply.header('x-request-id', reply.request.id);
  for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  reply.type(PROBLEM_CONTENT_TYPE);
  return reply.send(JSON.stringify(problem.toProblem()));
}
