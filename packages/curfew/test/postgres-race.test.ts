// A revoke racing many validations of the same session, a thousand times, on two pools as two
// processes would have: no validation that began after the revoke returned may succeed.
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { dropSchema, openPool, sharedPostgresAvailable, uniqueSchema } from './support/postgres.js';

const ROUNDS = 1_000;
const VALIDATIONS = 50;

const available = await sharedPostgresAvailable();

describe.skipIf(!available)('PostgresStore under a revoke racing validations', () => {
  const schema = uniqueSchema('curfew_race');
  // Commits without waiting for the WAL flush: this test is about what a validation sees, which
  // a commit makes visible before it is acknowledged either way; waiting for this machine's disk
  // on 50,000 writes would only make the test slow.
  const fast = { max: 10, options: '-c synchronous_commit=off' };
  const first = openPool(fast);
  const second = openPool(fast);

  afterAll(async () => {
    await dropSchema(first, schema);
    await Promise.all([first.end(), second.end()]);
  });

  it(`${ROUNDS} rounds of one revoke against ${VALIDATIONS} validations`, {
    timeout: 120_000,
  }, async () => {
    // A clock that moves 1 ms per reading: with a write interval of 0 every validation is due an
    // activity write, so the validations contend for the row lock with the revoke and each
    // other; rounds alternate with the default interval, where validations only read.
    let time = Date.parse('2026-01-01T00:00:00Z');
    const clock = () => time++;
    const stores = [
      await PostgresStore.open(first, { schema }),
      await PostgresStore.open(second, { schema, migrate: false }),
    ];
    const managers = (policy: { activityWriteInterval?: number }) =>
      stores.map((store) => new SessionManager({ store, clock, policy }));
    const writing = managers({ activityWriteInterval: 0 });
    const reading = managers({});

    let startedAfter = 0;
    let validBefore = 0;
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const [one, two] = round % 2 === 0 ? writing : reading;
      if (one === undefined || two === undefined) throw new Error('two managers expected');
      const { token } = await one.create({ userId: `user-${round % 10}` });
      let revoked = false;
      const validations = Array.from({ length: VALIDATIONS }, async (_, i) => {
        // Starts spread over a few milliseconds, so that some begin before the revoke is sent,
        // some while it runs, and some after it returned.
        await new Promise((resolve) => setTimeout(resolve, i % 8));
        const after = revoked;
        const result = await (i % 2 === 0 ? one : two).validate(token);
        return { after, valid: result.valid };
      });
      const revoke = new Promise((resolve) => setTimeout(resolve, 1)).then(async () => {
        const ended = await (round % 3 === 0 ? two : one).revoke(token);
        revoked = true;
        return ended;
      });
      const [ended, ...outcomes] = await Promise.all([revoke, ...validations]);
      if (ended !== true) failures.push(`round ${round}: the revoke did not end the session`);
      for (const outcome of outcomes) {
        if (outcome.after) {
          startedAfter += 1;
          if (outcome.valid) failures.push(`round ${round}: a validation after the revoke passed`);
        } else if (outcome.valid) {
          validBefore += 1;
        }
      }
    }
    expect(failures).toEqual([]);
    // The race really happened, both ways, many times over.
    expect(startedAfter).toBeGreaterThan(ROUNDS);
    expect(validBefore).toBeGreaterThan(ROUNDS);
    const { rows } = await first.query(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE end_reason = 'logout')::int AS revoked
       FROM "${schema}".curfew_sessions`,
    );
    expect(rows[0]).toEqual({ total: ROUNDS, revoked: ROUNDS });
  });
});
