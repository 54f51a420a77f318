/** Hosts: where VMs run, and which hypervisor driver (VM_MAD) reaches their disks. */
import type { VmState } from '../model.js';
import { nextId, type Queryable, type Tx } from './db.js';
import { newObjectOwnership } from './owned.js';
import type { HostTable } from './schema.js';

export async function findHostIdByName(db: Queryable, name: string): Promise<number | undefined> {
  return (await db.selectFrom('hosts').select('id').where('name', '=', name).executeTakeFirst())?.id;
}

export async function listHosts(db: Queryable): Promise<HostTable[]> {
  return db.selectFrom('hosts').selectAll().orderBy('id').execute();
}

export interface NewHost {
  readonly name: string;
  readonly owner: { readonly uid: number; readonly gid: number };
  /** Encoded template attributes (core/store/attributes). */
  readonly template: string;
  readonly vmMad: string;
}

/** A new host with the next ID of the pool, owned by `owner` with default permissions; returns its ID. */
export async function insertHost(trx: Tx, host: NewHost): Promise<number> {
  const id = await nextId(trx, 'hosts');
  await trx
    .insertInto('hosts')
    .values({
      id,
      name: host.name,
      ...newObjectOwnership(host.owner),
      template: host.template,
      vm_mad: host.vmMad,
    })
    .execute();
  return id;
}

export async function deleteHost(trx: Tx, id: number): Promise<void> {
  await trx.deleteFrom('hosts').where('id', '=', id).execute();
}

/** The IDs of the VMs on host `hostId`, in order. */
export async function vmIdsOnHost(db: Queryable, hostId: number): Promise<number[]> {
  const rows = await db.selectFrom('vms').select('id').where('host_id', '=', hostId).orderBy('id').execute();
  return rows.map((r) => r.id);
}

/** For each host that has VMs: their IDs and states, in ID order. */
export async function vmsByHost(
  db: Queryable,
): Promise<ReadonlyMap<number, readonly { id: number; state: VmState }[]>> {
  const rows = await db.selectFrom('vms').select(['id', 'host_id', 'state']).orderBy('id').execute();
  const out = new Map<number, { id: number; state: VmState }[]>();
  for (const r of rows) {
    const vm = { id: r.id, state: r.state };
    const list = out.get(r.host_id);
    if (list) list.push(vm);
    else out.set(r.host_id, [vm]);
  }
  return out;
}

/** The directories holding each host's VM disks (what host monitoring reports free space of). */
export async function diskDirsByHost(db: Queryable): Promise<ReadonlyMap<number, readonly string[]>> {
  const rows = await db
    .selectFrom('vm_disks')
    .innerJoin('vms', 'vms.id', 'vm_disks.vm_id')
    .select(['vms.host_id as hostId', 'vm_disks.source as source'])
    .execute();
  const out = new Map<number, Set<string>>();
  for (const r of rows) {
    const dir = r.source.slice(0, Math.max(1, r.source.lastIndexOf('/')));
    const dirs = out.get(r.hostId) ?? new Set<string>();
    dirs.add(dir);
    out.set(r.hostId, dirs);
  }
  return new Map([...out].map(([id, dirs]) => [id, [...dirs].sort()]));
}
