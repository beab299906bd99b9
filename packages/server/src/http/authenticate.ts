import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ApiKeyring, scopeAllows } from '../api-keys.js';
import type { RateLimiter } from '../rate-limit.js';
import { HttpProblem } from './problems.js';
import type { RouteAccess } from './route.js';

const CHALLENGE = 'Bearer realm="curfew"';

/**
 * Builds the `onRequest` hook that checks `Authorization: Bearer <key>`, the key's scope and, given
 * a limiter, its request budget (429 with `Retry-After` when spent). It runs before the body is
 * read, so a caller without a key, or over its budget, cannot make the service parse anything.
 *
 * @example
 * ```ts
 * app.route({ method: 'POST', url: '/v1/sweep', onRequest: authenticate(keys, 'admin', undefined, Date.now), handler });
 * ```
 */
export function authenticate(
  keys: ApiKeyring,
  access: Exclude<RouteAccess, 'public'>,
  limiter: RateLimiter | undefined,
  now: () => number,
): (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void {
  // Callback style: it runs on every request, and an async hook costs a promise each time.
  return (request, _reply, done) => {
    const presented = bearerToken(request.headers.authorization);
    if (presented === null) {
      done(
        new HttpProblem(401, 'UNAUTHENTICATED', 'send an API key as Authorization: Bearer <key>', {
          headers: { 'www-authenticate': CHALLENGE },
        }),
      );
      return;
    }
    const caller = keys.authenticate(presented, now());
    if (caller === null) {
      done(
        new HttpProblem(401, 'UNAUTHENTICATED', 'the API key is not valid', {
          headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` },
        }),
      );
      return;
    }
    if (!scopeAllows(caller.scope, access)) {
      done(
        new HttpProblem(
          403,
          'FORBIDDEN',
          access === 'admin'
            ? 'this operation needs an admin API key'
            : `this operation needs an API key with scope ${access === 'validate' ? 'validate, sessions' : access} or admin`,
        ),
      );
      return;
    }
    if (limiter !== undefined) {
      const wait = limiter.take(caller.name);
      if (wait > 0) {
        done(
          new HttpProblem(
            429,
            'RATE_LIMITED',
            `this API key's request budget is spent; retry later`,
            {
              headers: { 'retry-after': String(Math.ceil(wait / 1000)) },
            },
          ),
        );
        return;
      }
    }
    request.caller = caller;
    done();
  };
}

function bearerToken(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  // RFC 7235: the scheme is case-insensitive.
  const match = /^bearer +(\S+) *$/i.exec(header);
  return match === null ? null : match[1]!;
}
