/**
 * The dispatch index's records of one job and its VMs (dispatch-index.ts keeps them indexed):
 * built from a CandidateJob, turned back into one for snapshot(), and the per-entry predicates the
 * index's invariants are written in. The mutable fields are the index's to keep in step.
 */
import type { CandidateJob, Execution, JobVm, VmSet } from './types.js';

export interface VmEntry {
  readonly job: JobEntry;
  /** Position in BACKUP_VMS. */
  readonly pos: number;
  readonly vmId: number;
  readonly hostId: number;
  readonly hostName: string;
  set: VmSet;
  notBefore: number | undefined;
  excluded: boolean;
  ready: boolean;
  /** The time of this VM's live entry in the delayed heap; older entries are stale. */
  heapAt: number | undefined;
  removed: boolean;
}

export interface JobEntry {
  readonly id: number;
  readonly priority: number;
  readonly outdatedSince: number;
  readonly execution: Execution;
  paused: boolean;
  readonly vms: VmEntry[];
  readonly byVmId: Map<number, VmEntry>;
  /** vmId -> 1 for ONGOING in the job, +1 for a running backup with this jobId. */
  readonly busy: Map<number, number>;
  readonly readyOn: Map<number, VmEntry[]>;
  dispatchable: boolean;
  /** OUTDATED VMs that are not excluded. */
  outstanding: number;
  /** Counted in the index's top priorities. */
  listed: boolean;
}

export const byPos = (a: VmEntry, b: VmEntry): number => a.pos - b.pos;

/**
 * The entry of `job`, its VMs ready nowhere yet and the job not listed; `runningVms` are the VMs
 * with a running backup for this job (they count as busy).
 */
export function newJobEntry(job: CandidateJob, runningVms: Iterable<number>): JobEntry {
  const entry: JobEntry = {
    id: job.id,
    priority: job.priority,
    outdatedSince: job.outdatedSince,
    execution: job.execution,
    paused: job.paused,
    vms: [],
    byVmId: new Map(),
    busy: new Map(),
    readyOn: new Map(),
    dispatchable: false,
    outstanding: 0,
    listed: false,
  };
  for (const [pos, vm] of job.vms.entries()) {
    if (entry.byVmId.has(vm.vmId)) throw new Error(`backup job ${job.id}: VM ${vm.vmId} is listed twice`);
    const v: VmEntry = {
      job: entry,
      pos,
      vmId: vm.vmId,
      hostId: vm.hostId,
      hostName: vm.hostName,
      set: vm.set,
      notBefore: vm.notBefore,
      excluded: vm.excluded === true,
      ready: false,
      heapAt: undefined,
      removed: false,
    };
    entry.vms.push(v);
    entry.byVmId.set(vm.vmId, v);
    if (v.set === 'ONGOING') addCount(entry.busy, v.vmId);
    if (isOutstanding(v)) entry.outstanding += 1;
  }
  for (const vmId of runningVms) addCount(entry.busy, vmId);
  entry.dispatchable = isDispatchable(entry);
  return entry;
}

/** The entry as the plain data it was built from (with the sets and retry times it has now). */
export function candidateOf(job: JobEntry): CandidateJob {
  return {
    id: job.id,
    priority: job.priority,
    outdatedSince: job.outdatedSince,
    execution: job.execution,
    paused: job.paused,
    vms: job.vms.map((v) => {
      const vm: { -readonly [K in keyof JobVm]: JobVm[K] } = {
        vmId: v.vmId,
        hostId: v.hostId,
        hostName: v.hostName,
        set: v.set,
      };
      if (v.notBefore !== undefined) vm.notBefore = v.notBefore;
      if (v.excluded) vm.excluded = true;
      return vm;
    }),
  };
}

/** OUTDATED and not excluded: the VM is still to be backed up in this run. */
export function isOutstanding(v: VmEntry): boolean {
  return v.set === 'OUTDATED' && !v.excluded;
}

/** Not paused and, when SEQUENTIAL, no VM busy. */
export function isDispatchable(job: JobEntry): boolean {
  return !job.paused && !(job.execution === 'SEQUENTIAL' && job.busy.size > 0);
}

export function addCount(counts: Map<number, number>, key: number): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Takes one from `key`'s count, forgetting the key at zero. */
export function dropCount(counts: Map<number, number>, key: number): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}
