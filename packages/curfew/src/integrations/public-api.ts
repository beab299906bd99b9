// What every framework's subpath (`curfew/express`, `curfew/fastify`, `curfew/hono`) re-exports
// beside its own middleware, so a user imports carriers and types from the one place they use.
export type {
  CarrierHeader,
  CarrierIssue,
  CarrierReadResult,
  CarrierRequest,
  SessionCarrier,
} from '../carriers/carrier.js';
export {
  type ClearSiteDataType,
  type CookieCarrierOptions,
  createCookieCarrier,
  DEFAULT_COOKIE_NAME,
} from '../carriers/cookie.js';
export {
  aalAcrValue,
  type EndSessionOptions,
  PROBLEM_CONTENT_TYPE,
  type RequestSession,
  SESSION_HEADERS,
  type SessionIntegrationOptions,
  type SessionProblem,
  type SessionRefusal,
  type SessionRouteOptions,
  type SessionStatus,
  type StartedSession,
  sessionStatus,
} from './session-flow.js';
