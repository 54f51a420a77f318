/**
 * Every few seconds: the progress of running job backups is saved to their tasks (so `runs`
 * shows bytes, speed and time left), and the tick is the scheduler's heartbeat for /health.
 * A failed save is logged and retried at the next tick; it never stops the loop.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/db.js';
import { saveTaskProgress } from '../store/runs.js';
import { failureMessage } from './failure.js';

const PROGRESS_SAVE_MS = 2000;

export interface TaskProgress {
  readonly jobId: number;
  readonly vmId: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export class ProgressSaver {
  #cancel: (() => void) | undefined;
  #stopped = false;

  constructor(
    private readonly deps: { readonly store: Store; readonly clock: Clock; readonly log: Logger },
    /** The running job backups' progress now. */
    private readonly running: () => readonly TaskProgress[],
    /** Told at each tick (the heartbeat). */
    private readonly tick: (nowMs: number) => void,
  ) {}

  start(): void {
    if (this.#stopped) return;
    this.#cancel = this.deps.clock.setTimeout(() => {
      this.tick(this.deps.clock.now());
      void this.#save().finally(() => this.start());
    }, PROGRESS_SAVE_MS);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
  }

  async #save(): Promise<void> {
    const progress = this.running();
    if (progress.length === 0) return;
    try {
      await this.deps.store.tx((trx) => saveTaskProgress(trx, progress));
    } catch (err) {
      this.deps.log.warn('cannot save backup progress', { error: failureMessage(err) });
    }
  }
}
