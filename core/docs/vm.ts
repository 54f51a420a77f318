/**
 * The VM documents: `one.vm.info` and `one.vmpool.infoextended` write the full VM
 * (VirtualMachine::to_xml_extended, vm.xsd), `one.vmpool.info` the short one
 * (VirtualMachine::to_xml_short, vm_pool.xsd). Every value comes from the VmView: the hypervisor
 * driver (issue 11) fills state and DEPLOY_ID there, never here.
 */
import { backupConfigAttributes } from '../backup-config.js';
import type { VmView } from '../services/vms.js';
import type { PlainAttribute } from '../template/attributes.js';
import { cdata, el, render, type XmlNode } from '../xml/build.js';
import { idsEl, lockEls, num, ownedHead, templateEl } from './common.js';
import type { PoolDocument } from './pool.js';

const MB = 1024 * 1024;

/** OpenNebula's VM STATE and idle LCM_STATE for each state a VM of ours can be in. */
const VM_STATE_CODES: Readonly<Record<string, readonly [number, number]>> = {
  PENDING: [1, 0],
  HOLD: [2, 0],
  RUNNING: [3, 3],
  STOPPED: [4, 0],
  SUSPENDED: [5, 0],
  POWEROFF: [8, 0],
  UNDEPLOYED: [9, 0],
  UNKNOWN: [3, 16],
};
/** LCM_STATE while a backup runs: BACKUP (69) from RUNNING, BACKUP_POWEROFF (70) from POWEROFF. */
const BACKUP_LCM: Readonly<Record<string, number>> = { RUNNING: 69, POWEROFF: 70 };

/** The numeric STATE of a VM (vmpool.info's state filter compares with it). */
export function vmStateCode(v: VmView): number {
  return (VM_STATE_CODES[v.row.state] ?? [3, 3])[0];
}

export interface BackupProgressView {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly startedAt: number;
  /** Set while the backup waits for a slot: why (e.g. `global slots 5/5`). */
  readonly queued?: string | undefined;
}

function lcmState(v: VmView, progress: BackupProgressView | undefined): number {
  const idle = (VM_STATE_CODES[v.row.state] ?? [3, 3])[1];
  if (!progress || progress.queued !== undefined) return idle;
  return BACKUP_LCM[v.row.state] ?? idle;
}

/** A disk file registered by path: TYPE FILE, its format as DRIVER, not cloned, not saved. */
function diskAttribute(d: VmView['disks'][number]): PlainAttribute {
  return {
    kind: 'vector',
    name: 'DISK',
    values: new Map([
      ['CLONE', 'NO'],
      ['DISK_ID', String(d.disk_id)],
      ['DISK_TYPE', 'FILE'],
      ['DRIVER', d.format],
      ['FORMAT', d.format],
      ['READONLY', 'NO'],
      ['SAVE', 'NO'],
      ['SIZE', String(Math.ceil(d.size_bytes / MB))],
      ['SOURCE', d.source],
      ['TYPE', 'FILE'],
    ]),
  };
}

/** The first elements of every HISTORY record: the VM's one record, on its host in cluster 0. */
const historyHead = (v: VmView): XmlNode[] => [
  num('OID', v.row.id),
  num('SEQ', 0),
  el('HOSTNAME', v.hostName),
  num('HID', v.row.host_id),
  num('CID', 0),
];

/** The VM's one history record: registered on its host (cluster 0), no system datastore. */
function historyEl(v: VmView): XmlNode {
  const r = v.row;
  const running = r.state === 'RUNNING' ? r.stime : 0;
  return el(
    'HISTORY_RECORDS',
    el(
      'HISTORY',
      ...historyHead(v),
      num('STIME', r.stime),
      num('ETIME', 0),
      el('VM_MAD', v.hostVmMad),
      el('TM_MAD', ''),
      num('DS_ID', -1),
      num('PLAN_ID', -1),
      num('ACTION_ID', -1),
      num('PSTIME', 0),
      num('PETIME', 0),
      num('RSTIME', running),
      num('RETIME', 0),
      num('ESTIME', 0),
      num('EETIME', 0),
      num('ACTION', 0),
      num('UID', -1),
      num('GID', -1),
      num('REQUEST_ID', -1),
    ),
  );
}

function backupsEl(v: VmView, progress: BackupProgressView | undefined): XmlNode {
  const r = v.row;
  const cfg = Object.fromEntries(backupConfigAttributes(r.backupConfig));
  return el(
    'BACKUPS',
    el(
      'BACKUP_CONFIG',
      ...Object.entries({ BACKUP_JOB_ID: r.backup_job_id >= 0 ? String(r.backup_job_id) : undefined, ...cfg })
        .filter((e): e is [string, string] => e[1] !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, val]) => el(k, cdata(val))),
    ),
    idsEl('BACKUP_IDS', v.backupIds),
    // Ours, after what vm.xsd lists: what a running or queued backup has done.
    ...(progress
      ? [
          el(
            'BACKUP_PROGRESS',
            num('START', progress.startedAt),
            num('BYTES_DONE', progress.bytesDone),
            num('BYTES_TOTAL', progress.bytesTotal),
            ...(progress.queued === undefined ? [] : [el('QUEUED', cdata(progress.queued))]),
          ),
        ]
      : []),
  );
}

