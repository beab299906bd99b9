import type { FastifyRequest } from 'fastify';
import type { ApiKeyring } from '../api-keys.js';
import { HttpProblem } from './problems.js';
import type { RouteAccess } from './route.js';

const CHALLENGE = 'Bearer realm="curfew"';

/**
 * Builds the `onRequest` hook that checks `Authorization: Bearer <key>`. It runs before the body
 * is read, so a caller without a key cannot make the service parse anything.
 *
 * @example
 * ```ts
 * app.route({ method: 'POST', url: '/v1/sweep', onRequest: authenticate(keys, 'admin'), handler });
 * ```
 */
export function authenticate(
  keys: ApiKeyring,
  access: Exclude<RouteAccess, 'public'>,
): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const presented = bearerToken(request.headers.authorization);
    if (presented === null) {
      throw new HttpProblem(
        401,
        'UNAUTHENTICATED',
        'send an API key as Authorization: Bearer <key>',
        { headers: { 'www-authenticate': CHALLENGE } },
      );
    }
    const caller = keys.authenticate(presented);
    if (caller === null) {
      throw new HttpProblem(401, 'UNAUTHENTICATED', 'the API key is not valid', {
        headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` },
      });
    }
    if (access === 'admin' && caller.tenantId !== null) {
      throw new HttpProblem(403, 'FORBIDDEN', 'this operation needs an admin API key');
    }
    request.caller = caller;
  };
}

function bearerToken(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  // RFC 7235: the scheme is case-insensitive.
  const match = /^bearer +(\S+) *$/i.exec(header);
  return match === null ? null : match[1]!;
}
