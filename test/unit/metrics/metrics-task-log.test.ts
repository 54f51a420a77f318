/**
 * The per-VM task log on a real SQLite store: events naming a VM of a job land in that VM's task
 * of the job's newest run with it, formatted and redacted as the daemon's log lines; other events
 * only pass through; old runs' lines are dropped.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LogFields, Logger } from '../../../core/log.js';
import { KEEP_RUNS, readTaskLog, taskLogger } from '../../../core/metrics/task-log.js';
import type { Store } from '../../../core/store/db.js';
import { cleanup, tempDir } from '../../support/daemon.js';
import { openTestStore } from '../../support/store.js';

const NOW = Date.UTC(2027, 0, 2, 3, 4, 5);

async function seed(store: Store, runs: number): Promise<void> {
  const owned = {
    uid: 0,
    gid: 0,
    permissions: 0o600,
    lock_level: 0,
    lock_owner: -1,
    lock_time: 0,
    lock_req_id: -1,
    template: '[]',
  };
  await store.db
    .insertInto('hosts')
    .values({ id: 0, name: 'node1', ...owned, vm_mad: 'fs' })
    .execute();
  await store.db
    .insertInto('vms')
    .values([
      {
        id: 7,
        name: 'vm7',
        ...owned,
        host_id: 0,
        state: 'POWEROFF',
        backup_job_id: 3,
        stime: 0,
        backup_config: '{}',
      },
      {
        id: 8,
        name: 'vm8',
        ...owned,
        host_id: 0,
        state: 'POWEROFF',
        backup_job_id: -1,
        stime: 0,
        backup_config: '{}',
      },
    ])
    .execute();
  for (let run = 1; run <= runs; run++) {
    await store.db
      .insertInto('run_tasks')
      .values({
        job_id: 3,
        run_id: run,
        vm_id: 7,
        host_id: 0,
        status: 'done',
        attempt: 1,
        start_ms: 0,
        end_ms: 0,
        bytes_done: 0,
        bytes_total: 0,
        error: '',
        seq: run,
        daemon: '',
      })
      .execute();
  }
}

describe('per-VM task log', () => {
  it('stores redacted lines of a job VM in its newest run, passes every event on', async () => {
    const dir = tempDir();
    const store = await openTestStore(join(dir, 't.db'));
    try {
      await seed(store, 2);
      const passed: [string, string, LogFields | undefined][] = [];
      const inner: Logger = {
        error: (m, f) => passed.push(['error', m, f]),
        warn: (m, f) => passed.push(['warn', m, f]),
        info: (m, f) => passed.push(['info', m, f]),
        debug: (m, f) => passed.push(['debug', m, f]),
      };
      const { log, flush } = taskLogger(inner, { store, now: () => NOW, format: 'logfmt' });
      log.info('backup started', { job: 3, vm: 7, host: 0 });
      log.info('backup done', { vm: 7, read: 10, password: 'hunter2' });
      log.warn('backup failed', { vm: 8, error: 'no job' });
      log.info('started', { version: '1' });
      await flush();
      assert.equal(passed.length, 4);
      assert.deepEqual(
        (await readTaskLog(store, 3, 2, 7)).map((l) => l.line),
        [
          'time=2027-01-02T03:04:05.000Z level=info msg="backup started" job=3 vm=7 host=0',
          'time=2027-01-02T03:04:05.000Z level=info msg="backup done" vm=7 read=10 password=**redacted**',
        ],
      );
      assert.deepEqual(await readTaskLog(store, 3, 1, 7), []);
      const all = await store.db.selectFrom('task_logs').select('vm_id').execute();
      assert.ok(
        all.every((r) => r.vm_id === 7),
        'VM 8 is in no job: nothing stored',
      );
    } finally {
      await store.close();
      cleanup(dir);
    }
  });

  it(`keeps the lines of the last ${KEEP_RUNS} runs of a job`, async () => {
    const dir = tempDir();
    const store = await openTestStore(join(dir, 't.db'));
    try {
      await seed(store, 1);
      const quiet: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
      const { log, flush } = taskLogger(quiet, { store, now: () => NOW, format: 'json' });
      log.info('backup started', { job: 3, vm: 7 });
      await flush();
      assert.equal((await readTaskLog(store, 3, 1, 7)).length, 1);
      // A run KEEP_RUNS later: run 1's line goes.
      await store.db
        .updateTable('run_tasks')
        .set({ run_id: 1 + KEEP_RUNS })
        .where('job_id', '=', 3)
        .execute();
      log.info('backup started', { job: 3, vm: 7 });
      await flush();
      assert.equal((await readTaskLog(store, 3, 1, 7)).length, 0);
      const [line] = await readTaskLog(store, 3, 1 + KEEP_RUNS, 7);
      assert.deepEqual(JSON.parse(line?.line ?? ''), {
        time: '2027-01-02T03:04:05.000Z',
        level: 'info',
        msg: 'backup started',
        job: 3,
        vm: 7,
      });
    } finally {
      await store.close();
      cleanup(dir);
    }
  });
});
