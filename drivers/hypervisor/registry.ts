/** Hypervisor drivers by VM_MAD name, registered explicitly. `fs`: disks are files on this host. */

import type { VmDiscovery, VmReach } from '../../core/vm-discovery.js';
import { fsDriver } from './fs.js';
import { kvmDriver } from './kvm.js';
import type { HypervisorDriver, HypervisorHosts } from './types.js';

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

/** The hypervisors' view of hosts and VMs, through each host's drivers' discover and stateOf. */
export function vmDiscovery(hosts: HypervisorHosts): VmDiscovery {
  const on = (vm: { readonly id: number; readonly location: VmReach }) => ({
    id: vm.id,
    state: 'RUNNING' as const,
    disks: [],
    location: vm.location,
  });
  return {
    checkHost: (host) => hosts.check(host),
    isLocal: (host) => hosts.isLocal(host),
    health: (host, paths) => hosts.health(host, paths),
    async discover(vmMad, host) {
      const driver = hosts.driver(vmMad, host.access);
      return driver?.discover ? driver.discover(host) : undefined;
    },
    async define(vmMad, host, request) {
      const driver = hosts.driver(vmMad, host.access);
      return driver?.define ? driver.define(host, request) : undefined;
    },
    async disksOf(vmMad, vm) {
      const driver = hosts.driver(vmMad, vm.location.host);
      return driver?.disksOf ? driver.disksOf(on(vm)) : undefined;
    },
    async stateOf(vmMad, vm) {
      const driver = hosts.driver(vmMad, vm.location.host);
      return driver?.stateOf ? driver.stateOf(on(vm)) : undefined;
    },
  };
}
