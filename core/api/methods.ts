/**
 * The XML-RPC method table: OpenNebula's method names and argument lists, each mapped to a
 * service call and a result. The first argument of every method is the session string; it is
 * checked by the server before a handler runs.
 */
import * as docs from '../docs/index.js';
import type { BackupProgressView } from '../docs/inventory.js';
import { ErrorCode, OneError } from '../errors.js';
import type { ChmodArgs, Requester } from '../permissions.js';
import type { BackupJobService } from '../services/backupjobs.js';
import type { DatastoreService } from '../services/datastores.js';
import type { HostService } from '../services/hosts.js';
import type { ImageService } from '../services/images.js';
import type { OwnedTable } from '../services/objects.js';
import type { OwnedCalls } from '../services/owned-calls.js';
import type { UserService } from '../services/users.js';
import type { VmBackupService } from '../services/vm-backups.js';
import type { VmService } from '../services/vms.js';
import type { ArgValue, ParamSpec } from './signature.js';

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

export interface MethodDef {
  readonly params: readonly ParamSpec[];
  readonly handler: (s: Services, who: Requester, args: readonly ArgValue[]) => Promise<MethodResult>;
}

const id: ParamSpec = { name: 'id', type: 'int' };
const tmpl: ParamSpec = { name: 'template', type: 'string' };
const decrypt: ParamSpec = { name: 'decrypt', type: 'bool', default: false };
const filter: ParamSpec[] = [
  { name: 'filter', type: 'int', default: -2 },
  { name: 'start', type: 'int', default: -1 },
  { name: 'end', type: 'int', default: -1 },
];
const chmodParams: ParamSpec[] = [
  'owner_u',
  'owner_m',
  'owner_a',
  'group_u',
  'group_m',
  'group_a',
  'other_u',
  'other_m',
  'other_a',
].map((name) => ({ name, type: 'int' }) as const);

const n = (v: ArgValue | undefined): number => v as number;
const str = (v: ArgValue | undefined): string => v as string;
const bool = (v: ArgValue | undefined): boolean => v as boolean;

/** chmod/chown/rename/lock/unlock for one object kind. */
function ownedMethods(prefix: string, table: OwnedTable): Record<string, MethodDef> {
  return {
    [`${prefix}.chmod`]: {
      params: [id, ...chmodParams],
      handler: async (s, who, a) => {
        await s.owned.chmod(who, table, n(a[0]), a.slice(1).map(n) as unknown as ChmodArgs);
        return n(a[0]);
      },
    },
    [`${prefix}.chown`]: {
      params: [id, { name: 'uid', type: 'int' }, { name: 'gid', type: 'int' }],
      handler: async (s, who, a) => {
        await s.owned.chown(who, table, n(a[0]), n(a[1]), n(a[2]));
        return n(a[0]);
      },
    },
    [`${prefix}.rename`]: {
      params: [id, { name: 'name', type: 'string' }],
      handler: async (s, who, a) => {
        await s.owned.rename(who, table, n(a[0]), str(a[1]));
        return n(a[0]);
      },
    },
    [`${prefix}.lock`]: {
      params: [
        id,
        { name: 'level', type: 'int', default: 1 },
        { name: 'test', type: 'bool', default: false },
      ],
      handler: async (s, who, a) => {
        await s.owned.lock(who, table, n(a[0]), n(a[1]), bool(a[2]));
        return n(a[0]);
      },
    },
    [`${prefix}.unlock`]: {
      params: [id],
      handler: async (s, who, a) => {
        await s.owned.unlock(who, table, n(a[0]));
        return n(a[0]);
      },
    },
  };
}

function jobAction(action: 'delete' | 'backup' | 'cancel' | 'retry'): MethodDef {
  return {
    params: [id],
    handler: async (s, who, a) => {
      await s.jobs[action](who, n(a[0]));
      return n(a[0]);
    },
  };
}

