// The service on every store (memory, SQLite, PostgreSQL, MariaDB, Redis, Redis Cluster), driven
// in lockstep by one script with real, short timeouts: at each step the same request goes to every
// service, each answer is normalised, and every store must answer exactly as the others do, step
// by step (issue 12: "the same answers on every store, in real time").
//
// Time. Nothing here uses a manual clock: each service reads its own clock and the script waits
// with setTimeout. Requests are made on a grid of slots Q = 1 s apart (slot k starts k·Q after the
// run starts), and every limit of the policy sits half a slot off that grid: idle timeout 3.5 Q,
// absolute 8.5 Q, warnings 2 Q (idle) and 4 Q (absolute) before them, activity written at most
// every 0.5 Q. Sessions are created and touched in slots too, so a request made in a slot is about
// Q/2 from every boundary it could cross (an expiry, a warning threshold, a whole second of
// `…SecondsRemaining`, a due activity write), as long as every slot's requests finish within Q/2
// of its start. The answers are then exact, not "equal give or take a few ms"; the summary line
// and any failure message say how long the slowest slot took. (Q = 500 ms also works and halves
// the run, but a busy 2-core machine then leaves too little margin: a slot of eight steps on six
// services took up to 250 ms there.)
//
// What may legitimately differ between stores, and is normalised before comparing: session ids
// and tokens (random) become the script's labels (`<id A>`, `<token D2>`), cursors (opaque)
// become `<cursor>`, and every timestamp becomes the slot it fell in (`@k`), since each service
// reads its own clock a few ms apart from the others. Everything else is compared as it is:
// statuses, `valid`, `reason`, `warning`, remaining seconds, `active`, `endReason`, counts, user,
// tenant and client fields, problem bodies.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMariadbAvailable, TestDatabase } from '../../curfew/test/support/mysql.js';
import {
  dropSchema,
  openPool,
  sharedPostgresAvailable,
  uniqueSchema,
} from '../../curfew/test/support/postgres.js';
import { openRedis, sharedRedisAvailable } from '../../curfew/test/support/redis.js';
import { startRedisCluster } from '../../curfew/test/support/redis-cluster.js';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/serve.js';

/**
 * One slot of the grid, in ms. It must divide 1000, so that `(n + 0.5) · Q` stays Q/2 away from
 * every whole second the API floors remaining times to.
 */
const Q = 1000;
/** `slots` slots as a length of time, for step names. */
const lengthOf = (slots: number) => `${(slots * Q) / 1000} s`;
const POLICY_ENV = {
  CURFEW_IDLE_TIMEOUT: `${3.5 * Q}ms`,
  CURFEW_ABSOLUTE_TIMEOUT: `${8.5 * Q}ms`,
  CURFEW_IDLE_WARNING: `${2 * Q}ms`,
  CURFEW_ABSOLUTE_WARNING: `${4 * Q}ms`,
  CURFEW_ACTIVITY_WRITE_INTERVAL: `${0.5 * Q}ms`,
};
const ADMIN_KEY = 'cross-store-admin-key-0123456789abcdefghij';
const ACME_KEY = 'cross-store-acme-key-0123456789abcdefghijk';
// The service's test db index on the shared Redis is 9 (network-stores.test.ts); this file's is
// 10, flushed before and after, since the service keeps every key under `curfew:` and the sweep
// counts whatever expired in its database.
const REDIS_DB = 10;

const U1 = 'xs-alice';
const U2 = 'xs-bob';
const U3 = 'xs-carol';

// ---------------------------------------------------------------------------------------------
// The engines, each with data of its own, and one service on each.

interface Engine {
  name: string;
  /** The CURFEW_STORE URL. */
  url: string;
  /** Drops whatever the run stored (the service is closed first). */
  drop(): Promise<void>;
}

interface Service {
  engine: string;
  server: RunningServer;
  /** Tokens and ids by script label (`A`, `D2`). */
  tokens: Map<string, string>;
  ids: Map<string, string>;
  /** Placeholders by token or id, for the normaliser. */
  placeholders: Map<string, string>;
  /** Cursors by the name of the page that answered them. */
  cursors: Map<string, string>;
}

interface Answer {
  status: number;
  body: unknown;
}

