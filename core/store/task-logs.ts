/**
 * The per-VM backup log (issue 5: `onebackupjob runs <job> --log <vm>`): lines stored under the
 * VM's task in the newest run of its job that has one, and kept for the job's last runs only.
 */
import type { Queryable, Tx } from './db.js';

export interface TaskLogLine {
  readonly vmId: number;
  /** The job the line is about; undefined: the VM's current job. */
  readonly jobId: number | undefined;
  /** Epoch milliseconds. */
  readonly timeMs: number;
  readonly line: string;
}

/**
 * Stores each line under its VM's task in the job's newest run with that VM, and drops the lines
 * of the job's runs older than the last `keepRuns`. A line whose VM is in no job, or has no task
 * yet, is not stored.
 */
export async function appendTaskLogLines(
  trx: Tx,
  lines: readonly TaskLogLine[],
  keepRuns: number,
): Promise<void> {
  for (const p of lines) {
    let jobId = p.jobId;
    if (jobId === undefined) {
      const vm = await trx
        .selectFrom('vms')
        .select('backup_job_id')
        .where('id', '=', p.vmId)
        .executeTakeFirst();
      jobId = vm?.backup_job_id;
    }
    if (jobId === undefined || jobId < 0) continue;
    const task = await trx
      .selectFrom('run_tasks')
      .select('run_id')
      .where('job_id', '=', jobId)
      .where('vm_id', '=', p.vmId)
      .orderBy('run_id', 'desc')
      .executeTakeFirst();
    if (!task) continue;
    await trx
      .insertInto('task_logs')
      .values({ job_id: jobId, run_id: task.run_id, vm_id: p.vmId, time_ms: p.timeMs, line: p.line })
      .execute();
    await trx
      .deleteFrom('task_logs')
      .where('job_id', '=', jobId)
      .where('run_id', '<=', task.run_id - keepRuns)
      .execute();
  }
}

/** The stored log lines of one VM task of a run, oldest first. */
export async function taskLogLines(
  db: Queryable,
  jobId: number,
  runId: number,
  vmId: number,
): Promise<{ timeMs: number; line: string }[]> {
  const rows = await db
    .selectFrom('task_logs')
    .select(['time_ms', 'line'])
    .where('job_id', '=', jobId)
    .where('run_id', '=', runId)
    .where('vm_id', '=', vmId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => ({ timeMs: r.time_ms, line: r.line }));
}
