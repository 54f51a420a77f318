/**
 * The dispatch state kept indexed, so that refilling a freed slot costs about the number of hosts,
 * not the number of VMs: the daemon's hot path. It answers exactly as pickDispatches would on
 * snapshot() (property-tested in test/unit/scheduler/).
 *
 * Invariants, restored after every public call:
 * - a VM entry is `ready` iff it is OUTDATED, not excluded, its notBefore is not after `now`
 *   (the last time given to pick) and its VM has no running backup; a VM waiting for its
 *   notBefore has an entry in `#delayed` with that time;
 * - `job.readyOn.get(h)` holds the job's ready VMs on host h in BACKUP_VMS order (no empty lists);
 * - a job is `dispatchable` iff it is not paused and, when SEQUENTIAL, has no busy VM (ONGOING,
 *   or running with its jobId);
 * - `#hostJobs.get(h)` holds, in compareJobs order, the dispatchable jobs with a ready VM on h
 *   (no empty lists);
 * - `#topPriorities` counts, per priority, the jobs that are not paused and have an OUTDATED VM
 *   that is not excluded (the strict policy's "jobs with OUTDATED VMs").
 *
 * So the next VM to start is the first job of some `#hostJobs` list whose host is not full,
 * the best such job over the hosts, and in it the first ready VM on a host that is not full.
 *
 * The entries are dispatch-entries.ts's, the running backups' slots running-slots.ts's.
 * Not thread-safe, no I/O, no clock: the caller passes `now` (epoch seconds) to pick(). The
 * index holds no durable state; after a crash the daemon rebuilds it from the store.
 */
import {
  addCount,
  byPos,
  candidateOf,
  dropCount,
  isDispatchable,
  isOutstanding,
  type JobEntry,
  newJobEntry,
  type VmEntry,
} from './dispatch-entries.js';
import { MinHeap } from './min-heap.js';
import { explainWaiting } from './pick.js';
import { RunningSlots } from './running-slots.js';
import { insertSorted, removeSorted } from './sorted-array.js';
import {
  type CandidateJob,
  compareJobs,
  type Dispatch,
  type DispatchPolicy,
  type DispatchState,
  isFull,
  type RunningBackup,
  type SlotLimits,
  type VmSet,
  type Waiting,
} from './types.js';

export class DispatchIndex {
  #limits: SlotLimits;
  #policy: DispatchPolicy;
  /** The last `now` given to pick(); -Infinity until then, so any notBefore waits for it. */
  #now = Number.NEGATIVE_INFINITY;
  readonly #jobs = new Map<number, JobEntry>();
  readonly #entriesByVm = new Map<number, VmEntry[]>();
  readonly #running = new RunningSlots();
  readonly #hostJobs = new Map<number, JobEntry[]>();
  readonly #topPriorities = new Map<number, number>();
  readonly #delayed = new MinHeap<VmEntry>();

  constructor(limits: SlotLimits, policy: DispatchPolicy = 'backfill') {
    this.#limits = { ...limits };
    this.#policy = policy;
  }

  /** Limits and policy are read on every pick, so they can change at any time. */
  setLimits(limits: SlotLimits): void {
    this.#limits = { ...limits };
  }

  setPolicy(policy: DispatchPolicy): void {
    this.#policy = policy;
  }

