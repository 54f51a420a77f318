/**
 * A seeded simulation of the scheduler's world for the property tests: random jobs, priorities,
 * modes, limits and hosts; backups that finish in random order, succeed, fail with a retry or fail
 * for good; pauses, exclusions, backups started by hand, new triggers and priority changes. The
 * pure function and the DispatchIndex are driven side by side, and the invariants are checked
 * after every dispatch with checks written independently of the code under test.
 */
import assert from 'node:assert/strict';
import { DispatchIndex } from '../../../core/scheduler/dispatch-index.js';
import { explainWaiting, pickDispatches } from '../../../core/scheduler/pick.js';
import type {
  CandidateJob,
  Dispatch,
  DispatchPolicy,
  DispatchState,
  Execution,
  JobVm,
  RunningBackup,
  SlotLimits,
  VmSet,
} from '../../../core/scheduler/types.js';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

interface MVm {
  vmId: number;
  hostId: number;
  hostName: string;
  set: VmSet;
  notBefore?: number;
  excluded?: boolean;
  attempts: number;
}

interface MJob {
  id: number;
  priority: number;
  outdatedSince: number;
  execution: Execution;
  paused: boolean;
  vms: MVm[];
}

export interface SimOptions {
  readonly policy: DispatchPolicy;
  readonly maxJobs: number;
  readonly maxVmsPerJob: number;
  readonly maxHosts: number;
  /** Check explainWaiting against the index on every step (slower). */
  readonly explainEveryStep: boolean;
}

export interface SimResult {
  readonly steps: number;
  readonly dispatched: number;
  readonly limits: SlotLimits;
}

const MAX_RETRIES = 2;
const RETRY_INTERVAL = 300;
const MANUAL_VM_BASE = 100_000;

/** Plain copy of the model as the pure function's input. */
function toState(
  jobs: readonly MJob[],
  running: readonly RunningBackup[],
  limits: SlotLimits,
  now: number,
  policy: DispatchPolicy,
): DispatchState {
  const cjobs: CandidateJob[] = jobs.map((j) => ({
    id: j.id,
    priority: j.priority,
    outdatedSince: j.outdatedSince,
    execution: j.execution,
    paused: j.paused,
    vms: j.vms.map((v) => {
      const out: { -readonly [K in keyof JobVm]: JobVm[K] } = {
        vmId: v.vmId,
        hostId: v.hostId,
        hostName: v.hostName,
        set: v.set,
      };
      if (v.notBefore !== undefined) out.notBefore = v.notBefore;
      if (v.excluded === true) out.excluded = true;
      return out;
    }),
  }));
  return { jobs: cjobs, running: running.map((r) => ({ ...r })), limits, now, policy };
}

/** Sorts a state's jobs and running backups so two equal states compare equal. */
function canonical(s: DispatchState): DispatchState {
  return {
    ...s,
    jobs: [...s.jobs].sort((a, b) => a.id - b.id),
    running: [...s.running].sort((a, b) => a.vmId - b.vmId),
  };
}

// ---- independent checks -------------------------------------------------------------------------

interface Counts {
  global: number;
  perHost: Map<number, number>;
  runningVms: Set<number>;
  /** jobId -> VMs ONGOING in it or running for it. */
  busy: Map<number, Set<number>>;
}

function counts(s: DispatchState): Counts {
  const c: Counts = { global: s.running.length, perHost: new Map(), runningVms: new Set(), busy: new Map() };
  const busy = (jobId: number, vmId: number) => {
    const set = c.busy.get(jobId) ?? new Set<number>();
    set.add(vmId);
    c.busy.set(jobId, set);
  };
  for (const r of s.running) {
    c.perHost.set(r.hostId, (c.perHost.get(r.hostId) ?? 0) + 1);
    c.runningVms.add(r.vmId);
    if (r.jobId !== undefined) busy(r.jobId, r.vmId);
  }
  for (const j of s.jobs) for (const v of j.vms) if (v.set === 'ONGOING') busy(j.id, v.vmId);
  return c;
}

const within = (used: number, limit: number) => limit === 0 || used < limit;

