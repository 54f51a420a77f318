/**
 * The XML-RPC method table: OpenNebula's method names and argument lists, each mapped to a
 * service call and a result. The first argument of every method is the session string; it is
 * checked by the server before a handler runs.
 */
import * as docs from '../docs/index.js';
import type { BackupProgressView } from '../docs/inventory.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Requester } from '../permissions.js';
import type { BackupJobService } from '../services/backupjobs.js';
import type { DatastoreService } from '../services/datastores.js';
import type { HostService } from '../services/hosts.js';
import type { ImageService } from '../services/images.js';
import type { OwnedTable } from '../services/objects.js';
import type { OwnedCalls } from '../services/owned-calls.js';
import type { UserService } from '../services/users.js';
import type { VmBackupService } from '../services/vm-backups.js';
import type { VmService } from '../services/vms.js';
import {
  type ArgsOf,
  boolParam,
  checkArgs,
  intArrayParam,
  intParam,
  type ParamSpec,
  stringParam,
} from './signature.js';
import type { XmlRpcValue } from './xmlrpc-value.js';

export interface Services {
  readonly users: UserService;
  readonly hosts: HostService;
  readonly datastores: DatastoreService;
  readonly vms: VmService;
  readonly images: ImageService;
  readonly jobs: BackupJobService;
  /** Generic owned-object calls (chmod, chown, rename, lock, unlock) for any table. */
  readonly owned: OwnedCalls;
  readonly vmBackups: VmBackupService;
  /** Progress of a running backup of a VM, or why a queued one waits, if any. */
  readonly backupProgress: (vmId: number) => BackupProgressView | undefined;
  readonly version: string;
  /** Epoch milliseconds, from the daemon's clock (progress and speed in documents). */
  readonly now: () => number;
  /** The stored log lines of one VM task of a run (`onebackupjob runs --log`). */
  readonly taskLog: (
    jobId: number,
    runId: number,
    vmId: number,
  ) => Promise<readonly { timeMs: number; line: string }[]>;
}

export type MethodResult = number | string | boolean;

/** A call whose arguments are checked, waiting for its authenticated caller. */
export type PreparedCall = (s: Services, who: Requester) => Promise<MethodResult>;

export interface MethodDef {
  readonly params: readonly ParamSpec[];
  /** Checks the arguments after the session (RPC_API naming the bad one) and returns the call. */
  prepare(method: string, args: readonly XmlRpcValue[]): PreparedCall;
}

/** A method whose handler takes the arguments its parameter list declares, typed by it. */
function method<const P extends readonly ParamSpec[]>(
  params: P,
  handler: (s: Services, who: Requester, ...args: ArgsOf<P>) => Promise<MethodResult>,
): MethodDef {
  return {
    params,
    prepare(name, raw) {
      const args = checkArgs(name, params, raw);
      return (s, who) => handler(s, who, ...args);
    },
  };
}

/** A method on one object that answers with the object's ID once `action` is done. */
function onId<const P extends readonly ParamSpec[]>(
  params: readonly [ParamSpec<'int'>, ...P],
  action: (s: Services, who: Requester, id: number, ...args: ArgsOf<P>) => Promise<unknown>,
): MethodDef {
  return method(params, async (s, who, id, ...args) => {
    await action(s, who, id, ...args);
    return id;
  });
}

const id = intParam('id');
const tmpl = stringParam('template');
const decrypt = boolParam('decrypt', false);
const filter = [intParam('filter', -2), intParam('start', -1), intParam('end', -1)] as const;
const chmodParams = [
  intParam('owner_u'),
  intParam('owner_m'),
  intParam('owner_a'),
  intParam('group_u'),
  intParam('group_m'),
  intParam('group_a'),
  intParam('other_u'),
  intParam('other_m'),
  intParam('other_a'),
] as const;

const renameMethod = (table: OwnedTable): MethodDef =>
  onId([id, stringParam('name')], (s, who, objectId, name) => s.owned.rename(who, table, objectId, name));

