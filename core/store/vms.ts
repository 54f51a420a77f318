/**
 * VMs and their disks: the inventory rows `onevm` shows, registers and deletes. A VM's
 * BACKUP_CONFIG is read and written here only, as a typed BackupConfig (core/backup-config.ts).
 * The lookups of the host a VM is registered on live here too (by ID or name, the first host).
 */
import { type BackupConfig, backupConfigFromJson, backupConfigToJson } from '../backup-config.js';
import type { DiskFormat, VmState } from '../model.js';
import {
  decodeAttributes,
  encodeAttributes,
  type PlainAttribute,
  setSingle,
  storedSingle,
} from '../template/attributes.js';
import { HOST_ACCESS_ATTRIBUTES, type HostAccess } from '../vm-discovery.js';
import { nextId, type Queryable, type Tx } from './db.js';
import type { HostTable, OwnedColumns, VmDiskTable, VmTable } from './schema.js';

/** A VM as the store gives it: its columns, with BACKUP_CONFIG typed instead of JSON. */
export interface VmRow extends Omit<VmTable, 'backup_config'> {
  readonly backupConfig: BackupConfig;
}

export type VmDiskRow = VmDiskTable;

function toVmRow(row: VmTable): VmRow {
  const { backup_config, ...rest } = row;
  return { ...rest, backupConfig: backupConfigFromJson(backup_config) };
}

export async function findVm(db: Queryable, id: number): Promise<VmRow | undefined> {
  const row = await db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toVmRow(row) : undefined;
}

/** Every VM, newest first (the order of `onevm list`). */
export async function listVms(db: Queryable): Promise<VmRow[]> {
  const rows = await db.selectFrom('vms').selectAll().orderBy('id', 'desc').execute();
  return rows.map(toVmRow);
}

/** The disks of these VMs, by disk ID. */
export async function disksOfVms(db: Queryable, vmIds: readonly number[]): Promise<VmDiskRow[]> {
  if (vmIds.length === 0) return [];
  return db.selectFrom('vm_disks').selectAll().where('vm_id', 'in', vmIds).orderBy('disk_id').execute();
}

/** The disks of one VM, in the order the store keeps them. */
export async function disksOfVm(db: Queryable, vmId: number): Promise<VmDiskRow[]> {
  return db.selectFrom('vm_disks').selectAll().where('vm_id', '=', vmId).execute();
}

/** The IDs of the backup images of these VMs, by image ID. */
export async function backupIdsOfVms(
  db: Queryable,
  vmIds: readonly number[],
): Promise<{ id: number; vm_id: number }[]> {
  if (vmIds.length === 0) return [];
  return db.selectFrom('images').select(['id', 'vm_id']).where('vm_id', 'in', vmIds).orderBy('id').execute();
}

export interface NewVmDisk {
  readonly diskId: number;
  readonly source: string;
  readonly format: DiskFormat;
  readonly sizeBytes: number;
}

export interface NewVm {
  readonly name: string;
  /** Owner, permissions and lock columns of a new object. */
  readonly ownership: Omit<OwnedColumns, 'id' | 'name' | 'template'>;
  readonly template: readonly PlainAttribute[];
  readonly hostId: number;
  readonly state: VmState;
  /** Epoch seconds. */
  readonly stime: number;
  readonly backupConfig: BackupConfig;
  readonly disks: readonly NewVmDisk[];
}

/** Registers a VM (in no backup job) and its disks; returns its ID. */
export async function insertVm(trx: Tx, vm: NewVm): Promise<number> {
  const id = await nextId(trx, 'vms');
  await trx
    .insertInto('vms')
    .values({
      id,
      name: vm.name,
      ...vm.ownership,
      template: encodeAttributes(vm.template),
      host_id: vm.hostId,
      state: vm.state,
      backup_job_id: -1,
      stime: vm.stime,
      backup_config: backupConfigToJson(vm.backupConfig),
    })
    .execute();
  for (const d of vm.disks) {
    await trx
      .insertInto('vm_disks')
      .values({ vm_id: id, disk_id: d.diskId, source: d.source, format: d.format, size_bytes: d.sizeBytes })
      .execute();
  }
  return id;
}

/** Removes a VM and its disks from the inventory (its backup images stay). */
export async function deleteVm(trx: Tx, id: number): Promise<void> {
  await trx.deleteFrom('vm_disks').where('vm_id', '=', id).execute();
  await trx.deleteFrom('vms').where('id', '=', id).execute();
}

export async function setVmBackupConfig(trx: Tx, id: number, cfg: BackupConfig): Promise<void> {
  await trx
    .updateTable('vms')
    .set({ backup_config: backupConfigToJson(cfg) })
    .where('id', '=', id)
    .execute();
}

/** `onevm update`: the VM's template attributes, and its STATE when given (fs hosts only). */
export async function updateVmTemplate(
  trx: Tx,
  id: number,
  template: readonly PlainAttribute[],
  state: VmState | undefined,
): Promise<void> {
  await trx
    .updateTable('vms')
    .set({ template: encodeAttributes(template), ...(state ? { state } : {}) })
    .where('id', '=', id)
    .execute();
}

