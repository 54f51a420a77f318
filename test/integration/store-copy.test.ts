/**
 * db-copy's store part (core/store/copy.ts) from a real SQLite store to the test store (SQLite, or
 * PostgreSQL with ONEBACKUP_TEST_DB=postgresql): it knows every table the migrations create, copies
 * every row with its values (64-bit ones too), refuses a target that holds state unless told, and
 * the target's numbering goes on after the copied rows.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { copyState, LIVE_TABLES, STATE_TABLES } from '../../core/store/copy.js';
import { nextId, openSqliteStore, type Store } from '../../core/store/db.js';
import { appendTaskLogLines } from '../../core/store/task-logs.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { openTestStore } from '../support/store.js';

const BIG = 5_000_000_000_123; // past 32 bits: bytes, epoch milliseconds

async function seed(store: Store): Promise<void> {
  await store.tx(async (trx) => {
    await nextId(trx, 'host');
    await trx.insertInto('groups').values({ id: 0, name: 'oneadmin', template: '[]' }).execute();
    await trx
      .insertInto('users')
      .values({ id: 0, name: 'oneadmin', gid: 0, password_hash: 'h', enabled: 1, template: '[]' })
      .execute();
    const owned = {
      uid: 0,
      gid: 0,
      permissions: 0o600,
      template: '[]',
      lock_level: 0,
      lock_owner: -1,
      lock_time: 0,
      lock_req_id: -1,
    };
    await trx
      .insertInto('hosts')
      .values({ id: 0, name: 'n1', vm_mad: 'fs', ...owned })
      .execute();
    await trx
      .insertInto('vms')
      .values({
        id: 3,
        name: 'vm',
        host_id: 0,
        state: 'POWEROFF',
        stime: 1,
        backup_job_id: 7,
        backup_config: '{}',
        ...owned,
      })
      .execute();
    await trx
      .insertInto('vm_disks')
      .values({ vm_id: 3, disk_id: 0, source: '/d', format: 'raw', size_bytes: BIG })
      .execute();
    await trx
      .insertInto('backup_jobs')
      .values({
        id: 7,
        name: 'j',
        priority: 50,
        last_backup_time: 0,
        last_backup_duration: 0,
        outdated_since: 0,
        paused: 0,
        ...owned,
      })
      .execute();
    await trx
      .insertInto('job_vms')
      .values({ job_id: 7, vm_id: 3, vm_set: 'UPDATED', error: '', changed: 0 })
      .execute();
    await trx
      .insertInto('job_runs')
      .values({ job_id: 7, run_id: 1, trigger: 'manual', start_ms: BIG, end_ms: BIG + 1, result: 'done' })
      .execute();
    await trx
      .insertInto('run_tasks')
      .values({
        job_id: 7,
        run_id: 1,
        vm_id: 3,
        status: 'done',
        bytes_done: BIG,
        bytes_total: BIG,
        host_id: 0,
        attempt: 1,
        start_ms: BIG,
        end_ms: BIG,
        error: '',
        seq: 1,
        daemon: '',
      })
      .execute();
  });
  await store.tx((trx) =>
    appendTaskLogLines(
      trx,
      [
        { jobId: 7, vmId: 3, timeMs: BIG, line: 'one' },
        { jobId: 7, vmId: 3, timeMs: BIG, line: 'two' },
      ],
      10,
    ),
  );
}

async function rows(store: Store): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of STATE_TABLES)
    out[t] = (await store.db.selectFrom(t).selectAll().execute()).map((r) => JSON.stringify(r)).sort();
  return out;
}

describe('store copy', () => {
  it('knows every table the migrations create, on this store', async () => {
    const dir = tempDir();
    const store = await openTestStore(join(dir, 'state.db'));
    try {
      const tables = (await store.db.introspection.getTables())
        .map((t) => t.name)
        .filter((n) => !n.startsWith('onebackup_migration'));
      assert.deepEqual(tables.sort(), [...STATE_TABLES, ...LIVE_TABLES].sort());
    } finally {
      await store.close();
      cleanup(dir);
    }
  });

  it('copies every row from SQLite, refuses a target with state unless replace, and numbering goes on', async () => {
    const dir = tempDir();
    const from = await openSqliteStore(join(dir, 'from.db'));
    const to = await openTestStore(join(dir, 'to.db'));
    try {
      await seed(from);
      const counts = await copyState(from, to);
      assert.equal(counts.length, STATE_TABLES.length);
      assert.ok(counts.every((c) => c.source === c.target));
      assert.deepEqual(
        counts.filter((c) => c.source > 0).map((c) => c.table),
        [
          'pool_ids',
          'groups',
          'users',
          'hosts',
          'vms',
          'vm_disks',
          'backup_jobs',
          'job_vms',
          'job_runs',
          'run_tasks',
          'task_logs',
        ],
      );
      assert.deepEqual(await rows(to), await rows(from));
      await assert.rejects(
        copyState(from, to),
        /already holds state \(pool_ids: 1, groups: 1, users: 1, .*pass --replace/,
      );
      await copyState(from, to, { replace: true });
      assert.deepEqual(await rows(to), await rows(from));
      // The target numbers what comes next past what was copied: pool IDs and task log lines.
      assert.equal(await to.tx((trx) => nextId(trx, 'host')), 1);
      await to.tx((trx) => appendTaskLogLines(trx, [{ jobId: 7, vmId: 3, timeMs: BIG, line: 'three' }], 10));
      const seqs = (await to.db.selectFrom('task_logs').select(['seq', 'line']).orderBy('seq').execute()).map(
        (r) => `${r.seq} ${r.line}`,
      );
      assert.deepEqual(seqs, ['1 one', '2 two', '3 three']);
    } finally {
      await from.close();
      await to.close();
      cleanup(dir);
    }
  });
});
