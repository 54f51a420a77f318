/**
 * The VM-set state machine of backup jobs as the scheduler drives it:
 *
 *   OUTDATED --dispatchJobVm--> ONGOING --completeJobVm (inside recordBackup's transaction)--> UPDATED
 *                                   |--failJobVm: retryable and retries left--> OUTDATED (not before a time)
 *                                   |--failJobVm: permanent or out of retries--> ERROR
 *   ONGOING left by a crash --requeueInterrupted--> OUTDATED (or ERROR when out of retries)
 *
 * Every transition writes the VM's set, its task in the open run and, when nothing of the job is
 * pending any more, closes the run, all in the caller's one transaction: a kill at any moment
 * leaves the sets and the runs in step.
 */

import { ONEADMIN_GID, ONEADMIN_UID, type VmSet } from '../model.js';
import { decodeAttributes, type PlainAttribute } from '../template/attributes.js';
import { type JobBackupSettings, jobBackupSettings, vmsOf } from '../template/job-settings.js';
import type { RetentionOwner } from './backups.js';
import { claimBackup, releaseClaim } from './daemons.js';
import type { Queryable, Tx } from './db.js';
import { setJobError } from './jobs.js';
import { endRunIfFinished, nextSeq, openRun, queueTask, updateTask } from './runs.js';

/** A job as dispatch reads it: queue fields, template, and its VMs in a set with host and retry time. */
export interface JobForDispatch {
  readonly id: number;
  readonly priority: number;
  readonly outdatedSince: number;
  readonly paused: boolean;
  readonly template: readonly PlainAttribute[];
  /** VMs in a set, in BACKUP_VMS order (others after, by ID). */
  readonly vms: readonly {
    readonly vmId: number;
    readonly hostId: number;
    readonly hostName: string;
    readonly set: VmSet;
    readonly notBefore: number;
  }[];
}