const engines: Engine[] = [];
const services: Service[] = [];
let dir: string;

const [postgresUp, mariadbUp, redisUp] = await Promise.all([
  sharedPostgresAvailable(),
  sharedMariadbAvailable(),
  sharedRedisAvailable(),
]);

async function provisionEngines(): Promise<void> {
  engines.push({ name: 'memory', url: 'memory:', drop: async () => {} });
  // The database file goes with `dir`, removed after every engine is dropped.
  engines.push({ name: 'sqlite', url: `sqlite:${join(dir, 'sessions.db')}`, drop: async () => {} });
  if (postgresUp) {
    const pool = openPool({ max: 1 });
    const schema = uniqueSchema('curfew_xs');
    await pool.query(`CREATE SCHEMA "${schema}"`);
    engines.push({
      name: 'postgres',
      url: `postgres://postgres@127.0.0.1:5432/test?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      drop: async () => {
        try {
          await dropSchema(pool, schema);
        } finally {
          await pool.end();
        }
      },
    });
  }
  if (mariadbUp) {
    const database = await TestDatabase.create('curfew_xs');
    engines.push({
      name: 'mariadb',
      url: `mysql://root@127.0.0.1:3306/${database.name}`,
      drop: () => database.drop(),
    });
  }
  if (redisUp) {
    const client = await openRedis({ db: REDIS_DB });
    await client.flushdb();
    engines.push({
      name: 'redis',
      url: `redis://127.0.0.1:6379/${REDIS_DB}`,
      drop: async () => {
        try {
          await client.flushdb();
        } finally {
          client.disconnect();
        }
      },
    });
  }
  // Private redis-servers, as in network-stores.test.ts: no shared server to skip on.
  const cluster = await startRedisCluster(3);
  engines.push({
    name: 'redis-cluster',
    url: `redis+cluster://${cluster.ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    drop: () => cluster.stop(),
  });
}

function envFor(store: string): NodeJS.ProcessEnv {
  return {
    CURFEW_STORE: store,
    CURFEW_API_KEYS: `ops:${ADMIN_KEY}:*,acme:${ACME_KEY}:acme`,
    CURFEW_API_KEYS_FILE: join(dir, 'no-key-file'),
    CURFEW_PORT: '0',
    // No timer: a sweep at a random moment would make the stores' answers differ.
    CURFEW_SWEEP_INTERVAL: '0',
    CURFEW_LOG_LEVEL: 'silent',
    ...POLICY_ENV,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'curfew-cross-store-'));
  await provisionEngines();
  for (const engine of engines) {
    const server = await startServer(loadConfig(envFor(engine.url)), { write: () => {} });
    services.push({
      engine: engine.name,
      server,
      tokens: new Map(),
      ids: new Map(),
      placeholders: new Map(),
      cursors: new Map(),
    });
  }
}, 60_000);

afterAll(async () => {
  const closed = await Promise.allSettled(services.map((service) => service.server.close()));
  const dropped = await Promise.allSettled(engines.map((engine) => engine.drop()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  const failed = [...closed, ...dropped].filter((outcome) => outcome.status === 'rejected');
  if (failed.length > 0) throw (failed[0] as PromiseRejectedResult).reason;
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Requests, and what a step sends.

async function send(
  service: Service,
  method: string,
  path: string,
  body?: unknown,
  key = ADMIN_KEY,
): Promise<Answer> {
  const response = await fetch(`${service.server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : JSON.parse(text) };
}

type Action = (service: Service) => Promise<Answer>;

/** A token the script never issued: it is well formed, so it reaches the store. */
const tokenOf = (service: Service, label: string) =>
  service.tokens.get(label) ?? `never-issued-${label}`.padEnd(43, 'x');
const idOf = (service: Service, label: string) =>
  service.ids.get(label) ?? '00000000-0000-4000-8000-000000000000';

function remember(service: Service, label: string, answer: Answer, sameIdAs = label): void {
  const body = answer.body as { token?: string; session?: { id?: string } } | null;
  if (typeof body?.token !== 'string' || typeof body.session?.id !== 'string') return;
  service.tokens.set(label, body.token);
  service.placeholders.set(body.token, `<token ${label}>`);
  if (!service.ids.has(sameIdAs)) {
    service.ids.set(sameIdAs, body.session.id);
    service.placeholders.set(body.session.id, `<id ${sameIdAs}>`);
  }
}

const create =
  (label: string, body: Record<string, unknown>): Action =>
  async (service) => {
    const answer = await send(service, 'POST', '/v1/sessions', body);
    remember(service, label, answer);
    return answer;
  };

const validate =
  (label: string, touch?: boolean, key?: string): Action =>
  (service) =>
    send(
      service,
      'POST',
      '/v1/sessions/validate',
      touch === undefined
        ? { token: tokenOf(service, label) }
        : { token: tokenOf(service, label), touch },
      key,
    );

const touch =
  (label: string): Action =>
  (service) =>
    send(service, 'POST', '/v1/sessions/touch', { token: tokenOf(service, label) });

const logout =
  (label: string): Action =>
  (service) =>
    send(service, 'POST', '/v1/sessions/revoke', { token: tokenOf(service, label) });

/** Rotates the token labelled `label`; the new token is labelled `newLabel`, the id stays. */
const rotate =
  (label: string, newLabel?: string): Action =>
  async (service) => {
    const answer = await send(service, 'POST', '/v1/sessions/rotate', {
      token: tokenOf(service, label),
    });
    if (newLabel !== undefined) remember(service, newLabel, answer, label);
    return answer;
  };

const getById =
  (label: string): Action =>
  (service) =>
    send(service, 'GET', `/v1/sessions/${idOf(service, label)}`);

const deleteById =
  (label: string): Action =>
  (service) =>
    send(service, 'DELETE', `/v1/sessions/${idOf(service, label)}`);

/** One page of a user's sessions; `after` names the page whose cursor to follow. */
const list =
  (userId: string, page: { name: string; limit: number; after?: string; key?: string }): Action =>
  async (service) => {
    const query = new URLSearchParams({ limit: String(page.limit) });
    if (page.after !== undefined) {
      query.set('cursor', service.cursors.get(page.after) ?? 'no-cursor-answered');
    }
    const answer = await send(
      service,
      'GET',
      `/v1/users/${encodeURIComponent(userId)}/sessions?${query}`,
      undefined,
      page.key,
    );
    const next = (answer.body as { nextCursor?: unknown } | null)?.nextCursor;
    if (typeof next === 'string') service.cursors.set(page.name, next);
    return answer;
  };

const revokeAll =
  (userId: string): Action =>
  (service) =>
    send(service, 'POST', `/v1/users/${encodeURIComponent(userId)}/sessions/revoke`, {});

const sweep: Action = (service) => send(service, 'POST', '/v1/sweep');

// ---------------------------------------------------------------------------------------------
// What the answers should be, for the steps that check more than agreement.

/** Whole seconds left, as the API floors them, `slots` (always x.5) slots before a limit. */
const seconds = (slots: number) => Math.floor((slots * Q) / 1000);

/** A valid answer with `idle` and `absolute` slots left (after any activity write). */
function valid(idle: number, absolute: number, warning: 'idle' | 'absolute' | null) {
  return {
    status: 200,
    body: {
      valid: true,
      secondsRemaining: seconds(Math.min(idle, absolute)),
      idleSecondsRemaining: seconds(idle),
      absoluteSecondsRemaining: seconds(absolute),
      warning,
    },
  };
}

const invalid = (reason: 'not_found' | 'idle' | 'absolute') => ({
  status: 200,
  body: { valid: false, reason },
});

const ended = (label: string, endReason: string, endedIn: number) => ({
  status: 200,
  body: { id: `<id ${label}>`, active: false, endReason, endedAt: `@${endedIn}` },
});

const page = (labels: string[], more: boolean) => ({
  status: 200,
  body: {
    sessions: labels.map((label) => ({ id: `<id ${label}>`, active: true })),
    nextCursor: more ? '<cursor>' : null,
  },
});

// ---------------------------------------------------------------------------------------------
// The script. Sessions (created in slot 0 unless said otherwise):
//   A  U1, kept active past its first idle limit until its absolute expiry (slot 8.5), then
//      validated 0.5 and 2.5 slots after it
//   B  U1, left alone: idles out at slot 3.5, and is validated again long after
//   C  U1, tenant acme: logged out in slot 3
//   D  U2, tenant acme, created in slot 1: rotated to D2 in slot 3, signed out everywhere in slot 5
//   E  U2, created in slot 1, left alone: expired (idle, slot 4.5) when U2 is signed out everywhere
//   F  U2, created in slot 3: signed out everywhere in slot 5
//   G  U3, created in slot 5, left alone: idles out at slot 8.5 (before its absolute expiry at
//      13.5), first looked at by the sweep in slot 12
//   H  U3, kept active until its absolute expiry, first looked at by the sweep in slot 12
//   J  U3, kept active until its absolute expiry, first looked at by a validation 2.5 slots after it
//   K  U3, created in slot 2, left alone: idles out at slot 5.5, first looked at by a validation
//      2.5 slots after it
//      (the issue's Redis case: Redis's own clock is then past the expiry)

interface Step {
  slot: number;
  name: string;
  action: Action;
  /** Matched (toMatchObject) against every store's normalised answer. */
  expected?: object;
}

const touched = { status: 200, body: { touched: true } };

/** `valid(…)` with the session's last activity in slot `at`, after a validation that wrote it. */
const validTouched = (
  idle: number,
  absolute: number,
  warning: 'idle' | 'absolute' | null,
  at: number,
) => {
  const answer = valid(idle, absolute, warning);
  return { ...answer, body: { ...answer.body, session: { lastActivityAt: `@${at}` } } };
};

const script: Step[] = [
  {
    slot: 0,
    name: 'create A (U1)',
    action: create('A', { userId: U1, userAgent: 'cross-store/1.0', ipAddress: '203.0.113.7' }),
    expected: {
      status: 201,
      body: {
        token: '<token A>',
        session: {
          id: '<id A>',
          userId: U1,
          tenantId: null,
          appType: 'control_panel',
          ipAddress: '203.0.113.7',
          userAgent: 'cross-store/1.0',
          createdAt: '@0',
          lastActivityAt: '@0',
          absoluteExpiresAt: '@8',
          idleTimeoutSeconds: 3,
          aal: 2,
          methods: [],
          authenticatedAt: '@0',
          active: true,
          endedAt: null,
          endReason: null,
        },
      },
    },
  },
  { slot: 0, name: 'create B (U1)', action: create('B', { userId: U1 }) },
  {
    slot: 0,
    name: 'create C (U1, tenant acme)',
    action: create('C', { userId: U1, tenantId: 'acme', appType: 'mobile' }),
    expected: { status: 201, body: { session: { tenantId: 'acme', appType: 'mobile' } } },
  },
  { slot: 0, name: 'create H (U3)', action: create('H', { userId: U3 }) },
  { slot: 0, name: 'create J (U3)', action: create('J', { userId: U3 }) },
  {
    slot: 0,
    name: 'validate A, touch false',
    action: validate('A', false),
    expected: valid(3.5, 8.5, null),
  },

  {
    slot: 1,
    name: 'create D (U2, tenant acme)',
    action: create('D', { userId: U2, tenantId: 'acme' }),
  },
  { slot: 1, name: 'create E (U2)', action: create('E', { userId: U2 }) },
  { slot: 1, name: 'validate A', action: validate('A'), expected: validTouched(3.5, 7.5, null, 1) },
  {
    slot: 1,
    name: 'validate B, touch false',
    action: validate('B', false),
    expected: valid(2.5, 7.5, null),
  },
  {
    slot: 1,
    name: 'list U1, limit 2',
    action: list(U1, { name: 'U1 first', limit: 2 }),
    expected: page(['A', 'C'], true),
  },
  {
    slot: 1,
    name: 'list U1, limit 2, next page',
    action: list(U1, { name: 'U1 second', limit: 2, after: 'U1 first' }),
    expected: page(['B'], false),
  },
  { slot: 1, name: 'touch H', action: touch('H'), expected: touched },
  { slot: 1, name: 'touch J', action: touch('J'), expected: touched },

  {
    slot: 2,
    name: 'validate B, touch false (idle warning)',
    action: validate('B', false),
    expected: valid(1.5, 6.5, 'idle'),
  },
  { slot: 2, name: 'touch A', action: touch('A'), expected: touched },
  { slot: 2, name: 'create K (U3)', action: create('K', { userId: U3 }) },
  { slot: 2, name: 'validate D', action: validate('D'), expected: valid(3.5, 7.5, null) },
  {
    slot: 2,
    name: 'list U1 with the acme key',
    action: list(U1, { name: 'U1 acme', limit: 2, key: ACME_KEY }),
    expected: page(['C'], false),
  },
  {
    slot: 2,
    name: 'validate A with the acme key, touch false',
    action: validate('A', false, ACME_KEY),
    expected: invalid('not_found'),
  },

  { slot: 3, name: 'create F (U2)', action: create('F', { userId: U2 }) },
  { slot: 3, name: 'validate C', action: validate('C'), expected: valid(3.5, 5.5, null) },
  {
    slot: 3,
    name: 'logout C',
    action: logout('C'),
    expected: { status: 200, body: { revoked: true } },
  },
  {
    slot: 3,
    name: 'validate C after logout',
    action: validate('C'),
    expected: invalid('not_found'),
  },
  {
    slot: 3,
    name: 'rotate D to D2',
    action: rotate('D', 'D2'),
    expected: {
      status: 200,
      body: {
        token: '<token D2>',
        session: { id: '<id D>', active: true, absoluteExpiresAt: '@9' },
      },
    },
  },
  {
    slot: 3,
    name: 'validate D (old token)',
    action: validate('D'),
    expected: invalid('not_found'),
  },

  { slot: 4, name: 'validate D2', action: validate('D2'), expected: valid(3.5, 5.5, null) },
  {
    slot: 4,
    name: 'rotate D (old token) again',
    action: rotate('D'),
    expected: { status: 404, body: { code: 'NOT_FOUND' } },
  },
  { slot: 4, name: 'validate B (idle out)', action: validate('B'), expected: invalid('idle') },
  {
    slot: 4,
    name: 'validate A (past its first idle limit)',
    action: validate('A'),
    expected: validTouched(3.5, 4.5, null, 4),
  },
  { slot: 4, name: 'touch H', action: touch('H'), expected: touched },
  { slot: 4, name: 'touch J', action: touch('J'), expected: touched },
  { slot: 4, name: 'get B', action: getById('B'), expected: ended('B', 'idle_timeout', 3) },

  {
    slot: 5,
    name: 'validate A, touch false (absolute warning)',
    action: validate('A', false),
    expected: valid(2.5, 3.5, 'absolute'),
  },
  {
    slot: 5,
    name: 'sign U2 out everywhere',
    action: revokeAll(U2),
    expected: { status: 200, body: { revoked: 2 } },
  },
  {
    slot: 5,
    name: 'validate D2 after sign-out',
    action: validate('D2'),
    expected: invalid('not_found'),
  },
  {
    slot: 5,
    name: 'validate F after sign-out',
    action: validate('F'),
    expected: invalid('not_found'),
  },
  { slot: 5, name: 'validate E after sign-out', action: validate('E'), expected: invalid('idle') },
  { slot: 5, name: 'create G (U3)', action: create('G', { userId: U3 }) },

  { slot: 6, name: 'validate B (still idle)', action: validate('B'), expected: invalid('idle') },
  {
    slot: 6,
    name: 'validate A',
    action: validate('A'),
    expected: validTouched(3.5, 2.5, 'absolute', 6),
  },
  { slot: 6, name: 'touch H', action: touch('H'), expected: touched },
  { slot: 6, name: 'touch J', action: touch('J'), expected: touched },
  {
    slot: 6,
    name: 'list U1, limit 2, again',
    action: list(U1, { name: 'U1 later', limit: 2 }),
    expected: page(['A'], false),
  },

  {
    slot: 7,
    name: 'validate A',
    action: validate('A'),
    expected: validTouched(3.5, 1.5, 'absolute', 7),
  },

  {
    slot: 8,
    name: 'validate A, touch false (its last valid slot)',
    action: validate('A', false),
    expected: valid(2.5, 0.5, 'absolute'),
  },
  { slot: 8, name: 'touch H', action: touch('H'), expected: touched },
  { slot: 8, name: 'touch J', action: touch('J'), expected: touched },
  {
    slot: 8,
    name: `validate K (first look, ${lengthOf(2.5)} after its idle expiry)`,
    action: validate('K'),
    expected: invalid('idle'),
  },

  {
    slot: 9,
    name: 'validate A (absolute out)',
    action: validate('A'),
    expected: invalid('absolute'),
  },
  { slot: 9, name: 'get A', action: getById('A'), expected: ended('A', 'absolute_timeout', 8) },

  {
    slot: 10,
    name: `validate B (${lengthOf(6.5)} after its idle expiry)`,
    action: validate('B'),
    expected: invalid('idle'),
  },

  // Over a second past the absolute expiry of A, H and J: Redis used to answer not_found here.
  {
    slot: 11,
    name: `validate J (first look, ${lengthOf(2.5)} after its absolute expiry)`,
    action: validate('J'),
    expected: invalid('absolute'),
  },
  {
    slot: 11,
    name: `validate A (again, ${lengthOf(2.5)} after its absolute expiry)`,
    action: validate('A'),
    expected: invalid('absolute'),
  },
  // The sweep in a slot of its own: it and what follows need no precision, and the slot before
  // stays short.
  {
    slot: 12,
    name: 'sweep',
    action: sweep,
    expected: { status: 200, body: { absolute: 1, idle: 1 } },
  },
  {
    slot: 12,
    name: 'sweep again',
    action: sweep,
    expected: { status: 200, body: { absolute: 0, idle: 0 } },
  },
  { slot: 12, name: 'validate G (swept)', action: validate('G'), expected: invalid('idle') },
  {
    slot: 12,
    name: 'validate H (swept)',
    action: validate('H'),
    expected: invalid('absolute'),
  },
  {
    slot: 12,
    name: 'list U3',
    action: list(U3, { name: 'U3', limit: 2 }),
    expected: page([], false),
  },

  // Every session has ended: what follows does not depend on the time.
  { slot: 13, name: 'get A', action: getById('A'), expected: ended('A', 'absolute_timeout', 8) },
  { slot: 13, name: 'get B', action: getById('B'), expected: ended('B', 'idle_timeout', 3) },
  { slot: 13, name: 'get C', action: getById('C'), expected: ended('C', 'logout', 3) },
  { slot: 13, name: 'get D', action: getById('D'), expected: ended('D', 'password_change', 5) },
  { slot: 13, name: 'get E', action: getById('E'), expected: ended('E', 'idle_timeout', 4) },
  { slot: 13, name: 'get F', action: getById('F'), expected: ended('F', 'password_change', 5) },
  { slot: 13, name: 'get G', action: getById('G'), expected: ended('G', 'idle_timeout', 8) },
  { slot: 13, name: 'get H', action: getById('H'), expected: ended('H', 'absolute_timeout', 8) },
  { slot: 13, name: 'get J', action: getById('J'), expected: ended('J', 'absolute_timeout', 8) },
  { slot: 13, name: 'get K', action: getById('K'), expected: ended('K', 'idle_timeout', 5) },
  {
    slot: 13,
    name: 'end G by id (already ended)',
    action: deleteById('G'),
    expected: { status: 200, body: { revoked: false } },
  },
  {
    slot: 13,
    name: 'list U1, limit 2, at the end',
    action: list(U1, { name: 'U1 end', limit: 2 }),
    expected: page([], false),
  },
];

// ---------------------------------------------------------------------------------------------
// Running it.

const TIMES = new Set([
  'createdAt',
  'lastActivityAt',
  'authenticatedAt',
  'absoluteExpiresAt',
  'endedAt',
  'serverTime',
]);

/** An answer with what may differ between stores replaced by placeholders (see the top). */
function normalise(value: unknown, service: Service, start: number, key?: string): unknown {
  if (Array.isArray(value)) return value.map((item) => normalise(item, service, start));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([name, item]) => [name, normalise(item, service, start, name)]),
    );
  }
  if (typeof value !== 'string') return value;
  if (key !== undefined && TIMES.has(key)) {
    const at = Date.parse(value);
    return Number.isNaN(at) ? value : `@${Math.floor((at - start) / Q)}`;
  }
  if (key === 'nextCursor') return '<cursor>';
  return service.placeholders.get(value) ?? value;
}

