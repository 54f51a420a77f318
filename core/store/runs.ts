/**
 * Runs and tasks (accsyn's model, issue 4): every execution of a job is a run with one task per
 * VM. These helpers are called inside the transactions that move the VM sets, so a run record
 * never disagrees with the sets, even after a crash.
 */
import type { RunResult, RunTrigger } from '../model.js';
import type { Queryable, Tx } from './db.js';
import type { JobRunTable, RunTaskTable } from './schema.js';

/** The run in progress of a job, if any. */
export async function openRun(trx: Queryable, jobId: number): Promise<JobRunTable | undefined> {
  return trx
    .selectFrom('job_runs')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('end_ms', '=', 0)
    .orderBy('run_id', 'desc')
    .executeTakeFirst();
}

/** Starts a run with a queued task per VM; returns its ID (1, 2, ... per job). */
export async function startRun(
  trx: Tx,
  jobId: number,
  trigger: RunTrigger,
  vms: readonly { vmId: number; hostId: number }[],
  nowMs: number,
): Promise<number> {
  const last = await trx
    .selectFrom('job_runs')
    .select((eb) => eb.fn.max('run_id').as('max'))
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  const runId = Number(last?.max ?? 0) + 1;
  await trx
    .insertInto('job_runs')
    .values({ job_id: jobId, run_id: runId, trigger, start_ms: nowMs, end_ms: 0, result: '' })
    .execute();
  for (const vm of vms) await queueTask(trx, jobId, runId, vm.vmId, vm.hostId);
  return runId;
}

/** A task back in the queue (new, or retried within the run); its attempt count is kept. */
export async function queueTask(
  trx: Tx,
  jobId: number,
  runId: number,
  vmId: number,
  hostId: number,
  error = '',
): Promise<void> {
  const existing = await trx
    .selectFrom('run_tasks')
    .select('attempt')
    .where('job_id', '=', jobId)
    .where('run_id', '=', runId)
    .where('vm_id', '=', vmId)
    .executeTakeFirst();
  if (existing) {
    await trx
      .updateTable('run_tasks')
      .set({ status: 'queued', end_ms: 0, error })
      .where('job_id', '=', jobId)
      .where('run_id', '=', runId)
      .where('vm_id', '=', vmId)
      .execute();
    return;
  }
  const task: RunTaskTable = {
    job_id: jobId,
    run_id: runId,
    vm_id: vmId,
    host_id: hostId,
    status: 'queued',
    attempt: 0,
    start_ms: 0,
    end_ms: 0,
    bytes_done: 0,
    bytes_total: 0,
    error,
    seq: 0,
    daemon: '',
  };
  await trx.insertInto('run_tasks').values(task).execute();
}

/** Changes the task of a VM in the job's open run (no-op when there is none). */
export async function updateTask(
  trx: Tx,
  jobId: number,
  vmId: number,
  change: Partial<Omit<RunTaskTable, 'job_id' | 'run_id' | 'vm_id'>>,
): Promise<void> {
  const run = await openRun(trx, jobId);
  if (!run) return;
  await trx
    .updateTable('run_tasks')
    .set(change)
    .where('job_id', '=', jobId)
    .where('run_id', '=', run.run_id)
    .where('vm_id', '=', vmId)
    .execute();
}

/** The next global dispatch sequence number (start order across every job). */
export async function nextSeq(trx: Tx): Promise<number> {
  const row = await trx
    .selectFrom('run_tasks')
    .select((eb) => eb.fn.max('seq').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

/**
 * Ends the open run when no VM of the job is OUTDATED or ONGOING any more. The result is
 * `cancelled` when asked, else `failed` when a task failed, else `done`. Returns true if it ended.
 */
export async function closeRunIfFinished(
  trx: Tx,
  jobId: number,
  nowMs: number,
  cancelled = false,
): Promise<boolean> {
  const run = await openRun(trx, jobId);
  if (!run) return false;
  const pending = await trx
    .selectFrom('job_vms')
    .select('vm_id')
    .where('job_id', '=', jobId)
    .where('vm_set', 'in', ['OUTDATED', 'ONGOING'])
    .executeTakeFirst();
  if (pending) return false;
  const failed = await trx
    .selectFrom('run_tasks')
    .select('vm_id')
    .where('job_id', '=', jobId)
    .where('run_id', '=', run.run_id)
    .where('status', '=', 'failed')
    .executeTakeFirst();
  const result: RunResult = cancelled ? 'cancelled' : failed ? 'failed' : 'done';
  await trx
    .updateTable('job_runs')
    .set({ end_ms: nowMs, result })
    .where('job_id', '=', jobId)
    .where('run_id', '=', run.run_id)
    .execute();
  return true;
}

export interface RunRecord {
  readonly run: JobRunTable;
  readonly tasks: readonly RunTaskTable[];
}

/** Runs of a job, newest first (or one run), each with its tasks in dispatch order. */
export async function listRuns(trx: Queryable, jobId: number, runId?: number): Promise<RunRecord[]> {
  let q = trx.selectFrom('job_runs').selectAll().where('job_id', '=', jobId);
  if (runId !== undefined) q = q.where('run_id', '=', runId);
  const runs = await q.orderBy('run_id', 'desc').execute();
  if (runs.length === 0) return [];
  const tasks = await trx
    .selectFrom('run_tasks')
    .selectAll()
    .where('job_id', '=', jobId)
    .where(
      'run_id',
      'in',
      runs.map((r) => r.run_id),
    )
    .execute();
  return runs.map((run) => ({
    run,
    tasks: tasks
      .filter((t) => t.run_id === run.run_id)
      .sort(
        (a, b) =>
          (a.seq || Number.MAX_SAFE_INTEGER) - (b.seq || Number.MAX_SAFE_INTEGER) || a.vm_id - b.vm_id,
      ),
  }));
}

/** Saves the bytes done and total of executing tasks (progress for `runs`), in one transaction. */
export async function saveTaskProgress(
  trx: Tx,
  progress: readonly { jobId: number; vmId: number; bytesDone: number; bytesTotal: number }[],
): Promise<void> {
  for (const p of progress) {
    await trx
      .updateTable('run_tasks')
      .set({ bytes_done: p.bytesDone, bytes_total: p.bytesTotal })
      .where('job_id', '=', p.jobId)
      .where('vm_id', '=', p.vmId)
      .where('status', '=', 'executing')
      .execute();
  }
}

/** The start time of the job's newest run, if any. */
async function newestRunStart(trx: Queryable, jobId: number): Promise<number | undefined> {
  const run = await trx
    .selectFrom('job_runs')
    .select('start_ms')
    .where('job_id', '=', jobId)
    .orderBy('run_id', 'desc')
    .executeTakeFirst();
  return run?.start_ms;
}

/** Ends the open run if no VM is pending, and then records LAST_BACKUP_DURATION. True if it ended. */
export async function endRunIfFinished(
  trx: Tx,
  jobId: number,
  nowMs: number,
  cancelled = false,
): Promise<boolean> {
  if (!(await closeRunIfFinished(trx, jobId, nowMs, cancelled))) return false;
  const start = await newestRunStart(trx, jobId);
  if (start !== undefined) {
    await trx
      .updateTable('backup_jobs')
      .set({ last_backup_duration: Math.round((nowMs - start) / 1000) })
      .where('id', '=', jobId)
      .execute();
  }
  return true;
}
