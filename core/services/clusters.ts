/**
 * Clusters: onebackup has one, cluster 0 "default", holding every host and datastore, so that
 * OpenNebula's clients that show or filter by cluster (onevm list, onehost list) find it. Any
 * user may read it, as OpenNebula's default ACLs let users USE clusters.
 */
import { ErrorCode, OneError } from '../errors.js';
import type { Requester } from '../permissions.js';
import { clusterMemberIds } from '../store/clusters.js';
import type { ServiceDeps } from './context.js';

export const DEFAULT_CLUSTER = Object.freeze({ id: 0, name: 'default' });

export interface ClusterView {
  readonly id: number;
  readonly name: string;
  readonly hostIds: readonly number[];
  readonly datastoreIds: readonly number[];
}

export class ClusterService {
  constructor(private readonly deps: ServiceDeps) {}

  async info(_who: Requester, id: number): Promise<ClusterView> {
    if (id !== DEFAULT_CLUSTER.id) throw new OneError(ErrorCode.NO_EXISTS, `Error getting cluster [${id}].`);
    const members = await this.deps.store.read((trx) => clusterMemberIds(trx));
    return { ...DEFAULT_CLUSTER, ...members };
  }

  async pool(who: Requester): Promise<ClusterView[]> {
    return [await this.info(who, DEFAULT_CLUSTER.id)];
  }
}
