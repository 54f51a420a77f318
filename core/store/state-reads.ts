/**
 * The reads the daemon's state gauges take at scrape time (core/metrics/state-metrics.ts): job
 * sets, VMs and their last backup, hosts, backup datastores, ended runs, running and recent tasks,
 * and the jobs' schedules. Reads only; each is one query.
 */
import type { BackupConfig } from '../backup-config.js';
import { backupConfigFromJson } from '../backup-config.js';
import type { RunResult, VmSet } from '../model.js';
import type { Queryable } from './db.js';
import type { SchedActionTable } from './schema.js';

/** Every VM of every job, with its set and the time before which a retry waits. */
export async function jobVmSets(
  db: Queryable,
): Promise<{ job_id: number; vm_id: number; vm_set: VmSet; not_before: number }[]> {
  return db.selectFrom('job_vms').select(['job_id', 'vm_id', 'vm_set', 'not_before']).execute();
}

/** Every backup job's ID and template (attributes as the store keeps them). */
export async function jobTemplates(db: Queryable): Promise<{ id: number; template: string }[]> {
  return db.selectFrom('backup_jobs').select(['id', 'template']).execute();
}

/** Every VM: name, job (-1 for none) and BACKUP_CONFIG. */
export async function vmBackupSummaries(
  db: Queryable,
): Promise<{ id: number; name: string; backup_job_id: number; backupConfig: BackupConfig }[]> {
  const rows = await db.selectFrom('vms').select(['id', 'name', 'backup_job_id', 'backup_config']).execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    backup_job_id: r.backup_job_id,
    backupConfig: backupConfigFromJson(r.backup_config),
  }));
}

export async function hostIds(db: Queryable): Promise<{ id: number }[]> {
  return db.selectFrom('hosts').select('id').execute();
}

/** The datastores of TYPE BACKUP_DS. */
export async function backupDatastoreIds(db: Queryable): Promise<{ id: number }[]> {
  return db.selectFrom('datastores').select('id').where('type', '=', 'BACKUP_DS').execute();
}

/** Every run that ended, by job then run: a job's last row is its newest ended run. */
export async function endedRuns(
  db: Queryable,
): Promise<{ job_id: number; run_id: number; end_ms: number; result: RunResult | '' }[]> {
  return db
    .selectFrom('job_runs')
    .select(['job_id', 'run_id', 'end_ms', 'result'])
    .where('end_ms', '>', 0)
    .orderBy('job_id')
    .orderBy('run_id')
    .execute();
}

/** The tasks backing up now, with when their attempt started (epoch ms). */
export async function executingTasks(
  db: Queryable,
): Promise<{ job_id: number; vm_id: number; start_ms: number }[]> {
  return db
    .selectFrom('run_tasks')
    .select(['job_id', 'vm_id', 'start_ms'])
    .where('status', '=', 'executing')
    .execute();
}

/** The newest `limit` tasks that backed their VM up, newest first (epoch ms). */
export async function recentDoneTasks(
  db: Queryable,
  limit: number,
): Promise<{ vm_id: number; start_ms: number; end_ms: number }[]> {
  return db
    .selectFrom('run_tasks')
    .select(['vm_id', 'start_ms', 'end_ms'])
    .where('status', '=', 'done')
    .where('start_ms', '>', 0)
    .orderBy('end_ms', 'desc')
    .limit(limit)
    .execute();
}

/** The schedules (SCHED_ACTION) of every backup job. */
export async function backupJobSchedules(db: Queryable): Promise<SchedActionTable[]> {
  return db.selectFrom('sched_actions').selectAll().where('type', '=', 'BACKUPJOB').execute();
}

/**
 * Per datastore: images a verify found broken (STATE 5), images never found whole by a verify,
 * and the oldest time one of its images was last found whole (0 when none was).
 */
export async function imageVerifyCounts(
  db: Queryable,
): Promise<{ datastore_id: number; broken: number; never: number; oldest: number }[]> {
  const rows = await db.selectFrom('images').select(['datastore_id', 'state', 'verified_at']).execute();
  const out = new Map<number, { datastore_id: number; broken: number; never: number; oldest: number }>();
  for (const r of rows) {
    const c = out.get(r.datastore_id) ?? { datastore_id: r.datastore_id, broken: 0, never: 0, oldest: 0 };
    if (r.state === 5) c.broken++;
    if (r.verified_at === 0) c.never++;
    else if (c.oldest === 0 || r.verified_at < c.oldest) c.oldest = r.verified_at;
    out.set(r.datastore_id, c);
  }
  return [...out.values()];
}
