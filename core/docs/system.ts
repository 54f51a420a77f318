/**
 * The cluster documents (cluster.xsd) and `one.system.config` (opennebula_configuration.xsd):
 * the settings of onebackupd that mean what OpenNebula's do, in the schema's order.
 */
import type { OperationProgress } from '../progress.js';
import type { ClusterView } from '../services/clusters.js';
import { el, render, type XmlNode } from '../xml/build.js';
import { idsEl, num, templateEl } from './common.js';

function clusterEl(c: ClusterView): XmlNode {
  return el(
    'CLUSTER',
    num('ID', c.id),
    el('NAME', c.name),
    idsEl('HOSTS', c.hostIds),
    idsEl('DATASTORES', c.datastoreIds),
    el('VNETS'),
    templateEl([]),
  );
}

export const clusterXml = (c: ClusterView): string => render(clusterEl(c));
export const clusterPoolXml = (cs: readonly ClusterView[]): string =>
  render(el('CLUSTER_POOL', ...cs.map(clusterEl)));

/** What `one.system.config` reports. */
export interface SystemConfigView {
  readonly maxBackups: number;
  readonly maxBackupsHost: number;
  /** Longest login token lifetime in seconds; -1 = no limit (oned's MAX_TOKEN_TIME). */
  readonly maxTokenTime: number;
}

export function systemConfigXml(c: SystemConfigView): string {
  return render(
    el(
      'OPENNEBULA_CONFIGURATION',
      // Pools list newest first (PoolSharedAPI's default).
      el('API_LIST_ORDER', 'DESC'),
      el(
        'AUTH_MAD_CONF',
        el('DRIVER_MANAGED_GROUPS', 'NO'),
        el('DRIVER_MANAGED_GROUP_ADMIN', 'NO'),
        num('MAX_TOKEN_TIME', c.maxTokenTime),
        el('NAME', 'core'),
        el('PASSWORD_CHANGE', 'YES'),
      ),
      el('DEFAULT_AUTH', 'core'),
      num('MAX_BACKUPS', c.maxBackups),
      num('MAX_BACKUPS_HOST', c.maxBackupsHost),
    ),
  );
}

/** `one.progress.info` (ours): a tagged restore or verify while it waits or runs. */
export function progressXml(tag: string, p: OperationProgress): string {
  return render(
    el(
      'PROGRESS',
      el('TAG', tag),
      el('KIND', p.kind),
      ...(p.queued === undefined ? [] : [el('QUEUED', p.queued)]),
      num('START', p.startedAt),
      num('BYTES_DONE', p.counter.bytesDone),
      num('BYTES_TOTAL', p.counter.bytesTotal),
      num('CHUNKS_DONE', p.counter.chunksDone),
      num('CHUNKS_TOTAL', p.counter.chunksTotal),
    ),
  );
}
