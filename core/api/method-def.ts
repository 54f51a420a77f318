/**
 * How the XML-RPC method table is built: what a method handler gets (Services), its parameter
 * list (argument types inferred from it), and the shapes shared by the methods of every object
 * kind (chmod, chown, rename, lock, unlock).
 */
import type { SystemConfigView } from '../docs/system.js';
import type { BackupProgressView } from '../docs/vm.js';
import type { Requester } from '../permissions.js';
import type { BackupJobService } from '../services/backupjobs.js';
import type { ClusterService } from '../services/clusters.js';
import type { DatastoreService } from '../services/datastores.js';
import type { HostService } from '../services/hosts.js';
import type { ImageService } from '../services/images.js';
import type { OwnedTable } from '../services/objects.js';
import type { OwnedCalls } from '../services/owned-calls.js';
import type { UserService } from '../services/users.js';
import type { VmBackupService } from '../services/vm-backups.js';
import type { VmService } from '../services/vms.js';
import type { ElementCache } from './element-cache.js';
import { type ArgsOf, boolParam, checkArgs, intParam, type ParamSpec, stringParam } from './signature.js';
import type { EscapedString } from './xmlrpc.js';
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
  readonly clusters: ClusterService;
  /** Pool documents' elements, kept rendered while their objects stay the same. */
  readonly elements: ElementCache;
  /** What `one.system.config` reports. */
  readonly systemConfig: SystemConfigView;
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

/** A method's answer; a pool document comes as an EscapedString built from kept elements. */
export type MethodResult = number | string | boolean | EscapedString;

/** A call whose arguments are checked, waiting for its authenticated caller. */
export type PreparedCall = (s: Services, who: Requester) => Promise<MethodResult>;

export interface MethodDef {
  readonly params: readonly ParamSpec[];
  /** Checks the arguments after the session (RPC_API naming the bad one) and returns the call. */
  prepare(method: string, args: readonly XmlRpcValue[]): PreparedCall;
}

/** A method whose handler takes the arguments its parameter list declares, typed by it. */
export function method<const P extends readonly ParamSpec[]>(
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
export function onId<const P extends readonly ParamSpec[]>(
  params: readonly [ParamSpec<'int'>, ...P],
  action: (s: Services, who: Requester, id: number, ...args: ArgsOf<P>) => Promise<unknown>,
): MethodDef {
  return method(params, async (s, who, id, ...args) => {
    await action(s, who, id, ...args);
    return id;
  });
}

export const id = intParam('id');
export const tmpl = stringParam('template');
export const decrypt = boolParam('decrypt', false);
/** `filter, start, end` of oned's pool calls (`A:siii`): all three required, as oned reads them. */
export const poolParams = [intParam('filter'), intParam('start'), intParam('end')] as const;
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

export const renameMethod = (table: OwnedTable): MethodDef =>
  onId([id, stringParam('name')], (s, who, objectId, name) => s.owned.rename(who, table, objectId, name));

/** chmod/chown/rename/lock/unlock for one object kind. */
export function ownedMethods(prefix: string, table: OwnedTable): Record<string, MethodDef> {
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
