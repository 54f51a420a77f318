/**
 * The backups running now and the slots they hold, for the dispatch index: one global slot each,
 * one on its host, and for a job's backup a place in that job's running set. At most one backup
 * runs per VM. No I/O; the counts are exact, a host or job with none is forgotten.
 */
import { dropCount } from './dispatch-entries.js';
import { isFull, type RunningBackup } from './types.js';

export class RunningSlots {
  readonly #byVm = new Map<number, RunningBackup>();
  readonly #byJob = new Map<number, Set<number>>();
  readonly #perHost = new Map<number, number>();

  /** Backups running now, in all. */
  get size(): number {
    return this.#byVm.size;
  }

  has(vmId: number): boolean {
    return this.#byVm.has(vmId);
  }

  hostFull(hostId: number, limit: number): boolean {
    return isFull(this.#perHost.get(hostId) ?? 0, limit);
  }

  /** The VMs of job `jobId` with a running backup. */
  vmsOfJob(jobId: number): Iterable<number> {
    return this.#byJob.get(jobId) ?? [];
  }

  values(): IterableIterator<RunningBackup> {
    return this.#byVm.values();
  }

  /** Takes the slots of `backup` (kept as a copy); throws if its VM already has a backup running. */
  add(backup: RunningBackup): void {
    if (this.#byVm.has(backup.vmId)) throw new Error(`VM ${backup.vmId} already has a backup running`);
    this.#byVm.set(backup.vmId, { ...backup });
    this.#perHost.set(backup.hostId, (this.#perHost.get(backup.hostId) ?? 0) + 1);
    if (backup.jobId !== undefined) {
      let vms = this.#byJob.get(backup.jobId);
      if (vms === undefined) {
        vms = new Set();
        this.#byJob.set(backup.jobId, vms);
      }
      vms.add(backup.vmId);
    }
  }

  /** Frees the slots of the VM's backup and returns it; undefined if none was running. */
  remove(vmId: number): RunningBackup | undefined {
    const backup = this.#byVm.get(vmId);
    if (backup === undefined) return undefined;
    this.#byVm.delete(vmId);
    dropCount(this.#perHost, backup.hostId);
    if (backup.jobId !== undefined) {
      const vms = this.#byJob.get(backup.jobId);
      vms?.delete(vmId);
      if (vms?.size === 0) this.#byJob.delete(backup.jobId);
    }
    return backup;
  }
}
