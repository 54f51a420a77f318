/**
 * Documents of the hosts, datastores and backup images, element for element as OpenNebula's
 * schemas (host.xsd, datastore.xsd, image.xsd) order them, with zeros and empty elements for what
 * onebackup has no notion of (host monitoring, image snapshots and clones). Keys are never written.
 */
import type { DatastoreView } from '../services/datastores.js';
import { diskMegabytes, HOST_STATE } from '../services/host-health.js';
import type { HostView } from '../services/hosts.js';
import type { ImageView } from '../services/images.js';
import type { PlainAttribute } from '../template/attributes.js';
import { cdata, el, render, type XmlNode } from '../xml/build.js';
import { idsEl, num, ownedHead, templateEl } from './common.js';
import type { PoolDocument } from './pool.js';

/** What a host is doing that the scheduler knows: backups of its VMs running now. */
export interface HostActivity {
  readonly backupsRunning: number;
}

/** The attributes host monitoring adds to a host's TEMPLATE, as oned's monitoring does. */
const MONITORED_ATTRIBUTES = ['RUNNING_BACKUPS', 'ERROR', 'AGENT_VERSION', 'NODE_VERSION'];

function monitoredAttributes(v: HostView, activity: HostActivity): PlainAttribute[] {
  const h = v.health?.health;
  const single = (name: string, value: string): PlainAttribute => ({ kind: 'single', name, value });
  return [
    single('RUNNING_BACKUPS', String(activity.backupsRunning)),
    ...(h && !h.reachable ? [single('ERROR', h.error ?? 'unreachable')] : []),
    ...(h?.version ? [single('AGENT_VERSION', h.version)] : []),
    ...(h?.node ? [single('NODE_VERSION', h.node)] : []),
  ];
}

function hostEl(v: HostView, activity: HostActivity): XmlNode {
  const r = v.row;
  const health = v.health;
  // INIT until the first monitoring pass, then MONITORED or ERROR (unreachable).
  const state =
    health === undefined
      ? HOST_STATE.INIT
      : health.health.reachable
        ? HOST_STATE.MONITORED
        : HOST_STATE.ERROR;
  const disk = health ? diskMegabytes(health.health) : { free: 0, total: 0, used: 0 };
  return el(
    'HOST',
    num('ID', r.id),
    el('NAME', r.name),
    num('STATE', state),
    num('PREV_STATE', state),
    el('IM_MAD', r.vm_mad),
    el('VM_MAD', r.vm_mad),
    num('CLUSTER_ID', 0),
    el('CLUSTER', 'default'),
    el(
      'HOST_SHARE',
      num('MEM_USAGE', 0),
      num('CPU_USAGE', 0),
      num('TOTAL_MEM', 0),
      num('TOTAL_CPU', 0),
      num('MAX_MEM', 0),
      num('MAX_CPU', 0),
      num('RUNNING_VMS', v.runningVmIds.length),
      num('VMS_THREAD', 0),
      el(
        'DATASTORES',
        num('DISK_USAGE', disk.used),
        num('FREE_DISK', disk.free),
        num('MAX_DISK', disk.total),
        num('USED_DISK', disk.used),
      ),
      el('PCI_DEVICES'),
      el('NUMA_NODES'),
    ),
    idsEl('VMS', v.vmIds),
    // Computed like oned's monitoring attributes in a host's TEMPLATE.
    templateEl([
      ...v.template.filter((a) => !MONITORED_ATTRIBUTES.includes(a.name)),
      ...monitoredAttributes(v, activity),
    ]),
    health ? el('MONITORING', num('TIMESTAMP', health.checkedAt), num('ID', r.id)) : el('MONITORING'),
  );
}

export const hostXml = (v: HostView, activity: HostActivity): string => render(hostEl(v, activity));
/** `one.hostpool.info`, element by element (core/docs/pool.ts). */
export const hostPool = (vs: readonly HostView[], activity: (v: HostView) => HostActivity): PoolDocument => ({
  root: 'HOST_POOL',
  elements: vs.map((v) => {
    const doing = activity(v);
    return {
      slot: `HOST ${v.row.id}`,
      source: [v, doing],
      xml: () => render(hostEl(v, doing)),
    };
  }),
});
/** `one.hostpool.info` rendered whole (the daemon answers with hostPool's elements). */
export const hostPoolXml = (vs: readonly HostView[], activity: (v: HostView) => HostActivity): string =>
  render(el('HOST_POOL', ...vs.map((v) => hostEl(v, activity(v)))));

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
    idsEl('CLUSTERS', [0]),
    num('TOTAL_MB', v.capacity.totalMb),
    num('FREE_MB', v.capacity.freeMb),
    num('USED_MB', v.capacity.usedMb),
    idsEl('IMAGES', v.imageIds),
    templateEl(v.template),
  );
}

export const datastoreXml = (v: DatastoreView): string => render(datastoreEl(v));
export const datastorePoolXml = (vs: readonly DatastoreView[]): string =>
  render(el('DATASTORE_POOL', ...vs.map(datastoreEl)));

function imageEl(v: ImageView): XmlNode {
  const r = v.row;
  // The image changes when a backup adds an increment (or retention drops one).
  const modtime = Math.max(r.regtime, ...v.increments.map((i) => i.date));
  return el(
    'IMAGE',
    ...ownedHead(r, v.uname, v.gname, true),
    // BACKUP (6), a FILE (0), never persistent.
    num('TYPE', 6),
    num('DISK_TYPE', 0),
    num('PERSISTENT', 0),
    num('REGTIME', r.regtime),
    num('MODTIME', modtime),
    el('SOURCE', cdata(r.source)),
    el('PATH', cdata('')),
    el('FORMAT', cdata(r.format)),
    el('FS', cdata('')),
    num('SIZE', r.size_mb),
    num('STATE', r.state),
    num('PREV_STATE', r.state),
    num('RUNNING_VMS', 0),
    num('CLONING_OPS', 0),
    num('CLONING_ID', -1),
    num('TARGET_SNAPSHOT', -1),
    num('DATASTORE_ID', r.datastore_id),
    el('DATASTORE', v.datastoreName),
    idsEl('VMS', [r.vm_id]),
    el('CLONES'),
    el('APP_CLONES'),
    templateEl(v.template),
    el('SNAPSHOTS', el('ALLOW_ORPHANS', 'NO'), num('CURRENT_BASE', -1), num('NEXT_SNAPSHOT', 0)),
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
/** `one.imagepool.info`, element by element (core/docs/pool.ts). */
export const imagePool = (vs: readonly ImageView[]): PoolDocument => ({
  root: 'IMAGE_POOL',
  elements: vs.map((v) => ({
    slot: `IMAGE ${v.row.id}`,
    source: v,
    xml: () => render(imageEl(v)),
  })),
});
/** `one.imagepool.info` rendered whole (the daemon answers with imagePool's elements). */
export const imagePoolXml = (vs: readonly ImageView[]): string =>
  render(el('IMAGE_POOL', ...vs.map(imageEl)));
