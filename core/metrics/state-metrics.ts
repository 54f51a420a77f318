/**
 * Gauges of the daemon's state, computed at scrape time from the store and the scheduler: job
 * sets, slots, queue, unprotected VMs, freshness (ours and OpenNebula's four backup/restore
 * gauges), datastore space, GC/verify times and RPO. Each scrape resets them, so a deleted job
 * or VM leaves no stale series.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { isFinished } from '../schedule/next-time.js';
import { parseRpo, type RpoVmState, rpoBreachPredicted } from '../schedule/rpo.js';
import type { Store } from '../store/db.js';
import { lastOutcomes } from '../store/outcomes.js';
import { schedRowToFields } from '../store/schedules.js';
import {
  backupDatastoreIds,
  backupJobSchedules,
  endedRuns,
  executingTasks,
  hostIds,
  jobTemplates,
  jobVmSets,
  recentDoneTasks,
  vmBackupSummaries,
} from '../store/state-reads.js';
import { decodeAttributes, getSingle } from '../template/attributes.js';

/** MAX_BACKUPS and MAX_BACKUPS_HOST (0 = unlimited). */
export interface SlotLimits {
  readonly maxBackups: number;
  readonly maxBackupsHost: number;
}

/** What the scheduler is doing, as the metrics read it. */
export interface DispatchView {
  readonly running: readonly { readonly hostId: number }[];
  readonly waiting: readonly { readonly jobId: number; readonly vmId: number; readonly rank: number }[];
}

/** A datastore's capacity as its driver reports it. */
export interface DatastoreStat {
  readonly capacityBytes: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
}

export interface StateSources {
  readonly store: Store;
  readonly clock: Clock;
  readonly limits: SlotLimits;
  /** The scheduler's dispatch state now; undefined before it started. */
  /** The scheduler's running backups and why each queued VM waits (its rank), if it runs. */
  readonly dispatch: () => DispatchView | undefined;
  readonly datastoreStat: (datastoreId: number) => Promise<DatastoreStat>;
}

/** Set names as the job documents say them (<BACKING_UP_VMS> is the store's ONGOING). */
const SET_LABEL: Readonly<Record<string, string>> = {
  UPDATED: 'updated',
  OUTDATED: 'outdated',
  ONGOING: 'backing_up',
  ERROR: 'error',
};
/** Recent successful tasks looked at for durations: per VM, and over all VMs. */
const DURATIONS_PER_VM = 5;
const DURATIONS_ALL = 50;
/** Successful tasks read for those durations, newest first. */
const RECENT_TASKS = 1000;

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

export class StateMetrics {
  readonly #src: StateSources;
  readonly #jobVms: Gauge<'backup_job' | 'set'>;
  readonly #slotsInUse: Gauge<'scope' | 'host'>;
  readonly #slotsMax: Gauge<'scope'>;
  readonly #queue: Gauge;
  readonly #unprotected: Gauge;
  readonly #vmLastSuccess: Gauge<'vm' | 'backup_job'>;
  readonly #jobLastSuccess: Gauge<'backup_job'>;
  readonly #jobLastStatus: Gauge<'backup_job'>;
  readonly #oneBackupStatus: Gauge<'one_vm_id' | 'one_vm_name'>;
  readonly #oneBackupTime: Gauge<'one_vm_id' | 'one_vm_name'>;
  readonly #oneRestoreStatus: Gauge<'one_vm_id' | 'one_vm_name'>;
  readonly #oneRestoreTime: Gauge<'one_vm_id' | 'one_vm_name'>;
  readonly #dsCapacity: Gauge<'datastore'>;
  readonly #dsUsed: Gauge<'datastore'>;
  readonly #verifyLast: Gauge<'datastore'>;
  readonly #gcLast: Gauge<'datastore'>;
  readonly #rpo: Gauge<'vm' | 'backup_job'>;
  readonly #rpoBreach: Gauge<'vm' | 'backup_job'>;

