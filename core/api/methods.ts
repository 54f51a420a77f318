/**
 * The XML-RPC method table: OpenNebula's method names and argument lists, each mapped to a
 * service call and a result. The first argument of every method is the session string; it is
 * checked by the server before a handler runs. Backup jobs here, the inventory, accounts and
 * system methods in inventory-methods.ts.
 */
import * as docs from '../docs/index.js';
import { ErrorCode, OneError } from '../errors.js';
import { INVENTORY_METHODS } from './inventory-methods.js';
import { decrypt, id, type MethodDef, method, onId, ownedMethods, poolParams, tmpl } from './method-def.js';
import { intParam } from './signature.js';

export type { MethodDef, MethodResult, PreparedCall, Services } from './method-def.js';

const jobAction = (action: 'delete' | 'backup' | 'cancel' | 'retry'): MethodDef =>
  onId([id], (s, who, jobId) => s.jobs[action](who, jobId));

export const METHODS: Readonly<Record<string, MethodDef>> = {
  // Backup jobs (SPEC.md 2.7)
  'one.backupjob.allocate': method([tmpl], (s, who, text) => s.jobs.allocate(who, text)),
  'one.backupjob.delete': jobAction('delete'),
  'one.backupjob.update': onId([id, tmpl, intParam('type', 0)], (s, who, jobId, text, type) =>
    s.jobs.update(who, jobId, text, type),
  ),
  ...ownedMethods('one.backupjob', 'backup_jobs'),
  'one.backupjob.backup': jobAction('backup'),
  'one.backupjob.cancel': jobAction('cancel'),
  'one.backupjob.retry': jobAction('retry'),
  'one.backupjob.pause': onId([id], (s, who, jobId) => s.jobs.pause(who, jobId, true)),
  'one.backupjob.resume': onId([id], (s, who, jobId) => s.jobs.pause(who, jobId, false)),
  'one.backupjob.exclude': onId([id, intParam('vm_id')], (s, who, jobId, vmId) =>
    s.jobs.exclude(who, jobId, vmId),
  ),
  'one.backupjob.runs': method([id, intParam('run_id', -1)], async (s, who, jobId, runId) => {
    const runs = await s.jobs.runs(who, jobId, runId >= 0 ? runId : undefined);
    return docs.runsXml(jobId, runs, s.now());
  }),
  'one.backupjob.runlog': method(
    [id, intParam('run_id'), intParam('vm_id')],
    async (s, who, jobId, runArg, vmId) => {
      const runId = runArg >= 0 ? runArg : undefined;
      // INFO on the job, and the run must exist; -1 is the newest run with a task for the VM.
      const { runs } = await s.jobs.runs(who, jobId, runId);
      const run = runs.find((r) => r.tasks.some((t) => t.vm_id === vmId));
      if (!run) {
        throw new OneError(
          ErrorCode.NO_EXISTS,
          `backup job ${jobId} has no task for VM ${vmId}${runId === undefined ? '' : ` in run ${runId}`}`,
        );
      }
      const lines = await s.taskLog(jobId, run.run.run_id, vmId);
      return lines.map((l) => `${l.line}\n`).join('');
    },
  ),
  'one.backupjob.priority': onId([id, intParam('priority')], (s, who, jobId, priority) =>
    s.jobs.priority(who, jobId, priority),
  ),
  'one.backupjob.schedadd': method([id, tmpl], (s, who, jobId, text) => s.jobs.schedAdd(who, jobId, text)),
  'one.backupjob.scheddelete': onId([id, intParam('sched_id')], (s, who, jobId, schedId) =>
    s.jobs.schedDelete(who, jobId, schedId),
  ),
  'one.backupjob.schedupdate': onId([id, intParam('sched_id'), tmpl], (s, who, jobId, schedId, text) =>
    s.jobs.schedUpdate(who, jobId, schedId, text),
  ),
  'one.backupjob.info': method([id, decrypt], async (s, who, jobId) =>
    docs.backupJobXml(await s.jobs.info(who, jobId), { withSchedActions: true }),
  ),
  'one.backupjobpool.info': method(poolParams, async (s, who, filter, start, end) =>
    docs.backupJobPoolXml(await s.jobs.pool(who, { filter, start, end })),
  ),

  ...INVENTORY_METHODS,
};
