import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simulate } from './simulate.js';

// Each seed is a whole run of random jobs, priorities, modes, limits and hosts driven to its end
// with random completion orders, failures, retries, pauses, exclusions, backups started by hand,
// new triggers and new jobs. After every dispatch: never more than MAX_BACKUPS / MAX_BACKUPS_HOST;
// never two ONGOING in a SEQUENTIAL job; no slot idle while an eligible VM waits; no VM of lower
// priority starts while one of higher priority could; every OUTDATED VM explained; the index
// answers as the pure function. At the end every VM is UPDATED or ERROR.
const SEEDS = Number(process.env.SCHEDULER_SEEDS ?? 400);

describe('dispatch properties over random runs', () => {
  for (const policy of ['backfill', 'strict'] as const) {
    it(`${policy}: ${SEEDS} seeds, small worlds, explanations checked every step`, () => {
      let steps = 0;
      let dispatched = 0;
      const limitsSeen = new Set<string>();
      for (let seed = 1; seed <= SEEDS; seed += 1) {
        const r = simulate(seed, {
          policy,
          maxJobs: 6,
          maxVmsPerJob: 6,
          maxHosts: 4,
          explainEveryStep: true,
        });
        steps += r.steps;
        dispatched += r.dispatched;
        limitsSeen.add(`${r.limits.maxBackups}/${r.limits.maxBackupsHost}`);
      }
      // The runs did real work and covered every combination of limits, unlimited ones included.
      assert.ok(dispatched > SEEDS * 5, `only ${dispatched} dispatches`);
      assert.ok(steps > dispatched);
      assert.equal(limitsSeen.size, 20);
    });

    it(`${policy}: 25 seeds, larger worlds (index against the pure function)`, () => {
      for (let seed = 10_001; seed <= 10_025; seed += 1) {
        simulate(seed, { policy, maxJobs: 30, maxVmsPerJob: 12, maxHosts: 10, explainEveryStep: false });
      }
    });
  }
});
