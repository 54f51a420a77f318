/**
 * Backup jobs: create, change, trigger and inspect (SPEC.md section 2, decisions 2-4).
 * Every call is one store transaction: a rejected call changes nothing.
 * The four VM sets live in job_vms, one row per (job, VM) with the set it is in; a VM in
 * BACKUP_VMS with no row is in no set (added since the last run).
 */
import { epochSeconds } from '../clock.js';
import { ErrorCode, OneError, TemplateError, type TemplateProblem } from '../errors.js';
import { type RunTrigger, VM_SETS, type VmSet } from '../model.js';
import { isAuthorized, type Requester } from '../permissions.js';
import { parseSchedAction, type SchedActionOptions, updateSchedAction } from '../schedule/sched-action.js';
import { decodeAttributes, encodeAttributes, type PlainAttribute, setSingle } from '../store/attributes.js';
import { nextId, type Tx } from '../store/db.js';
import type { BackupJobTable, SchedActionTable } from '../store/schema.js';
import { replaceMerge } from '../template/access.js';
import { parseTemplate } from '../template/parser.js';
import type { Attribute, Position } from '../template/types.js';
import { type NormalisedJobTemplate, normaliseJobTemplate } from './backupjob-template.js';
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
  ownedView,
  renameObject,
  unlockObject,
  visibleInPool,
} from './objects.js';
import {
  closeRunIfFinished,
  listRuns,
  openRun,
  queueTask,
  type RunRecord,
  startRun,
  updateTask,
} from './runs.js';
import { schedFieldsToRow, schedRowToFields } from './sched-rows.js';

export interface BackupJobView {
  readonly job: BackupJobTable;
  readonly uname: string;
  readonly gname: string;
  readonly sets: Readonly<Record<VmSet, readonly number[]>>;
  readonly schedActions: readonly SchedActionTable[];
  readonly template: readonly PlainAttribute[];
}

export const SCHED_TYPE_BACKUPJOB = 'BACKUPJOB';

/** What `onebackupjob runs` shows. */
export interface JobRuns {
  readonly paused: boolean;
  readonly runs: readonly RunRecord[];
  readonly waiting: readonly { vmId: number; rank: number; reason: string }[];
}

/** Each VM with its host (-1 when the VM is gone; the scheduler then records the error). */
async function hostsOf(trx: Tx, vms: readonly number[]): Promise<{ vmId: number; hostId: number }[]> {
  if (vms.length === 0) return [];
  const rows = await trx.selectFrom('vms').select(['id', 'host_id']).where('id', 'in', vms).execute();
  const host = new Map(rows.map((r) => [r.id, r.host_id]));
  return vms.map((vmId) => ({ vmId, hostId: host.get(vmId) ?? -1 }));
}

function parseOrThrow(text: string): readonly Attribute[] {
  return parseTemplate(text).attributes;
}

function templateProblemAt(at: Position | undefined, attribute: string, message: string): TemplateProblem {
  return { line: at?.line ?? 0, column: at?.column ?? 0, attribute, message };
}

export class BackupJobService {
  constructor(private readonly deps: ServiceDeps) {}

  private now(): number {
    return epochSeconds(this.deps.clock);
  }

  private schedOptions(): SchedActionOptions {
    return { forBackupJob: true, now: this.now(), timeZone: this.deps.timeZone };
  }

