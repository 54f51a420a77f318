/**
 * The references of a backup job template, checked against the inventory and the caller's rights
 * (`allocate` and `update`): DATASTORE_ID names a BACKUP_DS the caller may USE, and every VM of
 * BACKUP_VMS exists, and each one not already in the job is one the caller may MANAGE and is in no
 * other job. Problems are added to the caller's list, each at its attribute's position.
 */
import type { TemplateProblem } from '../errors.js';
import { isAuthorized, type Requester } from '../permissions.js';
import { findDatastore } from '../store/datastores.js';
import type { Tx } from '../store/db.js';
import { findJob } from '../store/jobs.js';
import { findVm } from '../store/vms.js';
import type { Position } from '../template/types.js';
import type { NormalisedJobTemplate } from './backupjob-template.js';
import { ownedView } from './objects.js';

function templateProblemAt(at: Position | undefined, attribute: string, message: string): TemplateProblem {
  return { line: at?.line ?? 0, column: at?.column ?? 0, attribute, message };
}

/** Checks DATASTORE_ID and BACKUP_VMS of `t` for job `jobId` (undefined: a new job). */
export async function checkJobReferences(
  trx: Tx,
  who: Requester,
  jobId: number | undefined,
  t: NormalisedJobTemplate,
  previousVms: readonly number[],
  problems: TemplateProblem[],
): Promise<void> {
  if (t.datastoreId !== undefined) {
    const at = t.positions.get('DATASTORE_ID');
    const ds = await findDatastore(trx, t.datastoreId);
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
    const vm = await findVm(trx, vmId);
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
      const other = await findJob(trx, vm.backup_job_id);
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
