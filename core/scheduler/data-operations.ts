/**
 * Restores, verifies and garbage collections, each run when a slot of its kind is free
 * (operation-gates.ts), logged when queued and when done, and told to the observer (metrics).
 * A restore or verify the caller tags (ProgressWatch) is followed: its counter, and whether it
 * waits or runs, are kept under the caller's user and tag until it ends (`one.progress.info`).
 */
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import {
  newProgressCounter,
  type OperationProgress,
  type ProgressCounter,
  type ProgressWatch,
} from '../progress.js';
import type { VerifyBudget } from '../schedule/verify-settings.js';
import type { GcOutcome, RestoreOutcome, RestoreRequest, VerifyOutcome } from '../scheduler-port.js';
import { failureMessage } from './failure.js';
import { type GateLimits, OperationGates } from './operation-gates.js';
import type { ScheduledVerifyOutcome } from './vm-operations.js';

/** The engine's side of these operations (vm-operations.ts). */
export interface DataOperationsExecutor {
  restore(request: RestoreRequest): Promise<RestoreOutcome>;
  verify(
    datastoreId: number,
    scope: { imageId?: number; incrementId?: number },
    progress?: ProgressCounter,
  ): Promise<VerifyOutcome>;
  gc(datastoreId: number): Promise<GcOutcome>;
  /** A datastore's scheduled verify (VERIFY_INTERVAL): resumes where the last stopped, up to the budget. */
  scheduledVerify(datastoreId: number, budget: VerifyBudget | undefined): Promise<ScheduledVerifyOutcome>;
}

interface Followed {
  kind: OperationProgress['kind'];
  queued: string | undefined;
  startedAt: number;
  readonly counter: ProgressCounter;
}

export class DataOperations {
  readonly #gates: OperationGates;
  readonly #followed = new Map<string, Followed>();

  constructor(
    limits: GateLimits,
    private readonly executor: DataOperationsExecutor,
    private readonly log: Logger,
    private readonly observer?: BackupObserver,
  ) {
    this.#gates = new OperationGates(limits);
  }

  /** A tagged operation of this user, while it waits or runs. */
  progress(watch: ProgressWatch): OperationProgress | undefined {
    const f = this.#followed.get(`${watch.uid}:${watch.tag}`);
    return f && { kind: f.kind, queued: f.queued, startedAt: f.startedAt, counter: { ...f.counter } };
  }

  /** Runs `fn` in a slot of the gate, followed under `watch` (if any) from now until it ends. */
  async #runFollowed<T>(
    kind: OperationProgress['kind'],
    watch: ProgressWatch | undefined,
    fn: (counter: ProgressCounter | undefined) => Promise<T>,
    onQueued: (reason: string) => void,
  ): Promise<T> {
    const key = watch && `${watch.uid}:${watch.tag}`;
    const f: Followed | undefined =
      key === undefined || this.#followed.has(key)
        ? undefined
        : { kind, queued: 'queued', startedAt: 0, counter: newProgressCounter() };
    if (key !== undefined && f) this.#followed.set(key, f);
    try {
      return await this.#gates.run(
        kind === 'restore' ? 'restore' : 'maintenance',
        () => {
          if (f) {
            f.queued = undefined;
            f.startedAt = Math.floor(Date.now() / 1000);
          }
          return fn(f?.counter);
        },
        (reason) => {
          if (f) f.queued = reason;
          onQueued(reason);
        },
      );
    } finally {
      if (key !== undefined && f) this.#followed.delete(key);
    }
  }

  restore(request: RestoreRequest): Promise<RestoreOutcome> {
    const vm = request.vmId;
    const image = request.imageId;
    return this.#runFollowed(
      'restore',
      request.watch,
      async (progress) => {
        try {
          const result = await this.executor.restore(progress ? { ...request, progress } : request);
          this.log.info('restore done', { vm, image });
          this.observer?.restoreFinished({ vmId: vm, ok: true });
          return result;
        } catch (err) {
          this.log.error('restore failed', { vm, image, error: failureMessage(err) });
          this.observer?.restoreFinished({ vmId: vm, ok: false });
          throw err;
        }
      },
      (reason) => this.log.info('restore queued', { vm, image, reason }),
    );
  }

  verify(
    datastoreId: number,
    scope: { imageId?: number; incrementId?: number },
    watch?: ProgressWatch,
  ): Promise<VerifyOutcome> {
    return this.#runFollowed(
      'verify',
      watch,
      (progress) => this.executor.verify(datastoreId, scope, progress),
      (reason) => this.log.info('verify queued', { datastore: datastoreId, reason }),
    );
  }

  scheduledVerify(datastoreId: number, budget: VerifyBudget | undefined): Promise<ScheduledVerifyOutcome> {
    return this.#gates.run(
      'maintenance',
      () => this.executor.scheduledVerify(datastoreId, budget),
      (reason) => this.log.info('verify queued', { datastore: datastoreId, scheduled: true, reason }),
    );
  }

  gc(datastoreId: number): Promise<GcOutcome> {
    return this.#gates.run(
      'maintenance',
      () => this.executor.gc(datastoreId),
      (reason) => this.log.info('garbage collection queued', { datastore: datastoreId, reason }),
    );
  }

  /** Resolves when no operation runs or waits. */
  idle(): Promise<void> {
    return this.#gates.idle();
  }
}
