/**
 * `onevm backup` of VMs in no job, behind the same slots as job backups: each request is a
 * one-VM pseudo-job of the dispatch index (negative ID), so MAX_BACKUPS and MAX_BACKUPS_HOST
 * hold for both and the index says why a request waits. Requests rank above every job (PRIORITY
 * is at most 99): an operator asked for them now, as OpenNebula starts them at once.
 * The record of a successful backup clears the VM's ERROR in the same transaction; a failure
 * sets it. Requests live in memory: a queued one does not survive a restart (the VM's ERROR does
 * not change, and `onevm backup --wait` says the backup ended without a record).
 */
import { type Clock, epochSeconds } from '../clock.js';
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { VmBackupRequest } from '../scheduler-port.js';
import { claimBackup, releaseClaim } from '../store/daemons.js';
import type { Store } from '../store/db.js';
import { ClaimLost } from '../store/job-vms.js';
import { setVmError } from '../store/vms.js';
import type { DispatchIndex } from './dispatch-index.js';
import { classifyFailure, failureMessage } from './failure.js';
import type { Dispatch, SlotLimits } from './types.js';
import type { BackupOptions, BackupResult } from './vm-operations.js';

const MANUAL_PRIORITY = 100;

interface ManualBackup {
  readonly queueId: number;
  readonly request: VmBackupRequest;
  readonly controller: AbortController;
  /** `onevm backup-cancel` stopped it (not a shutdown). */
  cancelled?: boolean;
}

/** The error a cancelled backup ends with (and the VM's ERROR says). */
export const CANCELLED_BY_USER = 'backup cancelled by user';

export interface ManualBackupsDeps {
  readonly index: DispatchIndex;
  readonly executor: {
    backupVm(vmId: number, datastoreId: number, options: BackupOptions): Promise<BackupResult>;
  };
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly ctime: (epochS: number) => string;
  readonly observer?: BackupObserver | undefined;
  /** The scheduler's running backups by VM, awaited at stop. */
  readonly settled: Map<number, Promise<void>>;
  /** A slot was freed: run a dispatch pass. */
  readonly kick: () => void;
  /** This daemon's claims, counted against the limits over every daemon. */
  readonly daemonId: string;
  readonly limits: SlotLimits;
  /** A claim was refused for a full limit: the scheduler learns the other daemons' claims. */
  readonly claimRefused: () => void;
}

export class ManualBackups {
  readonly #deps: ManualBackupsDeps;
  readonly #byQueueId = new Map<number, ManualBackup>();
  readonly #byVm = new Map<number, ManualBackup>();
  /** VMs whose picked backup is taking its claim: starting, no longer queued. */
  readonly #claiming = new Set<number>();
  #seq = 0;

  constructor(deps: ManualBackupsDeps) {
    this.#deps = deps;
  }