  /** Adds a job or replaces it whole (a trigger, an update of BACKUP_VMS, PRIORITY or EXECUTION). */
  upsertJob(job: CandidateJob): void {
    this.removeJob(job.id);
    const entry = newJobEntry(job, this.#running.vmsOfJob(job.id));
    this.#jobs.set(job.id, entry);
    this.#relist(entry);
    for (const v of entry.vms) {
      let list = this.#entriesByVm.get(v.vmId);
      if (list === undefined) {
        list = [];
        this.#entriesByVm.set(v.vmId, list);
      }
      list.push(v);
      this.#refreshVm(v);
    }
  }

  /** Forgets a job; its running backups keep their slots until finished(). */
  removeJob(jobId: number): void {
    const job = this.#jobs.get(jobId);
    if (job === undefined) return;
    if (job.dispatchable) for (const hostId of job.readyOn.keys()) this.#unlistJobOnHost(job, hostId);
    for (const v of job.vms) {
      v.removed = true;
      v.heapAt = undefined;
      const list = this.#entriesByVm.get(v.vmId);
      if (list !== undefined) {
        list.splice(list.indexOf(v), 1);
        if (list.length === 0) this.#entriesByVm.delete(v.vmId);
      }
    }
    job.outstanding = 0;
    this.#relist(job);
    this.#jobs.delete(jobId);
  }

  /**
   * Moves a VM of a job to another set. `notBefore` (epoch seconds) is the retry time of a VM put
   * back to OUTDATED after a failure; without it any earlier one is cleared.
   */
  setVmSet(jobId: number, vmId: number, set: VmSet, notBefore?: number): void {
    const v = this.#vm(jobId, vmId);
    const job = v.job;
    const wasOutstanding = isOutstanding(v);
    if (v.set !== set) {
      if (v.set === 'ONGOING') this.#releaseBusy(job, vmId);
      if (set === 'ONGOING') this.#holdBusy(job, vmId);
      v.set = set;
    }
    v.notBefore = notBefore;
    this.#outstandingChanged(v, wasOutstanding);
    this.#refreshVm(v);
  }

  /** `onebackupjob exclude`, or including the VM again. */
  setExcluded(jobId: number, vmId: number, excluded: boolean): void {
    const v = this.#vm(jobId, vmId);
    const wasOutstanding = isOutstanding(v);
    v.excluded = excluded;
    this.#outstandingChanged(v, wasOutstanding);
    this.#refreshVm(v);
  }

  /** `onebackupjob pause` / `resume`. */
  setPaused(jobId: number, paused: boolean): void {
    const job = this.#job(jobId);
    job.paused = paused;
    this.#relist(job);
    this.#refreshJob(job);
  }

  /** A backup began (picked here, or started by hand): it holds a global and a host slot. */
  started(backup: RunningBackup): void {
    this.#running.add(backup);
    if (backup.jobId !== undefined) {
      const job = this.#jobs.get(backup.jobId);
      if (job !== undefined) this.#holdBusy(job, backup.vmId);
    }
    for (const v of this.#entriesByVm.get(backup.vmId) ?? []) this.#refreshVm(v);
  }

  /** The VM's backup ended (any way): its slots are free. Returns false if none was running. */
  finished(vmId: number): boolean {
    const backup = this.#running.remove(vmId);
    if (backup === undefined) return false;
    if (backup.jobId !== undefined) {
      const job = this.#jobs.get(backup.jobId);
      if (job !== undefined) this.#releaseBusy(job, vmId);
    }
    for (const v of this.#entriesByVm.get(vmId) ?? []) this.#refreshVm(v);
    return true;
  }

  /**
   * Chooses what to start at `now` (epoch seconds), the same list as pickDispatches(snapshot(now)),
   * and applies it: each VM becomes ONGOING and holds its slots, as the caller starts it now. If
   * a start is refused, the caller reports it with finished() and setVmSet().
   */
  pick(now: number): Dispatch[] {
    this.#advance(now);
    const { maxBackups, maxBackupsHost } = this.#limits;
    const out: Dispatch[] = [];
    while (!isFull(this.#running.size, maxBackups)) {
      const top = this.#policy === 'strict' ? this.#topPriority() : Number.NEGATIVE_INFINITY;
      let best: JobEntry | undefined;
      for (const [hostId, jobs] of this.#hostJobs) {
        if (this.#running.hostFull(hostId, maxBackupsHost)) continue;
        const job = jobs[0] as JobEntry;
        if (job.priority < top) continue;
        if (best === undefined || compareJobs(job, best) < 0) best = job;
      }
      if (best === undefined) break;
      let vm: VmEntry | undefined;
      for (const [hostId, vms] of best.readyOn) {
        if (this.#running.hostFull(hostId, maxBackupsHost)) continue;
        const first = vms[0] as VmEntry;
        if (vm === undefined || first.pos < vm.pos) vm = first;
      }
      if (vm === undefined) throw new Error(`dispatch index: job ${best.id} listed without a ready VM (bug)`);
      const dispatch: Dispatch = { jobId: best.id, vmId: vm.vmId, hostId: vm.hostId };
      this.setVmSet(best.id, vm.vmId, 'ONGOING');
      this.started(dispatch);
      out.push(dispatch);
    }
    return out;
  }

  /** The state as plain data: what pickDispatches and explainWaiting take. */
  snapshot(now: number): DispatchState {
    const jobs: CandidateJob[] = [];
    for (const job of this.#jobs.values()) jobs.push(candidateOf(job));
    return {
      jobs,
      running: [...this.#running.values()],
      limits: this.#limits,
      now,
      policy: this.#policy,
    };
  }

  /** Why each OUTDATED VM waits; for `show`, not the hot path (it walks the whole state). */
  explain(now: number): Waiting[] {
    return explainWaiting(this.snapshot(now));
  }

  /**
   * The earliest retry time (epoch s) a VM still waits for, as of the last pick; undefined when
   * none does. Stale heap entries met on the way are dropped.
   */
  nextRetryAt(): number | undefined {
    for (let at = this.#delayed.peekKey(); at !== undefined; at = this.#delayed.peekKey()) {
      const v = this.#delayed.peek() as VmEntry;
      if (!v.removed && v.heapAt === at) return at;
      this.#delayed.pop();
    }
    return undefined;
  }

  /** Backups running now, in all. */
  get runningCount(): number {
    return this.#running.size;
  }

  #job(jobId: number): JobEntry {
    const job = this.#jobs.get(jobId);
    if (job === undefined) throw new Error(`dispatch index: no backup job ${jobId}`);
    return job;
  }

  #vm(jobId: number, vmId: number): VmEntry {
    const v = this.#job(jobId).byVmId.get(vmId);
    if (v === undefined) throw new Error(`dispatch index: backup job ${jobId} has no VM ${vmId}`);
    return v;
  }

  /** Moves `now`; VMs whose retry time has come become ready, or stop being ready if time went back. */
  #advance(now: number): void {
    if (now < this.#now) {
      this.#now = now;
      for (const job of this.#jobs.values()) {
        for (const v of job.vms) if (v.notBefore !== undefined) this.#refreshVm(v);
      }
      return;
    }
    this.#now = now;
    for (let at = this.#delayed.peekKey(); at !== undefined && at <= now; at = this.#delayed.peekKey()) {
      const v = this.#delayed.pop() as VmEntry;
      if (v.removed || v.heapAt !== at) continue;
      v.heapAt = undefined;
      this.#refreshVm(v);
    }
  }

  #refreshVm(v: VmEntry): void {
    if (v.removed) return;
    const candidate = v.set === 'OUTDATED' && !v.excluded && !this.#running.has(v.vmId);
    const waiting = v.notBefore !== undefined && v.notBefore > this.#now;
    if (candidate && waiting && v.heapAt !== v.notBefore) {
      v.heapAt = v.notBefore as number;
      this.#delayed.push(v.heapAt, v);
    }
    const ready = candidate && !waiting;
    if (ready === v.ready) return;
    v.ready = ready;
    const job = v.job;
    let vms = job.readyOn.get(v.hostId);
    if (ready) {
      if (vms === undefined) {
        vms = [];
        job.readyOn.set(v.hostId, vms);
        if (job.dispatchable) this.#listJobOnHost(job, v.hostId);
      }
      insertSorted(vms, v, byPos);
    } else if (vms !== undefined) {
      removeSorted(vms, v, byPos);
      if (vms.length === 0) {
        job.readyOn.delete(v.hostId);
        if (job.dispatchable) this.#unlistJobOnHost(job, v.hostId);
      }
    }
  }

  #refreshJob(job: JobEntry): void {
    const dispatchable = isDispatchable(job);
    if (dispatchable === job.dispatchable) return;
    job.dispatchable = dispatchable;
    for (const hostId of job.readyOn.keys()) {
      if (dispatchable) this.#listJobOnHost(job, hostId);
      else this.#unlistJobOnHost(job, hostId);
    }
  }

  #listJobOnHost(job: JobEntry, hostId: number): void {
    let jobs = this.#hostJobs.get(hostId);
    if (jobs === undefined) {
      jobs = [];
      this.#hostJobs.set(hostId, jobs);
    }
    insertSorted(jobs, job, compareJobs);
  }

  #unlistJobOnHost(job: JobEntry, hostId: number): void {
    const jobs = this.#hostJobs.get(hostId);
    if (jobs === undefined) return;
    removeSorted(jobs, job, compareJobs);
    if (jobs.length === 0) this.#hostJobs.delete(hostId);
  }

  #holdBusy(job: JobEntry, vmId: number): void {
    addCount(job.busy, vmId);
    this.#refreshJob(job);
  }

  #releaseBusy(job: JobEntry, vmId: number): void {
    dropCount(job.busy, vmId);
    this.#refreshJob(job);
  }

  #outstandingChanged(v: VmEntry, was: boolean): void {
    const now = isOutstanding(v);
    if (now === was) return;
    v.job.outstanding += now ? 1 : -1;
    this.#relist(v.job);
  }

  /** Keeps #topPriorities in step with the job's paused flag and outstanding count. */
  #relist(job: JobEntry): void {
    const listed = !job.paused && job.outstanding > 0 && this.#jobs.get(job.id) === job;
    if (listed === job.listed) return;
    job.listed = listed;
    const n = (this.#topPriorities.get(job.priority) ?? 0) + (listed ? 1 : -1);
    if (n === 0) this.#topPriorities.delete(job.priority);
    else this.#topPriorities.set(job.priority, n);
  }

  #topPriority(): number {
    let top = Number.NEGATIVE_INFINITY;
    for (const p of this.#topPriorities.keys()) if (p > top) top = p;
    return top;
  }
}
