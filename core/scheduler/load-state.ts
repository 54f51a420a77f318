/**
 * Reads a job from the store as the dispatch index wants it (types.ts): its priority, mode,
 * pause flag, and the VMs that are in a set, in BACKUP_VMS order, with their host and retry time.
 */
import { isExecution } from '../model.js';
import { decodeAttributes, type PlainAttribute } from '../store/attributes.js';
import type { Tx } from '../store/db.js';
import type { CandidateJob, JobVm, VmSet } from './types.js';

export function singleValue(template: readonly PlainAttribute[], name: string): string | undefined {
  const a = template.find((x) => x.name === name);
  return a?.kind === 'single' ? a.value : undefined;
}

/** The job as a dispatch candidate, or undefined when it no longer exists. */
export async function loadCandidateJob(trx: Tx, jobId: number): Promise<CandidateJob | undefined> {
  const job = await trx
    .selectFrom('backup_jobs')
    .select(['id', 'priority', 'outdated_since', 'paused', 'template'])
    .where('id', '=', jobId)
    .executeTakeFirst();
  if (!job) return undefined;
  const template = decodeAttributes(job.template);
  const order = (singleValue(template, 'BACKUP_VMS') ?? '')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n));
  const rows = await trx
    .selectFrom('job_vms')
    .leftJoin('vms', 'vms.id', 'job_vms.vm_id')
    .leftJoin('hosts', 'hosts.id', 'vms.host_id')
    .select(['job_vms.vm_id', 'job_vms.vm_set', 'job_vms.not_before', 'vms.host_id', 'hosts.name'])
    .where('job_vms.job_id', '=', jobId)
    .execute();
  const byVm = new Map(rows.map((r) => [r.vm_id, r]));
  const position = (vm: number) => {
    const i = order.indexOf(vm);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  const vms: JobVm[] = [...byVm.keys()]
    .sort((a, b) => position(a) - position(b) || a - b)
    .map((vmId) => {
      const r = byVm.get(vmId);
      return {
        vmId,
        hostId: r?.host_id ?? -1,
        hostName: r?.name ?? 'unknown host',
        set: (r?.vm_set ?? 'ERROR') as VmSet,
        ...(r && r.not_before > 0 ? { notBefore: r.not_before } : {}),
      };
    });
  const execution = singleValue(template, 'EXECUTION') ?? 'SEQUENTIAL';
  return {
    id: job.id,
    priority: job.priority,
    outdatedSince: job.outdated_since,
    execution: isExecution(execution) ? execution : 'SEQUENTIAL',
    paused: job.paused === 1,
    vms,
  };
}

/** What one VM backup of a job needs, read when it starts. */
export interface JobBackupSettings {
  readonly datastoreId: number | undefined;
  readonly reset: boolean;
  readonly mode: string | undefined;
  readonly keepLast: number | undefined;
  readonly maxRetries: number;
  readonly retryIntervalS: number;
}

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_RETRY_INTERVAL_S = 300;

export function jobBackupSettings(templateText: string): JobBackupSettings {
  const t = decodeAttributes(templateText);
  const num = (name: string) => {
    const v = singleValue(t, name);
    return v === undefined || v.trim() === '' ? undefined : Number(v);
  };
  return {
    datastoreId: num('DATASTORE_ID'),
    reset: (singleValue(t, 'RESET') ?? '').toUpperCase() === 'YES',
    mode: singleValue(t, 'MODE'),
    keepLast: num('KEEP_LAST'),
    maxRetries: num('MAX_RETRIES') ?? DEFAULT_MAX_RETRIES,
    retryIntervalS: num('RETRY_INTERVAL') ?? DEFAULT_RETRY_INTERVAL_S,
  };
}