/** A step's row in the table: its number, its slot and its name. */
const labelOf = (index: number, step: Step) =>
  `${String(index + 1).padStart(2, '0')} @${step.slot} ${step.name}`;

async function until(time: number): Promise<void> {
  for (let wait = time - Date.now(); wait > 0; wait = time - Date.now()) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

describe('every store, through the service, in real time', () => {
  it('answers every step of the script exactly as every other store does', async () => {
    expect(loadConfig(envFor('memory:')).policy).toMatchObject({
      idleTimeout: 3.5 * Q,
      absoluteTimeout: 8.5 * Q,
      idleWarning: 2 * Q,
      absoluteWarning: 4 * Q,
      activityWriteInterval: 0.5 * Q,
    });
    // Connections, pools and code paths warmed first, so that slot 0 is not the slow one. Only
    // reads: a session made here would expire during the run and change the sweep's counts.
    for (let round = 0; round < 3; round += 1) {
      await Promise.all(
        services.map(async (service) => {
          await send(service, 'POST', '/v1/sessions/validate', { token: 'w'.repeat(43) });
          await send(service, 'GET', '/v1/users/xs-warm-up/sessions?limit=2');
          await send(service, 'GET', '/v1/sessions/00000000-0000-4000-8000-000000000000');
        }),
      );
    }
    const names = services.map((service) => service.engine);
    const table = new Map<string, Map<string, unknown>>();
    /** By slot: how long after the slot began its last request was answered. */
    const lateness = new Map<number, number>();
    const start = Date.now() + 20;
    for (const [index, step] of script.entries()) {
      const slotStart = start + step.slot * Q;
      await until(slotStart);
      const answers = await Promise.all(
        services.map(async (service) => {
          try {
            return normalise(await step.action(service), service, start);
          } catch (error) {
            return { failed: error instanceof Error ? error.message : String(error) };
          }
        }),
      );
      lateness.set(step.slot, Math.max(lateness.get(step.slot) ?? 0, Date.now() - slotStart));
      const label = labelOf(index, step);
      table.set(label, new Map(names.map((name, i) => [name, answers[i]])));
      // Sessions created one after another must not share a millisecond: the list's tie-break
      // is the random id, which would order them differently on each store.
      if (step.name.startsWith('create')) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const slowest = Math.max(...lateness.values());
    const timing = `the slowest slot took ${slowest} ms; answers are exact while each takes < ${Q / 2} ms`;
    console.info(
      `cross-store: ${script.length} steps on ${names.join(', ')}; ms taken by slot: ` +
        `${[...lateness].map(([slot, late]) => `${slot}:${late}`).join(' ')} (exact below ${Q / 2})`,
    );
    if (process.env.CURFEW_CROSS_STORE_TABLE) {
      for (const [label, row] of table) {
        console.info(label);
        for (const [name, answer] of row)
          console.info(`  ${name.padEnd(13)} ${JSON.stringify(answer)}`);
      }
    }

    // One answer per step, the same on every store. A step where they differ shows each answer
    // once, under the stores that gave it.
    const differences = [...table]
      .map(([label, row]) => {
        const groups: { stores: string[]; answer: unknown }[] = [];
        for (const [name, answer] of row) {
          const group = groups.find((known) => isDeepStrictEqual(known.answer, answer));
          if (group === undefined) groups.push({ stores: [name], answer });
          else group.stores.push(name);
        }
        return { label, groups };
      })
      .filter(({ groups }) => groups.length > 1)
      .map(({ label, groups }) => ({
        step: label,
        answers: Object.fromEntries(
          groups.map(({ stores, answer }) => [stores.join(', '), answer]),
        ),
      }));
    expect.soft(differences, `stores answered differently (${timing})`).toEqual([]);

    // And the answers are the ones the script means to provoke, on every store.
    for (const [index, step] of script.entries()) {
      if (step.expected === undefined) continue;
      const label = labelOf(index, step);
      for (const [name, answer] of table.get(label)!) {
        expect.soft(answer, `${label} on ${name} (${timing})`).toMatchObject(step.expected);
      }
    }
  }, 60_000);
});
