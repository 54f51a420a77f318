/**
 * Reads a job run straight from the daemon's SQLite file (read-only, one read transaction, so
 * every snapshot is one committed state) and checks that the records of that run agree: for each
 * VM its set, its task, its recorded backups, its chain pointers and the retention of its images.
 * Used by the crash tests, which kill the daemon at arbitrary moments and check what it left.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';

export interface IncrementRow {
  readonly imageId: number;
  readonly incId: number;
  readonly vmId: number;
  readonly type: string;
  readonly source: string;
}

export interface RunSnapshot {
  readonly sets: ReadonlyMap<number, string>;
  readonly tasks: ReadonlyMap<number, { status: string; attempt: number; bytesDone: number }>;
  readonly run: { trigger: string; endMs: number; result: string } | undefined;
  readonly increments: readonly IncrementRow[];
  /** images pool counter: the last image ID ever given, -1 before the first. */
  readonly lastImageId: number;
  /** The VMs' BACKUP_CONFIG as stored (OpenNebula names, string values). */
  readonly configs: ReadonlyMap<number, Record<string, string>>;
}

/** What existed before a run was triggered: anything else was recorded by that run. */
export interface Baseline {
  readonly keys: ReadonlySet<string>;
  readonly lastImageId: number;
  readonly maxInc: ReadonlyMap<number, number>;
  readonly configs: ReadonlyMap<number, Record<string, string>>;
}

const key = (r: { imageId: number; incId: number }) => `${r.imageId}/${r.incId}`;

export class RunReader {
  readonly #db: SQLite.Database;
  readonly #read: (jobId: number, runId: number, vms: readonly number[]) => RunSnapshot;

  constructor(dbPath: string) {
    this.#db = new SQLite(dbPath, { readonly: true, fileMustExist: true });
    const sets = this.#db.prepare('SELECT vm_id, vm_set FROM job_vms WHERE job_id = ?');
    const tasks = this.#db.prepare(
      'SELECT vm_id, status, attempt, bytes_done FROM run_tasks WHERE job_id = ? AND run_id = ?',
    );
    const run = this.#db.prepare(
      'SELECT trigger, end_ms, result FROM job_runs WHERE job_id = ? AND run_id = ?',
    );
    const incs = this.#db.prepare(
      `SELECT i.image_id, i.inc_id, m.vm_id, i.type, i.source
         FROM image_increments i JOIN images m ON m.id = i.image_id ORDER BY i.image_id, i.inc_id`,
    );
    const last = this.#db.prepare("SELECT last_id FROM pool_ids WHERE pool = 'images'");
    const configs = this.#db.prepare('SELECT id, backup_config FROM vms');
    type Row = Record<string, number | string>;
    this.#read = this.#db.transaction((jobId: number, runId: number, vms: readonly number[]) => {
      const mine = new Set(vms);
      const r = run.get(jobId, runId) as Row | undefined;
      return {
        sets: new Map((sets.all(jobId) as Row[]).map((x) => [Number(x['vm_id']), String(x['vm_set'])])),
        tasks: new Map(
          (tasks.all(jobId, runId) as Row[]).map((x) => [
            Number(x['vm_id']),
            {
              status: String(x['status']),
              attempt: Number(x['attempt']),
              bytesDone: Number(x['bytes_done']),
            },
          ]),
        ),
        run: r && { trigger: String(r['trigger']), endMs: Number(r['end_ms']), result: String(r['result']) },
        increments: (incs.all() as Row[])
          .map((x) => ({
            imageId: Number(x['image_id']),
            incId: Number(x['inc_id']),
            vmId: Number(x['vm_id']),
            type: String(x['type']),
            source: String(x['source']),
          }))
          .filter((x) => mine.has(x.vmId)),
        lastImageId: Number((last.get() as Row | undefined)?.['last_id'] ?? -1),
        configs: new Map(
          (configs.all() as Row[])
            .filter((x) => mine.has(Number(x['id'])))
            .map((x) => [Number(x['id']), JSON.parse(String(x['backup_config'])) as Record<string, string>]),
        ),
      };
    });
  }

  snapshot(jobId: number, runId: number, vms: readonly number[]): RunSnapshot {
    return this.#read(jobId, runId, vms);
  }

  /** The newest run of a job (0 when none). */
  latestRun(jobId: number): number {
    const row = this.#db.prepare('SELECT MAX(run_id) AS id FROM job_runs WHERE job_id = ?').get(jobId) as {
      id: number | null;
    };
    return row.id ?? 0;
  }

  close(): void {
    this.#db.close();
  }
}

export function baselineOf(s: RunSnapshot): Baseline {
  const maxInc = new Map<number, number>();
  for (const r of s.increments) maxInc.set(r.imageId, Math.max(maxInc.get(r.imageId) ?? -1, r.incId));
  return { keys: new Set(s.increments.map(key)), lastImageId: s.lastImageId, maxInc, configs: s.configs };
}

/** The backups of a VM recorded since the baseline. */
export function recordedSince(b: Baseline, s: RunSnapshot, vmId: number): IncrementRow[] {
  return s.increments.filter((r) => r.vmId === vmId && !b.keys.has(key(r)));
}

export interface RunExpectation {
  readonly vms: readonly number[];
  readonly mode: 'FULL' | 'INCREMENT';
  readonly keepLast: number;
  /** The datastore's directory: every recorded manifest must be there (checked when `frozen`). */
  readonly datastoreDir: string;
  readonly datastoreId: number;
}

