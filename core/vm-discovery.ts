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

/**
 * How the daemon reaches a host: its NAME (an SSH address) and the attributes that say how
 * (TRANSPORT, SSH_PORT, SSH_USER, SSH_KEY, SSH_KNOWN_HOSTS). A host named `localhost`, or with
 * TRANSPORT = "local", is the daemon's own machine.
 */
export interface HostAccess {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** A bad host access attribute and why. */
export interface HostAccessProblem {
  readonly attribute: string;
  readonly message: string;
}

/** The host attributes that make a HostAccess. */
export const HOST_ACCESS_ATTRIBUTES = Object.freeze([
  'TRANSPORT',
  'SSH_PORT',
  'SSH_USER',
  'SSH_KEY',
  'SSH_KNOWN_HOSTS',
]);

/** Where a host's hypervisor is reached (the host's LIBVIRT_URI for libvirt). */
export interface HostReach {
  readonly name: string;
  readonly libvirtUri?: string | undefined;
  /** How the daemon reaches the host (undefined: the daemon's own machine). */
  readonly access?: HostAccess | undefined;
}

/** Where a VM runs, from its template (DEPLOY_ID, QMP_SOCKET, GUEST_AGENT_SOCKET) and its host's. */
export interface VmReach {
  readonly deployId?: string;
  readonly qmpSocket?: string;
  readonly agentSocket?: string;
  readonly libvirtUri?: string;
  /** The VM's host, when the daemon reaches it (undefined: the daemon's own machine). */
  readonly host?: HostAccess;
}

/** A new VM defined in the hypervisor like an existing one, with other disk files. */
export interface DefineRequest {
  /** The DEPLOY_ID of the VM to copy the definition of. */
  readonly from: string;
  readonly name: string;
  /** Each disk file of `from` -> the file the new VM uses instead. */
  readonly sources: ReadonlyMap<string, string>;
}

/** A host's state as seen through its agent (host monitoring), or why it could not be reached. */
export interface HostHealth {
  readonly reachable: boolean;
  /** Why the host could not be reached (unreachable, wrong host key, no node, ...). */
  readonly error?: string | undefined;
  /** The agent's onebackup version and bundle digest (the same as the daemon's when reachable). */
  readonly version?: string | undefined;
  readonly node?: string | undefined;
  /** Free and total bytes of the filesystems holding the host's disks, by directory. */
  readonly space: readonly {
    readonly path: string;
    readonly freeBytes: number;
    readonly totalBytes: number;
    readonly error?: string | undefined;
  }[];
  readonly load1?: number | undefined;
  readonly cpus?: number | undefined;
}

export interface VmDiscovery {
  /** Problems with a host's NAME and access attributes (TRANSPORT, SSH_*), each naming the fix. */
  checkHost(host: HostAccess): readonly HostAccessProblem[];
  /** Whether the host is the daemon's own machine. */
  isLocal(host: HostAccess): boolean;
  /** Reachability, agent version and free space where `paths` live. */
  health(host: HostAccess, paths: readonly string[]): Promise<HostHealth>;
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
