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
 * A policy as a caller writes it. Every field is optional: omitted ones come from `preset`
 * (default `nist-800-63b-rev3-aal2`). A timeout longer than the preset's, or dropping the
 * preset's idle timeout, is refused unless `custom: true`.
 *
 * @example
 * ```ts
 * import { SessionManager, MemoryStore } from 'curfew';
 *
 * // Stricter than AAL2: accepted as is.
 * new SessionManager({ store: new MemoryStore(), policy: { idleTimeout: '15m' } });
 * // Looser than AAL2: must be marked custom, so the choice shows in review.
 * new SessionManager({
 *   store: new MemoryStore(),
 *   policy: { absoluteTimeout: '7d', custom: true },
 * });
 * ```
 */
export interface PolicyOptions {
  /** The preset that supplies defaults and limits. */
  preset?: PolicyPresetName;
  /** End a session this long after its last recorded activity; `null` for no idle timeout. */
  idleTimeout?: Duration | null;
  /** End a session this long after it was created, whatever its activity. */
  absoluteTimeout?: Duration;
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
 * ```
 */
export interface Policy {
  readonly preset: PolicyPresetName;
  readonly idleTimeout: number | null;
  readonly absoluteTimeout: number;
  readonly absoluteWarning: number;
  readonly idleWarning: number;
  readonly activityWriteInterval: number;
  readonly userAgentMaxLength: number;
  readonly custom: boolean;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const COMMON = {
  absoluteWarning: 30 * MINUTE,
  idleWarning: 5 * MINUTE,
  activityWriteInterval: MINUTE,
  userAgentMaxLength: 500,
  custom: false,
} as const;

/**
 * The built-in presets, as checked policies.
 *
 * | preset | idle | absolute |
 * | --- | --- | --- |
 * | `nist-800-63b-rev3-aal2` (default) | 30 min | 12 h |
 * | `nist-800-63b-rev3-aal3` | 15 min | 12 h |
 * | `nist-800-63b-rev4-aal2` | 1 h | 24 h |
 * | `nist-800-63b-rev4-aal3` | 15 min | 12 h |
 * | `nist-800-63b-aal1` | none | 30 days |
 *
 * @example
 * ```ts
 * import { POLICY_PRESETS } from 'curfew';
 *
 * POLICY_PRESETS['nist-800-63b-rev4-aal2'].absoluteTimeout; // 86_400_000
 * ```
 */
export const POLICY_PRESETS: Readonly<Record<PolicyPresetName, Policy>> = Object.freeze({
  'nist-800-63b-rev3-aal2': preset('nist-800-63b-rev3-aal2', 30 * MINUTE, 12 * HOUR),
  'nist-800-63b-rev3-aal3': preset('nist-800-63b-rev3-aal3', 15 * MINUTE, 12 * HOUR),
  'nist-800-63b-rev4-aal2': preset('nist-800-63b-rev4-aal2', HOUR, 24 * HOUR),
  'nist-800-63b-rev4-aal3': preset('nist-800-63b-rev4-aal3', 15 * MINUTE, 12 * HOUR),
  'nist-800-63b-aal1': preset('nist-800-63b-aal1', null, 30 * DAY),
});

/** The preset used when none is named. */
export const DEFAULT_POLICY_PRESET: PolicyPresetName = 'nist-800-63b-rev3-aal2';

function preset(name: PolicyPresetName, idle: number | null, absolute: number): Policy {
  return Object.freeze({ ...COMMON, preset: name, idleTimeout: idle, absoluteTimeout: absolute });
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
  'absoluteWarning',
  'idleWarning',
  'activityWriteInterval',
  'userAgentMaxLength',
  'custom',
]);

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

  const idleTimeout =
    input.idleTimeout === undefined
      ? base.idleTimeout
      : input.idleTimeout === null
        ? null
        : duration(input.idleTimeout, 'idleTimeout');
  const absoluteTimeout =
    input.absoluteTimeout === undefined
      ? base.absoluteTimeout
      : duration(input.absoluteTimeout, 'absoluteTimeout');
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

  if (absoluteTimeout <= 0) throw policyError('absoluteTimeout', 'must be longer than 0');
  if (idleTimeout !== null && idleTimeout <= 0) {
    throw policyError('idleTimeout', 'must be longer than 0, or null for no idle timeout');
  }
  if (
    !Number.isInteger(userAgentMaxLength) ||
    userAgentMaxLength < 0 ||
    userAgentMaxLength > 8192
  ) {
    throw policyError('userAgentMaxLength', 'expected a whole number from 0 to 8192');
  }
  if (idleTimeout !== null && activityWriteInterval >= idleTimeout) {
    // Otherwise a user who is active all along could still be timed out for idleness.
    throw policyError(
      'activityWriteInterval',
      `${formatDuration(activityWriteInterval)} must be shorter than the idle timeout (${formatDuration(idleTimeout)})`,
    );
  }

  if (!custom) {
    if (absoluteTimeout > base.absoluteTimeout) {
      throw looser('absoluteTimeout', absoluteTimeout, base.absoluteTimeout, presetName);
    }
    if (base.idleTimeout !== null) {
      if (idleTimeout === null) {
        throw policyError(
          'idleTimeout',
          `${presetName} requires an idle timeout of at most ${formatDuration(base.idleTimeout)}; set custom: true to drop it`,
        );
      }
      if (idleTimeout > base.idleTimeout) {
        throw looser('idleTimeout', idleTimeout, base.idleTimeout, presetName);
      }
    }
  }

  return Object.freeze({
    preset: presetName,
    idleTimeout,
    absoluteTimeout,
    absoluteWarning,
    idleWarning,
    activityWriteInterval,
    userAgentMaxLength,
    custom,
  });
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
