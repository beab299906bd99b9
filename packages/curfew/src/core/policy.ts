import { AAL_LEVELS, type Aal, isAal } from './assurance.js';
import { type Duration, formatDuration, parseDuration } from './duration.js';
import { CurfewError } from './errors.js';

/**
 * The names of the built-in policies. Each follows NIST SP 800-63B's reauthentication limits
 * for an assurance level, from revision 3 (2017) or revision 4 (2025).
 */
export type PolicyPresetName =
  | 'nist-800-63b-rev3-aal2'
  | 'nist-800-63b-rev3-aal3'
  | 'nist-800-63b-rev4-aal2'
  | 'nist-800-63b-rev4-aal3'
  | 'nist-800-63b-aal1';

/**
 * The two limits of a session: end it this long after its last recorded activity (`null`: no
 * idle limit), and this long after its user authenticated, whatever the activity.
 *
 * @example
 * ```ts
 * const limits: SessionLimits = { idleTimeout: 900_000, absoluteTimeout: 43_200_000 };
 * ```
 */
export interface SessionLimits {
  readonly idleTimeout: number | null;
  readonly absoluteTimeout: number;
}

/**
 * Limits as a caller writes them, for one assurance level.
 *
 * @example
 * ```ts
 * const aal3: LimitOptions = { idleTimeout: '10m', absoluteTimeout: '8h' };
 * ```
 */
export interface LimitOptions {
  /** End a session this long after its last recorded activity; `null` for no idle timeout. */
  idleTimeout?: Duration | null;
  /** End a session this long after its user authenticated, whatever its activity. */
  absoluteTimeout?: Duration;
}

/**
 * A stricter limit for some sessions: those of a tenant, or of an app type. It can only tighten
 * the limits of a session's level, never loosen them.
 *
 * @example
 * ```ts
 * const adminConsole: LimitOverride = { idleTimeout: '5m', absoluteTimeout: '2h' };
 * ```
 */
export interface LimitOverride {
  idleTimeout?: Duration;
  absoluteTimeout?: Duration;
}

/**
 * What a create does when the user already holds `maxSessionsPerUser` valid sessions in that
 * tenant: end the least recently active (end reason `session_limit`), or refuse the new one
 * (`SESSION_LIMIT_REACHED`).
 */
export type SessionLimitAction = 'evict-oldest' | 'refuse';

/**
 * A policy as a caller writes it. Every field is optional: omitted ones come from `preset`
 * (default `nist-800-63b-rev3-aal2`). Each preset defines limits for all three assurance levels;
 * the AAL in its name is the level of a session created without one. A timeout longer than the
 * preset's, or dropping the preset's idle timeout, is refused unless `custom: true`.
 *
 * @example
 * ```ts
 * import { SessionManager, MemoryStore } from 'curfew';
 *
 * // Stricter than AAL2: accepted as is.
 * new SessionManager({ store: new MemoryStore(), policy: { idleTimeout: '15m' } });
 * // Shorter limits for the admin console, at most 5 sessions per user and tenant.
 * new SessionManager({
 *   store: new MemoryStore(),
 *   policy: {
 *     appTypes: { control_panel: { idleTimeout: '10m', absoluteTimeout: '4h' } },
 *     maxSessionsPerUser: 5,
 *   },
 * });
 * // Looser than AAL2: must be marked custom, so the choice shows in review.
 * new SessionManager({
 *   store: new MemoryStore(),
 *   policy: { absoluteTimeout: '7d', custom: true },
 * });
 * ```
 */
export interface PolicyOptions extends LimitOptions {
  /** The preset that supplies defaults and limits. */
  preset?: PolicyPresetName;
  /**
   * Limits by assurance level, replacing the preset's for that level. The top-level
   * `idleTimeout`/`absoluteTimeout` are the limits of the preset's own level; give a level once.
   */
  levels?: Partial<Record<Aal, LimitOptions>>;
  /** Stricter limits for the sessions of some tenants, by tenant id. */
  tenants?: Record<string, LimitOverride>;
  /** Stricter limits for the sessions of some app types (such as `control_panel`). */
  appTypes?: Record<string, LimitOverride>;
  /** At most this many valid sessions per user within a tenant; `null` (default) for no cap. */
  maxSessionsPerUser?: number | null;
  /** What a create does at the cap; default `evict-oldest`. */
  onSessionLimit?: SessionLimitAction;
  /** Warn (`warning: 'absolute'`) when the absolute expiry is this close. */
  absoluteWarning?: Duration;
  /** Warn (`warning: 'idle'`) when the idle expiry is this close. */
  idleWarning?: Duration;
  /**
   * Write `lastActivityAt` only when the stored value is at least this old (0: on every touch).
   * Bounds writes to one per session per interval; the idle timeout may then end a session up
   * to one interval early, never late.
   */
  activityWriteInterval?: Duration;
  /** Keep at most this many UTF-16 code units of a user agent. */
  userAgentMaxLength?: number;
  /** Allow timeouts looser than the preset's. */
  custom?: boolean;
}

