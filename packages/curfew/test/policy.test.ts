import { describe, expect, it } from 'vitest';
import {
  CurfewError,
  formatDuration,
  POLICY_PRESETS,
  parseDuration,
  resolvePolicy,
} from '../src/index.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

function policyError(run: () => unknown): CurfewError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CurfewError);
    return error as CurfewError;
  }
  throw new Error('expected an error');
}

describe('presets', () => {
  it.each([
    ['nist-800-63b-rev3-aal2', 30 * MIN, 12 * HOUR],
    ['nist-800-63b-rev3-aal3', 15 * MIN, 12 * HOUR],
    ['nist-800-63b-rev4-aal2', HOUR, 24 * HOUR],
    ['nist-800-63b-rev4-aal3', 15 * MIN, 12 * HOUR],
    ['nist-800-63b-aal1', null, 30 * 24 * HOUR],
  ] as const)('%s: idle %s ms, absolute %s ms', (name, idle, absolute) => {
    const policy = resolvePolicy(name);
    expect(policy).toEqual({
      preset: name,
      idleTimeout: idle,
      absoluteTimeout: absolute,
      absoluteWarning: 30 * MIN,
      idleWarning: 5 * MIN,
      activityWriteInterval: MIN,
      userAgentMaxLength: 500,
      custom: false,
    });
    expect(POLICY_PRESETS[name]).toBe(policy);
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it('defaults to rev3 AAL2', () => {
    expect(resolvePolicy().preset).toBe('nist-800-63b-rev3-aal2');
    expect(resolvePolicy({}).idleTimeout).toBe(30 * MIN);
  });
});

describe('resolvePolicy', () => {
  it('accepts stricter values, as durations or milliseconds', () => {
    const policy = resolvePolicy({
      idleTimeout: '15m',
      absoluteTimeout: 8 * HOUR,
      activityWriteInterval: '30s',
      idleWarning: '2m',
      absoluteWarning: '10m',
      userAgentMaxLength: 200,
    });
    expect(policy).toMatchObject({
      idleTimeout: 15 * MIN,
      absoluteTimeout: 8 * HOUR,
      activityWriteInterval: 30_000,
      idleWarning: 2 * MIN,
      absoluteWarning: 10 * MIN,
      userAgentMaxLength: 200,
      custom: false,
    });
  });

  it('refuses a longer idle timeout, naming the limit and the preset', () => {
    const error = policyError(() => resolvePolicy({ idleTimeout: '2h' }));
    expect(error.code).toBe('INVALID_POLICY');
    expect(error.field).toBe('policy.idleTimeout');
    expect(error.message).toContain('30m');
    expect(error.message).toContain('nist-800-63b-rev3-aal2');
    expect(error.message).toContain('custom: true');
  });

  it('refuses a longer absolute timeout and a dropped idle timeout', () => {
    const longer = policyError(() =>
      resolvePolicy({ preset: 'nist-800-63b-rev4-aal3', absoluteTimeout: '13h' }),
    );
    expect(longer.field).toBe('policy.absoluteTimeout');
    expect(longer.message).toContain('12h');
    expect(longer.message).toContain('nist-800-63b-rev4-aal3');
    const dropped = policyError(() => resolvePolicy({ idleTimeout: null }));
    expect(dropped.field).toBe('policy.idleTimeout');
  });

  it('allows looser values when marked custom', () => {
    const policy = resolvePolicy({ absoluteTimeout: '7d', idleTimeout: null, custom: true });
    expect(policy).toMatchObject({
      absoluteTimeout: 7 * 24 * HOUR,
      idleTimeout: null,
      custom: true,
    });
  });

  it('allows no idle timeout on AAL1 and keeps 30 days as its ceiling', () => {
    expect(
      resolvePolicy({ preset: 'nist-800-63b-aal1', absoluteTimeout: '7d' }).idleTimeout,
    ).toBeNull();
    expect(
      policyError(() => resolvePolicy({ preset: 'nist-800-63b-aal1', absoluteTimeout: '31d' }))
        .code,
    ).toBe('INVALID_POLICY');
  });

  it.each([
    [{ preset: 'nist-9000' }, 'policy.preset'],
    [{ idleTimeout: '10 minutes' }, 'policy.idleTimeout'],
    [{ idleTimeout: -1 }, 'policy.idleTimeout'],
    [{ idleTimeout: 0 }, 'policy.idleTimeout'],
    [{ absoluteTimeout: 0 }, 'policy.absoluteTimeout'],
    [{ absoluteTimeout: 1.5 }, 'policy.absoluteTimeout'],
    [{ userAgentMaxLength: -1 }, 'policy.userAgentMaxLength'],
    [{ activityWriteInterval: '30m' }, 'policy.activityWriteInterval'],
    [{ custom: 'yes' }, 'policy.custom'],
    [{ idleTimout: '5m' }, 'policy.idleTimout'],
  ])('refuses %j', (input, field) => {
    const error = policyError(() => resolvePolicy(input as never));
    expect(error.code).toBe('INVALID_POLICY');
    expect(error.field).toBe(field);
  });

  it('refuses an unknown preset name', () => {
    expect(policyError(() => resolvePolicy('aal2' as never)).message).toContain(
      'nist-800-63b-rev3-aal2',
    );
  });
});

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 30 * MIN],
    ['12h', 12 * HOUR],
    ['1h30m', 90 * MIN],
    ['2d', 48 * HOUR],
    ['250ms', 250],
    ['1500', 1500],
    [0, 0],
    [42, 42],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    '',
    '1.5h',
    '-5m',
    '5 m',
    '5x',
    'm',
    '1h1',
    -1,
    1.5,
    Number.NaN,
    Infinity,
    null,
    '9'.repeat(30),
  ])('refuses %j', (input) => {
    expect(() => parseDuration(input, 'idle')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'idle' }),
    );
  });

  it('formats the way a person writes', () => {
    expect(formatDuration(30 * MIN)).toBe('30m');
    expect(formatDuration(90 * MIN)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(1_500)).toBe('1s500ms');
  });
});
