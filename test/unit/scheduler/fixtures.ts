/** Small builders for dispatch states, so each example test reads as its scenario. */
import type {
  CandidateJob,
  DispatchPolicy,
  DispatchState,
  JobVm,
  RunningBackup,
  VmSet,
} from '../../../core/scheduler/types.js';

/** 2026-01-05T09:00:00Z */
export const NOW = 1767603600;

export function vm(
  vmId: number,
  hostId: number,
  set: VmSet = 'OUTDATED',
  extra: { notBefore?: number; excluded?: boolean } = {},
): JobVm {
  return { vmId, hostId, hostName: `node${hostId}`, set, ...extra };
}

export function job(
  id: number,
  priority: number,
  vms: JobVm[],
  opts: { since?: number; sequential?: boolean; paused?: boolean } = {},
): CandidateJob {
  return {
    id,
    priority,
    outdatedSince: opts.since ?? NOW - 3600,
    execution: opts.sequential === true ? 'SEQUENTIAL' : 'PARALLEL',
    paused: opts.paused ?? false,
    vms,
  };
}

export function state(
  jobs: CandidateJob[],
  maxBackups: number,
  maxBackupsHost: number,
  running: RunningBackup[] = [],
  policy?: DispatchPolicy,
): DispatchState {
  const s: DispatchState = { jobs, running, limits: { maxBackups, maxBackupsHost }, now: NOW };
  return policy === undefined ? s : { ...s, policy };
}

/** Dispatches as "job:vm" strings, to compare orders at a glance. */
export function ids(ds: readonly { jobId: number; vmId: number }[]): string[] {
  return ds.map((d) => `${d.jobId}:${d.vmId}`);
}