/**
 * Sets the VM's ERROR attribute to `text`, or removes it when `text` is undefined (a backup that
 * succeeded). A VM that no longer exists is left alone.
 */
export async function setVmError(trx: Tx, id: number, text: string | undefined): Promise<void> {
  const row = await trx.selectFrom('vms').select('template').where('id', '=', id).executeTakeFirst();
  if (!row) return;
  let t = decodeAttributes(row.template).filter((a) => a.name !== 'ERROR');
  if (text !== undefined) t = setSingle(t, 'ERROR', text);
  await trx
    .updateTable('vms')
    .set({ template: encodeAttributes(t) })
    .where('id', '=', id)
    .execute();
}

/** The host a VM names: by ID when `ref` is a number, else by name. */
export async function findVmHostByRef(db: Queryable, ref: string): Promise<HostTable | undefined> {
  const q = db.selectFrom('hosts').selectAll();
  return /^\d+$/.test(ref)
    ? q.where('id', '=', Number(ref)).executeTakeFirst()
    : q.where('name', '=', ref).executeTakeFirst();
}

/** Host names by ID, for the HOSTNAME of VM documents. */
export async function hostNamesById(db: Queryable): Promise<Map<number, string>> {
  const rows = await db.selectFrom('hosts').select(['id', 'name']).execute();
  return new Map(rows.map((h) => [h.id, h.name]));
}

/** Host names and hypervisor drivers by ID, for the HISTORY of VM documents. */
export async function hostsById(db: Queryable): Promise<Map<number, { name: string; vmMad: string }>> {
  const rows = await db.selectFrom('hosts').select(['id', 'name', 'vm_mad']).execute();
  return new Map(rows.map((h) => [h.id, { name: h.name, vmMad: h.vm_mad }]));
}

/** The host with the lowest ID: where a restored VM goes when its original is gone. */
export async function firstHostId(db: Queryable): Promise<number | undefined> {
  return (await db.selectFrom('hosts').select('id').orderBy('id').executeTakeFirst())?.id;
}

/** Where a kvm VM runs: the VM's DEPLOY_ID, QMP_SOCKET, GUEST_AGENT_SOCKET, its host's LIBVIRT_URI and how the host is reached. */
export interface VmLocationAttributes {
  readonly deployId?: string;
  readonly qmpSocket?: string;
  readonly agentSocket?: string;
  readonly libvirtUri?: string;
  readonly host?: HostAccess;
}

/** How the daemon reaches a host: its NAME and TRANSPORT / SSH_* attributes. */
export function hostAccessOf(host: { readonly name: string; readonly template: string }): HostAccess {
  const attributes: Record<string, string> = {};
  for (const a of HOST_ACCESS_ATTRIBUTES) {
    const v = storedSingle(host.template, a);
    if (v !== undefined) attributes[a] = v;
  }
  return { name: host.name, attributes };
}

/** The location attributes of a VM from its stored template and its host's. */
export function vmLocation(
  vmTemplate: string,
  host: { readonly name: string; readonly template: string } | undefined,
): VmLocationAttributes {
  const pairs: [keyof VmLocationAttributes, string | undefined][] = [
    ['deployId', storedSingle(vmTemplate, 'DEPLOY_ID')],
    ['qmpSocket', storedSingle(vmTemplate, 'QMP_SOCKET')],
    ['agentSocket', storedSingle(vmTemplate, 'GUEST_AGENT_SOCKET')],
    ['libvirtUri', storedSingle(host?.template ?? '[]', 'LIBVIRT_URI')],
  ];
  const found: Record<string, unknown> = Object.fromEntries(pairs.filter(([, v]) => v !== undefined));
  if (host) found.host = hostAccessOf(host);
  return found as VmLocationAttributes;
}

/** A VM whose host runs a hypervisor other than `fs`, as recovery at start needs it. */
export interface HypervisorVm {
  readonly id: number;
  readonly vmMad: string;
  readonly disks: readonly { diskId: number; source: string; format: DiskFormat; virtualSize: number }[];
  readonly location: VmLocationAttributes;
}

/** Every VM on a host whose VM_MAD is not `fs` (or only VM `onlyId`), with its disks and location. */
export async function hypervisorVms(db: Queryable, onlyId?: number): Promise<HypervisorVm[]> {
  let query = db
    .selectFrom('vms')
    .innerJoin('hosts', 'hosts.id', 'vms.host_id')
    .select([
      'vms.id as id',
      'vms.template as vmTemplate',
      'hosts.template as hostTemplate',
      'hosts.name as hostName',
      'hosts.vm_mad as vmMad',
    ])
    .where('hosts.vm_mad', '!=', 'fs')
    .orderBy('vms.id');
  if (onlyId !== undefined) query = query.where('vms.id', '=', onlyId);
  const rows = await query.execute();
  const disks = await disksOfVms(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => ({
    id: r.id,
    vmMad: r.vmMad,
    location: vmLocation(r.vmTemplate, { name: r.hostName, template: r.hostTemplate }),
    disks: disks
      .filter((d) => d.vm_id === r.id)
      .map((d) => ({ diskId: d.disk_id, source: d.source, format: d.format, virtualSize: d.size_bytes })),
  }));
}
