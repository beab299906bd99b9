// The fault harness's history checker must catch what it exists to catch, and must not call
// an uncertain call (no answer: the instance died) a failure or a success.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, run by the harness as it is.
import { checkHistory, countByRule } from '../chaos/checker.js';

type Call = Record<string, unknown>;
const BOUND = 2_000;
const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const session = (last: number, absolute = 43_200_000) => ({
  id: 's1',
  lastActivityAt: iso(last),
  absoluteExpiresAt: iso(absolute),
});

let next = 0;
function call(op: string, start: number, end: number | null, extra: Call = {}): Call {
  next += 1;
  return {
    id: `c${next}`,
    instance: 'a',
    op,
    start,
    end,
    token: 't1',
    user: 'u1',
    status: end === null ? null : 200,
    headers: {},
    ...extra,
  };
}
const create = (start = 0, end = 5) =>
  call('create', start, end, { status: 201, answer: { session: session(0) } });
const valid = (start: number, end: number, last = 0) =>
  call('validate', start, end, { answer: { valid: true, session: session(last) } });
const notFound = (start: number, end: number) =>
  call('validate', start, end, { answer: { valid: false, reason: 'not_found' } });

const rules = (history: Call[]) =>
  (checkHistory(history, { bound: BOUND }) as Array<{ rule: string }>).map((v) => v.rule);

describe('the history checker', () => {
  it('passes a clean history, and counts every rule', () => {
    const history = [
      create(),
      valid(10, 20),
      valid(30, 40, 30),
      call('revoke', 50, 60),
      notFound(70, 80),
    ];
    expect(rules(history)).toEqual([]);
    expect(countByRule([])).toMatchObject({ 'stale-token': 0, lost: 0, revived: 0, hang: 0 });
  });

  it('catches a validation that succeeds after a revoke returned', () => {
    expect(rules([create(), call('revoke', 10, 20), valid(25, 30)])).toEqual(['stale-token']);
  });

  it('allows a validation that overlaps the revoke to see either answer', () => {
    expect(rules([create(), call('revoke', 10, 30), valid(20, 40)])).toEqual([]);
  });

  it('catches the old token after a rotation or a reauthentication returned, and after revoke-all', () => {
    const rotate = call('rotate', 10, 20, { answer: { newToken: 't2' } });
    expect(rules([create(), rotate, valid(25, 30)])).toEqual(['stale-token']);
    const reauth = call('reauthenticate', 10, 20, { answer: { newToken: 't2' } });
    expect(rules([create(), reauth, valid(25, 30)])).toEqual(['stale-token']);
    expect(rules([create(), call('revoke-all', 10, 20), valid(25, 30)])).toEqual(['stale-token']);
  });

  it('lets a session created while a revoke-all ran survive it, but not one created before', () => {
    const overlapping = call('create', 5, 40, { status: 201, answer: { session: session(0) } });
    expect(rules([overlapping, call('revoke-all', 10, 30), valid(50, 60)])).toEqual([]);
    expect(rules([create(0, 5), call('revoke-all', 10, 30), valid(50, 60)])).toEqual([
      'stale-token',
    ]);
    // Created after the revoke-all returned: untouched by it.
    const later = call('create', 35, 40, { status: 201, answer: { session: session(0) } });
    expect(rules([call('revoke-all', 10, 30), later, valid(50, 60)])).toEqual([]);
  });

  it('treats a revoke without an answer as uncertain: neither stale nor lost', () => {
    const history = [
      create(),
      call('revoke', 10, null, { instance: 'b' }),
      { event: 'died', instance: 'b', at: 15 },
      valid(30, 40),
      notFound(50, 60),
    ];
    expect(rules(history)).toEqual([]);
  });

  it('a 503 revoke may or may not have ended its session: neither a valid nor a not-found answer after it convicts', () => {
    // The store may have committed before its connection broke (seen under connection resets):
    // a 503 says the outcome is unknown, not that nothing happened.
    const unknown = call('revoke', 10, 20, { status: 503, headers: { 'retry-after': '1' } });
    expect(rules([create(), unknown, valid(25, 30)])).toEqual([]);
    expect(rules([create(), unknown, notFound(25, 30)])).toEqual([]);
  });

  it('a revoke refused with a 4xx ended nothing: a not-found after it is a loss', () => {
    const refused = call('revoke', 10, 20, { status: 400, answer: { code: 'BAD_REQUEST' } });
    expect(rules([create(), refused, valid(25, 30)])).toEqual([]);
    expect(rules([create(), refused, notFound(25, 30)])).toEqual(['lost']);
  });

  it('catches an acknowledged session that vanished', () => {
    expect(rules([create(), valid(10, 20), notFound(30, 40)])).toEqual(['lost']);
  });

  it('catches a session valid again after it was seen ended', () => {
    const ended = call('validate', 30, 40, { answer: { valid: false, reason: 'idle' } });
    expect(rules([create(), ended, valid(50, 60)])).toEqual(['revived']);
  });

  it('catches lastActivityAt going back, and absoluteExpiresAt moving without a reauthentication', () => {
    expect(rules([create(), valid(10, 20, 15), valid(30, 40, 12)])).toEqual(['activity-backwards']);
    const moved = call('validate', 30, 40, {
      answer: { valid: true, session: session(30, 50_000_000) },
    });
    expect(rules([create(), valid(10, 20, 15), moved])).toEqual(['absolute-moved']);
    const reauth = call('reauthenticate', 22, 28, {
      session: 's1',
      answer: { newToken: 't2', session: session(25, 50_000_000) },
    });
    const after = call('validate', 30, 40, {
      token: 't2',
      answer: { valid: true, session: session(30, 50_000_000) },
    });
    expect(rules([create(), valid(10, 20, 15), reauth, after])).toEqual([]);
  });

  it('catches 5xx other than 503, a 503 without Retry-After, a late answer and a silent instance', () => {
    expect(rules([create(), call('validate', 10, 20, { status: 500 })])).toEqual([
      'unexpected-answer',
    ]);
    expect(rules([create(), call('validate', 10, 20, { status: 503 })])).toEqual([
      'unexpected-answer',
    ]);
    expect(rules([create(), valid(10, 10 + BOUND + 1)])).toEqual(['hang']);
    expect(rules([create(), call('validate', 10, null)])).toEqual(['hang']);
  });
});
