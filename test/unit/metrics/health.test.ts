/** /health's checks on a real SQLite store with a manual clock: writable, stuck, stopped, closed. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkHealth, type HealthDeps } from '../../../core/metrics/health.js';
import { cleanup, tempDir } from '../../support/daemon.js';
import { ManualClock } from '../../support/manual-clock.js';
import { openTestStore } from '../../support/store.js';

describe('health check', () => {
  it('ok with a writable store and a recent heartbeat; unhealthy when either fails', async () => {
    const dir = tempDir();
    const store = await openTestStore(join(dir, 'h.db'));
    const clock = new ManualClock(1_800_000_000_000);
    let heartbeatAt = clock.now();
    const deps: HealthDeps = {
      store,
      clock,
      scheduler: () => ({ heartbeatAt, lastPassAt: clock.now() - 5000, running: 1 }),
      maxHeartbeatAgeMs: 30_000,
      storeTimeoutMs: 5000,
    };
    try {
      const ok = await checkHealth(deps);
      assert.deepEqual(ok, {
        status: 'ok',
        store: { writable: true },
        scheduler: { alive: true, heartbeat_age_s: 0, last_pass_age_s: 5, running: 1 },
        datastores_not_answering: [],
      });
      // The probe row was rolled back.
      assert.deepEqual(await store.db.selectFrom('last_outcomes').selectAll().execute(), []);

      clock.advance(31_000);
      const stuck = await checkHealth(deps);
      assert.equal(stuck.status, 'unhealthy');
      assert.equal(stuck.scheduler.alive, false);
      assert.equal(stuck.scheduler.heartbeat_age_s, 31);

      heartbeatAt = 0; // stopped
      assert.equal((await checkHealth(deps)).scheduler.heartbeat_age_s, null);
      heartbeatAt = clock.now();
      await store.close();
      const closed = await checkHealth(deps);
      assert.equal(closed.status, 'unhealthy');
      assert.equal(closed.store.writable, false);
      assert.ok((closed.store.error ?? '').length > 0);
    } finally {
      await store.close();
      cleanup(dir);
    }
  });

  it('a store held by a long transaction fails the check after the timeout', async () => {
    const dir = tempDir();
    const store = await openTestStore(join(dir, 'h.db'));
    const clock = new ManualClock(1_800_000_000_000);
    let release: (() => void) | undefined;
    let holding: () => void = () => undefined;
    const holds = new Promise<void>((r) => (holding = r));
    const held = store.tx(
      () =>
        new Promise<void>((r) => {
          release = r;
          holding();
        }),
    );
    try {
      // The transaction is open (on PostgreSQL, that takes a round trip or more).
      await holds;
      const checking = checkHealth({
        store,
        clock,
        scheduler: () => ({ heartbeatAt: clock.now(), lastPassAt: 0, running: 0 }),
        maxHeartbeatAgeMs: 30_000,
        storeTimeoutMs: 5000,
      });
      await new Promise((r) => setImmediate(r));
      clock.advance(5000);
      const report = await checking;
      assert.equal(report.status, 'unhealthy');
      assert.deepEqual(report.store, { writable: false, error: 'no write lock within 5000 ms' });
      assert.equal(report.scheduler.last_pass_age_s, null);
    } finally {
      release?.();
      await held;
      await store.close();
      cleanup(dir);
    }
  });
});