/** chmod/chown/rename/lock/unlock for one object kind. */
function ownedMethods(prefix: string, table: OwnedTable): Record<string, MethodDef> {
  return {
    [`${prefix}.chmod`]: onId([id, ...chmodParams], (s, who, objectId, ...bits) =>
      s.owned.chmod(who, table, objectId, bits),
    ),
    [`${prefix}.chown`]: onId([id, intParam('uid'), intParam('gid')], (s, who, objectId, uid, gid) =>
      s.owned.chown(who, table, objectId, uid, gid),
    ),
    [`${prefix}.rename`]: renameMethod(table),
    [`${prefix}.lock`]: onId(
      [id, intParam('level', 1), boolParam('test', false)],
      (s, who, objectId, level, test) => s.owned.lock(who, table, objectId, level, test),
    ),
    [`${prefix}.unlock`]: onId([id], (s, who, objectId) => s.owned.unlock(who, table, objectId)),
  };
}

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
  'one.backupjobpool.info': method(filter, async (s, who, f, start, end) =>
    docs.backupJobPoolXml(await s.jobs.pool(who, f, start, end)),
  ),

  // VMs
  'one.vm.allocate': method([tmpl, boolParam('hold', false)], (s, who, text) => s.vms.allocate(who, text)),
  'one.vm.info': method([id, decrypt], async (s, who, vmId) =>
    docs.vmXml(await s.vms.info(who, vmId), s.backupProgress(vmId)),
  ),
  'one.vm.backup': method(
    [id, intParam('datastore_id'), boolParam('reset', false)],
    (s, who, vmId, datastoreId, reset) => s.vmBackups.backup(who, vmId, datastoreId, reset),
  ),
  'one.vm.restore': method(
    [id, intParam('image_id'), intParam('increment_id', -1), intParam('disk_id', -1)],
    (s, who, vmId, imageId, incrementId, diskId) =>
      s.vmBackups.restoreInPlace(who, vmId, imageId, incrementId, diskId),
  ),
  'one.vm.delete': onId([id], (s, who, vmId) => s.vms.delete(who, vmId)),
  ...ownedMethods('one.vm', 'vms'),
  'one.vmpool.info': method([...filter, intParam('state', -1)], async (s, who, f, start, end) =>
    docs.vmPoolXml(await s.vms.pool(who, f, start, end)),
  ),

  // Hosts
  'one.host.allocate': method(
    [
      stringParam('name_or_template'),
      stringParam('im_mad', ''),
      stringParam('vmm_mad', ''),
      intParam('cluster_id', -1),
    ],
    (s, who, nameOrTemplate, _imMad, vmmMad) => {
      // OpenNebula's form is (name, im_mad, vmm_mad, cluster); ours passes a template alone.
      const text =
        vmmMad !== ''
          ? `NAME = ${JSON.stringify(nameOrTemplate)}\nVM_MAD = ${JSON.stringify(vmmMad)}\n`
          : nameOrTemplate;
      return s.hosts.allocate(who, text);
    },
  ),
  'one.host.delete': onId([id], (s, who, hostId) => s.hosts.delete(who, hostId)),
  'one.host.info': method([id, decrypt], async (s, who, hostId) =>
    docs.hostXml(await s.hosts.info(who, hostId)),
  ),
  'one.host.rename': renameMethod('hosts'),
  'one.hostpool.info': method([], async (s, who) => docs.hostPoolXml(await s.hosts.pool(who))),

  // Datastores
  'one.datastore.allocate': method([tmpl, intParam('cluster_id', -1)], (s, who, text) =>
    s.datastores.allocate(who, text),
  ),
  'one.datastore.delete': onId([id], (s, who, dsId) => s.datastores.delete(who, dsId)),
  'one.datastore.info': method([id, decrypt], async (s, who, dsId) =>
    docs.datastoreXml(await s.datastores.info(who, dsId)),
  ),
  ...ownedMethods('one.datastore', 'datastores'),
  'one.datastorepool.info': method([], async (s, who) => docs.datastorePoolXml(await s.datastores.pool(who))),

  // Images
  'one.image.info': method([id, decrypt], async (s, who, imageId) =>
    docs.imageXml(await s.images.info(who, imageId)),
  ),
  'one.image.verify': method([id, intParam('increment_id', -1)], (s, who, imageId, incrementId) =>
    s.vmBackups.verify(who, { imageId, incrementId }),
  ),
  'one.datastore.verify': method([id], (s, who, datastoreId) => s.vmBackups.verify(who, { datastoreId })),
  'one.datastore.gc': method([id], (s, who, datastoreId) => s.vmBackups.gc(who, datastoreId)),
  'one.image.restore': method(
    [id, intParam('datastore_id', -1), stringParam('template', '')],
    (s, who, imageId, _datastoreId, text) => s.vmBackups.restore(who, imageId, text),
  ),
  'one.image.delete': onId([id, boolParam('force', false)], (s, who, imageId) =>
    s.images.delete(who, imageId),
  ),
  ...ownedMethods('one.image', 'images'),
  'one.imagepool.info': method(filter, async (s, who, f, start, end) =>
    docs.imagePoolXml(await s.images.pool(who, f, start, end)),
  ),

  // Users and groups
  'one.user.allocate': method(
    [
      stringParam('username'),
      stringParam('password'),
      stringParam('driver', 'core'),
      intArrayParam('group_ids', []),
    ],
    (s, who, username, password, _driver, groupIds) => s.users.allocate(who, username, password, groupIds),
  ),
  'one.user.info': method([intParam('id', -1), decrypt], async (s, who, userId) =>
    docs.userXml(await s.users.info(who, userId)),
  ),
  'one.user.passwd': onId([id, stringParam('password')], (s, who, userId, password) =>
    s.users.passwd(who, userId, password),
  ),
  'one.user.delete': onId([id], (s, who, userId) => s.users.delete(who, userId)),
  'one.userpool.info': method([], async (s, who) => docs.userPoolXml(await s.users.pool(who))),
  'one.group.allocate': method([stringParam('name')], (s, who, name) => s.users.allocateGroup(who, name)),
  'one.group.info': method([intParam('id', -1), decrypt], async (s, who, groupId) =>
    docs.groupXml(await s.users.groupInfo(who, groupId)),
  ),
  'one.grouppool.info': method([], async (s, who) => docs.groupPoolXml(await s.users.groupPool(who))),

  'one.system.version': method([], async (s) => s.version),

  // Datastore identity and disaster recovery (issue 10): our own methods.
  'one.datastore.import': method([tmpl], (s, who, text) => s.datastores.importStorage(who, text)),
  'one.datastore.keyexport': method([id, stringParam('passphrase')], (s, who, dsId, passphrase) =>
    s.datastores.keyExport(who, dsId, passphrase),
  ),
  'one.datastore.keyimport': onId(
    [id, stringParam('key'), stringParam('passphrase')],
    (s, who, dsId, key, passphrase) => s.datastores.keyImport(who, dsId, key, passphrase),
  ),
};
