/**
 * Documents of the inventory objects (VM, host, datastore, image, user, group), shaped like
 * OpenNebula's with the elements onebackup has. Secrets (password hashes, keys) are never written.
 */
import { backupConfigAttributes } from '../backup-config.js';
import type { DatastoreView } from '../services/datastores.js';
import type { HostView } from '../services/hosts.js';
import type { ImageView } from '../services/images.js';
import type { GroupView, UserView } from '../services/users.js';
import type { VmView } from '../services/vms.js';
import type { PlainAttribute } from '../template/attributes.js';
import { cdata, el, render, type XmlNode } from '../xml/build.js';
import { num, ownedHead, templateEl } from './common.js';

const MB = 1024 * 1024;

/** OpenNebula's numeric VM states: ACTIVE (3) / RUNNING (3), or POWEROFF (8) / LCM_INIT (0). */
const VM_STATE_CODES: Readonly<Record<string, readonly [number, number]>> = {
  RUNNING: [3, 3],
  POWEROFF: [8, 0],
};

export interface BackupProgressView {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly startedAt: number;
  /** Set while the backup waits for a slot: why (e.g. `global slots 5/5`). */
  readonly queued?: string | undefined;
}

function vmEl(v: VmView, progress?: BackupProgressView): XmlNode {
  const r = v.row;
  const [state, idleLcm] = VM_STATE_CODES[r.state] ?? [3, 3];
  // LCM_STATE 69 BACKUP (running VM) or 70 BACKUP_POWEROFF while a backup runs, as OpenNebula.
  const lcm = progress && progress.queued === undefined ? (r.state === 'POWEROFF' ? 70 : 69) : idleLcm;
  const cfg = Object.fromEntries(backupConfigAttributes(r.backupConfig));
  const disks: PlainAttribute[] = v.disks.map((d) => ({
    kind: 'vector',
    name: 'DISK',
    values: new Map([
      ['DISK_ID', String(d.disk_id)],
      ['FORMAT', d.format],
      ['SIZE', String(Math.ceil(d.size_bytes / MB))],
      ['SOURCE', d.source],
    ]),
  }));
  return el(
    'VM',
    ...ownedHead(r, v.uname, v.gname, true),
    num('LAST_POLL', 0),
    num('STATE', state),
    num('LCM_STATE', lcm),
    num('PREV_STATE', state),
    num('PREV_LCM_STATE', lcm),
    num('RESCHED', 0),
    num('STIME', r.stime),
    num('ETIME', 0),
    el('DEPLOY_ID', `one-${r.id}`),
    el('MONITORING'),
    el('SCHED_ACTIONS'),
    templateEl([...disks, { kind: 'single', name: 'VMID', value: String(r.id) }]),
    templateEl(v.template, [], 'USER_TEMPLATE'),
    el(
      'HISTORY_RECORDS',
      el(
        'HISTORY',
        num('OID', r.id),
        num('SEQ', 0),
        el('HOSTNAME', v.hostName),
        num('HID', r.host_id),
        num('STIME', r.stime),
      ),
    ),
    el(
      'BACKUPS',
      el(
        'BACKUP_CONFIG',
        ...Object.entries({
          BACKUP_JOB_ID: r.backup_job_id >= 0 ? String(r.backup_job_id) : undefined,
          ...cfg,
        })
          .filter((e): e is [string, string] => e[1] !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, val]) => el(k, cdata(val))),
      ),
      el('BACKUP_IDS', ...v.backupIds.map((id) => num('ID', id))),
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
    ),
  );
}

export const vmXml = (v: VmView, progress?: BackupProgressView): string => render(vmEl(v, progress));
export const vmPoolXml = (vs: readonly VmView[]): string => render(el('VM_POOL', ...vs.map((v) => vmEl(v))));

function hostEl(v: HostView): XmlNode {
  const r = v.row;
  return el(
    'HOST',
    num('ID', r.id),
    el('NAME', r.name),
    num('STATE', 2),
    num('PREV_STATE', 2),
    el('IM_MAD', r.vm_mad),
    el('VM_MAD', r.vm_mad),
    num('CLUSTER_ID', 0),
    el('CLUSTER', 'default'),
    el('VMS', ...v.vmIds.map((id) => num('ID', id))),
    templateEl(v.template),
  );
}

export const hostXml = (v: HostView): string => render(hostEl(v));
export const hostPoolXml = (vs: readonly HostView[]): string => render(el('HOST_POOL', ...vs.map(hostEl)));

function datastoreEl(v: DatastoreView): XmlNode {
  const r = v.row;
  const get = (name: string) => {
    const a = v.template.find((t) => t.name === name);
    return a && a.kind === 'single' ? a.value : '';
  };
  return el(
    'DATASTORE',
    ...ownedHead(r, v.uname, v.gname, false),
    el('DS_MAD', cdata(r.ds_mad)),
    el('TM_MAD', cdata('-')),
    el('BASE_PATH', cdata(get('BASE_PATH'))),
    num('TYPE', 3),
    num('DISK_TYPE', 0),
    num('STATE', 0),
    el('CLUSTERS', num('ID', 0)),
    num('TOTAL_MB', 0),
    num('FREE_MB', 0),
    num('USED_MB', 0),
    el('IMAGES', ...v.imageIds.map((id) => num('ID', id))),
    templateEl(v.template),
  );
}

