/**
 * The dispatch choice as a pure function of the state and `now`: which OUTDATED VMs start now, and
 * why each of the others waits. No clock, no I/O; the daemon's hot path uses DispatchIndex, which
 * must give the same answer (property-tested).
 *
 * Rules (DESIGN.md section 5, SPEC.md decision 5 and section 4.4):
 * - candidates: OUTDATED VMs of jobs that are not paused, not excluded, with notBefore <= now and
 *   no backup of their own already running;
 * - at most MAX_BACKUPS running in all and MAX_BACKUPS_HOST per host (0 = unlimited); every
 *   running backup counts, also ones started by hand;
 * - jobs in `compareJobs` order, VMs in BACKUP_VMS order inside a job;
 * - SEQUENTIAL: at most one VM of the job busy (ONGOING, running for the job, or picked now);
 * - a full host skips to the job's VMs on other hosts (OpenNebula stops the job there);
 * - backfill: a VM that cannot start does not hold back the VMs after it. Policy 'strict' instead
 *   considers a job only once no job of higher priority has OUTDATED VMs left (OpenNebula).
 *
 * Taking candidates greedily in that order is the same as repeatedly taking the first VM that
 * could start now: every reason to skip a VM (slots used, job busy) only grows during a pass.
 */
import {
  EXCLUDED,
  globalFull,
  hostFull,
  PAUSED,
  priorityFirst,
  retryAt,
  sequentialWaiting,
  vmBusy,
} from './reasons.js';
import {
  type CandidateJob,
  compareJobs,
  type Dispatch,
  type DispatchState,
  isFull,
  type JobVm,
  type Waiting,
} from './types.js';

/** Everything to start now, in start order; the limits hold after each one is taken. */
export function pickDispatches(state: DispatchState): Dispatch[] {
  return runPass(state).picks;
}

/**
 * For every OUTDATED VM that pickDispatches(state) does not start: its rank in the global order
 * and the reason it waits (reasons.ts lists them and the order they are checked in). Reasons
 * describe the state after the picks are started.
 */
export function explainWaiting(state: DispatchState): Waiting[] {
  const pass = runPass(state);
  const { maxBackups, maxBackupsHost } = state.limits;
  const out: Waiting[] = [];
  let rank = 0;
  // Strict policy: the highest-ranked job seen so far that still has OUTDATED VMs holds back
  // every job of lower priority.
  let holder: CandidateJob | undefined;
  for (const job of pass.order) {
    const jobHolder = holder !== undefined && holder.priority > job.priority ? holder : undefined;
    for (const vm of job.vms) {
      if (vm.set !== 'OUTDATED') continue;
      rank += 1;
      if (pass.picked.has(vm)) continue;
      const reason =
        staticBlock(job, vm, state.now, pass.runningVms) ??
        (pass.strict && jobHolder !== undefined
          ? priorityFirst(jobHolder.id, jobHolder.priority)
          : undefined) ??
        sequentialBlock(job, pass.busy) ??
        slotBlock(job, vm, pass, maxBackups, maxBackupsHost);
      out.push({ jobId: job.id, vmId: vm.vmId, rank, reason });
    }
    if (holder === undefined && outstanding(job, pass.picked) > 0) holder = job;
  }
  return out;
}

interface Pass {
  readonly strict: boolean;
  readonly order: readonly CandidateJob[];
  readonly picks: Dispatch[];
  /** The JobVm objects picked, so a VM listed twice is told apart. */
  readonly picked: Set<JobVm>;
  /** Counters after the picks. */
  readonly global: { used: number };
  readonly perHost: Map<number, number>;
  readonly runningVms: Set<number>;
  /** Per job, the VMs that make it busy: ONGOING, running with its jobId, picked now. */
  readonly busy: Map<number, Set<number>>;
  /** The job of the first VM picked in this pass, globally and per host: the highest priority. */
  firstPick: CandidateJob | undefined;
  readonly firstPickOnHost: Map<number, CandidateJob>;
}

