/**
 * Restores, verifies and garbage collections, each run when a slot of its kind is free
 * (operation-gates.ts), logged when queued and when done, and told to the observer (metrics).
 */
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { VerifyBudget } from '../schedule/verify-settings.js';
import type { GcOutcome, RestoreOutcome, RestoreRequest, VerifyOutcome } from '../scheduler-port.js';
import { failureMessage } from './failure.js';
import { type GateLimits, OperationGates } from './operation-gates.js';
import type { ScheduledVerifyOutcome } from './vm-operations.js';

/** The engine's side of these operations (vm-operations.ts). */
export interface DataOperationsExecutor {
  restore(request: RestoreRequest): Promise<RestoreOutcome>;
  verify(datastoreId: number, scope: { imageId?: number; incrementId?: number }): Promise<VerifyOutcome>;
  gc(datastoreId: number): Promise<GcOutcome>;
  /** A datastore's scheduled verify (VERIFY_INTERVAL): resumes where the last stopped, up to the budget. */
  scheduledVerify(datastoreId: number, budget: VerifyBudget | undefined): Promise<ScheduledVerifyOutcome>;
}

export class DataOperations {
  readonly #gates: OperationGates;

  constructor(
    limits: GateLimits,
    private readonly executor: DataOperationsExecutor,
    private readonly log: Logger,
    private readonly observer?: BackupObserver,
  ) {
    this.#gates = new OperationGates(limits);
  }

  restore(request: RestoreRequest): Promise<RestoreOutcome> {
    const vm = request.vmId;
    const image = request.imageId;
    return this.#gates.run(
      'restore',
      async () => {
        try {
          const result = await this.executor.restore(request);
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

  verify(datastoreId: number, scope: { imageId?: number; incrementId?: number }): Promise<VerifyOutcome> {
    return this.#gates.run(
      'maintenance',
      () => this.executor.verify(datastoreId, scope),
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