/**
 * A checked policy, every duration in milliseconds. Made by {@link resolvePolicy}.
 *
 * @example
 * ```ts
 * import { resolvePolicy } from 'curfew';
 *
 * const policy: Policy = resolvePolicy('nist-800-63b-rev3-aal2');
 * policy.idleTimeout; // 1_800_000
 * policy.levels[3].idleTimeout; // 900_000
 * ```
 */
export interface Policy {
  readonly preset: PolicyPresetName;
  /** The level of a session created without one: the AAL in the preset's name. */
  readonly defaultAal: Aal;
  /** The limits of the default level, as `levels[defaultAal]`. */
  readonly idleTimeout: number | null;
  readonly absoluteTimeout: number;
  readonly levels: Readonly<Record<Aal, SessionLimits>>;
  readonly tenants: Readonly<Record<string, Partial<SessionLimits>>>;
  readonly appTypes: Readonly<Record<string, Partial<SessionLimits>>>;
  readonly maxSessionsPerUser: number | null;
  readonly onSessionLimit: SessionLimitAction;
  readonly absoluteWarning: number;
  readonly idleWarning: number;
  readonly activityWriteInterval: number;
  readonly userAgentMaxLength: number;
  readonly custom: boolean;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// Policies this module made, so that passing one back is a no-op rather than a second check of
// values that are already milliseconds.
const RESOLVED = new WeakSet<object>();

function isResolved(input: object): input is Policy {
  return RESOLVED.has(input);
}

function remember(policy: Policy): Policy {
  RESOLVED.add(policy);
  return policy;
}

const COMMON = {
  tenants: Object.freeze({}),
  appTypes: Object.freeze({}),
  maxSessionsPerUser: null,
  onSessionLimit: 'evict-oldest',
  absoluteWarning: 30 * MINUTE,
  idleWarning: 5 * MINUTE,
  activityWriteInterval: MINUTE,
  userAgentMaxLength: 500,
  custom: false,
} as const;

const limits = (idleTimeout: number | null, absoluteTimeout: number): SessionLimits =>
  Object.freeze({ idleTimeout, absoluteTimeout });

// Revision 3 (2017) §4: AAL1 reauthenticates at least every 30 days; AAL2 after 12 h or 30 min
// idle; AAL3 after 12 h or 15 min idle. Revision 4 (2025) §2: AAL2 after 24 h or 1 h idle.
const REV3_LEVELS = Object.freeze({
  1: limits(null, 30 * DAY),
  2: limits(30 * MINUTE, 12 * HOUR),
  3: limits(15 * MINUTE, 12 * HOUR),
});
const REV4_LEVELS = Object.freeze({
  1: limits(null, 30 * DAY),
  2: limits(HOUR, 24 * HOUR),
  3: limits(15 * MINUTE, 12 * HOUR),
});

/**
 * The built-in presets, as checked policies. Each defines all three levels; the AAL in its name
 * is the default level.
 *
 * | preset | AAL1 idle / absolute | AAL2 | AAL3 |
 * | --- | --- | --- | --- |
 * | `nist-800-63b-rev3-aal2` (default), `…-rev3-aal3` | none / 30 days | 30 min / 12 h | 15 min / 12 h |
 * | `nist-800-63b-rev4-aal2`, `…-rev4-aal3`, `nist-800-63b-aal1` | none / 30 days | 1 h / 24 h | 15 min / 12 h |
 *
 * @example
 * ```ts
 * import { POLICY_PRESETS } from 'curfew';
 *
 * POLICY_PRESETS['nist-800-63b-rev4-aal2'].absoluteTimeout; // 86_400_000
 * ```
 */
export const POLICY_PRESETS: Readonly<Record<PolicyPresetName, Policy>> = Object.freeze({
  'nist-800-63b-rev3-aal2': preset('nist-800-63b-rev3-aal2', REV3_LEVELS, 2),
  'nist-800-63b-rev3-aal3': preset('nist-800-63b-rev3-aal3', REV3_LEVELS, 3),
  'nist-800-63b-rev4-aal2': preset('nist-800-63b-rev4-aal2', REV4_LEVELS, 2),
  'nist-800-63b-rev4-aal3': preset('nist-800-63b-rev4-aal3', REV4_LEVELS, 3),
  'nist-800-63b-aal1': preset('nist-800-63b-aal1', REV4_LEVELS, 1),
});

/** The preset used when none is named. */
export const DEFAULT_POLICY_PRESET: PolicyPresetName = 'nist-800-63b-rev3-aal2';

function preset(
  name: PolicyPresetName,
  levels: Readonly<Record<Aal, SessionLimits>>,
  defaultAal: Aal,
): Policy {
  return remember(
    Object.freeze({
      ...COMMON,
      preset: name,
      defaultAal,
      idleTimeout: levels[defaultAal].idleTimeout,
      absoluteTimeout: levels[defaultAal].absoluteTimeout,
      levels,
    }),
  );
}

/**
 * The limits a session gets: those of its level, tightened by its tenant's and its app type's
 * overrides (the shortest of each applies).
 *
 * @example
 * ```ts
 * import { resolvePolicy, sessionLimits } from 'curfew';
 *
 * const policy = resolvePolicy({ appTypes: { control_panel: { idleTimeout: '10m' } } });
 * sessionLimits(policy, 2, null, 'control_panel'); // { idleTimeout: 600_000, absoluteTimeout: 43_200_000 }
 * ```
 */
export function sessionLimits(
  policy: Policy,
  aal: Aal,
  tenantId: string | null,
  appType: string,
): SessionLimits {
  let { idleTimeout, absoluteTimeout } = policy.levels[aal];
  const overrides = [
    tenantId === null ? undefined : ownValue(policy.tenants, tenantId),
    ownValue(policy.appTypes, appType),
  ];
  for (const override of overrides) {
    if (override === undefined) continue;
    if (override.idleTimeout !== undefined && override.idleTimeout !== null) {
      idleTimeout =
        idleTimeout === null ? override.idleTimeout : Math.min(idleTimeout, override.idleTimeout);
    }
    if (override.absoluteTimeout !== undefined) {
      absoluteTimeout = Math.min(absoluteTimeout, override.absoluteTimeout);
    }
  }
  return { idleTimeout, absoluteTimeout };
}

function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function isPresetName(value: unknown): value is PolicyPresetName {
  return typeof value === 'string' && Object.hasOwn(POLICY_PRESETS, value);
}

function policyError(field: string, message: string): CurfewError {
  return new CurfewError('INVALID_POLICY', `policy.${field}: ${message}`, {
    field: `policy.${field}`,
  });
}

function duration(value: unknown, field: string): number {
  try {
    return parseDuration(value, `policy.${field}`);
  } catch {
    throw policyError(
      field,
      'expected a non-negative whole number of milliseconds or a duration such as "90s", "30m", "12h"',
    );
  }
}

const KNOWN_FIELDS = new Set([
  'preset',
  'idleTimeout',
  'absoluteTimeout',
  'levels',
  'tenants',
  'appTypes',
  'maxSessionsPerUser',
  'onSessionLimit',
  'absoluteWarning',
  'idleWarning',
  'activityWriteInterval',
  'userAgentMaxLength',
  'custom',
]);

const MAX_SESSION_CAP = 10_000;

/**
 * Turns a preset name or a {@link PolicyOptions} object into a checked {@link Policy}.
 *
 * Throws `CurfewError` with code `INVALID_POLICY` for an unknown preset, a malformed field, or
 * a timeout looser than the preset's without `custom: true`; the message names the limit and
 * the preset.
 *
 * @example
 * ```ts
 * import { resolvePolicy } from 'curfew';
 *
 * resolvePolicy({ preset: 'nist-800-63b-rev3-aal3', activityWriteInterval: '30s' });
 * resolvePolicy({ levels: { 3: { idleTimeout: '10m' } }, tenants: { acme: { absoluteTimeout: '8h' } } });
 * resolvePolicy({ idleTimeout: '2h' });
 * // throws INVALID_POLICY: "policy.idleTimeout: 2h is longer than the 30m allowed by
 * //   nist-800-63b-rev3-aal2; set custom: true to allow it"
 * ```
 */
export function resolvePolicy(input: PolicyPresetName | PolicyOptions | Policy = {}): Policy {
  if (typeof input === 'string') {
    if (!isPresetName(input)) throw unknownPreset(input);
    return POLICY_PRESETS[input];
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw policyError('preset', 'expected a preset name or a policy object');
  }
  if (isResolved(input)) return input;
  for (const key of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(key)) throw policyError(key, 'is not a policy field');
  }
  const presetName = input.preset ?? DEFAULT_POLICY_PRESET;
  if (!isPresetName(presetName)) throw unknownPreset(presetName);
  const base = POLICY_PRESETS[presetName];
  if (input.custom !== undefined && typeof input.custom !== 'boolean') {
    throw policyError('custom', 'expected true or false');
  }
  const custom = input.custom === true;

