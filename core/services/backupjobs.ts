/**
 * Backup jobs: create, change, trigger and inspect (SPEC.md section 2, decisions 2-4).
 * Every call is one store transaction: a rejected call changes nothing.
 * The four VM sets live in job_vms, one row per (job, VM) with the set it is in; a VM in
 * BACKUP_VMS with no row is in no set (added since the last run).
 */
import { epochSeconds } from '../clock.js';
import { ErrorCode, OneError, TemplateError, type TemplateProblem } from '../errors.js';
import type { RunTrigger, VmSet } from '../model.js';
import type { Requester } from '../permissions.js';
import { parseSchedAction, updateSchedAction } from '../schedule/sched-action.js';
import type { SchedActionOptions } from '../schedule/sched-action-fields.js';
import type { Tx } from '../store/db.js';
import {
  cancelJobRun,
  deleteJob,
  excludeJobVm,
  insertJob,
  jobDetails,
  listJobs,
  openJobRun,
  replaceJobTemplate,
  retryJobErrors,
  setJobPaused,
  setJobPriority,
} from '../store/jobs.js';
import { findOwnedNameClash } from '../store/owned.js';
import { listRuns, type RunRecord } from '../store/runs.js';
import {
  deleteSchedule,
  findSchedule,
  insertSchedule,
  replaceSchedule,
  schedRowToFields,
} from '../store/schedules.js';
import type { BackupJobTable, SchedActionTable } from '../store/schema.js';
import { hostNamesById } from '../store/vms.js';
import { decodeAttributes, type PlainAttribute } from '../template/attributes.js';
import { vmsOf } from '../template/job-settings.js';
import { parseTemplate } from '../template/parser.js';
import type { Attribute } from '../template/types.js';
import { mergeJobUpdate } from './backupjob-merge.js';
import { checkJobReferences } from './backupjob-references.js';
import { normaliseJobTemplate } from './backupjob-template.js';
import type { ServiceDeps } from './context.js';
import {
  authorize,
  chmodObject,
  chownObject,
  loadAuthorized,
  loadOwned,
  lockObject,
  newObjectOwnership,
  notAuthorized,
  type PoolQuery,
  pageOf,
  renameObject,
  unlockObject,
  visibleInPool,
} from './objects.js';
import { ownerNames } from './owned-view.js';

export interface BackupJobView {
  readonly job: BackupJobTable;
  readonly uname: string;
  readonly gname: string;
  readonly sets: Readonly<Record<VmSet, readonly number[]>>;
  readonly schedActions: readonly SchedActionTable[];
  readonly template: readonly PlainAttribute[];
}

/** What `onebackupjob runs` shows. */
export interface JobRuns {
  readonly paused: boolean;
  readonly runs: readonly RunRecord[];
  readonly waiting: readonly { vmId: number; rank: number; reason: string }[];
  /** Host names by ID, as `onevm list` and `onehost list` show them. */
  readonly hostNames: ReadonlyMap<number, string>;
}

function parseOrThrow(text: string): readonly Attribute[] {
  return parseTemplate(text).attributes;
}

export class BackupJobService {
  constructor(private readonly deps: ServiceDeps) {}

  private now(): number {
    return epochSeconds(this.deps.clock);
  }

  private schedOptions(): SchedActionOptions {
    return { forBackupJob: true, now: this.now(), timeZone: this.deps.timeZone };
  }

  async allocate(who: Requester, text: string): Promise<number> {
    const problems: TemplateProblem[] = [];
    const t = normaliseJobTemplate(parseOrThrow(text), problems, { isAdmin: who.isAdmin });
    if (t.name === undefined)
      problems.push({
        line: 1,
        column: 1,
        attribute: 'NAME',
        message: 'NAME is missing; give the job a NAME = "..."',
      });
    const schedFields = t.schedActions.map((v) => {
      try {
        return parseSchedAction(v, this.schedOptions());
      } catch (err) {
        if (err instanceof TemplateError) problems.push(...err.problems);
        else throw err;
        return undefined;
      }
    });
    const jobId = await this.deps.store.tx(async (trx) => {
      await checkJobReferences(trx, who, undefined, t, [], problems);
      if (problems.length > 0) throw new TemplateError(problems);
      const name = t.name as string;
      const clash = await findOwnedNameClash(trx, 'backup_jobs', name, -1, who.uid);
      if (clash !== undefined)
        throw new OneError(ErrorCode.ACTION, `NAME is already taken by BACKUP JOB ${clash}.`);
      const id = await insertJob(trx, {
        name,
        ownership: newObjectOwnership(who),
        attributes: t.attributes,
        priority: t.priority ?? 50,
      });
      for (const fields of schedFields) if (fields) await insertSchedule(trx, id, fields);
      return id;
    });
    this.deps.scheduler.schedulesChanged();
    return jobId;
  }

