import { describe, expect, it } from 'vitest';
import {
  CurfewError,
  formatDuration,
  POLICY_PRESETS,
  parseDuration,
  resolvePolicy,
  sessionLimits,
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
  const REV3 = {
    1: { idleTimeout: null, absoluteTimeout: 30 * 24 * HOUR },
    2: { idleTimeout: 30 * MIN, absoluteTimeout: 12 * HOUR },
    3: { idleTimeout: 15 * MIN, absoluteTimeout: 12 * HOUR },
  };
  const REV4 = {
    1: { idleTimeout: null, absoluteTimeout: 30 * 24 * HOUR },
    2: { idleTimeout: HOUR, absoluteTimeout: 24 * HOUR },
    3: { idleTimeout: 15 * MIN, absoluteTimeout: 12 * HOUR },
  };
  it.each([
    ['nist-800-63b-rev3-aal2', 2, REV3],
    ['nist-800-63b-rev3-aal3', 3, REV3],
    ['nist-800-63b-rev4-aal2', 2, REV4],
    ['nist-800-63b-rev4-aal3', 3, REV4],
    ['nist-800-63b-aal1', 1, REV4],
  ] as const)('%s: default AAL%s, limits for all three levels', (name, aal, levels) => {
    const policy = resolvePolicy(name);
    expect(policy).toEqual({
      preset: name,
      defaultAal: aal,
      idleTimeout: levels[aal].idleTimeout,
      absoluteTimeout: levels[aal].absoluteTimeout,
      levels,
      tenants: {},
      appTypes: {},
      maxSessionsPerUser: null,
      onSessionLimit: 'evict-oldest',
      absoluteWarning: 30 * MIN,
      idleWarning: 5 * MIN,
      activityWriteInterval: MIN,
      userAgentMaxLength: 500,
      custom: false,
    });
    expect(POLICY_PRESETS[name]).toBe(policy);
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.levels)).toBe(true);
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

describe('levels, overrides and the session cap', () => {
  it('sets a level with levels, and the default level with the top-level fields', () => {
    const policy = resolvePolicy({ idleTimeout: '20m', levels: { 3: { idleTimeout: '10m' } } });
    expect(policy.levels[2]).toEqual({ idleTimeout: 20 * MIN, absoluteTimeout: 12 * HOUR });
    expect(policy.levels[3]).toEqual({ idleTimeout: 10 * MIN, absoluteTimeout: 12 * HOUR });
    expect(policy.levels[1]).toEqual({ idleTimeout: null, absoluteTimeout: 30 * 24 * HOUR });
    expect(policy.idleTimeout).toBe(20 * MIN);
  });

  it('refuses a level looser than the preset at that level, naming the level', () => {
    const error = policyError(() => resolvePolicy({ levels: { 3: { idleTimeout: '20m' } } }));
    expect(error.field).toBe('policy.levels.3.idleTimeout');
    expect(error.message).toContain('AAL3');
    expect(error.message).toContain('15m');
    expect(
      resolvePolicy({ levels: { 3: { idleTimeout: '20m' } }, custom: true }).levels[3],
    ).toEqual({
      idleTimeout: 20 * MIN,
      absoluteTimeout: 12 * HOUR,
    });
  });

  it('refuses the default level given twice, and unknown levels or fields', () => {
    expect(policyError(() => resolvePolicy({ idleTimeout: '10m', levels: { 2: {} } })).field).toBe(
      'policy.levels.2',
    );
    expect(policyError(() => resolvePolicy({ levels: { 4: {} } as never })).field).toBe(
      'policy.levels.4',
    );
    expect(policyError(() => resolvePolicy({ levels: { 2: { idle: '5m' } as never } })).field).toBe(
      'policy.levels.2.idle',
    );
  });

  it('tightens by tenant and app type, never loosens, the shortest winning', () => {
    const policy = resolvePolicy({
      tenants: { acme: { idleTimeout: '20m', absoluteTimeout: '30h' } },
      appTypes: { control_panel: { idleTimeout: '10m', absoluteTimeout: '4h' } },
    });
    expect(sessionLimits(policy, 2, 'acme', 'tenant_app')).toEqual({
      idleTimeout: 20 * MIN,
      absoluteTimeout: 12 * HOUR, // 30h would loosen: the level's 12h stays
    });
    expect(sessionLimits(policy, 2, 'acme', 'control_panel')).toEqual({
      idleTimeout: 10 * MIN,
      absoluteTimeout: 4 * HOUR,
    });
    expect(sessionLimits(policy, 3, 'acme', 'tenant_app').idleTimeout).toBe(15 * MIN);
    // AAL1 has no idle limit; an override gives it one.
    expect(sessionLimits(policy, 1, 'acme', 'tenant_app').idleTimeout).toBe(20 * MIN);
    expect(sessionLimits(policy, 1, null, 'tenant_app').idleTimeout).toBeNull();
    // Names are own keys only: a tenant called "constructor" gets nothing from Object.prototype.
    expect(sessionLimits(policy, 2, 'constructor', 'toString')).toEqual(policy.levels[2]);
  });

  it('refuses an override of "no idle limit", and an activity interval longer than any idle limit', () => {
    expect(
      policyError(() => resolvePolicy({ tenants: { acme: { idleTimeout: null as never } } })).field,
    ).toBe('policy.tenants.acme.idleTimeout');
    const error = policyError(() =>
      resolvePolicy({ appTypes: { kiosk: { idleTimeout: '1m' } }, activityWriteInterval: '1m' }),
    );
    expect(error.field).toBe('policy.activityWriteInterval');
  });

  it('checks the session cap and what happens at it', () => {
    expect(resolvePolicy({ maxSessionsPerUser: 5 }).maxSessionsPerUser).toBe(5);
    expect(resolvePolicy({ maxSessionsPerUser: 5, onSessionLimit: 'refuse' }).onSessionLimit).toBe(
      'refuse',
    );
    expect(policyError(() => resolvePolicy({ maxSessionsPerUser: 0 })).field).toBe(
      'policy.maxSessionsPerUser',
    );
    expect(policyError(() => resolvePolicy({ maxSessionsPerUser: 2.5 })).field).toBe(
      'policy.maxSessionsPerUser',
    );
    expect(
      policyError(() => resolvePolicy({ onSessionLimit: 'evict-newest' as never })).field,
    ).toBe('policy.onSessionLimit');
  });

  it('takes a resolved policy back as it is', () => {
    const policy = resolvePolicy({ levels: { 3: { idleTimeout: '5m' } }, maxSessionsPerUser: 3 });
    expect(resolvePolicy(policy)).toBe(policy);
  });
});
