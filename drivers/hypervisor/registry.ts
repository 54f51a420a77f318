/** Hypervisor drivers by VM_MAD name. `fs`: VM disks are raw or qcow2 files on this host. */
export const HYPERVISOR_DRIVER_NAMES: readonly string[] = Object.freeze(['fs']);