/** Could this VM start right now, as far as its own job, its host and the global limit go? */
function eligible(s: DispatchState, c: Counts, job: CandidateJob, v: JobVm): boolean {
  return (
    v.set === 'OUTDATED' &&
    !job.paused &&
    v.excluded !== true &&
    (v.notBefore === undefined || v.notBefore <= s.now) &&
    !c.runningVms.has(v.vmId) &&
    !(job.execution === 'SEQUENTIAL' && (c.busy.get(job.id)?.size ?? 0) > 0) &&
    within(c.perHost.get(v.hostId) ?? 0, s.limits.maxBackupsHost) &&
    within(c.global, s.limits.maxBackups)
  );
}

/** The highest priority of a non-paused job with an OUTDATED, non-excluded VM (strict policy). */
function strictTop(s: DispatchState): number {
  let top = Number.NEGATIVE_INFINITY;
  for (const j of s.jobs) {
    if (!j.paused && j.vms.some((v) => v.set === 'OUTDATED' && v.excluded !== true)) {
      top = Math.max(top, j.priority);
    }
  }
  return top;
}

/** Applies one dispatch to a plain state: the VM goes ONGOING and takes its slots. */
function applyOne(s: DispatchState, d: Dispatch): DispatchState {
  return {
    ...s,
    jobs: s.jobs.map((j) =>
      j.id !== d.jobId
        ? j
        : {
            ...j,
            vms: j.vms.map((v) => {
              if (v.vmId !== d.vmId) return v;
              const { notBefore: _n, ...rest } = v;
              return { ...rest, set: 'ONGOING' as const };
            }),
          },
    ),
    running: [...s.running, { vmId: d.vmId, hostId: d.hostId, jobId: d.jobId }],
  };
}

/**
 * Every invariant of the "Done means" for one pick, checked one dispatch at a time:
 * limits, SEQUENTIAL, priority for the same slot, and no idle slot once the picks are applied.
 */
export function checkPick(before: DispatchState, picks: readonly Dispatch[]): DispatchState {
  let s = before;
  const strict = s.policy === 'strict';
  for (const d of picks) {
    const c = counts(s);
    const job = s.jobs.find((j) => j.id === d.jobId);
    assert.ok(job, `dispatch of unknown job ${d.jobId}`);
    const v = job.vms.find((x) => x.vmId === d.vmId);
    assert.ok(v, `dispatch of VM ${d.vmId} not in job ${d.jobId}`);
    assert.equal(d.hostId, v.hostId, 'dispatch on the VM host');
    assert.ok(eligible(s, c, job, v), `VM ${d.vmId} of job ${d.jobId} started though not eligible`);
    if (strict)
      assert.ok(job.priority >= strictTop(s), `strict: job ${job.id} started below the top priority`);
    // No VM of higher priority could have taken this slot (eligible means its host has room).
    for (const j of s.jobs) {
      if (j.priority <= job.priority) continue;
      if (strict && j.priority < strictTop(s)) continue;
      for (const w of j.vms) {
        assert.ok(
          !eligible(s, c, j, w),
          `VM ${d.vmId} (priority ${job.priority}) started while VM ${w.vmId} (priority ${j.priority}) could`,
        );
      }
    }
    s = applyOne(s, d);
  }
  checkSteady(s);
  return s;
}

/** Invariants of a state after its picks: limits, SEQUENTIAL, no idle slot with an eligible VM. */
function checkSteady(s: DispatchState): void {
  const c = counts(s);
  const { maxBackups, maxBackupsHost } = s.limits;
  if (maxBackups > 0) assert.ok(c.global <= maxBackups, `${c.global} running > MAX_BACKUPS ${maxBackups}`);
  if (maxBackupsHost > 0) {
    for (const [h, n] of c.perHost) assert.ok(n <= maxBackupsHost, `host ${h}: ${n} > ${maxBackupsHost}`);
  }
  const top = strictTop(s);
  for (const j of s.jobs) {
    if (j.execution === 'SEQUENTIAL') {
      const ongoing = j.vms.filter((v) => v.set === 'ONGOING').length;
      assert.ok(ongoing <= 1, `SEQUENTIAL job ${j.id} has ${ongoing} VMs ONGOING`);
    }
    if (s.policy === 'strict' && j.priority < top) continue;
    for (const v of j.vms) {
      assert.ok(!eligible(s, c, j, v), `slot idle while VM ${v.vmId} of job ${j.id} could start`);
    }
  }
  // Every OUTDATED VM is explained, with ranks 1..n in order.
  const waiting = explainWaiting(s);
  const outdated = s.jobs.reduce((n, j) => n + j.vms.filter((v) => v.set === 'OUTDATED').length, 0);
  assert.equal(waiting.length, outdated, 'every OUTDATED VM has a reason');
  assert.deepEqual(
    waiting.map((w) => w.rank),
    Array.from({ length: outdated }, (_, i) => i + 1),
  );
}

