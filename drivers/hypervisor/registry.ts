/** Hypervisor drivers by VM_MAD name, registered explicitly. `fs`: disks are files on this host. */
import { fsDriver } from './fs.js';
import { kvmDriver } from './kvm.js';
import type { HypervisorDriver } from './types.js';

function createRegistry(drivers: readonly HypervisorDriver[]): ReadonlyMap<string, HypervisorDriver> {
  const map = new Map<string, HypervisorDriver>();
  for (const d of drivers) {
    if (map.has(d.name)) throw new Error(`hypervisor driver ${d.name} registered twice`);
    map.set(d.name, d);
  }
  return map;
}

export const HYPERVISOR_DRIVERS = createRegistry([fsDriver, kvmDriver]);
export const HYPERVISOR_DRIVER_NAMES: readonly string[] = Object.freeze([...HYPERVISOR_DRIVERS.keys()]);