  /** Checks DATASTORE_ID and BACKUP_VMS against the inventory and the caller's rights. */
  private async checkReferences(
    trx: Tx,
    who: Requester,
    jobId: number | undefined,
    t: NormalisedJobTemplate,
    previousVms: readonly number[],
    problems: TemplateProblem[],
  ): Promise<void> {
    if (t.datastoreId !== undefined) {
      const at = t.positions.get('DATASTORE_ID');
      const ds = await trx
        .selectFrom('datastores')
        .selectAll()
        .where('id', '=', t.datastoreId)
        .executeTakeFirst();
      if (!ds) {
        problems.push(
          templateProblemAt(
            at,
            'DATASTORE_ID',
            `datastore ${t.datastoreId} does not exist; see onedatastore list`,
          ),
        );
      } else if (ds.type !== 'BACKUP_DS') {
        problems.push(
          templateProblemAt(
            at,
            'DATASTORE_ID',
            `datastore ${t.datastoreId} (${ds.name}) is ${ds.type}, not a BACKUP_DS`,
          ),
        );
      } else if (!isAuthorized(who, ownedView(ds), 'USE')) {
        problems.push(
          templateProblemAt(
            at,
            'DATASTORE_ID',
            `user ${who.uname} may not USE datastore ${t.datastoreId} (${ds.name}); ask its owner to chmod it`,
          ),
        );
      }
    }
    const at = t.positions.get('BACKUP_VMS');
    for (const vmId of t.backupVms) {
      const vm = await trx.selectFrom('vms').selectAll().where('id', '=', vmId).executeTakeFirst();
      if (!vm) {
        problems.push(templateProblemAt(at, 'BACKUP_VMS', `VM ${vmId} does not exist; see onevm list`));
        continue;
      }
      if (previousVms.includes(vmId)) continue;
      if (!isAuthorized(who, ownedView(vm), 'MANAGE')) {
        problems.push(
          templateProblemAt(
            at,
            'BACKUP_VMS',
            `user ${who.uname} may not MANAGE VM ${vmId} (${vm.name}), so cannot back it up`,
          ),
        );
        continue;
      }
      if (vm.backup_job_id !== -1 && vm.backup_job_id !== jobId) {
        const other = await trx
          .selectFrom('backup_jobs')
          .select('id')
          .where('id', '=', vm.backup_job_id)
          .executeTakeFirst();
        if (other) {
          problems.push(
            templateProblemAt(
              at,
              'BACKUP_VMS',
              `Unable to add VM ${vmId} to Backup Job ${jobId ?? '(new)'}. It's already in Backup Job ${other.id}`,
            ),
          );
        }
      }
    }
  }