// ---- the simulation -----------------------------------------------------------------------------

export function simulate(seed: number, opts: SimOptions): SimResult {
  const rng = new Rng(seed);
  const limits: SlotLimits = { maxBackups: rng.int(0, 4), maxBackupsHost: rng.int(0, 3) };
  const nHosts = rng.int(1, opts.maxHosts);
  const priorities = [0, 10, 50, 50, 80, 99];
  let now = 1_767_600_000;
  let nextVm = 1;
  const jobs: MJob[] = [];
  const running: RunningBackup[] = [];
  const index = new DispatchIndex(limits, opts.policy);

  const makeJob = (id: number): MJob => ({
    id,
    priority: rng.pick(priorities),
    outdatedSince: now - rng.int(0, 3) * 60,
    execution: rng.chance(0.5) ? 'SEQUENTIAL' : 'PARALLEL',
    paused: rng.chance(0.1),
    vms: Array.from({ length: rng.int(1, opts.maxVmsPerJob) }, () => {
      const hostId = rng.int(1, nHosts);
      const v: MVm = { vmId: nextVm++, hostId, hostName: `node${hostId}`, set: 'OUTDATED', attempts: 0 };
      if (rng.chance(0.05)) v.excluded = true;
      if (rng.chance(0.1)) v.notBefore = now + rng.int(1, 600);
      return v;
    }),
  });
  const sync = (j: MJob) =>
    index.upsertJob(toState([j], [], limits, now, opts.policy).jobs[0] as CandidateJob);

  for (let id = 1, n = rng.int(1, opts.maxJobs); id <= n; id += 1) jobs.push(makeJob(id));
  for (const j of jobs) sync(j);
  let triggersLeft = rng.int(0, 3);
  let retriesLeft = rng.int(0, 2);

  let steps = 0;
  let dispatched = 0;
  for (;;) {
    steps += 1;
    assert.ok(steps < 20_000, `seed ${seed}: no end after ${steps} steps`);
    const before = toState(jobs, running, limits, now, opts.policy);
    assert.deepEqual(canonical(index.snapshot(now)), canonical(before), `seed ${seed}: index state drifted`);
    const expected = pickDispatches(before);
    if (opts.explainEveryStep) assert.deepEqual(index.explain(now), explainWaiting(before));
    const got = index.pick(now);
    assert.deepEqual(got, expected, `seed ${seed} step ${steps}: index and pure function disagree`);
    checkPick(before, expected);
    for (const d of expected) {
      const v = jobs.find((j) => j.id === d.jobId)?.vms.find((x) => x.vmId === d.vmId) as MVm;
      v.set = 'ONGOING';
      delete v.notBefore;
      running.push({ vmId: d.vmId, hostId: d.hostId, jobId: d.jobId });
    }
    dispatched += expected.length;
    // The pick is a fixpoint: asking again at once gives nothing more.
    assert.deepEqual(pickDispatches(toState(jobs, running, limits, now, opts.policy)), []);

    // Quiet: nothing runs, so nothing could start. Only time, resume or include may be missing.
    if (running.length === 0) {
      const outdated = jobs.flatMap((j) => j.vms.filter((v) => v.set === 'OUTDATED').map((v) => ({ j, v })));
      if (outdated.length === 0) break;
      const paused = outdated.find((o) => o.j.paused);
      const excluded = outdated.find((o) => o.v.excluded === true);
      const later = outdated.filter((o) => o.v.notBefore !== undefined && o.v.notBefore > now);
      if (paused !== undefined) {
        paused.j.paused = false;
        index.setPaused(paused.j.id, false);
      } else if (excluded !== undefined) {
        delete excluded.v.excluded;
        index.setExcluded(excluded.j.id, excluded.v.vmId, false);
      } else if (later.length > 0) {
        now = Math.min(...later.map((o) => o.v.notBefore as number));
      } else {
        // Nothing holds these VMs back, yet nothing started: stuck.
        const state = toState(jobs, running, limits, now, opts.policy);
        assert.fail(`seed ${seed}: stuck with OUTDATED VMs: ${JSON.stringify(explainWaiting(state))}`);
      }
      continue;
    }

    const r = rng.next();
    if (running.length > 0 && r < 0.55) {
      // A backup ends, in any order.
      const [done] = running.splice(rng.int(0, running.length - 1), 1) as [RunningBackup];
      index.finished(done.vmId);
      if (done.jobId === undefined) continue;
      const j = jobs.find((x) => x.id === done.jobId) as MJob;
      const v = j.vms.find((x) => x.vmId === done.vmId) as MVm;
      const outcome = rng.next();
      v.attempts += 1;
      if (outcome < 0.7) {
        v.set = 'UPDATED';
      } else if (outcome < 0.9 && v.attempts <= MAX_RETRIES) {
        v.set = 'OUTDATED';
        v.notBefore = now + RETRY_INTERVAL;
      } else {
        v.set = 'ERROR';
      }
      index.setVmSet(j.id, v.vmId, v.set, v.notBefore);
    } else if (r < 0.65) {
      now += rng.int(1, 400);
    } else if (r < 0.72 && jobs.length > 0) {
      const j = rng.pick(jobs);
      j.paused = !j.paused;
      index.setPaused(j.id, j.paused);
    } else if (r < 0.77) {
      const j = rng.pick(jobs);
      const v = rng.pick(j.vms);
      if (v.excluded === true) delete v.excluded;
      else v.excluded = true;
      index.setExcluded(j.id, v.vmId, v.excluded === true);
    } else if (r < 0.8) {
      // A backup started by hand (`onevm backup`), within the limits; sometimes of a job's VM.
      const hostId = rng.int(1, nHosts);
      const free =
        within(running.length, limits.maxBackups) &&
        within(running.filter((x) => x.hostId === hostId).length, limits.maxBackupsHost);
      const candidate = rng.pick(rng.pick(jobs).vms);
      const vmId =
        candidate.hostId === hostId && !running.some((x) => x.vmId === candidate.vmId)
          ? candidate.vmId
          : MANUAL_VM_BASE + steps;
      if (free) {
        running.push({ vmId, hostId });
        index.started({ vmId, hostId });
      }
    } else if (r < 0.83 && triggersLeft > 0) {
      // A job whose run ended is triggered again, perhaps with a new priority.
      const j = jobs.find((x) => x.vms.every((v) => v.set === 'UPDATED' || v.set === 'ERROR'));
      if (j !== undefined) {
        triggersLeft -= 1;
        j.outdatedSince = now;
        if (rng.chance(0.5)) j.priority = rng.pick(priorities);
        for (const v of j.vms) {
          v.set = 'OUTDATED';
          v.attempts = 0;
          delete v.notBefore;
        }
        sync(j);
      }
    } else if (r < 0.85 && retriesLeft > 0) {
      // `onebackupjob retry`: ERROR VMs go back to OUTDATED.
      const j = jobs.find((x) => x.vms.some((v) => v.set === 'ERROR'));
      if (j !== undefined) {
        retriesLeft -= 1;
        for (const v of j.vms) {
          if (v.set !== 'ERROR') continue;
          v.set = 'OUTDATED';
          v.attempts = 0;
          index.setVmSet(j.id, v.vmId, 'OUTDATED');
        }
      }
    } else if (r < 0.87 && jobs.length < opts.maxJobs + 2) {
      const j = makeJob(jobs.length + 1);
      jobs.push(j);
      sync(j);
    }
  }
  // Every VM ends UPDATED or ERROR.
  for (const j of jobs) {
    for (const v of j.vms) assert.ok(v.set === 'UPDATED' || v.set === 'ERROR', `VM ${v.vmId} ended ${v.set}`);
  }
  assert.equal(running.length, 0);
  return { steps, dispatched, limits };
}
