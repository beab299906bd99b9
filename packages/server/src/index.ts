/**
 * curfew as a service: the HTTP API (Fastify) and the pieces `curfew serve` is made of, for those
 * who embed the service in their own process or test against it.
 *
 * @example
 * ```ts
 * import { MemoryStore, SessionManager } from 'curfew';
 * import { ApiKeyring, buildApp, hashApiKey } from '@curfew/server';
 *
 * const app = buildApp({
 *   manager: new SessionManager({ store: new MemoryStore() }),
 *   keys: new ApiKeyring([
 *     { name: 'dev', tenantId: null, scope: 'admin', sha256: hashApiKey(process.env.KEY!) },
 *   ]),
 * });
 * await app.listen({ host: '127.0.0.1', port: 8080 });
 * ```
 * @packageDocumentation
 */
export {
  API_KEY_SCOPES,
  type ApiCaller,
  type ApiKey,
  ApiKeyError,
  ApiKeyring,
  type ApiKeyScope,
  checkKeyStrength,
  formatApiKeyLine,
  generateApiKey,
  hashApiKey,
  parseApiKeyFile,
  parseApiKeyList,
  parseApiKeyRecord,
  scopeAllows,
} from './api-keys.js';
export { BODY_LIMIT, type BuildAppOptions, buildApp } from './http/app.js';
export type { Problem, ProblemCode } from './http/problems.js';
export { instrumentStore } from './instrument-store.js';
export { createApiKey, revokeApiKey, rotateApiKey } from './key-lifecycle.js';
export type { KeyStore, StoredApiKey } from './key-store.js';
export { FileKeyStore, readApiKeyFile, writeApiKeyFile } from './key-stores/file-key-store.js';
export { RedisKeyStore } from './key-stores/redis-key-store.js';
export { mysqlQueries, postgresQueries, SqlKeyStore } from './key-stores/sql-key-store.js';
export { createLogger, LOG_LEVELS } from './logger.js';
export { METRICS_CONTENT_TYPE, Metrics } from './metrics.js';
