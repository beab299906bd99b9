import { MemoryStore, SessionManager } from 'curfew';
import { ManualClock } from 'curfew/testing';
import { expect, it } from 'vitest';
import { Metrics } from '../src/metrics.js';
import { runUpkeep } from '../src/upkeep.js';

const MINUTE = 60_000;

it('ends expired sessions, then deletes those ended longer ago than the retention, and counts them', async () => {
  const clock = new ManualClock();
  const metrics = new Metrics();
  const manager = new SessionManager({
    store: new MemoryStore(),
    clock: clock.now,
    onEvent: metrics.onEvent,
  });
  const loggedOut = await manager.create({ userId: 'a' });
  await manager.revoke(loggedOut.token);
  const idle = await manager.create({ userId: 'b' });
  clock.advance(31 * MINUTE);
  const kept = await manager.create({ userId: 'c' });
  const retention = 60 * MINUTE;

  expect(await runUpkeep(manager, { retention, metrics })).toEqual({
    absolute: 0,
    idle: 1,
    purged: 0,
  });
  // 40 minutes on: the logout ended 71 minutes ago, the idle session (ended at its deadline,
  // 30 minutes in) 41 minutes ago.
  clock.advance(20 * MINUTE);
  await manager.touch(kept.token);
  clock.advance(20 * MINUTE);
  await manager.touch(kept.token);
  expect(await runUpkeep(manager, { retention, metrics })).toEqual({
    absolute: 0,
    idle: 0,
    purged: 1,
  });
  expect(await manager.getSession(loggedOut.session.id)).toBeNull();
  expect(await manager.getSession(idle.session.id)).toMatchObject({ endReason: 'idle_timeout' });
  clock.advance(20 * MINUTE);
  await manager.touch(kept.token);
  expect((await runUpkeep(manager, { retention, metrics })).purged).toBe(1);
  expect(await manager.getSession(idle.session.id)).toBeNull();
  // The active session is never purged, however long it has been around.
  expect(await manager.getSession(kept.session.id)).toMatchObject({ active: true });
  expect(await metrics.render()).toContain('curfew_sessions_purged_total 2\n');
});
