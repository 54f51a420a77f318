/**
 * What a hypervisor tells about the VMs of a host and their state (kvm: libvirt's domains, a bare
 * QEMU's QMP socket). A leaf: the hypervisor contract, the host service and the daemon use it.
 */
import type { DiskFormat } from './model.js';

export interface DiscoveredDisk {
  readonly source: string;
  readonly format: DiskFormat;
  readonly virtualSize: number;
}

/** A VM as the hypervisor has it: its DEPLOY_ID (libvirt domain name), state and disks. */
export interface DiscoveredVm {
  readonly deployId: string;
  readonly name: string;
  readonly state: 'RUNNING' | 'POWEROFF';
  readonly disks: readonly DiscoveredDisk[];
}

/** Where a host's hypervisor is reached (the host's LIBVIRT_URI for libvirt). */
export interface HostReach {
  readonly name: string;
  readonly libvirtUri?: string | undefined;
}

/** Where a VM runs, from its template (DEPLOY_ID, QMP_SOCKET, GUEST_AGENT_SOCKET) and its host's. */
export interface VmReach {
  readonly deployId?: string;
  readonly qmpSocket?: string;
  readonly agentSocket?: string;
  readonly libvirtUri?: string;
}

/** A new VM defined in the hypervisor like an existing one, with other disk files. */
export interface DefineRequest {
  /** The DEPLOY_ID of the VM to copy the definition of. */
  readonly from: string;
  readonly name: string;
  /** Each disk file of `from` -> the file the new VM uses instead. */
  readonly sources: ReadonlyMap<string, string>;
}

export interface VmDiscovery {
  /**
   * Defines (does not start) a new VM like `from` on the host, with other disks; returns its
   * DEPLOY_ID, or undefined when the driver cannot define VMs.
   */
  define(vmMad: string, host: HostReach, request: DefineRequest): Promise<string | undefined>;
  /** The host's VMs, or undefined when its driver (VM_MAD) cannot list them (fs). */
  discover(vmMad: string, host: HostReach): Promise<readonly DiscoveredVm[] | undefined>;
  /** The disks of a VM as its hypervisor has them, or undefined when the driver cannot tell (fs). */
  disksOf(
    vmMad: string,
    vm: { readonly id: number; readonly location: VmReach },
  ): Promise<readonly DiscoveredDisk[] | undefined>;
  /** A VM's state as its hypervisor sees it, or undefined when the driver has no such notion. */
  stateOf(
    vmMad: string,
    vm: { readonly id: number; readonly location: VmReach },
  ): Promise<'RUNNING' | 'POWEROFF' | undefined>;
}