  /** Points VMs at their job and releases the ones that left it (their chain starts anew). */
  private async relinkVms(trx: Tx, jobId: number, before: readonly number[], after: readonly number[]) {
    const removed = before.filter((id) => !after.includes(id));
    const added = after.filter((id) => !before.includes(id));
    if (removed.length > 0) {
      const rows = await trx
        .selectFrom('vms')
        .select(['id', 'backup_config', 'backup_job_id'])
        .where('id', 'in', removed)
        .execute();
      for (const row of rows) {
        if (row.backup_job_id !== jobId) continue;
        const cfg = JSON.parse(row.backup_config) as Record<string, string>;
        cfg['INCREMENTAL_BACKUP_ID'] = '-1';
        cfg['LAST_INCREMENT_ID'] = '-1';
        await trx
          .updateTable('vms')
          .set({ backup_job_id: -1, backup_config: JSON.stringify(cfg) })
          .where('id', '=', row.id)
          .execute();
      }
      await trx.deleteFrom('job_vms').where('job_id', '=', jobId).where('vm_id', 'in', removed).execute();
    }
    if (added.length > 0) {
      await trx.updateTable('vms').set({ backup_job_id: jobId }).where('id', 'in', added).execute();
    }
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
      await this.checkReferences(trx, who, undefined, t, [], problems);
      if (problems.length > 0) throw new TemplateError(problems);
      const name = t.name as string;
      const clash = await trx
        .selectFrom('backup_jobs')
        .select('id')
        .where('uid', '=', who.uid)
        .where('name', '=', name)
        .executeTakeFirst();
      if (clash) throw new OneError(ErrorCode.ACTION, `NAME is already taken by BACKUP JOB ${clash.id}.`);
      const id = await nextId(trx, 'backup_jobs');
      await trx
        .insertInto('backup_jobs')
        .values({
          id,
          name,
          ...newObjectOwnership(who),
          template: encodeAttributes(t.attributes),
          priority: t.priority ?? 50,
          last_backup_time: 0,
          last_backup_duration: 0,
          outdated_since: 0,
          paused: 0,
        })
        .execute();
      await this.relinkVms(trx, id, [], t.backupVms);
      for (const fields of schedFields) {
        if (!fields) continue;
        const saId = await nextId(trx, 'sched_actions');
        await trx
          .insertInto('sched_actions')
          .values(schedFieldsToRow(saId, id, fields))
          .execute();
      }
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
      const fresh = incoming.filter((a) => !['NAME', 'PRIORITY', 'SCHED_ACTION'].includes(a.name));
      let merged: readonly Attribute[];
      if (type === 0) merged = fresh;
      else {
        // Template::merge: a name in the update replaces the old values; `KEY = [ ]` deletes KEY.
        const kept: Attribute[] = old.map((a) =>
          a.kind === 'single'
            ? { ...a, line: 0, column: 0 }
            : { ...a, positions: new Map(), line: 0, column: 0 },
        );
        merged = replaceMerge(kept, fresh);
      }
      // Keep the system-set ERROR attribute across updates.
      merged = merged.filter((a) => a.name !== 'ERROR');
      const problems: TemplateProblem[] = [];
      const t = normaliseJobTemplate(merged, problems, { isAdmin: true });
      const before = vmsOf(old);
      await this.checkReferences(trx, who, id, t, before, problems);
      if (problems.length > 0) throw new TemplateError(problems);
      const error = old.find((a) => a.name === 'ERROR');
      const attributes = error ? [...t.attributes, error] : t.attributes;
      await trx
        .updateTable('backup_jobs')
        .set({ template: encodeAttributes(attributes) })
        .where('id', '=', id)
        .execute();
      await this.relinkVms(trx, id, before, t.backupVms);
      const dropped = before.filter((vm) => !t.backupVms.includes(vm));
      const nowMs = this.deps.clock.now();
      for (const vm of dropped) {
        await updateTask(trx, id, vm, {
          status: 'excluded',
          error: 'removed from BACKUP_VMS',
          end_ms: nowMs,
        });
      }
      if (dropped.length > 0) await closeRunIfFinished(trx, id, nowMs);
    });
    this.deps.scheduler.jobChanged(id);
  }

  async delete(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      const row = await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      await this.relinkVms(trx, id, vmsOf(decodeAttributes(row.template)), []);
      await trx
        .deleteFrom('sched_actions')
        .where('type', '=', SCHED_TYPE_BACKUPJOB)
        .where('parent_id', '=', id)
        .execute();
      await trx.deleteFrom('job_vms').where('job_id', '=', id).execute();
      await trx.deleteFrom('run_tasks').where('job_id', '=', id).execute();
      await trx.deleteFrom('job_runs').where('job_id', '=', id).execute();
      await trx.deleteFrom('task_logs').where('job_id', '=', id).execute();
      await trx.deleteFrom('backup_jobs').where('id', '=', id).execute();
    });
    this.deps.scheduler.jobChanged(id);
    this.deps.scheduler.schedulesChanged();
  }

  async rename(who: Requester, id: number, name: string): Promise<void> {
    await this.deps.store.tx((trx) =>
      renameObject(trx, who, 'backup_jobs', id, name, async (t, row, newName) => {
        const other = await t
          .selectFrom('backup_jobs')
          .select('id')
          .where('uid', '=', row.uid)
          .where('name', '=', newName)
          .where('id', '!=', row.id)
          .executeTakeFirst();
        return other?.id;
      }),
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
      await trx.updateTable('backup_jobs').set({ priority }).where('id', '=', id).execute();
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
  async execute(trx: Tx, row: BackupJobTable, trigger: RunTrigger = 'manual'): Promise<void> {
    const pending = await trx
      .selectFrom('job_vms')
      .select('vm_id')
      .where('job_id', '=', row.id)
      .where('vm_set', 'in', ['OUTDATED', 'ONGOING'])
      .executeTakeFirst();
    if (pending)
      throw new OneError(ErrorCode.ACTION, 'Unable to execute Backup Job, pending backups in progress');
    const template = decodeAttributes(row.template);
    if (!template.some((a) => a.name === 'DATASTORE_ID')) {
      throw new OneError(
        ErrorCode.ACTION,
        `backup job ${row.id} has no DATASTORE_ID; set one with: onebackupjob update ${row.id} -a (DATASTORE_ID = <id>)`,
      );
    }
    const now = this.now();
    await trx.deleteFrom('job_vms').where('job_id', '=', row.id).execute();
    const vms = vmsOf(template);
    for (const vmId of vms) {
      await trx
        .insertInto('job_vms')
        .values({ job_id: row.id, vm_id: vmId, vm_set: 'OUTDATED', error: '', changed: now })
        .execute();
    }
    await startRun(trx, row.id, trigger, await hostsOf(trx, vms), this.deps.clock.now());
    await trx
      .updateTable('backup_jobs')
      .set({
        last_backup_time: now,
        outdated_since: now,
        template: encodeAttributes(template.filter((a) => a.name !== 'ERROR')),
      })
      .where('id', '=', row.id)
      .execute();
  }

  /**
   * `cancel`: OUTDATED VMs leave every set; ONGOING ones are aborted and land in ERROR.
   * Returns the VMs whose running backups must be aborted.
   */
  async cancel(who: Requester, id: number): Promise<number[]> {
    const aborted = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      const rows = await trx
        .selectFrom('job_vms')
        .select(['vm_id', 'vm_set'])
        .where('job_id', '=', id)
        .where('vm_set', 'in', ['ONGOING', 'OUTDATED'])
        .execute();
      const nowMs = this.deps.clock.now();
      for (const r of rows) {
        await updateTask(trx, id, r.vm_id, {
          status: r.vm_set === 'ONGOING' ? 'failed' : 'excluded',
          error: 'backup cancelled by user',
          end_ms: nowMs,
        });
      }
      await trx.deleteFrom('job_vms').where('job_id', '=', id).where('vm_set', '=', 'OUTDATED').execute();
      await trx
        .updateTable('job_vms')
        .set({ vm_set: 'ERROR', error: 'backup cancelled by user', changed: this.now() })
        .where('job_id', '=', id)
        .where('vm_set', '=', 'ONGOING')
        .execute();
      await closeRunIfFinished(trx, id, nowMs, true);
      return rows.filter((r) => r.vm_set === 'ONGOING').map((r) => r.vm_id);
    });
    this.deps.scheduler.abort(aborted);
    this.deps.scheduler.jobChanged(id);
    return aborted;
  }

  /** `retry`: ERROR VMs go back to OUTDATED (in the run in progress, or a new `retry` run). */
  async retry(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE')) as BackupJobTable;
      const now = this.now();
      const hadOutdated = await trx
        .selectFrom('job_vms')
        .select('vm_id')
        .where('job_id', '=', id)
        .where('vm_set', '=', 'OUTDATED')
        .executeTakeFirst();
      const failed = (
        await trx
          .selectFrom('job_vms')
          .select('vm_id')
          .where('job_id', '=', id)
          .where('vm_set', '=', 'ERROR')
          .execute()
      ).map((r) => r.vm_id);
      await trx
        .updateTable('job_vms')
        .set({ vm_set: 'OUTDATED', error: '', changed: now, attempt: 0, not_before: 0 })
        .where('job_id', '=', id)
        .where('vm_set', '=', 'ERROR')
        .execute();
      const run = await openRun(trx, id);
      const vms = await hostsOf(trx, failed);
      if (run) for (const vm of vms) await queueTask(trx, id, run.run_id, vm.vmId, vm.hostId);
      else if (vms.length > 0) await startRun(trx, id, 'retry', vms, this.deps.clock.now());
      const template = decodeAttributes(row.template).filter((a) => a.name !== 'ERROR');
      await trx
        .updateTable('backup_jobs')
        .set({ template: encodeAttributes(template), ...(hadOutdated ? {} : { outdated_since: now }) })
        .where('id', '=', id)
        .execute();
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `pause`: the job's queued VMs are held (shown `onhold`); running backups finish. */
  async pause(who: Requester, id: number, paused: boolean): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      await trx
        .updateTable('backup_jobs')
        .set({ paused: paused ? 1 : 0 })
        .where('id', '=', id)
        .execute();
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `exclude`: an OUTDATED VM leaves the current run (task `excluded`); it stays in BACKUP_VMS. */
  async exclude(who: Requester, id: number, vmId: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      const row = await trx
        .selectFrom('job_vms')
        .select('vm_set')
        .where('job_id', '=', id)
        .where('vm_id', '=', vmId)
        .executeTakeFirst();
      if (row?.vm_set !== 'OUTDATED') {
        const where = row ? `it is ${row.vm_set}` : 'it is in no set of the job';
        const fix = row?.vm_set === 'ONGOING' ? `; to stop it, run: onebackupjob cancel ${id}` : '';
        throw new OneError(
          ErrorCode.ACTION,
          `Cannot exclude VM ${vmId} from backup job ${id}: only a VM waiting in OUTDATED can be excluded, ${where}${fix}`,
        );
      }
      const nowMs = this.deps.clock.now();
      await trx.deleteFrom('job_vms').where('job_id', '=', id).where('vm_id', '=', vmId).execute();
      await updateTask(trx, id, vmId, { status: 'excluded', error: 'excluded by user', end_ms: nowMs });
      await closeRunIfFinished(trx, id, nowMs);
    });
    this.deps.scheduler.jobChanged(id);
  }

  /** `runs`: the job's runs (INFO permission), newest first, and why its queued VMs wait. */
  async runs(who: Requester, id: number, runId?: number): Promise<JobRuns> {
    const records = await this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'INFO')) as BackupJobTable;
      return { paused: row.paused === 1, runs: await listRuns(trx, id, runId) };
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
      const saId = await nextId(trx, 'sched_actions');
      await trx
        .insertInto('sched_actions')
        .values(schedFieldsToRow(saId, id, fields))
        .execute();
      return saId;
    });
    this.deps.scheduler.schedulesChanged();
    return newId;
  }

  async schedDelete(who: Requester, id: number, saId: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      const res = await trx
        .deleteFrom('sched_actions')
        .where('id', '=', saId)
        .where('type', '=', SCHED_TYPE_BACKUPJOB)
        .where('parent_id', '=', id)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) {
        throw new OneError(ErrorCode.NO_EXISTS, `Error getting scheduled action [${saId}].`);
      }
    });
    this.deps.scheduler.schedulesChanged();
  }

  async schedUpdate(who: Requester, id: number, saId: number, text: string): Promise<void> {
    const vector = parseOrThrow(text).find((a) => a.name === 'SCHED_ACTION');
    if (vector?.kind !== 'vector')
      throw new OneError(ErrorCode.ACTION, 'No SCHED_ACTION attribute in template');
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'backup_jobs', id, 'MANAGE');
      const row = await trx
        .selectFrom('sched_actions')
        .selectAll()
        .where('id', '=', saId)
        .where('type', '=', SCHED_TYPE_BACKUPJOB)
        .where('parent_id', '=', id)
        .executeTakeFirst();
      if (!row) throw new OneError(ErrorCode.NO_EXISTS, `SCHED_ACTION with id = ${saId} doesn't exist`);
      const fields = updateSchedAction(schedRowToFields(row), vector, this.schedOptions());
      const next = schedFieldsToRow(saId, id, fields);
      await trx
        .updateTable('sched_actions')
        .set({ ...next, done: row.done, message: row.message })
        .where('id', '=', saId)
        .execute();
    });
    this.deps.scheduler.schedulesChanged();
  }

  async info(who: Requester, id: number): Promise<BackupJobView> {
    return this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'backup_jobs', id, 'INFO')) as BackupJobTable;
      const [view] = await this.views(trx, [row]);
      return view as BackupJobView;
    });
  }

  async pool(who: Requester, filter: number, start: number, end: number): Promise<BackupJobView[]> {
    return this.deps.store.tx(async (trx) => {
      const rows = await trx.selectFrom('backup_jobs').selectAll().orderBy('id', 'desc').execute();
      return this.views(trx, visibleInPool(rows, who, filter, start, end));
    });
  }

  private async views(trx: Tx, rows: readonly BackupJobTable[]): Promise<BackupJobView[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const users = new Map(
      (await trx.selectFrom('users').select(['id', 'name']).execute()).map((u) => [u.id, u.name]),
    );
    const groups = new Map(
      (await trx.selectFrom('groups').select(['id', 'name']).execute()).map((g) => [g.id, g.name]),
    );
    const memberships = await trx.selectFrom('job_vms').selectAll().where('job_id', 'in', ids).execute();
    const sched = await trx
      .selectFrom('sched_actions')
      .selectAll()
      .where('type', '=', SCHED_TYPE_BACKUPJOB)
      .where('parent_id', 'in', ids)
      .orderBy('id')
      .execute();
    return rows.map((job) => {
      const sets = Object.fromEntries(VM_SETS.map((s) => [s, [] as number[]])) as Record<VmSet, number[]>;
      for (const m of memberships) if (m.job_id === job.id) sets[m.vm_set as VmSet]?.push(m.vm_id);
      for (const s of VM_SETS) sets[s].sort((a, b) => a - b);
      const schedActions = sched.filter((s) => s.parent_id === job.id);
      return {
        job,
        uname: users.get(job.uid) ?? String(job.uid),
        gname: groups.get(job.gid) ?? String(job.gid),
        sets,
        schedActions,
        template: decodeAttributes(job.template),
      };
    });
  }
}

export function vmsOf(template: readonly PlainAttribute[]): number[] {
  const a = template.find((x) => x.name === 'BACKUP_VMS');
  if (a?.kind !== 'single' || a.value.trim() === '') return [];
  return a.value.split(',').map((s) => Number(s.trim()));
}

/** Records an error on the job's TEMPLATE/ERROR, OpenNebula style ("<ctime> : <message>"). */
export function withJobError(
  template: readonly PlainAttribute[],
  ctime: string,
  message: string,
): PlainAttribute[] {
  return setSingle(template, 'ERROR', `${ctime} : ${message}`);
}
