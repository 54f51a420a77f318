/**
 * What a hypervisor driver tells about a disk file at create time. A leaf: the hypervisor
 * contract (drivers/hypervisor/types.ts) and the VM service both use it, and neither imports
 * the other.
 */
import type { DiskFormat } from './model.js';

export interface DiskFacts {
  readonly format: DiskFormat;
  /** Guest-visible size in bytes. */
  readonly virtualSize: number;
}

/** Inspects a disk at create time; throws OneError naming the file when it cannot. */
export type DiskInspector = (source: string, declaredFormat: DiskFormat | undefined) => Promise<DiskFacts>;
