import type { SchedActionFields } from '../schedule/sched-action.js';
import type { SchedActionTable } from '../store/schema.js';

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
