import type { DiskFormat } from '../model.js';

export interface DiskFacts {
  readonly format: DiskFormat;
  /** Guest-visible size in bytes. */
  readonly virtualSize: number;
}

/** Inspects a disk at create time; throws OneError naming the file when it cannot. */
export type DiskInspector = (source: string, declaredFormat: DiskFormat | undefined) => Promise<DiskFacts>;