  const levelInput = checkLevelsInput(input.levels);
  if (
    (input.idleTimeout !== undefined || input.absoluteTimeout !== undefined) &&
    levelInput[base.defaultAal] !== undefined
  ) {
    throw policyError(
      `levels.${base.defaultAal}`,
      `the top-level idleTimeout/absoluteTimeout already set AAL${base.defaultAal}'s limits (the level of ${presetName}); give them once`,
    );
  }
  const topLevel = levelInput[base.defaultAal] === undefined;
  if (topLevel) {
    levelInput[base.defaultAal] = {
      ...(input.idleTimeout === undefined ? {} : { idleTimeout: input.idleTimeout }),
      ...(input.absoluteTimeout === undefined ? {} : { absoluteTimeout: input.absoluteTimeout }),
    };
  }
  const levels = {} as Record<Aal, SessionLimits>;
  for (const aal of AAL_LEVELS) {
    const prefix = aal === base.defaultAal && topLevel ? '' : `levels.${aal}.`;
    levels[aal] = checkLevel(
      levelInput[aal] ?? {},
      base.levels[aal],
      prefix,
      presetName,
      aal,
      custom,
    );
  }
  const tenants = checkOverrides(input.tenants, 'tenants');
  const appTypes = checkOverrides(input.appTypes, 'appTypes');