  async update(who: Requester, id: number, text: string, type: number): Promise<void> {
    if (type !== 0 && type !== 1) throw new OneError(ErrorCode.ACTION, 'Wrong update type');
    const incoming = parseOrThrow(text);
    await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE')) as BackupJobTable;
      const old = decodeAttributes(row.template);
      const merged = mergeJobUpdate(old, incoming, type);
      const problems: TemplateProblem[] = [];
      const t = normaliseJobTemplate(merged, problems, { isAdmin: true });
      const before = vmsOf(old);
      await checkJobReferences(trx, who, id, t, before, problems);
      if (problems.length > 0) throw new TemplateError(problems);
      const error = old.find((a) => a.name === 'ERROR');
      const attributes = error ? [...t.attributes, error] : t.attributes;
      await replaceJobTemplate(trx, id, before, attributes, this.deps.clock.now());
    });
    this.deps.scheduler.jobChanged(id);
  }

  async delete(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE')) as BackupJobTable;
      await deleteJob(trx, row);
    });
    this.deps.scheduler.jobChanged(id);
    this.deps.scheduler.schedulesChanged();
  }

  async rename(who: Requester, id: number, name: string): Promise<void> {
    await this.deps.store.tx((trx) =>
      renameObject(trx, who, 'backup_jobs', id, name, (t, row, newName) =>
        findOwnedNameClash(t, 'backup_jobs', newName, row.id, row.uid),
      ),
    );
  }

  chmod(who: Requester, id: number, args: Parameters<typeof chmodObject>[4]): Promise<void> {
    return this.deps.store.tx((trx) => chmodObject(trx, who, 'backup_jobs', id, args));
  }

  chown(who: Requester, id: number, uid: number, gid: number): Promise<void> {
    return this.deps.store.tx((trx) => chownObject(trx, who, 'backup_jobs', id, uid, gid));
  }

  lock(who: Requester, id: number, level: number, test: boolean): Promise<void> {
    return this.deps.store.tx((trx) => lockObject(trx, who, 'backup_jobs', id, level, test, this.now()));
  }

  unlock(who: Requester, id: number): Promise<void> {
    return this.deps.store.tx((trx) => unlockObject(trx, who, 'backup_jobs', id));
  }

  async priority(who: Requester, id: number, priority: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      const row = await loadOwned(trx, 'backup_jobs', id);
      if (!Number.isInteger(priority) || priority < 0 || priority > 99) {
        throw new OneError(ErrorCode.ACTION, 'Wrong priority value');
      }
      const op = priority > 49 ? 'ADMIN' : 'MANAGE';
      authorize(who, 'backup_jobs', row, op);
      if (priority > 49 && !who.isAdmin) throw notAuthorized(who, 'ADMIN', 'BACKUPJOB', id);
      await setJobPriority(trx, id, priority);
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `backup`: refused while a run is pending; else every VM of BACKUP_VMS becomes OUTDATED. */
  async backup(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE')) as BackupJobTable;
      await this.execute(trx, row);
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** Starts a run of the job (manual or scheduled). Throws when a run is still pending. */
  execute(trx: Tx, row: BackupJobTable, trigger: RunTrigger = 'manual'): Promise<void> {
    return openJobRun(trx, row, trigger, this.deps.clock.now());
  }

  /**
   * `cancel`: OUTDATED VMs leave every set; ONGOING ones are aborted and land in ERROR.
   * Returns the VMs whose running backups must be aborted.
   */
  async cancel(who: Requester, id: number): Promise<number[]> {
    const { running: aborted } = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      return cancelJobRun(trx, id, this.deps.clock.now());
    });
    this.deps.scheduler.abort(aborted);
    this.deps.scheduler.jobChanged(id);
    return aborted;
  }

  /** `retry`: ERROR VMs go back to OUTDATED (in the run in progress, or a new `retry` run). */
  async retry(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE')) as BackupJobTable;
      await retryJobErrors(trx, row, this.deps.clock.now());
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `pause`: the job's queued VMs are held (shown `onhold`); running backups finish. */
  async pause(who: Requester, id: number, paused: boolean): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      await setJobPaused(trx, id, paused);
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `exclude`: an OUTDATED VM leaves the current run (task `excluded`); it stays in BACKUP_VMS. */
  async exclude(who: Requester, id: number, vmId: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      await excludeJobVm(trx, id, vmId, this.deps.clock.now());
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `runs`: the job's runs (INFO permission), newest first, and why its queued VMs wait. */
  async runs(who: Requester, id: number, runId?: number): Promise<JobRuns> {
    const records = await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'INFO')) as BackupJobTable;
      return {
        paused: row.paused === 1,
        runs: await listRuns(trx, id, runId),
        hostNames: await hostNamesById(trx),
      };
    });
    if (runId !== undefined && records.runs.length === 0)
      throw new OneError(ErrorCode.NO_EXISTS, `backup job ${id} has no run ${runId}`);
    return { ...records, waiting: this.deps.scheduler.waiting(id) };
  }

  async schedAdd(who: Requester, id: number, text: string): Promise<number> {
    const vector = parseOrThrow(text).find((a) => a.name === 'SCHED_ACTION');
    if (vector?.kind !== 'vector')
      throw new OneError(ErrorCode.ACTION, 'No SCHED_ACTION attribute in template');
    const fields = parseSchedAction(vector, this.schedOptions());
    const newId = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      return insertSchedule(trx, id, fields);
    });
    this.deps.scheduler.schedulesChanged();
    return newId;
  }

  async schedDelete(who: Requester, id: number, saId: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      await deleteSchedule(trx, id, saId);
    });
    this.deps.scheduler.schedulesChanged();
  }

  async schedUpdate(who: Requester, id: number, saId: number, text: string): Promise<void> {
    const vector = parseOrThrow(text).find((a) => a.name === 'SCHED_ACTION');
    if (vector?.kind !== 'vector')
      throw new OneError(ErrorCode.ACTION, 'No SCHED_ACTION attribute in template');
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      const row = await findSchedule(trx, id, saId);
      if (!row) throw new OneError(ErrorCode.NO_EXISTS, `SCHED_ACTION with id = ${saId} doesn't exist`);
      await replaceSchedule(trx, row, updateSchedAction(schedRowToFields(row), vector, this.schedOptions()));
    });
    this.deps.scheduler.schedulesChanged();
  }

  async info(who: Requester, id: number): Promise<BackupJobView> {
    return this.deps.store.read(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'INFO')) as BackupJobTable;
      const [view] = await this.views(trx, [row]);
      return view as BackupJobView;
    });
  }

  async pool(who: Requester, q: PoolQuery): Promise<BackupJobView[]> {
    return this.deps.store.read(async (trx) => {
      return this.views(trx, pageOf(visibleInPool(await listJobs(trx), who, q), q));
    });
  }

  private async views(trx: Tx, rows: readonly BackupJobTable[]): Promise<BackupJobView[]> {
    if (rows.length === 0) return [];
    const names = await ownerNames(trx, rows);
    const details = await jobDetails(
      trx,
      rows.map((r) => r.id),
    );
    return rows.map((job) => {
      const d = details.get(job.id);
      return {
        job,
        uname: names.uname(job.uid),
        gname: names.gname(job.gid),
        sets: d?.sets ?? { OUTDATED: [], ONGOING: [], UPDATED: [], ERROR: [] },
        schedActions: d?.schedActions ?? [],
        template: decodeAttributes(job.template),
      };
    });
  }
}