  /** Queues a backup; the caller checked that the VM has none queued or running. */
  request(request: VmBackupRequest, nowS: number): void {
    this.#seq += 1;
    const m: ManualBackup = { queueId: -this.#seq, request, controller: new AbortController() };
    this.#byQueueId.set(m.queueId, m);
    this.#byVm.set(request.vmId, m);
    this.#deps.index.upsertJob({
      id: m.queueId,
      priority: MANUAL_PRIORITY,
      outdatedSince: nowS,
      execution: 'SEQUENTIAL',
      paused: false,
      vms: [{ vmId: request.vmId, hostId: request.hostId, hostName: request.hostName, set: 'OUTDATED' }],
    });
  }

  /** Whether the VM has a manual backup queued or running. */
  has(vmId: number): boolean {
    return this.#byVm.has(vmId);
  }

  /** Why the VM's queued backup waits (the dispatch index's reason); undefined once it runs. */
  queuedReason(vmId: number, nowS: number): string | undefined {
    const m = this.#byVm.get(vmId);
    if (m === undefined || this.#deps.settled.has(vmId) || this.#claiming.has(vmId)) return undefined;
    return this.#deps.index.explain(nowS).find((w) => w.jobId === m.queueId)?.reason ?? 'queued';
  }

  /**
   * `onevm backup-cancel`: a queued request leaves the queue (the VM's ERROR says it was
   * cancelled, so `--wait` ends); a running one is aborted and ends as a failed backup does,
   * its written chunks removed. Undefined when the VM has no manual backup.
   */
  async cancel(vmId: number): Promise<'queued' | 'running' | undefined> {
    const m = this.#byVm.get(vmId);
    if (m === undefined) return undefined;
    m.cancelled = true;
    if (this.#deps.settled.has(vmId)) {
      m.controller.abort(new Error(CANCELLED_BY_USER));
      return 'running';
    }
    this.#byQueueId.delete(m.queueId);
    this.#byVm.delete(vmId);
    this.#deps.index.removeJob(m.queueId);
    this.#deps.log.info('backup cancelled', { vm: vmId, queued: true });
    await this.#recordError(vmId, CANCELLED_BY_USER);
    this.#deps.kick();
    return 'queued';
  }

  async #recordError(vmId: number, message: string, claimed = false): Promise<void> {
    const ctime = this.#deps.ctime(epochSeconds(this.#deps.clock));
    await this.#deps.store.tx(async (trx) => {
      // A claim another daemon gave up (this one's lease ran out) is theirs: the VM's ERROR too.
      if (claimed && !(await releaseClaim(trx, vmId, this.#deps.daemonId))) return;
      await setVmError(trx, vmId, `${ctime} : [backup] ${message}`);
    });
  }

  abortAll(reason: Error): void {
    for (const m of this.#byQueueId.values()) m.controller.abort(reason);
  }

  /** A cancel on another daemon reached this one's running backup of the VM. */
  abortRunning(vmId: number): void {
    const m = this.#byVm.get(vmId);
    if (m === undefined || !this.#deps.settled.has(vmId)) return;
    m.cancelled = true;
    m.controller.abort(new Error(CANCELLED_BY_USER));
  }

  /**
   * Starts a picked request once this daemon claims the VM's backup; its slots are freed and the
   * next pass runs when it ends. A claim refused for a full limit (other daemons' backups) leaves
   * it queued; one refused because another daemon backs the VM up ends the request.
   */
  async launch(d: Dispatch): Promise<void> {
    const { index, log, observer, store, clock } = this.#deps;
    const m = this.#byQueueId.get(d.jobId);
    if (m === undefined) {
      index.finished(d.vmId);
      index.removeJob(d.jobId);
      return;
    }
    const { vmId, datastoreId, reset, owner } = m.request;
    this.#claiming.add(vmId);
    const claim = await store
      .tx((trx) =>
        claimBackup(
          trx,
          { vmId, daemonId: this.#deps.daemonId, hostId: d.hostId, jobId: -1, nowMs: clock.now() },
          this.#deps.limits,
        ),
      )
      .finally(() => this.#claiming.delete(vmId));
    if (!claim.claimed) {
      index.finished(vmId);
      if (claim.full) {
        index.setVmSet(m.queueId, vmId, 'OUTDATED');
        this.#deps.claimRefused();
        return;
      }
      this.#byQueueId.delete(m.queueId);
      this.#byVm.delete(vmId);
      index.removeJob(m.queueId);
      log.warn('backup refused', { vm: vmId, reason: claim.reason });
      await this.#recordError(vmId, `Could not create a new backup for VM ${vmId}, ${claim.reason}`);
      return;
    }
    if (!this.#byQueueId.has(m.queueId)) {
      // Cancelled while the claim was taken.
      await store.tx((trx) => releaseClaim(trx, vmId, this.#deps.daemonId));
      index.finished(vmId);
      this.#deps.kick();
      return;
    }
    log.info('backup started', { vm: vmId, host: d.hostId });
    const settled = this.#deps.executor
      .backupVm(vmId, datastoreId, {
        reset,
        owner,
        signal: m.controller.signal,
        alsoRecord: async (trx) => {
          if (!(await releaseClaim(trx, vmId, this.#deps.daemonId))) throw new ClaimLost(vmId);
          await setVmError(trx, vmId, undefined);
        },
      })
      .then(
        () => undefined,
        async (err: unknown) => {
          const message = failureMessage(err);
          log.error('backup failed', { vm: vmId, error: message });
          observer?.backupFailed({
            vmId,
            jobId: -1,
            reason: m.cancelled ? 'cancelled' : classifyFailure(err, m.controller.signal.aborted),
          });
          await this.#recordError(vmId, m.cancelled ? CANCELLED_BY_USER : message, true);
        },
      )
      .catch((err: unknown) =>
        log.error('cannot record the end of a backup', { vm: vmId, error: failureMessage(err) }),
      )
      .finally(() => {
        this.#deps.settled.delete(vmId);
        this.#byQueueId.delete(m.queueId);
        this.#byVm.delete(vmId);
        index.finished(vmId);
        index.removeJob(m.queueId);
        this.#deps.kick();
      });
    this.#deps.settled.set(vmId, settled);
  }
}