export const METHODS: Readonly<Record<string, MethodDef>> = {
  // Backup jobs (SPEC.md 2.7)
  'one.backupjob.allocate': { params: [tmpl], handler: (s, who, a) => s.jobs.allocate(who, str(a[0])) },
  'one.backupjob.delete': jobAction('delete'),
  'one.backupjob.update': {
    params: [id, tmpl, { name: 'type', type: 'int', default: 0 }],
    handler: async (s, who, a) => {
      await s.jobs.update(who, n(a[0]), str(a[1]), n(a[2]));
      return n(a[0]);
    },
  },
  ...ownedMethods('one.backupjob', 'backup_jobs'),
  'one.backupjob.backup': jobAction('backup'),
  'one.backupjob.cancel': jobAction('cancel'),
  'one.backupjob.retry': jobAction('retry'),
  'one.backupjob.pause': {
    params: [id],
    handler: async (s, who, a) => {
      await s.jobs.pause(who, n(a[0]), true);
      return n(a[0]);
    },
  },
  'one.backupjob.resume': {
    params: [id],
    handler: async (s, who, a) => {
      await s.jobs.pause(who, n(a[0]), false);
      return n(a[0]);
    },
  },
  'one.backupjob.exclude': {
    params: [id, { name: 'vm_id', type: 'int' }],
    handler: async (s, who, a) => {
      await s.jobs.exclude(who, n(a[0]), n(a[1]));
      return n(a[0]);
    },
  },
  'one.backupjob.runs': {
    params: [id, { name: 'run_id', type: 'int', default: -1 }],
    handler: async (s, who, a) => {
      const runId = n(a[1]);
      const runs = await s.jobs.runs(who, n(a[0]), runId >= 0 ? runId : undefined);
      return docs.runsXml(n(a[0]), runs, s.now());
    },
  },
  'one.backupjob.runlog': {
    params: [id, { name: 'run_id', type: 'int' }, { name: 'vm_id', type: 'int' }],
    handler: async (s, who, a) => {
      const jobId = n(a[0]);
      const vmId = n(a[2]);
      const runId = n(a[1]) >= 0 ? n(a[1]) : undefined;
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
  },
  'one.backupjob.priority': {
    params: [id, { name: 'priority', type: 'int' }],
    handler: async (s, who, a) => {
      await s.jobs.priority(who, n(a[0]), n(a[1]));
      return n(a[0]);
    },
  },
  'one.backupjob.schedadd': {
    params: [id, tmpl],
    handler: (s, who, a) => s.jobs.schedAdd(who, n(a[0]), str(a[1])),
  },
  'one.backupjob.scheddelete': {
    params: [id, { name: 'sched_id', type: 'int' }],
    handler: async (s, who, a) => {
      await s.jobs.schedDelete(who, n(a[0]), n(a[1]));
      return n(a[0]);
    },
  },
  'one.backupjob.schedupdate': {
    params: [id, { name: 'sched_id', type: 'int' }, tmpl],
    handler: async (s, who, a) => {
      await s.jobs.schedUpdate(who, n(a[0]), n(a[1]), str(a[2]));
      return n(a[0]);
    },
  },
  'one.backupjob.info': {
    params: [id, decrypt],
    handler: async (s, who, a) =>
      docs.backupJobXml(await s.jobs.info(who, n(a[0])), { withSchedActions: true }),
  },
  'one.backupjobpool.info': {
    params: filter,
    handler: async (s, who, a) => docs.backupJobPoolXml(await s.jobs.pool(who, n(a[0]), n(a[1]), n(a[2]))),
  },

  // VMs
  'one.vm.allocate': {
    params: [tmpl, { name: 'hold', type: 'bool', default: false }],
    handler: (s, who, a) => s.vms.allocate(who, str(a[0])),
  },
  'one.vm.info': {
    params: [id, decrypt],
    handler: async (s, who, a) => docs.vmXml(await s.vms.info(who, n(a[0])), s.backupProgress(n(a[0]))),
  },
  'one.vm.backup': {
    params: [id, { name: 'datastore_id', type: 'int' }, { name: 'reset', type: 'bool', default: false }],
    handler: (s, who, a) => s.vmBackups.backup(who, n(a[0]), n(a[1]), bool(a[2])),
  },
  'one.vm.restore': {
    params: [
      id,
      { name: 'image_id', type: 'int' },
      { name: 'increment_id', type: 'int', default: -1 },
      { name: 'disk_id', type: 'int', default: -1 },
    ],
    handler: (s, who, a) => s.vmBackups.restoreInPlace(who, n(a[0]), n(a[1]), n(a[2]), n(a[3])),
  },
  'one.vm.delete': {
    params: [id],
    handler: async (s, who, a) => {
      await s.vms.delete(who, n(a[0]));
      return n(a[0]);
    },
  },
  ...ownedMethods('one.vm', 'vms'),
  'one.vmpool.info': {
    params: [...filter, { name: 'state', type: 'int', default: -1 }],
    handler: async (s, who, a) => docs.vmPoolXml(await s.vms.pool(who, n(a[0]), n(a[1]), n(a[2]))),
  },

  // Hosts
  'one.host.allocate': {
    params: [
      { name: 'name_or_template', type: 'string' },
      { name: 'im_mad', type: 'string', default: '' },
      { name: 'vmm_mad', type: 'string', default: '' },
      { name: 'cluster_id', type: 'int', default: -1 },
    ],
    handler: (s, who, a) => {
      // OpenNebula's form is (name, im_mad, vmm_mad, cluster); ours passes a template alone.
      const text =
        str(a[2]) !== ''
          ? `NAME = ${JSON.stringify(str(a[0]))}\nVM_MAD = ${JSON.stringify(str(a[2]))}\n`
          : str(a[0]);
      return s.hosts.allocate(who, text);
    },
  },
  'one.host.delete': {
    params: [id],
    handler: async (s, who, a) => {
      await s.hosts.delete(who, n(a[0]));
      return n(a[0]);
    },
  },
  'one.host.info': {
    params: [id, decrypt],
    handler: async (s, who, a) => docs.hostXml(await s.hosts.info(who, n(a[0]))),
  },
  'one.host.rename': ownedMethods('one.host', 'hosts')['one.host.rename'] as MethodDef,
  'one.hostpool.info': { params: [], handler: async (s, who) => docs.hostPoolXml(await s.hosts.pool(who)) },

  // Datastores
  'one.datastore.allocate': {
    params: [tmpl, { name: 'cluster_id', type: 'int', default: -1 }],
    handler: (s, who, a) => s.datastores.allocate(who, str(a[0])),
  },
  'one.datastore.delete': {
    params: [id],
    handler: async (s, who, a) => {
      await s.datastores.delete(who, n(a[0]));
      return n(a[0]);
    },
  },
  'one.datastore.info': {
    params: [id, decrypt],
    handler: async (s, who, a) => docs.datastoreXml(await s.datastores.info(who, n(a[0]))),
  },
  ...ownedMethods('one.datastore', 'datastores'),
  'one.datastorepool.info': {
    params: [],
    handler: async (s, who) => docs.datastorePoolXml(await s.datastores.pool(who)),
  },

  // Images
  'one.image.info': {
    params: [id, decrypt],
    handler: async (s, who, a) => docs.imageXml(await s.images.info(who, n(a[0]))),
  },
  'one.image.verify': {
    params: [id, { name: 'increment_id', type: 'int', default: -1 }],
    handler: (s, who, a) => s.vmBackups.verify(who, { imageId: n(a[0]), incrementId: n(a[1]) }),
  },
  'one.datastore.verify': {
    params: [id],
    handler: (s, who, a) => s.vmBackups.verify(who, { datastoreId: n(a[0]) }),
  },
  'one.datastore.gc': { params: [id], handler: (s, who, a) => s.vmBackups.gc(who, n(a[0])) },
  'one.image.restore': {
    params: [
      id,
      { name: 'datastore_id', type: 'int', default: -1 },
      { name: 'template', type: 'string', default: '' },
    ],
    handler: (s, who, a) => s.vmBackups.restore(who, n(a[0]), str(a[2])),
  },
  'one.image.delete': {
    params: [id, { name: 'force', type: 'bool', default: false }],
    handler: async (s, who, a) => {
      await s.images.delete(who, n(a[0]));
      return n(a[0]);
    },
  },
  ...ownedMethods('one.image', 'images'),
  'one.imagepool.info': {
    params: filter,
    handler: async (s, who, a) => docs.imagePoolXml(await s.images.pool(who, n(a[0]), n(a[1]), n(a[2]))),
  },

  // Users and groups
  'one.user.allocate': {
    params: [
      { name: 'username', type: 'string' },
      { name: 'password', type: 'string' },
      { name: 'driver', type: 'string', default: 'core' },
      { name: 'group_ids', type: 'intArray', default: [] },
    ],
    handler: (s, who, a) => s.users.allocate(who, str(a[0]), str(a[1]), a[3] as readonly number[]),
  },
  'one.user.info': {
    params: [{ name: 'id', type: 'int', default: -1 }, decrypt],
    handler: async (s, who, a) => docs.userXml(await s.users.info(who, n(a[0]))),
  },
  'one.user.passwd': {
    params: [id, { name: 'password', type: 'string' }],
    handler: async (s, who, a) => {
      await s.users.passwd(who, n(a[0]), str(a[1]));
      return n(a[0]);
    },
  },
  'one.user.delete': {
    params: [id],
    handler: async (s, who, a) => {
      await s.users.delete(who, n(a[0]));
      return n(a[0]);
    },
  },
  'one.userpool.info': { params: [], handler: async (s, who) => docs.userPoolXml(await s.users.pool(who)) },
  'one.group.allocate': {
    params: [{ name: 'name', type: 'string' }],
    handler: (s, who, a) => s.users.allocateGroup(who, str(a[0])),
  },
  'one.group.info': {
    params: [{ name: 'id', type: 'int', default: -1 }, decrypt],
    handler: async (s, who, a) => docs.groupXml(await s.users.groupInfo(who, n(a[0]))),
  },
  'one.grouppool.info': {
    params: [],
    handler: async (s, who) => docs.groupPoolXml(await s.users.groupPool(who)),
  },

  'one.system.version': { params: [], handler: async (s) => s.version },
};