  const absoluteWarning =
    input.absoluteWarning === undefined
      ? base.absoluteWarning
      : duration(input.absoluteWarning, 'absoluteWarning');
  const idleWarning =
    input.idleWarning === undefined ? base.idleWarning : duration(input.idleWarning, 'idleWarning');
  const activityWriteInterval =
    input.activityWriteInterval === undefined
      ? base.activityWriteInterval
      : duration(input.activityWriteInterval, 'activityWriteInterval');
  const userAgentMaxLength = input.userAgentMaxLength ?? base.userAgentMaxLength;
  if (
    !Number.isInteger(userAgentMaxLength) ||
    userAgentMaxLength < 0 ||
    userAgentMaxLength > 8192
  ) {
    throw policyError('userAgentMaxLength', 'expected a whole number from 0 to 8192');
  }
  // Otherwise a user who is active all along could still be timed out for idleness.
  const shortestIdle = Math.min(
    ...[...Object.values(levels), ...Object.values(tenants), ...Object.values(appTypes)].map(
      (limit) => limit.idleTimeout ?? Number.POSITIVE_INFINITY,
    ),
  );
  if (activityWriteInterval >= shortestIdle) {
    throw policyError(
      'activityWriteInterval',
      `${formatDuration(activityWriteInterval)} must be shorter than every idle timeout (the shortest is ${formatDuration(shortestIdle)})`,
    );
  }

  const maxSessionsPerUser = input.maxSessionsPerUser ?? null;
  if (
    maxSessionsPerUser !== null &&
    (!Number.isInteger(maxSessionsPerUser) ||
      maxSessionsPerUser < 1 ||
      maxSessionsPerUser > MAX_SESSION_CAP)
  ) {
    throw policyError(
      'maxSessionsPerUser',
      `expected a whole number from 1 to ${MAX_SESSION_CAP}, or null for no cap`,
    );
  }
  const onSessionLimit = input.onSessionLimit ?? 'evict-oldest';
  if (onSessionLimit !== 'evict-oldest' && onSessionLimit !== 'refuse') {
    throw policyError('onSessionLimit', 'expected "evict-oldest" or "refuse"');
  }

  return remember(
    Object.freeze({
      preset: presetName,
      defaultAal: base.defaultAal,
      idleTimeout: levels[base.defaultAal].idleTimeout,
      absoluteTimeout: levels[base.defaultAal].absoluteTimeout,
      levels: Object.freeze(levels),
      tenants,
      appTypes,
      maxSessionsPerUser,
      onSessionLimit,
      absoluteWarning,
      idleWarning,
      activityWriteInterval,
      userAgentMaxLength,
      custom,
    }),
  );
}

