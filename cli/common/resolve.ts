/** Name-or-ID arguments resolved against the daemon's pools. */

import { parseStringSync } from '../format/xml-read.js';
import type { OneClient } from './client.js';
import { type NamedObject, resolveList, resolveOne } from './ids.js';

export interface PoolRef {
  /** Kind as OpenNebula names it in messages: BACKUPJOB, VM, HOST, ... */
  readonly kind: string;
  readonly method: string;
  readonly params: readonly (number | string)[];
  /** Element name of one object in the pool document. */
  readonly element: string;
}

export const POOLS = {
  backupjob: {
    kind: 'BACKUPJOB',
    method: 'one.backupjobpool.info',
    params: [-2, -1, -1],
    element: 'BACKUPJOB',
  },
  vm: { kind: 'VM', method: 'one.vmpool.info', params: [-2, -1, -1, -1], element: 'VM' },
  host: { kind: 'HOST', method: 'one.hostpool.info', params: [], element: 'HOST' },
  datastore: { kind: 'DATASTORE', method: 'one.datastorepool.info', params: [], element: 'DATASTORE' },
  image: { kind: 'IMAGE', method: 'one.imagepool.info', params: [-2, -1, -1], element: 'IMAGE' },
  user: { kind: 'USER', method: 'one.userpool.info', params: [], element: 'USER' },
  group: { kind: 'GROUP', method: 'one.grouppool.info', params: [], element: 'GROUP' },
} as const satisfies Record<string, PoolRef>;

async function poolNames(client: OneClient, pool: PoolRef): Promise<NamedObject[]> {
  const xml = await client.callString(pool.method, ...pool.params);
  const root = parseStringSync(xml);
  return root.children(pool.element).map((o) => ({ id: Number(o.text('ID')), name: o.text('NAME') }));
}

export function resolveIds(client: OneClient, pool: PoolRef, arg: string): Promise<number[]> {
  return resolveList(arg, pool.kind, () => poolNames(client, pool));
}

export function resolveId(client: OneClient, pool: PoolRef, arg: string): Promise<number> {
  return resolveOne(String(arg), pool.kind, () => poolNames(client, pool));
}