export const datastoreXml = (v: DatastoreView): string => render(datastoreEl(v));
export const datastorePoolXml = (vs: readonly DatastoreView[]): string =>
  render(el('DATASTORE_POOL', ...vs.map(datastoreEl)));

function imageEl(v: ImageView): XmlNode {
  const r = v.row;
  return el(
    'IMAGE',
    ...ownedHead(r, v.uname, v.gname, true),
    num('TYPE', 6),
    num('DISK_TYPE', 0),
    num('PERSISTENT', 0),
    num('REGTIME', r.regtime),
    el('SOURCE', cdata(r.source)),
    el('PATH', cdata('')),
    el('FORMAT', cdata(r.format)),
    el('FS', cdata('')),
    num('SIZE', r.size_mb),
    num('STATE', r.state),
    num('RUNNING_VMS', 0),
    num('DATASTORE_ID', r.datastore_id),
    el('DATASTORE', v.datastoreName),
    el('VMS', num('ID', r.vm_id)),
    templateEl(v.template),
    el(
      'BACKUP_INCREMENTS',
      ...v.increments.map((inc) => {
        const st = JSON.parse(inc.stats) as Record<string, unknown>;
        const digests = (st['digests'] ?? {}) as Record<string, string>;
        return el(
          'INCREMENT',
          num('DATE', inc.date),
          num('ID', inc.inc_id),
          num('PARENT_ID', inc.parent_id),
          num('SIZE', inc.size_mb),
          el('SOURCE', cdata(inc.source)),
          el('TYPE', cdata(inc.type)),
          num('BYTES_READ', Number(st['bytesRead'] ?? 0)),
          num('BYTES_STORED', Number(st['bytesStored'] ?? 0)),
          num('BYTES_DEDUPLICATED', Number(st['bytesDeduplicated'] ?? 0)),
          num('BYTES_ZERO', Number(st['bytesZero'] ?? 0)),
          num('DURATION_MS', Number(st['durationMs'] ?? 0)),
          el('COMPRESSION', `${String(st['compression'] ?? '')}:${String(st['compressionLevel'] ?? '')}`),
          el('ENCRYPTION', st['encrypted'] ? 'AES-256-GCM' : 'NONE'),
          ...captureEls(st['capture']),
          el(
            'DISK_DIGESTS',
            ...Object.entries(digests).map(([disk, digest]) =>
              el('DISK', num('ID', Number(disk)), el('SHA256', digest)),
            ),
          ),
        );
      }),
    ),
  );
}

/** How a live backup's instant was taken (kvm): consistency, freeze time, checkpoints, what was read. */
function captureEls(capture: unknown): XmlNode[] {
  if (capture === null || typeof capture !== 'object') return [];
  const c = capture as Record<string, unknown>;
  const text = (name: string, v: unknown) => (typeof v === 'string' ? [el(name, cdata(v))] : []);
  const fullRead = (c['fullRead'] ?? {}) as Record<string, string>;
  return [
    ...text('HYPERVISOR', c['hypervisor']),
    ...text('CONSISTENCY', c['consistency']),
    num('FROZEN_MS', Number(c['frozenMs'] ?? 0)),
    ...text('CHECKPOINT', c['checkpoint']),
    ...text('CHANGES_SINCE', c['since']),
    ...(typeof c['changedBytes'] === 'number' ? [num('CHANGED_BYTES', c['changedBytes'])] : []),
    ...Object.entries(fullRead).map(([disk, why]) => el('FULL_READ', cdata(`disk ${disk}: ${why}`))),
    ...(Array.isArray(c['warnings']) ? c['warnings'] : []).map((w) => el('WARNING', cdata(String(w)))),
  ];
}

export const imageXml = (v: ImageView): string => render(imageEl(v));
export const imagePoolXml = (vs: readonly ImageView[]): string =>
  render(el('IMAGE_POOL', ...vs.map(imageEl)));

function userEl(v: UserView): XmlNode {
  const u = v.user;
  return el(
    'USER',
    num('ID', u.id),
    num('GID', u.gid),
    el('GROUPS', num('ID', u.gid)),
    el('GNAME', v.gname),
    el('NAME', u.name),
    el('AUTH_DRIVER', 'core'),
    num('ENABLED', u.enabled),
    el('LOGIN_TOKEN'),
    templateEl([]),
  );
}

export const userXml = (v: UserView): string => render(userEl(v));
export const userPoolXml = (vs: readonly UserView[]): string => render(el('USER_POOL', ...vs.map(userEl)));

function groupEl(v: GroupView): XmlNode {
  return el(
    'GROUP',
    num('ID', v.group.id),
    el('NAME', v.group.name),
    templateEl([]),
    el('USERS', ...v.members.map((id) => num('ID', id))),
    el('ADMINS'),
  );
}

export const groupXml = (v: GroupView): string => render(groupEl(v));
export const groupPoolXml = (vs: readonly GroupView[]): string =>
  render(el('GROUP_POOL', ...vs.map(groupEl)));
