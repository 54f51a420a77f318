/**
 * Backup jobs: their rows, the VMs they point at, and the transitions a user starts on a job
 * (create, update, delete, backup, cancel, retry, pause, exclude). Each function writes inside the
 * caller's transaction, so a service call that checks permissions and then changes a job commits
 * as one; a rejected call changes nothing.
 * The four VM sets live in job_vms, one row per (job, VM) with the set it is in; a VM in
 * BACKUP_VMS with no row is in no set (added since the last run).
 */
import { backupConfigFromJson, backupConfigToJson, withoutChain } from '../backup-config.js';
import { ErrorCode, OneError } from '../errors.js';
import { type RunTrigger, VM_SETS, type VmSet } from '../model.js';
import {
  decodeAttributes,
  encodeAttributes,
  type PlainAttribute,
  setSingle,
} from '../template/attributes.js';
import { vmsOf } from '../template/job-settings.js';
import { nextId, type Queryable, type Tx } from './db.js';
import { closeRunIfFinished, openRun, queueTask, startRun, updateTask } from './runs.js';
import { deleteJobSchedules, schedulesOfJobs } from './schedules.js';
import type { BackupJobTable, OwnedColumns, SchedActionTable } from './schema.js';

export function findJob(db: Queryable, id: number): Promise<BackupJobTable | undefined> {
  return db.selectFrom('backup_jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every job, newest first (the pool's order). */
export function listJobs(db: Queryable): Promise<BackupJobTable[]> {
  return db.selectFrom('backup_jobs').selectAll().orderBy('id', 'desc').execute();
}

export async function allJobIds(db: Queryable): Promise<number[]> {
  return (await db.selectFrom('backup_jobs').select('id').execute()).map((r) => r.id);
}

export interface NewJob {
  readonly name: string;
  readonly ownership: Pick<
    OwnedColumns,
    'uid' | 'gid' | 'permissions' | 'lock_level' | 'lock_owner' | 'lock_time' | 'lock_req_id'
  >;
  readonly attributes: readonly PlainAttribute[];
  readonly priority: number;
}

/** Creates a job pointing at its BACKUP_VMS; returns its ID. */
export async function insertJob(trx: Tx, job: NewJob): Promise<number> {
  const id = await nextId(trx, 'backup_jobs');
  await trx
    .insertInto('backup_jobs')
    .values({
      id,
      name: job.name,
      ...job.ownership,
      template: encodeAttributes(job.attributes),
      priority: job.priority,
      last_backup_time: 0,
      last_backup_duration: 0,
      outdated_since: 0,
      paused: 0,
    })
    .execute();
  await relinkJobVms(trx, id, [], vmsOf(job.attributes));
  return id;
}

/**
 * New template of a job: VMs that left BACKUP_VMS leave its sets (their task `excluded`, their
 * chain starts anew); VMs that joined point at the job.
 */
export async function replaceJobTemplate(
  trx: Tx,
  id: number,
  before: readonly number[],
  attributes: readonly PlainAttribute[],
  nowMs: number,
): Promise<void> {
  await trx
    .updateTable('backup_jobs')
    .set({ template: encodeAttributes(attributes) })
    .where('id', '=', id)
    .execute();
  const after = vmsOf(attributes);
  await relinkJobVms(trx, id, before, after);
  const dropped = before.filter((vm) => !after.includes(vm));
  for (const vm of dropped)
    await updateTask(trx, id, vm, { status: 'excluded', error: 'removed from BACKUP_VMS', end_ms: nowMs });
  if (dropped.length > 0) await closeRunIfFinished(trx, id, nowMs);
}

/** Points VMs at their job and releases the ones that left it (their chain starts anew). */
async function relinkJobVms(trx: Tx, jobId: number, before: readonly number[], after: readonly number[]) {
  const removed = before.filter((id) => !after.includes(id));
  const added = after.filter((id) => !before.includes(id));
  if (removed.length > 0) {
    const rows = await trx
      .selectFrom('vms')
      .select(['id', 'backup_config', 'backup_job_id'])
      .where('id', 'in', removed)
      .execute();
    for (const row of rows) {
      if (row.backup_job_id !== jobId) continue;
      const cfg = withoutChain(backupConfigFromJson(row.backup_config));
      await trx
        .updateTable('vms')
        .set({ backup_job_id: -1, backup_config: backupConfigToJson(cfg) })
        .where('id', '=', row.id)
        .execute();
    }
    await trx.deleteFrom('job_vms').where('job_id', '=', jobId).where('vm_id', 'in', removed).execute();
  }
  if (added.length > 0) {
    await trx.updateTable('vms').set({ backup_job_id: jobId }).where('id', 'in', added).execute();
  }
}

/**
 * A VM of the job is deleted from the inventory: it leaves BACKUP_VMS and the job's sets, its task
 * in the open run is `excluded` ("VM deleted"), and the run ends if nothing else is pending.
 */
export async function removeDeletedVmFromJob(
  trx: Tx,
  jobId: number,
  vmId: number,
  nowMs: number,
): Promise<void> {
  const job = await findJob(trx, jobId);
  if (!job) return;
  const template = decodeAttributes(job.template);
  const vms = vmsOf(template).filter((id) => id !== vmId);
  await trx
    .updateTable('backup_jobs')
    .set({ template: encodeAttributes(setSingle(template, 'BACKUP_VMS', vms.join(','))) })
    .where('id', '=', jobId)
    .execute();
  await trx.deleteFrom('job_vms').where('job_id', '=', jobId).where('vm_id', '=', vmId).execute();
  await updateTask(trx, jobId, vmId, { status: 'excluded', error: 'VM deleted', end_ms: nowMs });
  await closeRunIfFinished(trx, jobId, nowMs);
}

/** Deletes a job with its schedules, sets, runs and task logs; its VMs are released. */
export async function deleteJob(trx: Tx, job: BackupJobTable): Promise<void> {
  await relinkJobVms(trx, job.id, vmsOf(decodeAttributes(job.template)), []);
  await deleteJobSchedules(trx, job.id);
  await trx.deleteFrom('job_vms').where('job_id', '=', job.id).execute();
  await trx.deleteFrom('run_tasks').where('job_id', '=', job.id).execute();
  await trx.deleteFrom('job_runs').where('job_id', '=', job.id).execute();
  await trx.deleteFrom('task_logs').where('job_id', '=', job.id).execute();
  await trx.deleteFrom('backup_jobs').where('id', '=', job.id).execute();
}

export async function setJobPriority(trx: Tx, id: number, priority: number): Promise<void> {
  await trx.updateTable('backup_jobs').set({ priority }).where('id', '=', id).execute();
}

export async function setJobPaused(trx: Tx, id: number, paused: boolean): Promise<void> {
  await trx
    .updateTable('backup_jobs')
    .set({ paused: paused ? 1 : 0 })
    .where('id', '=', id)
    .execute();
}

/** Records an error on the job's TEMPLATE/ERROR, OpenNebula style ("<ctime> : <message>"). */
export async function setJobError(trx: Tx, jobId: number, ctime: string, message: string): Promise<void> {
  const job = await trx
    .selectFrom('backup_jobs')
    .select('template')
    .where('id', '=', jobId)
    .executeTakeFirst();
  if (!job) return;
  const t = setSingle(decodeAttributes(job.template), 'ERROR', `${ctime} : ${message}`);
  await trx
    .updateTable('backup_jobs')
    .set({ template: encodeAttributes(t) })
    .where('id', '=', jobId)
    .execute();
}

/** Each VM with its host (-1 when the VM is gone; the scheduler then records the error). */
async function hostsOf(trx: Tx, vms: readonly number[]): Promise<{ vmId: number; hostId: number }[]> {
  if (vms.length === 0) return [];
  const rows = await trx.selectFrom('vms').select(['id', 'host_id']).where('id', 'in', vms).execute();
  const host = new Map(rows.map((r) => [r.id, r.host_id]));
  return vms.map((vmId) => ({ vmId, hostId: host.get(vmId) ?? -1 }));
}

async function hasPendingVms(db: Queryable, jobId: number): Promise<boolean> {
  const pending = await db
    .selectFrom('job_vms')
    .select('vm_id')
    .where('job_id', '=', jobId)
    .where('vm_set', 'in', ['OUTDATED', 'ONGOING'])
    .executeTakeFirst();
  return pending !== undefined;
}

/**
 * Opens a run of the job (manual or scheduled): every VM of BACKUP_VMS becomes OUTDATED with a
 * queued task. Refused while a run is pending or when the job has no DATASTORE_ID.
 */
export async function openJobRun(
  trx: Tx,
  job: BackupJobTable,
  trigger: RunTrigger,
  nowMs: number,
): Promise<void> {
  if (await hasPendingVms(trx, job.id))
    throw new OneError(ErrorCode.ACTION, 'Unable to execute Backup Job, pending backups in progress');
  const template = decodeAttributes(job.template);
  const vms = vmsOf(template);
  if (vms.length === 0) {
    throw new OneError(
      ErrorCode.ACTION,
      `backup job ${job.id} has no VMs in BACKUP_VMS; add some with: onebackupjob update ${job.id} -a (BACKUP_VMS = "<ids>")`,
    );
  }
  if (!template.some((a) => a.name === 'DATASTORE_ID')) {
    throw new OneError(
      ErrorCode.ACTION,
      `backup job ${job.id} has no DATASTORE_ID; set one with: onebackupjob update ${job.id} -a (DATASTORE_ID = <id>)`,
    );
  }
  const now = Math.floor(nowMs / 1000);
  await trx.deleteFrom('job_vms').where('job_id', '=', job.id).execute();
  for (const vmId of vms) {
    await trx
      .insertInto('job_vms')
      .values({ job_id: job.id, vm_id: vmId, vm_set: 'OUTDATED', error: '', changed: now })
      .execute();
  }
  await startRun(trx, job.id, trigger, await hostsOf(trx, vms), nowMs);
  await trx
    .updateTable('backup_jobs')
    .set({
      last_backup_time: now,
      outdated_since: now,
      template: encodeAttributes(template.filter((a) => a.name !== 'ERROR')),
    })
    .where('id', '=', job.id)
    .execute();
}

/**
 * `cancel` (of the whole run, or of one VM's backup with `onevm backup-cancel`): OUTDATED VMs
 * leave every set (task excluded); ONGOING ones land in ERROR (task failed). Returns the VMs
 * whose running backups must be aborted, and those taken out of the queue.
 */
export async function cancelJobRun(
  trx: Tx,
  jobId: number,
  nowMs: number,
  onlyVm?: number,
): Promise<{ running: number[]; queued: number[] }> {
  let query = trx
    .selectFrom('job_vms')
    .select(['vm_id', 'vm_set'])
    .where('job_id', '=', jobId)
    .where('vm_set', 'in', ['ONGOING', 'OUTDATED']);
  if (onlyVm !== undefined) query = query.where('vm_id', '=', onlyVm);
  const rows = await query.execute();
  const error = 'backup cancelled by user';
  for (const r of rows) {
    const ongoing = r.vm_set === 'ONGOING';
    await updateTask(trx, jobId, r.vm_id, { status: ongoing ? 'failed' : 'excluded', error, end_ms: nowMs });
    if (ongoing)
      await setJobVmSet(trx, jobId, r.vm_id, { vm_set: 'ERROR', error, changed: Math.floor(nowMs / 1000) });
    else await trx.deleteFrom('job_vms').where('job_id', '=', jobId).where('vm_id', '=', r.vm_id).execute();
  }
  await closeRunIfFinished(trx, jobId, nowMs, onlyVm === undefined);
  const of = (set: string) => rows.filter((r) => r.vm_set === set).map((r) => r.vm_id);
  return { running: of('ONGOING'), queued: of('OUTDATED') };
}

async function setJobVmSet(
  trx: Tx,
  jobId: number,
  vmId: number,
  values: { vm_set: 'ERROR'; error: string; changed: number },
): Promise<void> {
  await trx
    .updateTable('job_vms')
    .set(values)
    .where('job_id', '=', jobId)
    .where('vm_id', '=', vmId)
    .execute();
}

/** `retry`: ERROR VMs go back to OUTDATED (in the run in progress, or a new `retry` run). */
export async function retryJobErrors(trx: Tx, job: BackupJobTable, nowMs: number): Promise<void> {
  const id = job.id;
  const now = Math.floor(nowMs / 1000);
  const hadOutdated = await trx
    .selectFrom('job_vms')
    .select('vm_id')
    .where('job_id', '=', id)
    .where('vm_set', '=', 'OUTDATED')
    .executeTakeFirst();
  const failed = (
    await trx
      .selectFrom('job_vms')
      .select('vm_id')
      .where('job_id', '=', id)
      .where('vm_set', '=', 'ERROR')
      .execute()
  ).map((r) => r.vm_id);
  await trx
    .updateTable('job_vms')
    .set({ vm_set: 'OUTDATED', error: '', changed: now, attempt: 0, not_before: 0 })
    .where('job_id', '=', id)
    .where('vm_set', '=', 'ERROR')
    .execute();
  const run = await openRun(trx, id);
  const vms = await hostsOf(trx, failed);
  if (run) for (const vm of vms) await queueTask(trx, id, run.run_id, vm.vmId, vm.hostId);
  else if (vms.length > 0) await startRun(trx, id, 'retry', vms, nowMs);
  const template = decodeAttributes(job.template).filter((a) => a.name !== 'ERROR');
  await trx
    .updateTable('backup_jobs')
    .set({ template: encodeAttributes(template), ...(hadOutdated ? {} : { outdated_since: now }) })
    .where('id', '=', id)
    .execute();
}

/** `exclude`: an OUTDATED VM leaves the current run (task `excluded`); it stays in BACKUP_VMS. */
export async function excludeJobVm(trx: Tx, jobId: number, vmId: number, nowMs: number): Promise<void> {
  const row = await trx
    .selectFrom('job_vms')
    .select('vm_set')
    .where('job_id', '=', jobId)
    .where('vm_id', '=', vmId)
    .executeTakeFirst();
  if (row?.vm_set !== 'OUTDATED') {
    const where = row ? `it is ${row.vm_set}` : 'it is in no set of the job';
    const fix = row?.vm_set === 'ONGOING' ? `; to stop it, run: onebackupjob cancel ${jobId}` : '';
    throw new OneError(
      ErrorCode.ACTION,
      `Cannot exclude VM ${vmId} from backup job ${jobId}: only a VM waiting in OUTDATED can be excluded, ${where}${fix}`,
    );
  }
  await trx.deleteFrom('job_vms').where('job_id', '=', jobId).where('vm_id', '=', vmId).execute();
  await updateTask(trx, jobId, vmId, { status: 'excluded', error: 'excluded by user', end_ms: nowMs });
  await closeRunIfFinished(trx, jobId, nowMs);
}

/** What a job document shows besides the job row: its sets (ascending VM IDs) and schedules. */
export interface JobDetails {
  readonly sets: Readonly<Record<VmSet, readonly number[]>>;
  readonly schedActions: readonly SchedActionTable[];
}

export async function jobDetails(db: Queryable, jobIds: readonly number[]): Promise<Map<number, JobDetails>> {
  const out = new Map<number, JobDetails>();
  if (jobIds.length === 0) return out;
  const memberships = await db.selectFrom('job_vms').selectAll().where('job_id', 'in', jobIds).execute();
  const sched = await schedulesOfJobs(db, jobIds);
  for (const id of jobIds) {
    const sets = Object.fromEntries(VM_SETS.map((s) => [s, [] as number[]])) as Record<VmSet, number[]>;
    for (const m of memberships) if (m.job_id === id) sets[m.vm_set].push(m.vm_id);
    for (const s of VM_SETS) sets[s].sort((a, b) => a - b);
    out.set(id, { sets, schedActions: sched.filter((s) => s.parent_id === id) });
  }
  return out;
}
