/** The BackupJob document, element for element as OpenNebula writes it (SPEC.md 2.4). */
import type { BackupJobView } from '../services/backupjobs.js';
import type { SchedActionTable } from '../store/schema.js';
import { el, render, type XmlNode } from '../xml/build.js';
import { idsEl, num, ownedHead, templateEl } from './common.js';

/** A scheduled action as plain XML (no CDATA), as ScheduledAction::to_xml writes it. */
export function schedActionEl(sa: SchedActionTable): XmlNode {
  return el(
    'SCHED_ACTION',
    num('ID', sa.id),
    num('PARENT_ID', sa.parent_id),
    el('TYPE', sa.type),
    el('ACTION', sa.action),
    el('ARGS', sa.args),
    num('TIME', sa.time),
    num('REPEAT', sa.repeat),
    el('DAYS', sa.days),
    num('END_TYPE', sa.end_type),
    num('END_VALUE', sa.end_value),
    num('DONE', sa.done),
    el('MESSAGE', sa.message),
    num('WARNING', sa.warning ?? 0),
    // Freezer's kinds (ours): only present when used, so OpenNebula's documents are unchanged.
    ...(sa.interval ? [el('INTERVAL', sa.interval)] : []),
    ...(sa.cron ? [el('CRON', sa.cron)] : []),
  );
}

function backupJobEl(v: BackupJobView, withSchedActions: boolean): XmlNode {
  const j = v.job;
  return el(
    'BACKUPJOB',
    ...ownedHead(j, v.uname, v.gname, true),
    num('PRIORITY', j.priority),
    num('LAST_BACKUP_TIME', j.last_backup_time),
    num('LAST_BACKUP_DURATION', j.last_backup_duration),
    idsEl(
      'SCHED_ACTIONS',
      v.schedActions.map((s) => s.id),
    ),
    idsEl('UPDATED_VMS', v.sets.UPDATED),
    idsEl('OUTDATED_VMS', v.sets.OUTDATED),
    idsEl('BACKING_UP_VMS', v.sets.ONGOING),
    idsEl('ERROR_VMS', v.sets.ERROR),
    templateEl(v.template, withSchedActions ? v.schedActions.map(schedActionEl) : []),
  );
}

export function backupJobXml(v: BackupJobView, options: { withSchedActions: boolean }): string {
  return render(backupJobEl(v, options.withSchedActions));
}

export function backupJobPoolXml(views: readonly BackupJobView[]): string {
  return render(el('BACKUPJOB_POOL', ...views.map((v) => backupJobEl(v, false))));
}
