/**
 * Restores, verifies and garbage collections wait for a slot of their kind, as backups wait for
 * theirs (issue 9): at most MAX_RESTORES restores and MAX_MAINTENANCE verify/GC runs at once,
 * the rest in request order (p-queue). Restores have their own limit rather than backup slots:
 * a restore is what an operator waits on during an outage, and must not queue behind a night of
 * scheduled backups; verify and GC read a whole datastore, so one at a time is the default.
 * In memory only: a queued operation is the pending RPC call itself, which a restart ends.
 */
import PQueue from 'p-queue';

export type GateKind = 'restore' | 'maintenance';

export interface GateLimits {
  /** 0 = unlimited. */
  readonly maxRestores: number;
  readonly maxMaintenance: number;
}

const LABELS: Readonly<Record<GateKind, string>> = {
  restore: 'restore slots',
  maintenance: 'verify and GC slots',
};

/** The reason a queued operation waits, in the style of the backup queue's `global slots 5/5`. */
export function gateFull(kind: GateKind, running: number, limit: number): string {
  return `${LABELS[kind]} ${running}/${limit}`;
}

export class OperationGates {
  readonly #queues: Readonly<Record<GateKind, PQueue>>;
  readonly #limits: Readonly<Record<GateKind, number>>;

  constructor(limits: GateLimits) {
    const concurrency = (n: number) => (n > 0 ? n : Number.POSITIVE_INFINITY);
    this.#limits = { restore: limits.maxRestores, maintenance: limits.maxMaintenance };
    this.#queues = {
      restore: new PQueue({ concurrency: concurrency(limits.maxRestores) }),
      maintenance: new PQueue({ concurrency: concurrency(limits.maxMaintenance) }),
    };
  }

  /**
   * Runs fn when a slot of the kind is free. `onQueued` is told the reason when it has to wait.
   */
  run<T>(kind: GateKind, fn: () => Promise<T>, onQueued?: (reason: string) => void): Promise<T> {
    const queue = this.#queues[kind];
    if (queue.pending >= queue.concurrency) onQueued?.(gateFull(kind, queue.pending, this.#limits[kind]));
    return queue.add(fn);
  }

  /** Operations of the kind running now and waiting. */
  load(kind: GateKind): { running: number; waiting: number } {
    const queue = this.#queues[kind];
    return { running: queue.pending, waiting: queue.size };
  }

  /** Resolves when nothing runs or waits any more. */
  async idle(): Promise<void> {
    await Promise.all([this.#queues.restore.onIdle(), this.#queues.maintenance.onIdle()]);
  }
}
