/**
 * The methods of the inventory (VMs, hosts, datastores, images), of users and groups, of the
 * cluster and of the system, with oned's argument lists: pool calls take `filter, start, end`
 * (and, for VMs, `state` and a key-value filter) with oned's meanings (core/services/objects.ts).
 */
import * as docs from '../docs/index.js';
import type { HostActivity } from '../docs/inventory.js';
import { vmSearch } from '../docs/vm-search.js';
import { ErrorCode, OneError } from '../errors.js';
import type { HostView } from '../services/hosts.js';
import type { VmView } from '../services/vms.js';
import {
  decrypt,
  id,
  type MethodDef,
  method,
  onId,
  ownedMethods,
  poolParams,
  renameMethod,
  type Services,
  tmpl,
} from './method-def.js';
import { boolParam, intArrayParam, intParam, stringParam } from './signature.js';

/** oned's VM states run from INIT (0) to CLONING_FAILURE (11); -2 any, -1 any but DONE. */
const MAX_VM_STATE = 11;

const vmPoolParams = [...poolParams, intParam('state'), stringParam('kv_filter', '')] as const;

/** What `state` and the key-value filter of vmpool.info keep; undefined keeps every VM. */
function vmFilter(state: number, kv: string): ((v: VmView) => boolean) | undefined {
  if (state < -2 || state > MAX_VM_STATE)
    throw new OneError(ErrorCode.RPC_API, `Incorrect state filter ${state}`);
  const search = vmSearch(kv);
  // No VM of ours is ever DONE (6): -1 keeps them all, as -2 does.
  if (state < 0) return search;
  return (v) => docs.vmStateCode(v) === state && (search?.(v) ?? true);
}

/** Backups of the host's VMs running now (queued ones wait for a slot and are not counted). */
function hostActivity(s: Services, host: HostView): HostActivity {
  return {
    backupsRunning: host.vmIds.filter((vmId) => {
      const p = s.backupProgress(vmId);
      return p !== undefined && p.queued === undefined;
    }).length,
  };
}

export const INVENTORY_METHODS: Readonly<Record<string, MethodDef>> = {
  // VMs
  'one.vm.allocate': method([tmpl, boolParam('hold', false)], (s, who, text) => s.vms.allocate(who, text)),
  'one.vm.info': method([id, decrypt], async (s, who, vmId) =>
    docs.vmXml(await s.vms.info(who, vmId), s.backupProgress(vmId)),
  ),
  'one.vm.backup': method(
    [id, intParam('datastore_id'), boolParam('reset', false)],
    (s, who, vmId, datastoreId, reset) => s.vmBackups.backup(who, vmId, datastoreId, reset),
  ),
  'one.vm.update': onId([id, tmpl, intParam('type', 0)], (s, who, vmId, text, type) =>
    s.vms.update(who, vmId, text, type),
  ),
  'one.vm.updateconf': onId([id, tmpl, intParam('type', 0)], (s, who, vmId, text, type) =>
    s.vms.updateConf(who, vmId, text, type),
  ),
  'one.vm.backupcancel': onId([id], (s, who, vmId) => s.vmBackups.cancel(who, vmId)),
  'one.vm.restore': method(
    [id, intParam('image_id'), intParam('increment_id', -1), intParam('disk_id', -1)],
    (s, who, vmId, imageId, incrementId, diskId) =>
      s.vmBackups.restoreInPlace(who, vmId, imageId, incrementId, diskId),
  ),
  'one.vm.delete': onId([id], (s, who, vmId) => s.vms.delete(who, vmId)),
  ...ownedMethods('one.vm', 'vms'),
  'one.vmpool.info': method(vmPoolParams, async (s, who, filter, start, end, state, kv) =>
    s.elements.escaped(docs.vmPool(await s.vms.pool(who, { filter, start, end }, vmFilter(state, kv)))),
  ),
  'one.vmpool.infoextended': method(vmPoolParams, async (s, who, filter, start, end, state, kv) =>
    docs.vmPoolExtendedXml(
      await s.vms.pool(who, { filter, start, end }, vmFilter(state, kv)),
      s.backupProgress,
    ),
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
  'one.host.info': method([id, decrypt], async (s, who, hostId) => {
    const host = await s.hosts.info(who, hostId);
    return docs.hostXml(host, hostActivity(s, host));
  }),
  'one.host.rename': renameMethod('hosts'),
  // Ours (oned has no such call): the host's VMs made to match its hypervisor (kvm: libvirt).
  'one.host.sync': method([id], async (s, who, hostId) => {
    const r = await s.hosts.sync(who, hostId);
    const ids = (list: readonly number[]) => (list.length > 0 ? list.join(',') : '-');
    return `ADDED=${ids(r.added)} UPDATED=${ids(r.updated)} GONE=${ids(r.gone)}`;
  }),
  'one.hostpool.info': method([], async (s, who) =>
    s.elements.escaped(docs.hostPool(await s.hosts.pool(who), (host) => hostActivity(s, host))),
  ),

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
  // `tag` (ours, optional): follow the verify with one.progress.info.
  'one.image.verify': method(
    [id, intParam('increment_id', -1), stringParam('tag', '')],
    (s, who, imageId, incrementId, tag) => s.vmBackups.verify(who, { imageId, incrementId }, tag),
  ),
  'one.datastore.verify': method([id, stringParam('tag', '')], (s, who, datastoreId, tag) =>
    s.vmBackups.verify(who, { datastoreId }, tag),
  ),
  // Ours: a restore or verify the caller tagged (PROGRESS_TAG, tag), while it waits or runs.
  'one.progress.info': method([stringParam('tag')], async (s, who, tag) =>
    docs.progressXml(tag, s.vmBackups.progress(who, tag)),
  ),
  'one.datastore.gc': method([id], (s, who, datastoreId) => s.vmBackups.gc(who, datastoreId)),
  'one.image.restore': method(
    [id, intParam('datastore_id', -1), stringParam('template', '')],
    (s, who, imageId, _datastoreId, text) => s.vmBackups.restore(who, imageId, text),
  ),
  'one.image.delete': onId([id, boolParam('force', false)], (s, who, imageId) =>
    s.images.delete(who, imageId),
  ),
  ...ownedMethods('one.image', 'images'),
  'one.imagepool.info': method(poolParams, async (s, who, filter, start, end) =>
    s.elements.escaped(docs.imagePool(await s.images.pool(who, { filter, start, end }))),
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
  'one.user.login': method(
    [stringParam('username'), stringParam('token'), intParam('valid'), intParam('egid', -1)],
    (s, who, username, token, valid, egid) => s.users.login(who, username, token, valid, egid),
  ),
  'one.userpool.info': method([], async (s, who) => docs.userPoolXml(await s.users.pool(who))),
  'one.group.allocate': method([stringParam('name')], (s, who, name) => s.users.allocateGroup(who, name)),
  'one.group.info': method([intParam('id', -1), decrypt], async (s, who, groupId) =>
    docs.groupXml(await s.users.groupInfo(who, groupId)),
  ),
  'one.grouppool.info': method([], async (s, who) => docs.groupPoolXml(await s.users.groupPool(who))),

  // Clusters and the system
  'one.cluster.info': method([id, decrypt], async (s, who, clusterId) =>
    docs.clusterXml(await s.clusters.info(who, clusterId)),
  ),
  'one.clusterpool.info': method([], async (s, who) => docs.clusterPoolXml(await s.clusters.pool(who))),
  'one.system.version': method([], async (s) => s.version),
  'one.system.config': method([], async (s) => docs.systemConfigXml(s.systemConfig)),

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