export async function readJobForDispatch(db: Queryable, jobId: number): Promise<JobForDispatch | undefined> {
  const job = await db
    .selectFrom('backup_jobs')
    .select(['id', 'priority', 'outdated_since', 'paused', 'template'])
    .where('id', '=', jobId)
    .executeTakeFirst();
  if (!job) return undefined;
  const template = decodeAttributes(job.template);
  const order = vmsOf(template).filter((n) => Number.isInteger(n));
  const rows = await db
    .selectFrom('job_vms')
    .leftJoin('vms', 'vms.id', 'job_vms.vm_id')
    .leftJoin('hosts', 'hosts.id', 'vms.host_id')
    .select(['job_vms.vm_id', 'job_vms.vm_set', 'job_vms.not_before', 'vms.host_id', 'hosts.name'])
    .where('job_vms.job_id', '=', jobId)
    .execute();
  const position = (vm: number) => {
    const i = order.indexOf(vm);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  const vms = rows
    .map((r) => ({
      vmId: r.vm_id,
      hostId: r.host_id ?? -1,
      hostName: r.name ?? 'unknown host',
      set: r.vm_set,
      notBefore: r.not_before,
    }))
    .sort((a, b) => position(a.vmId) - position(b.vmId) || a.vmId - b.vmId);
  return {
    id: job.id,
    priority: job.priority,
    outdatedSince: job.outdated_since,
    paused: job.paused === 1,
    template,
    vms,
  };
}

/** The daemon starting a backup, and the limits its claim is counted against over every daemon. */
export interface Claimant {
  readonly daemonId: string;
  /** For the run records (`run_tasks.daemon`). */
  readonly daemonName: string;
  readonly limits: { readonly maxBackups: number; readonly maxBackupsHost: number };
}

export type DispatchOutcome =
  | {
      readonly started: true;
      readonly attempt: number;
      readonly settings: JobBackupSettings;
      readonly owner: RetentionOwner;
    }
  /** full: a limit counted over every daemon's claims; else the VM is claimed already. */
  | { readonly started: false; readonly reason: string; readonly full: boolean };

/**
 * OUTDATED -> ONGOING, claimed by the daemon, an attempt counted, the task `executing` with the
 * next start sequence. Undefined when the VM is no longer OUTDATED or the job is gone (the caller
 * re-reads the job); not started when the claim is refused.
 */
export async function dispatchJobVm(
  trx: Tx,
  jobId: number,
  vmId: number,
  hostId: number,
  nowMs: number,
  claimant: Claimant,
): Promise<DispatchOutcome | undefined> {
  const jv = await trx
    .selectFrom('job_vms')
    .select(['vm_set', 'attempt'])
    .where('job_id', '=', jobId)
    .where('vm_id', '=', vmId)
    .executeTakeFirst();
  const job = await trx
    .selectFrom('backup_jobs')
    .leftJoin('users', 'users.id', 'backup_jobs.uid')
    .select(['backup_jobs.template', 'backup_jobs.uid', 'backup_jobs.gid', 'users.gid as user_gid'])
    .where('backup_jobs.id', '=', jobId)
    .executeTakeFirst();
  if (jv?.vm_set !== 'OUTDATED' || !job) return undefined;
  const claim = await claimBackup(
    trx,
    { vmId, daemonId: claimant.daemonId, hostId, jobId, nowMs },
    claimant.limits,
  );
  if (!claim.claimed) return { started: false, reason: claim.reason, full: claim.full };
  // Retention acts for the job's owner: an admin as OpenNebula counts them (oneadmin, or the oneadmin group).
  const ownerGid = job.user_gid ?? job.gid;
  const owner = {
    uid: job.uid,
    gid: ownerGid,
    isAdmin: job.uid === ONEADMIN_UID || ownerGid === ONEADMIN_GID,
  };
  const attempt = jv.attempt + 1;
  await setJobVm(trx, jobId, vmId, {
    vm_set: 'ONGOING',
    attempt,
    not_before: 0,
    changed: Math.floor(nowMs / 1000),
  });
  await updateTask(trx, jobId, vmId, {
    status: 'executing',
    attempt,
    host_id: hostId,
    start_ms: nowMs,
    end_ms: 0,
    bytes_done: 0,
    error: '',
    seq: await nextSeq(trx),
    daemon: claimant.daemonName,
  });
  return { started: true, attempt, settings: jobBackupSettings(decodeAttributes(job.template)), owner };
}

async function setJobVm(
  trx: Tx,
  jobId: number,
  vmId: number,
  change: { vm_set: VmSet; changed: number; error?: string; attempt?: number; not_before?: number },
): Promise<void> {
  await trx
    .updateTable('job_vms')
    .set(change)
    .where('job_id', '=', jobId)
    .where('vm_id', '=', vmId)
    .execute();
}

async function vmSetOf(db: Queryable, jobId: number, vmId: number): Promise<VmSet | undefined> {
  const jv = await db
    .selectFrom('job_vms')
    .select('vm_set')
    .where('job_id', '=', jobId)
    .where('vm_id', '=', vmId)
    .executeTakeFirst();
  return jv?.vm_set;
}

/**
 * A VM backup of a job was recorded: ONGOING -> UPDATED (unless a cancel or an update moved it
 * meanwhile), the task done. Called inside the transaction that records the backup itself.
 * Returns whether the job's run ended with it.
 */
export async function completeJobVm(
  trx: Tx,
  done: {
    jobId: number;
    vmId: number;
    nowMs: number;
    bytesDone: number;
    bytesTotal: number;
    daemonId: string;
  },
): Promise<boolean> {
  const { jobId, vmId, nowMs } = done;
  if (!(await releaseClaim(trx, vmId, done.daemonId))) throw new ClaimLost(vmId);
  if ((await vmSetOf(trx, jobId, vmId)) === 'ONGOING')
    await setJobVm(trx, jobId, vmId, {
      vm_set: 'UPDATED',
      error: '',
      not_before: 0,
      changed: Math.floor(nowMs / 1000),
    });
  await updateTask(trx, jobId, vmId, {
    status: 'done',
    end_ms: nowMs,
    bytes_done: done.bytesDone,
    bytes_total: done.bytesTotal,
  });
  return endRunIfFinished(trx, jobId, nowMs);
}

/**
 * The daemon no longer holds the claim of the backup it is recording: it missed its heartbeats
 * for longer than the lease and another daemon requeued the VM. The backup is not recorded.
 */
export class ClaimLost extends Error {
  constructor(vmId: number) {
    super(
      `VM ${vmId}: this daemon lost its claim of the backup (its heartbeats stopped for longer than the lease) ` +
        'and another daemon requeued it; this backup is not recorded',
    );
    this.name = 'ClaimLost';
  }
}

export interface JobVmFailure {
  readonly daemonId: string;
  readonly jobId: number;
  readonly vmId: number;
  readonly hostId: number;
  readonly attempt: number;
  readonly maxRetries: number;
  readonly retryIntervalS: number;
  /** aborted: cancelled, or stopped by a shutdown (requeued at once when retries are left). */
  readonly kind: 'retryable' | 'permanent' | 'aborted';
  readonly message: string;
  readonly nowMs: number;
  /** ctime() of now, for the job's ERROR attribute. */
  readonly ctime: string;
}

/** What a failure did: the VM had already left ONGOING (stopped), waits for a retry, or is in ERROR. */
export type FailureOutcome =
  | { readonly outcome: 'stopped'; readonly runEnded: boolean }
  | { readonly outcome: 'retry'; readonly notBefore: number; readonly runEnded: boolean }
  | { readonly outcome: 'error'; readonly text: string; readonly runEnded: boolean };

/** A VM backup of a job failed: back to OUTDATED for a retry, or to ERROR with the job's ERROR set. */
export async function failJobVm(trx: Tx, f: JobVmFailure): Promise<FailureOutcome> {
  const { jobId, vmId, nowMs } = f;
  const nowS = Math.floor(nowMs / 1000);
  // A claim requeued by another daemon (this one's lease ran out): the VM's state is theirs now.
  if (!(await releaseClaim(trx, vmId, f.daemonId))) return { outcome: 'stopped', runEnded: false };
  if ((await vmSetOf(trx, jobId, vmId)) !== 'ONGOING') {
    // Cancelled (the cancel already moved the VM to ERROR) or the job changed under it.
    return { outcome: 'stopped', runEnded: await endRunIfFinished(trx, jobId, nowMs) };
  }
  const interrupted = f.kind === 'aborted';
  if ((f.kind === 'retryable' || interrupted) && f.attempt <= f.maxRetries) {
    const notBefore = interrupted ? 0 : nowS + f.retryIntervalS;
    await setJobVm(trx, jobId, vmId, {
      vm_set: 'OUTDATED',
      error: f.message,
      not_before: notBefore,
      changed: nowS,
    });
    const run = await openRun(trx, jobId);
    if (run) {
      const when = interrupted ? 'requeued' : `retry at ${new Date(notBefore * 1000).toISOString()}`;
      await queueTask(trx, jobId, run.run_id, vmId, f.hostId, `${f.message} (${when})`);
    }
    return { outcome: 'retry', notBefore, runEnded: await endRunIfFinished(trx, jobId, nowMs) };
  }
  const counted = f.kind === 'permanent' ? '' : ` (attempt ${f.attempt} of ${f.maxRetries + 1})`;
  const text = `${interrupted ? `interrupted: ${f.message}` : f.message}${counted}`;
  await setJobVm(trx, jobId, vmId, { vm_set: 'ERROR', error: text, not_before: 0, changed: nowS });
  await updateTask(trx, jobId, vmId, { status: 'failed', end_ms: nowMs, error: text });
  await setJobError(trx, jobId, f.ctime, `[backup] VM ${vmId}: ${text}`);
  return { outcome: 'error', text, runEnded: await endRunIfFinished(trx, jobId, nowMs) };
}

/**
 * After a crash: VMs left ONGOING go back to OUTDATED (the attempt counted) or to ERROR when out
 * of retries. `only` limits it to those VMs of those jobs (the claims of a daemon that is gone);
 * without it every ONGOING VM no daemon claims. Returns how many VMs it found.
 */
export async function requeueInterrupted(
  trx: Tx,
  nowMs: number,
  ctime: string,
  only?: readonly { jobId: number; vmId: number }[],
  message = 'interrupted: onebackupd stopped during the backup',
): Promise<number> {
  if (only?.length === 0) return 0;
  const wanted = only && new Set(only.map((o) => `${o.jobId}/${o.vmId}`));
  // Without `only`: the ONGOING VMs no daemon claims (those of a daemon that is gone).
  const rows = (
    await trx
      .selectFrom('job_vms')
      .innerJoin('backup_jobs', 'backup_jobs.id', 'job_vms.job_id')
      .leftJoin('backup_claims', 'backup_claims.vm_id', 'job_vms.vm_id')
      .select([
        'job_vms.job_id',
        'job_vms.vm_id',
        'job_vms.attempt',
        'backup_jobs.template',
        'backup_claims.daemon_id',
      ])
      .where('job_vms.vm_set', '=', 'ONGOING')
      .execute()
  ).filter((r) => (wanted ? wanted.has(`${r.job_id}/${r.vm_id}`) : r.daemon_id === null));
  const nowS = Math.floor(nowMs / 1000);
  for (const r of rows) {
    const { maxRetries } = jobBackupSettings(decodeAttributes(r.template));
    if (r.attempt <= maxRetries) {
      await setJobVm(trx, r.job_id, r.vm_id, {
        vm_set: 'OUTDATED',
        error: message,
        not_before: 0,
        changed: nowS,
      });
      await updateTask(trx, r.job_id, r.vm_id, {
        status: 'queued',
        end_ms: 0,
        error: `${message} (requeued)`,
      });
    } else {
      const text = `${message} (attempt ${r.attempt} of ${maxRetries + 1})`;
      await setJobVm(trx, r.job_id, r.vm_id, { vm_set: 'ERROR', error: text, changed: nowS });
      await updateTask(trx, r.job_id, r.vm_id, { status: 'failed', end_ms: nowMs, error: text });
      await setJobError(trx, r.job_id, ctime, `[backup] VM ${r.vm_id}: ${text}`);
      await endRunIfFinished(trx, r.job_id, nowMs);
    }
  }
  return rows.length;
}
