/**
 * A job as the dispatch index wants it (types.ts): its priority, mode, pause flag, and the VMs
 * that are in a set, in BACKUP_VMS order, with their host and retry time.
 */

import { isExecution } from '../model.js';
import type { JobForDispatch } from '../store/job-vms.js';
import { singleValue } from '../template/job-settings.js';
import type { CandidateJob, JobVm } from './types.js';

export function candidateJob(job: JobForDispatch): CandidateJob {
  const vms: JobVm[] = job.vms.map((v) => ({
    vmId: v.vmId,
    hostId: v.hostId,
    hostName: v.hostName,
    set: v.set,
    ...(v.notBefore > 0 ? { notBefore: v.notBefore } : {}),
  }));
  const execution = singleValue(job.template, 'EXECUTION') ?? 'SEQUENTIAL';
  return {
    id: job.id,
    priority: job.priority,
    outdatedSince: job.outdatedSince,
    execution: isExecution(execution) ? execution : 'SEQUENTIAL',
    paused: job.paused,
    vms,
  };
}