function vmEl(v: VmView, progress?: BackupProgressView): XmlNode {
  const r = v.row;
  const state = vmStateCode(v);
  const lcm = lcmState(v, progress);
  return el(
    'VM',
    ...ownedHead(r, v.uname, v.gname, false),
    num('LAST_POLL', 0),
    num('STATE', state),
    num('LCM_STATE', lcm),
    num('PREV_STATE', state),
    num('PREV_LCM_STATE', lcm),
    num('RESCHED', 0),
    num('STIME', r.stime),
    num('ETIME', 0),
    el('DEPLOY_ID', v.deployId),
    ...lockEls(r),
    el('MONITORING'),
    el('SCHED_ACTIONS'),
    templateEl([
      ...v.disks.map(diskAttribute),
      { kind: 'single', name: 'TM_MAD_SYSTEM', value: '' },
      { kind: 'single', name: 'VMID', value: String(r.id) },
    ]),
    templateEl(v.template, [], 'USER_TEMPLATE'),
    historyEl(v),
    backupsEl(v, progress),
  );
}

/** The short DISK of pool documents: these elements, always, empty when unknown. */
function shortDiskEl(d: VmView['disks'][number]): XmlNode {
  return el(
    'DISK',
    el('DISK_ID', String(d.disk_id)),
    el('DATASTORE'),
    el('DATASTORE_ID'),
    el('IMAGE'),
    el('IMAGE_ID'),
    el('SIZE', String(Math.ceil(d.size_bytes / MB))),
    el('TYPE', 'FILE'),
    el('CLONE', 'NO'),
    el('CLONE_TARGET'),
    el('LN_TARGET'),
    el('DISK_SNAPSHOT_TOTAL_SIZE'),
  );
}

/** USER_TEMPLATE of the short VM: only what Sunstone and the scheduler read. */
const SHORT_USER_ATTRIBUTES = new Set(['LABELS', 'ERROR', 'SCHED_MESSAGE']);

function shortVmEl(v: VmView): XmlNode {
  const r = v.row;
  const user = v.template.filter((a) => a.kind === 'single' && SHORT_USER_ATTRIBUTES.has(a.name) && a.value);
  return el(
    'VM',
    ...ownedHead(r, v.uname, v.gname, false).slice(0, 6),
    num('LAST_POLL', 0),
    num('STATE', vmStateCode(v)),
    num('LCM_STATE', lcmState(v, undefined)),
    num('RESCHED', 0),
    num('STIME', r.stime),
    num('ETIME', 0),
    el('DEPLOY_ID', v.deployId),
    // The short VM's LOCK holds LOCKED alone.
    ...(r.lock_level > 0 ? [el('LOCK', num('LOCKED', r.lock_level))] : []),
    el('TEMPLATE', el('CPU'), el('MEMORY'), el('VCPU'), ...v.disks.map(shortDiskEl)),
    el('MONITORING'),
    el('USER_TEMPLATE', ...user.map((a) => el(a.name, a.kind === 'single' ? a.value : ''))),
    el(
      'HISTORY_RECORDS',
      el(
        'HISTORY',
        ...historyHead(v),
        num('DS_ID', -1),
        el('VM_MAD', v.hostVmMad),
        el('TM_MAD', ''),
        num('ACTION', 0),
      ),
    ),
  );
}

export const vmXml = (v: VmView, progress?: BackupProgressView): string => render(vmEl(v, progress));

/** `one.vmpool.info`: the short VMs, element by element (core/docs/pool.ts). */
export const vmPool = (vs: readonly VmView[]): PoolDocument => ({
  root: 'VM_POOL',
  elements: vs.map((v) => ({
    slot: `short VM ${v.row.id}`,
    source: v,
    xml: () => render(shortVmEl(v)),
  })),
});

/** `one.vmpool.info`: the short VMs, rendered whole (the daemon answers with vmPool's elements). */
export const vmPoolXml = (vs: readonly VmView[]): string => render(el('VM_POOL', ...vs.map(shortVmEl)));

/** `one.vmpool.infoextended`: the full VMs, with the progress of their backups. */
export const vmPoolExtendedXml = (
  vs: readonly VmView[],
  progress: (vmId: number) => BackupProgressView | undefined,
): string => render(el('VM_POOL', ...vs.map((v) => vmEl(v, progress(v.row.id)))));
