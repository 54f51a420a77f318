/**
 * A host's VMs made to match what its hypervisor lists (`onehost sync`, the host monitor): a
 * domain the inventory lacks becomes a VM (DEPLOY_ID = the domain; for the monitor only on hosts
 * with IMPORT_VMS = "YES"); a known one gets its state
 * and disks (disk IDs kept by SOURCE, new disks numbered after the others); a VM whose domain is
 * gone is marked POWEROFF with an ERROR saying so (its backups stay). One transaction.
 */

import type { Requester } from '../permissions.js';
import { setSingle, storedSingle } from '../template/attributes.js';
import type { DiscoveredVm } from '../vm-discovery.js';
import type { Tx } from './db.js';
import { newObjectOwnership } from './owned.js';
import { insertVm, setVmError } from './vms.js';

export interface HostSyncResult {
  readonly added: readonly number[];
  readonly updated: readonly number[];
  readonly gone: readonly number[];
}

export async function syncHostVms(
  trx: Tx,
  hostId: number,
  owner: Requester,
  found: readonly DiscoveredVm[],
  nowS: number,
  importNew = true,
): Promise<HostSyncResult> {
  const rows = await trx
    .selectFrom('vms')
    .select(['id', 'template', 'state'])
    .where('host_id', '=', hostId)
    .orderBy('id')
    .execute();
  const byDeployId = new Map<string, { id: number; state: string }>();
  for (const r of rows) {
    const deployId = storedSingle(r.template, 'DEPLOY_ID');
    if (deployId !== undefined) byDeployId.set(deployId, { id: r.id, state: r.state });
  }
  const added: number[] = [];
  const updated: number[] = [];
  for (const vm of found) {
    const known = byDeployId.get(vm.deployId);
    if (!known && !importNew) continue;
    if (!known) {
      added.push(
        await insertVm(trx, {
          name: vm.name,
          ownership: newObjectOwnership(owner),
          template: setSingle([], 'DEPLOY_ID', vm.deployId),
          hostId,
          state: vm.state,
          stime: nowS,
          backupConfig: {},
          disks: vm.disks.map((d, i) => ({
            diskId: i,
            source: d.source,
            format: d.format,
            sizeBytes: d.virtualSize,
          })),
        }),
      );
      continue;
    }
    byDeployId.delete(vm.deployId);
    if (await matchVm(trx, known.id, known.state, vm)) updated.push(known.id);
  }
  const gone: number[] = [];
  for (const [deployId, { id, state }] of byDeployId) {
    if (state !== 'POWEROFF')
      await trx.updateTable('vms').set({ state: 'POWEROFF' }).where('id', '=', id).execute();
    await setVmError(trx, id, `domain ${deployId} no longer exists on the host (onehost sync)`);
    gone.push(id);
  }
  return { added, updated, gone };
}

/** Brings one VM's state and disks to what the hypervisor has; true when something changed. */
async function matchVm(trx: Tx, vmId: number, state: string, vm: DiscoveredVm): Promise<boolean> {
  let changed = false;
  if (state !== vm.state) {
    await trx.updateTable('vms').set({ state: vm.state }).where('id', '=', vmId).execute();
    changed = true;
  }
  const disks = await trx
    .selectFrom('vm_disks')
    .selectAll()
    .where('vm_id', '=', vmId)
    .orderBy('disk_id')
    .execute();
  let nextDiskId = Math.max(-1, ...disks.map((d) => d.disk_id)) + 1;
  for (const d of vm.disks) {
    const old = disks.find((x) => x.source === d.source);
    if (!old) {
      await trx
        .insertInto('vm_disks')
        .values({
          vm_id: vmId,
          disk_id: nextDiskId++,
          source: d.source,
          format: d.format,
          size_bytes: d.virtualSize,
        })
        .execute();
      changed = true;
    } else if (old.format !== d.format || old.size_bytes !== d.virtualSize) {
      await trx
        .updateTable('vm_disks')
        .set({ format: d.format, size_bytes: d.virtualSize })
        .where('vm_id', '=', vmId)
        .where('disk_id', '=', old.disk_id)
        .execute();
      changed = true;
    }
  }
  for (const old of disks) {
    if (vm.disks.some((d) => d.source === old.source)) continue;
    await trx.deleteFrom('vm_disks').where('vm_id', '=', vmId).where('disk_id', '=', old.disk_id).execute();
    changed = true;
  }
  return changed;
}

/** Records a VM's state as its hypervisor reported it; true when it changed. */
export async function setVmState(trx: Tx, vmId: number, state: 'RUNNING' | 'POWEROFF'): Promise<boolean> {
  const r = await trx
    .updateTable('vms')
    .set({ state })
    .where('id', '=', vmId)
    .where('state', '!=', state)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
