/** Hypervisor drivers by VM_MAD name, registered explicitly. `fs`: disks are files on this host. */

import type { VmDiscovery } from '../../core/vm-discovery.js';
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

/** The hypervisors' view of hosts and VMs, through each driver's discover and stateOf. */
export function vmDiscovery(drivers: ReadonlyMap<string, HypervisorDriver>): VmDiscovery {
  return {
    async discover(vmMad, host) {
      const driver = drivers.get(vmMad);
      return driver?.discover ? driver.discover(host) : undefined;
    },
    async define(vmMad, host, request) {
      const driver = drivers.get(vmMad);
      return driver?.define ? driver.define(host, request) : undefined;
    },
    async disksOf(vmMad, vm) {
      const driver = drivers.get(vmMad);
      return driver?.disksOf
        ? driver.disksOf({ id: vm.id, state: 'RUNNING', disks: [], location: vm.location })
        : undefined;
    },
    async stateOf(vmMad, vm) {
      const driver = drivers.get(vmMad);
      return driver?.stateOf
        ? driver.stateOf({ id: vm.id, state: 'RUNNING', disks: [], location: vm.location })
        : undefined;
    },
  };
}
