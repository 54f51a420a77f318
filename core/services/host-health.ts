/**
 * What host monitoring last found about each host (reachable, the agent's version, free space
 * where its disks live). `onehost list/show` and the host documents read the store's copy
 * (core/store/host-health.ts: the same on every daemon); this board keeps this daemon's own last
 * view in memory for its metrics (`onebackup_host_up`).
 */
import type { HostHealth } from '../vm-discovery.js';

/** OpenNebula's host states as the documents give them: INIT 0, MONITORED 2, ERROR 3. */
export const HOST_STATE = Object.freeze({ INIT: 0, MONITORED: 2, ERROR: 3 });

export interface HostHealthRecord {
  /** The host's NAME when it was checked. */
  readonly name: string;
  readonly health: HostHealth;
  /** Epoch seconds of the check. */
  readonly checkedAt: number;
}

/** Free, total and used megabytes over the distinct filesystems the host's disks live on. */
export function diskMegabytes(health: HostHealth): { free: number; total: number; used: number } {
  const seen = new Set<string>();
  let free = 0;
  let total = 0;
  for (const s of health.space) {
    if (s.error !== undefined) continue;
    // Directories on one filesystem report the same sizes: count it once.
    const key = `${s.totalBytes}`;
    if (seen.has(key)) continue;
    seen.add(key);
    free += s.freeBytes;
    total += s.totalBytes;
  }
  const mb = (b: number) => Math.floor(b / 1048576);
  return { free: mb(free), total: mb(total), used: mb(total - free) };
}

export class HostHealthBoard {
  readonly #records = new Map<number, HostHealthRecord>();

  set(hostId: number, record: HostHealthRecord): HostHealthRecord | undefined {
    const before = this.#records.get(hostId);
    this.#records.set(hostId, record);
    return before;
  }

  get(hostId: number): HostHealthRecord | undefined {
    return this.#records.get(hostId);
  }

  forget(hostId: number): void {
    this.#records.delete(hostId);
  }

  /** Every checked host: its name and whether it answered its last check. */
  reachability(): { name: string; reachable: boolean }[] {
    return [...this.#records.values()].map((r) => ({ name: r.name, reachable: r.health.reachable }));
  }
}
