/**
 * The hypervisor driver contract: how the engine gets a point-in-time view of a VM's disks,
 * which parts of each disk hold data, the bytes themselves, and how restored disks are written.
 */

import type { DiskFacts } from '../../core/disk-facts.js';
import type { DiskFormat, FsFreeze } from '../../core/model.js';
import type {
  DefineRequest,
  DiscoveredDisk,
  DiscoveredVm,
  HostAccess,
  HostAccessProblem,
  HostHealth,
  HostReach,
} from '../../core/vm-discovery.js';

export interface DiskSpec {
  readonly diskId: number;
  readonly source: string;
  readonly format: DiskFormat;
  readonly virtualSize: number;
}

/** Where a kvm VM runs: a libvirt domain (OpenNebula's DEPLOY_ID) or a bare QEMU's QMP socket. */
export interface VmLocation {
  readonly deployId?: string | undefined;
  readonly libvirtUri?: string | undefined;
  readonly qmpSocket?: string | undefined;
  /** The guest agent's socket of a bare QEMU (libvirt finds its own). */
  readonly agentSocket?: string | undefined;
  /** The VM's host as the daemon reaches it (undefined: the daemon's own machine). */
  readonly host?: HostAccess | undefined;
}

export interface VmSpec {
  readonly id: number;
  readonly state: 'RUNNING' | 'POWEROFF';
  readonly disks: readonly DiskSpec[];
  readonly location?: VmLocation | undefined;
}

/** The changed blocks of one disk since a checkpoint, or why the disk must be read whole. */
export type ChangedBlocks =
  | { readonly kind: 'extents'; readonly extents: readonly Extent[] }
  | { readonly kind: 'full'; readonly reason: string };

/** How the point in time was taken: what a restore of it gets. */
export interface Consistency {
  /** `filesystem`: the guest's filesystems were frozen (agent) or its vCPUs paused at the instant. */
  readonly level: 'crash' | 'filesystem';
  /** How long the guest was frozen or paused. */
  readonly frozenMs: number;
  readonly warnings: readonly string[];
}

export interface PrepareOptions {
  readonly freeze: FsFreeze;
  readonly scratchDir: string;
  readonly signal?: AbortSignal;
  /** Read only what changed since this checkpoint (the previous backup's), where the driver can. */
  readonly changesSince?: string | undefined;
  /** FS_FREEZE=AGENT and the agent does not answer: fail the backup, or go on crash-consistent. */
  readonly onFreezeFailure?: 'FAIL' | 'CONTINUE';
}

export interface Extent {
  readonly offset: number;
  readonly length: number;
}

/** A frozen view of a VM's disks; released with release(). */
export interface PointInTime {
  readonly vmId: number;
  readonly disks: readonly DiskSpec[];
  /** A checkpoint started at this instant: the next backup reads the changes since it. */
  readonly checkpoint?: string | undefined;
  /** Per disk, with `changesSince`: the changed blocks, or why the disk is read whole. */
  readonly changes?: ReadonlyMap<number, ChangedBlocks> | undefined;
  readonly consistency?: Consistency | undefined;
  /** How long the driver's steps to take it lasted, ms by step (a debug breakdown). */
  readonly timings?: Readonly<Record<string, number>> | undefined;
}

export interface DiskWriter {
  /** Guest offsets of writes a previous attempt made durable (a resumed disk): skip them. */
  readonly done: ReadonlySet<number>;
  /** Writes guest bytes at a guest offset (not necessarily in order). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes the writes finished so far durable and records them, so a resume skips them. */
  checkpoint(): Promise<void>;
  /** Makes the disk durable in its final format and place. */
  commit(): Promise<void>;
  /** Drops a half-written disk. */
  abort(): Promise<void>;
  /** How commit() makes the disk durable, in words for the restore's output (e.g. "fsync ..."). */
  readonly durability?: string;
  /** Stops, keeping the half-written disk and its record for a resume. */
  suspend(): Promise<void>;
}

export interface DiskWriteOptions {
  /** Where the disk is written until commit moves it to its target; created exclusively. */
  readonly partial: string;
  /** Continue the partial a previous attempt left (skipping what it recorded), if there is one. */
  readonly resume: boolean;
  /** Whether commit may replace an existing target (an in-place restore); otherwise it refuses. */
  readonly overwrite: boolean;
}

export interface HypervisorCapabilities {
  readonly freeze: readonly FsFreeze[];
  readonly dirtyBitmaps: boolean;
}