/**
 * Checks one snapshot of a run against its baseline. `updatedBefore` holds the VMs seen UPDATED in
 * earlier snapshots of the same run: UPDATED is final within a run. `frozen`: no daemon runs, so
 * the datastore directory is as the snapshot left it (a running daemon deletes the manifests that
 * retention dropped right after the commit). Returns the VMs UPDATED now.
 */
export function checkRun(
  where: string,
  e: RunExpectation,
  b: Baseline,
  s: RunSnapshot,
  updatedBefore: ReadonlySet<number>,
  frozen = false,
): Set<number> {
  const ctx = (msg: string) => `${where}: ${msg}\n${JSON.stringify(describe(s), null, 1)}`;
  assert.ok(s.run, ctx('the run is not recorded'));
  assert.equal(s.run.trigger, 'manual', ctx('trigger'));
  const updated = new Set<number>();
  for (const vm of e.vms) {
    const set = s.sets.get(vm);
    const task = s.tasks.get(vm);
    const recorded = recordedSince(b, s, vm);
    assert.ok(task, ctx(`VM ${vm} has no task in the run`));
    assert.notEqual(set, 'ERROR', ctx(`VM ${vm} is in ERROR`));
    assert.notEqual(task.status, 'failed', ctx(`VM ${vm}: task failed`));
    assert.ok(recorded.length <= 1, ctx(`VM ${vm}: ${recorded.length} backups recorded by one run`));
    const done = task.status === 'done';
    assert.equal(set === 'UPDATED', done, ctx(`VM ${vm}: set ${set} but task ${task.status}`));
    assert.equal(
      recorded.length === 1,
      done,
      ctx(`VM ${vm}: task ${task.status}, ${recorded.length} backups`),
    );
    if (updatedBefore.has(vm)) assert.equal(set, 'UPDATED', ctx(`VM ${vm} left UPDATED within the run`));
    if (set === 'UPDATED') updated.add(vm);
    const cfg = s.configs.get(vm) ?? {};
    const row = recorded[0];
    if (row) {
      // The chain pointers were written with the backup.
      assert.equal(cfg['LAST_DATASTORE_ID'], String(e.datastoreId), ctx(`VM ${vm}: LAST_DATASTORE_ID`));
      const [image, inc] = e.mode === 'INCREMENT' ? [row.imageId, row.incId] : [-1, -1];
      assert.equal(cfg['INCREMENTAL_BACKUP_ID'], String(image), ctx(`VM ${vm}: INCREMENTAL_BACKUP_ID`));
      assert.equal(cfg['LAST_INCREMENT_ID'], String(inc), ctx(`VM ${vm}: LAST_INCREMENT_ID`));
      if (e.mode === 'FULL') assert.equal(row.type, 'FULL', ctx(`VM ${vm}: a FULL backup`));
    } else {
      // Not recorded: the pointers are those before the run.
      assert.deepEqual(cfg, b.configs.get(vm) ?? {}, ctx(`VM ${vm}: pointers moved without a backup`));
    }
    // Retention is in the same transaction: never more than KEEP_LAST backups.
    const rows = s.increments.filter((r) => r.vmId === vm);
    if (e.mode === 'FULL') {
      const images = new Set(rows.map((r) => r.imageId));
      assert.ok(images.size <= e.keepLast, ctx(`VM ${vm}: ${images.size} images, KEEP_LAST ${e.keepLast}`));
    } else if (row) {
      const chain = rows.filter((r) => r.imageId === row.imageId);
      assert.ok(
        chain.length <= e.keepLast,
        ctx(`VM ${vm}: ${chain.length} increments, KEEP_LAST ${e.keepLast}`),
      );
      assert.equal(chain[0]?.type, 'FULL', ctx(`VM ${vm}: the oldest increment of the chain is FULL`));
    }
    for (const r of frozen ? rows : [])
      assert.ok(
        existsSync(join(e.datastoreDir, 'backups', r.source)),
        ctx(`manifest of ${key(r)} is missing`),
      );
  }
  // Nothing this run recorded has vanished since (a second backup dropping the first by retention).
  const images = new Set(s.increments.map((r) => r.imageId));
  for (let id = b.lastImageId + 1; id <= s.lastImageId; id++)
    assert.ok(images.has(id), ctx(`image ${id}, made during the run, is gone`));
  for (const [image, max] of b.maxInc) {
    const now = s.increments.filter((r) => r.imageId === image);
    if (now.length === 0) continue;
    const added = now.filter((r) => !b.keys.has(key(r))).length;
    assert.equal(
      Math.max(...now.map((r) => r.incId)) - max,
      added,
      ctx(`image ${image}: an increment vanished`),
    );
  }
  const allDone = e.vms.every((vm) => s.tasks.get(vm)?.status === 'done');
  assert.equal(s.run.endMs !== 0, allDone, ctx(`run ended ${s.run.endMs !== 0}, all tasks done ${allDone}`));
  if (allDone) assert.equal(s.run.result, 'done', ctx('run result'));
  return updated;
}

function describe(s: RunSnapshot) {
  return {
    run: s.run,
    sets: Object.fromEntries(s.sets),
    tasks: Object.fromEntries(s.tasks),
    increments: s.increments.map((r) => `${r.vmId}:${key(r)}:${r.type}`),
    lastImageId: s.lastImageId,
  };
}