  constructor(registry: Registry, src: StateSources) {
    this.#src = src;
    const registers = [registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    this.#jobVms = gauge(
      'onebackup_job_vms',
      'VMs of each backup job by set: updated, outdated (queued), backing_up, error.',
      ['backup_job', 'set'],
    );
    this.#slotsInUse = gauge(
      'onebackup_slots_in_use',
      'VM backups running: scope="global" in all, scope="host" on each host (label host, a host ID).',
      ['scope', 'host'],
    );
    this.#slotsMax = gauge(
      'onebackup_slots_max',
      'Backup slots: scope="global" is MAX_BACKUPS, scope="host" is MAX_BACKUPS_HOST (+Inf when unlimited).',
      ['scope'],
    );
    this.#queue = gauge(
      'onebackup_queue_depth',
      'VMs of backup jobs waiting to be backed up (set outdated, including held and retry-waiting ones).',
      [],
    );
    this.#unprotected = gauge('onebackup_vms_unprotected', 'VMs that belong to no backup job.', []);
    this.#vmLastSuccess = gauge(
      'onebackup_vm_last_success_timestamp_seconds',
      'Unix time of the newest successful backup of each VM (backup_job is "" for a VM in no job).',
      ['vm', 'backup_job'],
    );
    this.#jobLastSuccess = gauge(
      'onebackup_job_last_success_timestamp_seconds',
      'Unix time at which the newest run of each job that ended with every VM backed up ended.',
      ['backup_job'],
    );
    this.#jobLastStatus = gauge(
      'onebackup_job_last_run_status',
      'Result of the newest ended run of each job: 1 every VM backed up, 0 failed or cancelled.',
      ['backup_job'],
    );
    const one = (name: string, help: string) => gauge(name, help, ['one_vm_id', 'one_vm_name']);
    this.#oneBackupStatus = one(
      'opennebula_vm_backup_last_status',
      'OpenNebula exporter compatible: 1 when the last backup of the VM succeeded, 0 when it failed.',
    );
    this.#oneBackupTime = one(
      'opennebula_vm_backup_last_timestamp',
      'OpenNebula exporter compatible: Unix time of the last backup event (success or failure) of the VM.',
    );
    this.#oneRestoreStatus = one(
      'opennebula_vm_restore_last_status',
      'OpenNebula exporter compatible: 1 when the last restore of a backup of the VM succeeded, 0 when it failed.',
    );
    this.#oneRestoreTime = one(
      'opennebula_vm_restore_last_timestamp',
      'OpenNebula exporter compatible: Unix time of the last restore event of the VM.',
    );
    this.#dsCapacity = gauge(
      'onebackup_datastore_capacity_bytes',
      'Bytes the filesystem (or bucket) of each backup datastore can hold in all.',
      ['datastore'],
    );
    this.#dsUsed = gauge(
      'onebackup_datastore_used_bytes',
      'Bytes the chunks and manifests of each backup datastore take.',
      ['datastore'],
    );
    this.#verifyLast = gauge(
      'onebackup_verify_last_success_timestamp_seconds',
      'Unix time of the last verify of each datastore (or of an image in it) that found no problem.',
      ['datastore'],
    );
    this.#gcLast = gauge(
      'onebackup_gc_last_success_timestamp_seconds',
      'Unix time of the last successful garbage collection of each datastore.',
      ['datastore'],
    );
    this.#rpo = gauge(
      'onebackup_vm_rpo_seconds',
      "Recovery point objective of each VM: its job's RPO attribute (only VMs of jobs that set one).",
      ['vm', 'backup_job'],
    );
    this.#rpoBreach = gauge(
      'onebackup_vm_rpo_breach_predicted',
      '1 when, from the VM queue position and its recent backup durations, its next backup will end after last success + RPO (or it has none).',
      ['vm', 'backup_job'],
    );
  }

  /** Reads the store and the scheduler and sets every gauge. */
  async refresh(): Promise<void> {
    const { store, clock, limits } = this.#src;
    const nowMs = clock.now();
    const nowS = Math.floor(nowMs / 1000);
    const db = store.db;
    const [jobVms, jobs, vms, hosts, datastores, runs, outcomes, tasks, durations, scheds] =
      await Promise.all([
        jobVmSets(db),
        jobTemplates(db),
        vmBackupSummaries(db),
        hostIds(db),
        backupDatastoreIds(db),
        endedRuns(db),
        lastOutcomes(db),
        executingTasks(db),
        recentDoneTasks(db, RECENT_TASKS),
        backupJobSchedules(db),
      ]);

    this.#jobVms.reset();
    const counts = new Map<number, Map<string, number>>();
    for (const j of jobs) counts.set(j.id, new Map(Object.values(SET_LABEL).map((s) => [s, 0])));
    let queued = 0;
    for (const r of jobVms) {
      const set = SET_LABEL[r.vm_set] ?? r.vm_set.toLowerCase();
      const m = counts.get(r.job_id);
      if (m) m.set(set, (m.get(set) ?? 0) + 1);
      if (r.vm_set === 'OUTDATED') queued += 1;
    }
    for (const [job, m] of counts)
      for (const [set, n] of m) this.#jobVms.set({ backup_job: String(job), set }, n);
    this.#queue.set(queued);

    const state = this.#src.dispatch();
    const running = state?.running ?? [];
    this.#slotsInUse.reset();
    this.#slotsInUse.set({ scope: 'global', host: '' }, running.length);
    const perHost = new Map<number, number>(hosts.map((h) => [h.id, 0]));
    for (const r of running) perHost.set(r.hostId, (perHost.get(r.hostId) ?? 0) + 1);
    for (const [host, n] of perHost) this.#slotsInUse.set({ scope: 'host', host: String(host) }, n);
    const max = (n: number) => (n > 0 ? n : Number.POSITIVE_INFINITY);
    this.#slotsMax.set({ scope: 'global' }, max(limits.maxBackups));
    this.#slotsMax.set({ scope: 'host' }, max(limits.maxBackupsHost));

    this.#unprotected.set(vms.filter((v) => v.backup_job_id < 0).length);
    this.#vmLastSuccess.reset();
    const lastSuccessS = new Map<number, number>();
    for (const v of vms) {
      const t = v.backupConfig.lastBackupTime ?? 0;
      if (!(t > 0)) continue;
      lastSuccessS.set(v.id, t);
      this.#vmLastSuccess.set(
        { vm: String(v.id), backup_job: v.backup_job_id >= 0 ? String(v.backup_job_id) : '' },
        t,
      );
    }

    this.#jobLastSuccess.reset();
    this.#jobLastStatus.reset();
    for (const r of runs) {
      // Ordered by run: the last row of a job is its newest ended run.
      this.#jobLastStatus.set({ backup_job: String(r.job_id) }, r.result === 'done' ? 1 : 0);
      if (r.result === 'done') this.#jobLastSuccess.set({ backup_job: String(r.job_id) }, r.end_ms / 1000);
    }

    for (const g of [
      this.#oneBackupStatus,
      this.#oneBackupTime,
      this.#oneRestoreStatus,
      this.#oneRestoreTime,
    ])
      g.reset();
    this.#verifyLast.reset();
    this.#gcLast.reset();
    const names = new Map(vms.map((v) => [v.id, v.name]));
    for (const o of outcomes) {
      const vmLabels = { one_vm_id: String(o.object_id), one_vm_name: names.get(o.object_id) ?? '' };
      if (o.kind === 'vm_backup' || o.kind === 'vm_restore') {
        if (!names.has(o.object_id)) continue;
        const backup = o.kind === 'vm_backup';
        (backup ? this.#oneBackupStatus : this.#oneRestoreStatus).set(vmLabels, o.ok);
        (backup ? this.#oneBackupTime : this.#oneRestoreTime).set(vmLabels, Math.floor(o.time_ms / 1000));
      } else if ((o.kind === 'ds_gc' || o.kind === 'ds_verify') && o.last_ok_ms > 0) {
        const g = o.kind === 'ds_gc' ? this.#gcLast : this.#verifyLast;
        g.set({ datastore: String(o.object_id) }, Math.floor(o.last_ok_ms / 1000));
      }
    }

    this.#dsCapacity.reset();
    this.#dsUsed.reset();
    for (const ds of datastores) {
      try {
        const stat = await this.#src.datastoreStat(ds.id);
        this.#dsCapacity.set({ datastore: String(ds.id) }, stat.capacityBytes);
        this.#dsUsed.set({ datastore: String(ds.id) }, stat.usedBytes);
      } catch {
        // An unreachable datastore has no series: absent() alerts on it.
      }
    }

    // RPO: the job's objective and the predicted breach of each of its VMs.
    this.#rpo.reset();
    this.#rpoBreach.reset();
    const rpoByJob = new Map<number, number>();
    for (const j of jobs) {
      const text = getSingle(decodeAttributes(j.template), 'RPO');
      const parsed = text === undefined ? undefined : parseRpo(text);
      if (parsed && 'seconds' in parsed) rpoByJob.set(j.id, parsed.seconds);
    }
    if (rpoByJob.size === 0) return;
    const perVm = new Map<number, number[]>();
    const all: number[] = [];
    for (const d of durations) {
      const s = Math.max(0, (d.end_ms - d.start_ms) / 1000);
      if (all.length < DURATIONS_ALL) all.push(s);
      const list = perVm.get(d.vm_id) ?? [];
      if (list.length < DURATIONS_PER_VM) list.push(s);
      perVm.set(d.vm_id, list);
    }
    const meanDurationS = mean(all);
    const ranks = new Map(
      (state?.waiting ?? []).map((w): [string, number] => [`${w.jobId}/${w.vmId}`, w.rank]),
    );
    const startedS = new Map(tasks.map((t) => [`${t.job_id}/${t.vm_id}`, Math.floor(t.start_ms / 1000)]));
    const nextSchedule = new Map<number, number>();
    for (const row of scheds) {
      const fields = schedRowToFields(row);
      if (isFinished(fields, row.done, nowS)) continue;
      const prev = nextSchedule.get(row.parent_id);
      nextSchedule.set(
        row.parent_id,
        Math.min(prev ?? Number.POSITIVE_INFINITY, Math.max(fields.time, nowS)),
      );
    }
    for (const r of jobVms) {
      const rpoS = rpoByJob.get(r.job_id);
      if (rpoS === undefined) continue;
      const key = `${r.job_id}/${r.vm_id}`;
      let vmState: RpoVmState;
      if (r.vm_set === 'ONGOING') vmState = { kind: 'running', startedS: startedS.get(key) ?? nowS };
      else if (r.vm_set === 'OUTDATED')
        vmState = { kind: 'queued', rank: ranks.get(key) ?? 1, notBeforeS: r.not_before };
      else vmState = { kind: 'idle', nextScheduleS: nextSchedule.get(r.job_id) };
      const labels = { vm: String(r.vm_id), backup_job: String(r.job_id) };
      this.#rpo.set(labels, rpoS);
      const breach = rpoBreachPredicted({
        nowS,
        rpoS,
        lastSuccessS: lastSuccessS.get(r.vm_id),
        state: vmState,
        running: running.length,
        maxBackups: limits.maxBackups,
        vmDurationS: mean(perVm.get(r.vm_id) ?? []),
        meanDurationS,
      });
      this.#rpoBreach.set(labels, breach ? 1 : 0);
    }
  }
}