function runPass(state: DispatchState): Pass {
  const { maxBackups, maxBackupsHost } = state.limits;
  const pass: Pass = {
    strict: state.policy === 'strict',
    order: [...state.jobs].sort(compareJobs),
    picks: [],
    picked: new Set(),
    global: { used: state.running.length },
    perHost: new Map(),
    runningVms: new Set(),
    busy: new Map(),
    firstPick: undefined,
    firstPickOnHost: new Map(),
  };
  for (const r of state.running) {
    pass.perHost.set(r.hostId, (pass.perHost.get(r.hostId) ?? 0) + 1);
    pass.runningVms.add(r.vmId);
    if (r.jobId !== undefined) addBusy(pass.busy, r.jobId, r.vmId);
  }
  for (const job of pass.order) {
    for (const vm of job.vms) if (vm.set === 'ONGOING') addBusy(pass.busy, job.id, vm.vmId);
  }

  let holder: CandidateJob | undefined;
  jobs: for (const job of pass.order) {
    if (isFull(pass.global.used, maxBackups)) break;
    if (pass.strict && holder !== undefined && holder.priority > job.priority) break;
    if (!job.paused) {
      for (const vm of job.vms) {
        if (vm.set !== 'OUTDATED') continue;
        if (isFull(pass.global.used, maxBackups)) break jobs;
        if (job.execution === 'SEQUENTIAL' && (pass.busy.get(job.id)?.size ?? 0) > 0) break;
        if (staticBlock(job, vm, state.now, pass.runningVms) !== undefined) continue;
        const onHost = pass.perHost.get(vm.hostId) ?? 0;
        if (isFull(onHost, maxBackupsHost)) continue;
        pass.picks.push({ jobId: job.id, vmId: vm.vmId, hostId: vm.hostId });
        pass.picked.add(vm);
        pass.global.used += 1;
        pass.perHost.set(vm.hostId, onHost + 1);
        pass.runningVms.add(vm.vmId);
        addBusy(pass.busy, job.id, vm.vmId);
        pass.firstPick ??= job;
        if (!pass.firstPickOnHost.has(vm.hostId)) pass.firstPickOnHost.set(vm.hostId, job);
      }
    }
    if (holder === undefined && outstanding(job, pass.picked) > 0) holder = job;
  }
  return pass;
}

/** Reasons that keep an OUTDATED VM from being a candidate at all, whatever the slots. */
function staticBlock(
  job: CandidateJob,
  vm: JobVm,
  now: number,
  runningVms: ReadonlySet<number>,
): string | undefined {
  if (job.paused) return PAUSED;
  if (vm.excluded === true) return EXCLUDED;
  if (vm.notBefore !== undefined && vm.notBefore > now) return retryAt(vm.notBefore);
  if (runningVms.has(vm.vmId)) return vmBusy(vm.vmId);
  return undefined;
}

function sequentialBlock(
  job: CandidateJob,
  busy: ReadonlyMap<number, ReadonlySet<number>>,
): string | undefined {
  if (job.execution !== 'SEQUENTIAL') return undefined;
  const vms = busy.get(job.id);
  if (vms === undefined || vms.size === 0) return undefined;
  // Name the first busy VM in BACKUP_VMS order; a running VM that left the job comes after.
  const listed = job.vms.find((vm) => vms.has(vm.vmId));
  return sequentialWaiting(listed?.vmId ?? Math.min(...vms));
}

function slotBlock(
  job: CandidateJob,
  vm: JobVm,
  pass: Pass,
  maxBackups: number,
  maxBackupsHost: number,
): string {
  const onHost = pass.perHost.get(vm.hostId) ?? 0;
  if (isFull(onHost, maxBackupsHost)) {
    const taker = pass.firstPickOnHost.get(vm.hostId);
    return taker !== undefined && taker.priority > job.priority
      ? priorityFirst(taker.id, taker.priority)
      : hostFull(vm.hostName, onHost, maxBackupsHost);
  }
  if (isFull(pass.global.used, maxBackups)) {
    const taker = pass.firstPick;
    return taker !== undefined && taker.priority > job.priority
      ? priorityFirst(taker.id, taker.priority)
      : globalFull(pass.global.used, maxBackups);
  }
  // The pass skips a VM only for one of the reasons above, and each still holds after it.
  throw new Error(`dispatch: job ${job.id} VM ${vm.vmId} was neither started nor blocked (bug)`);
}

/** OUTDATED VMs of a job that still count for the strict policy: not excluded, not picked now. */
function outstanding(job: CandidateJob, picked: ReadonlySet<JobVm>): number {
  if (job.paused) return 0;
  let n = 0;
  for (const vm of job.vms) if (vm.set === 'OUTDATED' && vm.excluded !== true && !picked.has(vm)) n += 1;
  return n;
}

function addBusy(busy: Map<number, Set<number>>, jobId: number, vmId: number): void {
  let vms = busy.get(jobId);
  if (vms === undefined) {
    vms = new Set();
    busy.set(jobId, vms);
  }
  vms.add(vmId);
}
