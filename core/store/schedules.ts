/**
 * Scheduled actions of backup jobs (SCHED_ACTION): rows, and the transitions the job service and
 * the scheduler make on them. A fired schedule and the run it starts commit together.
 */
import { ErrorCode, OneError } from '../errors.js';
import type { SchedActionFields } from '../schedule/sched-action-fields.js';
import { nextId, type Queryable, type Tx } from './db.js';
import type { SchedActionTable } from './schema.js';

export const SCHED_TYPE_BACKUPJOB = 'BACKUPJOB';

/** A validated schedule as a new store row of a backup job (never run: DONE -1). */
export function schedFieldsToRow(id: number, jobId: number, f: SchedActionFields): SchedActionTable {
  return {
    id,
    parent_id: jobId,
    type: 'BACKUPJOB',
    action: 'backup',
    args: '',
    time: f.time,
    repeat: f.repeat,
    days: f.days,
    end_type: f.endType,
    end_value: f.endValue,
    done: -1,
    message: '',
    warning: f.warning,
    interval: f.interval ?? '',
    cron: f.cron ?? '',
    anchor: f.anchor ?? -1,
  };
}

export function schedRowToFields(row: SchedActionTable): SchedActionFields {
  return {
    time: row.time,
    repeat: row.repeat as SchedActionFields['repeat'],
    days: row.days,
    endType: row.end_type as SchedActionFields['endType'],
    endValue: row.end_value,
    warning: row.warning ?? 0,
    interval: row.interval,
    cron: row.cron,
    anchor: row.anchor,
  };
}

/** Adds a schedule to a job; returns its ID. */
export async function insertSchedule(trx: Tx, jobId: number, fields: SchedActionFields): Promise<number> {
  const id = await nextId(trx, 'sched_actions');
  await trx
    .insertInto('sched_actions')
    .values(schedFieldsToRow(id, jobId, fields))
    .execute();
  return id;
}

/** Deletes one schedule of a job; NO_EXISTS when the job has no such schedule. */
export async function deleteSchedule(trx: Tx, jobId: number, id: number): Promise<void> {
  const res = await trx
    .deleteFrom('sched_actions')
    .where('id', '=', id)
    .where('type', '=', SCHED_TYPE_BACKUPJOB)
    .where('parent_id', '=', jobId)
    .executeTakeFirst();
  if (Number(res.numDeletedRows) === 0)
    throw new OneError(ErrorCode.NO_EXISTS, `Error getting scheduled action [${id}].`);
}

/** Deletes every schedule of a job. */
export async function deleteJobSchedules(trx: Tx, jobId: number): Promise<void> {
  await trx
    .deleteFrom('sched_actions')
    .where('type', '=', SCHED_TYPE_BACKUPJOB)
    .where('parent_id', '=', jobId)
    .execute();
}

/** One schedule of a job, if it exists. */
export function findSchedule(
  db: Queryable,
  jobId: number,
  id: number,
): Promise<SchedActionTable | undefined> {
  return db
    .selectFrom('sched_actions')
    .selectAll()
    .where('id', '=', id)
    .where('type', '=', SCHED_TYPE_BACKUPJOB)
    .where('parent_id', '=', jobId)
    .executeTakeFirst();
}

/** Replaces a schedule's fields, keeping when it last ran and its message. */
export async function replaceSchedule(
  trx: Tx,
  row: SchedActionTable,
  fields: SchedActionFields,
): Promise<void> {
  const next = schedFieldsToRow(row.id, row.parent_id, fields);
  await trx
    .updateTable('sched_actions')
    .set({ ...next, done: row.done, message: row.message })
    .where('id', '=', row.id)
    .execute();
}

/** The schedules of these jobs, by ID. */
export function schedulesOfJobs(db: Queryable, jobIds: readonly number[]): Promise<SchedActionTable[]> {
  if (jobIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('sched_actions')
    .selectAll()
    .where('type', '=', SCHED_TYPE_BACKUPJOB)
    .where('parent_id', 'in', jobIds)
    .orderBy('id')
    .execute();
}

/** Every backup-job schedule, earliest time first (the scheduler's timer pass). */
export function allJobSchedules(db: Queryable): Promise<SchedActionTable[]> {
  return db
    .selectFrom('sched_actions')
    .selectAll()
    .where('type', '=', SCHED_TYPE_BACKUPJOB)
    .orderBy('time')
    .execute();
}

/** A schedule fired: its next fields and DONE time, message cleared. */
export async function markScheduleFired(
  trx: Tx,
  row: SchedActionTable,
  fields: SchedActionFields,
  done: number,
): Promise<void> {
  await trx
    .updateTable('sched_actions')
    .set({ ...schedFieldsToRow(row.id, row.parent_id, fields), done, message: '' })
    .where('id', '=', row.id)
    .execute();
}

/** A schedule could not fire: its MESSAGE says why. */
export async function setScheduleMessage(trx: Tx, id: number, message: string): Promise<void> {
  await trx.updateTable('sched_actions').set({ message }).where('id', '=', id).execute();
}
