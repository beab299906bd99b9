// A green fault-harness run means something only if a broken service makes it red. Each broken
// mode of chaos/broken-store.js (a short validation cache; creates acknowledged but never
// written) runs through the same harness as `npm run chaos`, on SQLite with two instances behind
// the balancer, and the checker must report the rule that mode breaks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, run by the harness as it is.
import { BROKEN_MODES } from '../chaos/broken-store.js';
// @ts-expect-error: plain JavaScript, run by the harness as it is.
import { runScenario } from '../chaos/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'curfew-chaos-broken-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the fault harness catches a broken service', () => {
  for (const [mode, { rule }] of Object.entries(BROKEN_MODES as Record<string, { rule: string }>)) {
    it(`${mode}: reported as ${rule}`, { timeout: 60_000 }, async () => {
      const { figures, violations } = await runScenario({
        storeUrl: `sqlite:${join(dir, `${mode}.db`)}`,
        seconds: 6,
        rate: 80,
        broken: mode,
      });
      expect(figures.calls).toBeGreaterThan(300);
      expect(figures.byRule[rule]).toBeGreaterThan(0);
      // The violation names the calls that show it, so a report can be followed to the record.
      const found = violations.find((violation: { rule: string }) => violation.rule === rule);
      expect(found.calls.length).toBe(2);
    });
  }
});