function checkLevelsInput(value: unknown): Partial<Record<Aal, LimitOptions>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw policyError(
      'levels',
      'expected an object keyed by assurance level: { 2: { idleTimeout: "15m" } }',
    );
  }
  const levels: Partial<Record<Aal, LimitOptions>> = {};
  for (const [key, limit] of Object.entries(value)) {
    const aal = Number(key);
    if (!isAal(aal)) throw policyError(`levels.${key}`, 'expected a level of 1, 2 or 3');
    if (typeof limit !== 'object' || limit === null || Array.isArray(limit)) {
      throw policyError(`levels.${key}`, 'expected { idleTimeout?, absoluteTimeout? }');
    }
    levels[aal] = limit as LimitOptions;
  }
  return levels;
}

function checkLevel(
  input: LimitOptions,
  base: SessionLimits,
  prefix: string,
  presetName: PolicyPresetName,
  aal: Aal,
  custom: boolean,
): SessionLimits {
  for (const key of Object.keys(input)) {
    if (key !== 'idleTimeout' && key !== 'absoluteTimeout') {
      throw policyError(
        `${prefix}${key}`,
        'is not a limit: expected idleTimeout or absoluteTimeout',
      );
    }
  }
  const idleTimeout =
    input.idleTimeout === undefined
      ? base.idleTimeout
      : input.idleTimeout === null
        ? null
        : duration(input.idleTimeout, `${prefix}idleTimeout`);
  const absoluteTimeout =
    input.absoluteTimeout === undefined
      ? base.absoluteTimeout
      : duration(input.absoluteTimeout, `${prefix}absoluteTimeout`);
  if (absoluteTimeout <= 0) throw policyError(`${prefix}absoluteTimeout`, 'must be longer than 0');
  if (idleTimeout !== null && idleTimeout <= 0) {
    throw policyError(`${prefix}idleTimeout`, 'must be longer than 0, or null for no idle timeout');
  }
  if (!custom) {
    const name = `${presetName} at AAL${aal}`;
    if (absoluteTimeout > base.absoluteTimeout) {
      throw looser(`${prefix}absoluteTimeout`, absoluteTimeout, base.absoluteTimeout, name);
    }
    if (base.idleTimeout !== null) {
      if (idleTimeout === null) {
        throw policyError(
          `${prefix}idleTimeout`,
          `${name} requires an idle timeout of at most ${formatDuration(base.idleTimeout)}; set custom: true to drop it`,
        );
      }
      if (idleTimeout > base.idleTimeout) {
        throw looser(`${prefix}idleTimeout`, idleTimeout, base.idleTimeout, name);
      }
    }
  }
  return Object.freeze({ idleTimeout, absoluteTimeout });
}

function checkOverrides(
  value: unknown,
  field: 'tenants' | 'appTypes',
): Readonly<Record<string, Partial<SessionLimits>>> {
  const overrides: Record<string, Partial<SessionLimits>> = Object.create(null);
  if (value === undefined) return Object.freeze(overrides);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw policyError(
      field,
      'expected an object: { "<name>": { idleTimeout?, absoluteTimeout? } }',
    );
  }
  for (const [name, override] of Object.entries(value)) {
    const at = `${field}.${name}`;
    if (typeof override !== 'object' || override === null || Array.isArray(override)) {
      throw policyError(at, 'expected { idleTimeout?, absoluteTimeout? }');
    }
    const checked: { idleTimeout?: number; absoluteTimeout?: number } = {};
    for (const [key, limit] of Object.entries(override)) {
      if (key !== 'idleTimeout' && key !== 'absoluteTimeout') {
        throw policyError(
          `${at}.${key}`,
          'is not a limit: expected idleTimeout or absoluteTimeout',
        );
      }
      if (limit === undefined) continue;
      // An override only tightens: "no idle timeout" would loosen, so it is not a value here.
      const ms = duration(limit, `${at}.${key}`);
      if (ms <= 0) throw policyError(`${at}.${key}`, 'must be longer than 0');
      checked[key] = ms;
    }
    overrides[name] = Object.freeze(checked);
  }
  return Object.freeze(overrides);
}

function looser(field: string, value: number, limit: number, presetName: string): CurfewError {
  return policyError(
    field,
    `${formatDuration(value)} is longer than the ${formatDuration(limit)} allowed by ${presetName}; set custom: true to allow it`,
  );
}

function unknownPreset(name: unknown): CurfewError {
  return policyError(
    'preset',
    `unknown preset ${JSON.stringify(String(name)).slice(0, 80)}; expected one of ${Object.keys(POLICY_PRESETS).join(', ')}`,
  );
}