export interface HypervisorDriver {
  readonly name: string;
  readonly capabilities: HypervisorCapabilities;
  inspect(source: string, format: DiskFormat | undefined): Promise<DiskFacts>;
  /** Takes the point in time (snapshot, or the disks as they are when the VM is off). */
  prepare(vm: VmSpec, options: PrepareOptions): Promise<PointInTime>;
  /** The data extents of a disk, in guest offsets, sorted; everything else reads as zeros. */
  extents(pit: PointInTime, diskId: number): Promise<Extent[]>;
  /**
   * The SHA-256 (hex) of chunks `indexes` of a disk (`chunkSize` bytes each, the last one short),
   * or with `key` their HMAC-SHA-256 under it (core/host-digest.ts), null for a chunk of zeros,
   * computed where the disk is. Only drivers whose reads cross a network have it (a host's
   * agent): an increment then moves only the chunks whose digest differs from the previous
   * backup's. `key` is secret: it travels as data, never on a command line or in a log.
   */
  chunkDigests?(
    pit: PointInTime,
    diskId: number,
    chunkSize: number,
    indexes: readonly number[],
    key?: Uint8Array,
  ): Promise<readonly (string | null)[]>;
  /** Fills `into` from guest offset `offset`; bytes past the end read as zeros. */
  read(pit: PointInTime, diskId: number, offset: number, into: Uint8Array): Promise<void>;
  /**
   * Ends the point in time. `succeeded`: a manifest was written, so its checkpoint is the base of
   * the next backup; otherwise the checkpoint it started is dropped. Never throws: what it could
   * not clean up, `recover` does.
   */
  release(pit: PointInTime, outcome?: { readonly succeeded: boolean }): Promise<void>;
  /**
   * Removes what a crashed or cancelled backup of the VM left behind (exports, fleecing images,
   * stale checkpoints, a freeze): called at start and before each backup. Returns what it did.
   */
  recover?(vm: VmSpec, scratchDir: string): Promise<readonly string[]>;
  /** The VMs of a host and their disks (kvm through libvirt); absent when the driver cannot list them. */
  discover?(host: HostReach): Promise<readonly DiscoveredVm[]>;
  /** Defines a new VM like an existing one with other disk files (kvm: a libvirt domain); its DEPLOY_ID. */
  define?(host: HostReach, request: DefineRequest): Promise<string>;
  /** A VM's disks as the hypervisor has them (kvm: the libvirt domain's or the QEMU process's). */
  disksOf?(vm: VmSpec): Promise<readonly DiscoveredDisk[]>;
  /** The VM's state as the hypervisor sees it (undefined: the driver has no such notion). */
  stateOf?(vm: VmSpec): Promise<'RUNNING' | 'POWEROFF' | undefined>;
  /**
   * A new disk file at `target` in `format`, `virtualSize` bytes, sparse where not written. By
   * default it is written into `<target>.part` and never replaces an existing target.
   */
  createDisk(
    target: string,
    format: DiskFormat,
    virtualSize: number,
    options?: DiskWriteOptions,
  ): Promise<DiskWriter>;
  /** Bytes free for new files at `target` (on the filesystem of its nearest existing directory). */
  freeBytes(target: string): Promise<number>;
  /**
   * A failure that retrying will not fix: the scheduler marks the VM's backup failed for good
   * instead of retrying it (core/scheduler/failure.ts asks this, through the engine's wrapper).
   * Every PermanentDriverError and OneError the driver raises is permanent. For disk files on
   * this host, so is an errno that names the disk or the host rather than a moment: not found
   * (the VM's disk file is gone: retrying will not bring it back; the user must fix the VM),
   * no permission, read-only, not a directory, is a directory, no space or quota.
   */
  isPermanent(err: unknown): boolean;
}

/** Failures the scheduler should not retry; a driver raises them already classified. */
export { PermanentDriverError } from '../../core/permanent-failure.js';

/** The hypervisor drivers of every host: the local ones, or the same ones run on a host over SSH. */
export interface HypervisorHosts {
  /** VM_MAD names the daemon knows. */
  readonly names: readonly string[];
  /** The driver that reaches VMs of `host` through VM_MAD `vmMad` (undefined: no such driver). */
  driver(vmMad: string, host: HostAccess | undefined): HypervisorDriver | undefined;
  /** Whether the host is the daemon's own machine. */
  isLocal(host: HostAccess | undefined): boolean;
  /** Problems with the host's NAME and access attributes, each naming the attribute and the fix. */
  check(host: HostAccess): readonly HostAccessProblem[];
  /** Reachability, agent version and free space where `paths` live (local hosts: this machine's). */
  health(host: HostAccess | undefined, paths: readonly string[]): Promise<HostHealth>;
  /** Bytes received from and sent to each SSH host's agent since the daemon started. */
  traffic(): readonly { readonly host: string; readonly received: number; readonly sent: number }[];
  /** Closes every connection to a host's agent. */
  close(): Promise<void>;
}
