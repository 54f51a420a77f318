/**
 * VM backups, restores, verify and GC as the scheduler runs them: read what to do from the store,
 * let the engine move the bytes, record the result with one store transition. A VM backup's
 * record (image or increment, KEEP_LAST, the VM's chain pointers, and the caller's `alsoRecord`:
 * a job VM's set, task and run, or a manual backup's ERROR) is one transaction, committed while
 * the engine still holds the datastore against GC.
 */
import type { Clock } from '../clock.js';
import { epochSeconds } from '../clock.js';
import type { GcResult, ReferencedIncrement, VerifyPosition, VerifyResult } from '../engine/maintenance.js';
import { incrementStats, type Manifest } from '../engine/manifest.js';
import type { BackupRunner } from '../engine/runner.js';
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { BackupMode, FsFreeze, IncrementMode } from '../model.js';
import type { ProgressCounter } from '../progress.js';
import { backupImageName } from '../schedule/image-names.js';
import type { VerifyBudget } from '../schedule/verify-settings.js';
import type { RestoreOutcome, RestoreRequest } from '../scheduler-port.js';
import {
  datastoreRow,
  type FinishedBackup,
  newestManifestPath,
  type RetentionOwner,
  readBackupSource,
  readRestoreSource,
  recordBackup,
} from '../store/backups.js';
import { anyCopied, copyToRestore } from '../store/copies.js';
import { datastoreToOpen } from '../store/datastores.js';
import type { Store, Tx } from '../store/db.js';
import { incrementsOnDatastore, manifestsOnDatastore, recordVerifyResults } from '../store/images.js';
import {
  type VerifyPosition as StoredPosition,
  saveVerifyPosition,
  verifyPosition,
} from '../store/verify-schedules.js';
import { ownPart, recordCopyProblems, withCopies } from './copy-verify.js';

export interface BackupOptions {
  readonly reset: boolean;
  /** From a backup job: its MODE/KEEP_LAST override the VM's own BACKUP_CONFIG. */
  readonly mode?: BackupMode | undefined;
  readonly keepLast?: number | undefined;
  readonly fsFreeze?: FsFreeze | undefined;
  readonly incrementMode?: IncrementMode | undefined;
  readonly onFreezeFailure?: 'FAIL' | 'CONTINUE' | undefined;
  readonly jobId?: number | undefined;
  /** Who the backup is for (the job's owner or who ran `onevm backup`): retention drops only what they may MANAGE. */
  readonly owner: RetentionOwner;
  readonly signal?: AbortSignal | undefined;
  /** Store changes that commit in the same transaction as the backup's record (a job's VM set). */
  readonly alsoRecord?: AlsoRecord | undefined;
}

/** Told the backup's final byte counts, inside the record transaction. */
export type AlsoRecord = (trx: Tx, bytes: { bytesDone: number; bytesTotal: number }) => Promise<void>;

export interface BackupResult {
  readonly imageId: number;
  readonly incrementId: number;
  readonly manifest: Manifest;
}

export interface VmOperationsDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly engine: BackupRunner;
  readonly timeZone: string;
  /** ctime()-style time for ERROR attributes. */
  readonly ctime: (epochS: number) => string;
  /** Told of each recorded backup (metrics). */
  readonly observer?: BackupObserver;
  /** The copier (COPY_DATASTORE_ID): told of each recorded backup, so its copy starts now. */
  readonly copies?: { changed(retryFailed: boolean): void } | undefined;
}

/** A scheduled verify's result, and where it started (undefined: from the first increment). */
export interface ScheduledVerifyOutcome extends VerifyResult {
  readonly resumedFrom: VerifyPosition | undefined;
}

/**
 * Which images a verify may record: broken ones (with the first problem), and whole ones only
 * when all their increments were read, by this verify or (for the image a budgeted one resumes
 * in) by the previous one, which found no problem in it (`from.imageBroken` false).
 */
function imageVerdicts(
  increments: readonly ReferencedIncrement[],
  result: VerifyResult,
  from: StoredPosition | undefined,
): { checked: number[]; broken: Map<number, string> } {
  const broken = new Map<number, string>();
  for (const p of result.problems) {
    if (!broken.has(p.imageId))
      broken.set(
        p.imageId,
        `increment ${p.incrementId}${p.diskId >= 0 ? ` disk ${p.diskId}` : ''}: ${p.message}`,
      );
  }
  const key = (i: { imageId: number; incrementId: number }) => `${i.imageId}/${i.incrementId}`;
  const done = new Set(result.completed.map(key));
  const readBefore = (i: ReferencedIncrement) =>
    from !== undefined && i.imageId === from.imageId && i.incrementId < from.incrementId;
  const partial = new Set(
    increments.filter((i) => !done.has(key(i)) && !readBefore(i)).map((i) => i.imageId),
  );
  // Already recorded broken by the run that found it; a good end of the image must not clear that.
  if (from?.imageBroken && !broken.has(from.imageId)) partial.add(from.imageId);
  const checked = increments.map((i) => i.imageId).filter((id) => !partial.has(id) || broken.has(id));
  return { checked, broken };
}

export class VmOperations {
  constructor(private readonly deps: VmOperationsDeps) {}

  /** Bytes done and total of a running backup. */
  progress(vmId: number): { bytesDone: number; bytesTotal: number; startedAt: number } | undefined {
    return this.deps.engine.running.get(vmId);
  }

  /** Backs up one VM into a datastore and records it in one transaction. */
  async backupVm(vmId: number, datastoreId: number, options: BackupOptions): Promise<BackupResult> {
    const { store, clock, engine } = this.deps;
    const src = await readBackupSource(store.db, vmId, datastoreId, {
      mode: options.mode,
      reset: options.reset,
    });
    const incrementMode = options.incrementMode ?? src.backupConfig.incrementMode ?? 'CBT';
    // --reset starts from nothing: every chunk is read, encoded and checked against the datastore.
    const previousManifestPath = options.reset
      ? undefined
      : await newestManifestPath(store.db, vmId, datastoreId);
    const totalBefore = src.disks.reduce((s, d) => s + d.virtualSize, 0);
    const { manifest, committed } = await engine.backupVm(
      {
        vmId,
        hostId: src.vm.hostId,
        vmState: src.vm.state,
        hypervisor: src.hypervisor,
        disks: src.disks,
        location: src.location,
        fsFreeze: options.fsFreeze ?? src.backupConfig.fsFreeze ?? 'NONE',
        onFreezeFailure: options.onFreezeFailure,
        // Changed blocks only for an increment of an open chain: a FULL reads every block.
        changeTracking: src.continuesChain && incrementMode === 'CBT',
        datastore: datastoreToOpen(src.datastore),
        previousManifestPath,
        continuesChain: src.continuesChain,
        listIncrements: () => manifestsOnDatastore(store.db, datastoreId),
        signal: options.signal,
      },
      (taken, path) => {
        const nowS = epochSeconds(clock);
        const finished: FinishedBackup = {
          vmId,
          datastoreId,
          source: path,
          sizeBytes: taken.disks.reduce((s, d) => s + d.virtualSize, 0),
          format: taken.disks.every((d) => d.format === 'raw') ? 'raw' : 'qcow2',
          stats: incrementStats(taken),
          imageName: backupImageName(vmId, nowS, this.deps.timeZone),
          nowS,
          reset: options.reset,
          mode: options.mode,
          keepLast: options.keepLast,
          jobId: options.jobId,
          owner: options.owner,
        };
        // One meaning for progress: the disks' virtual size, all of it done at the end (holes count as done).
        const bytes = { bytesDone: totalBefore, bytesTotal: totalBefore };
        const also = options.alsoRecord;
        return store.tx((trx) => recordBackup(trx, finished, also && ((t) => also(t, bytes))));
      },
    );
    const { imageId, incrementId } = committed;
    this.deps.copies?.changed(true);
    this.deps.log.info('backup done', {
      vm: vmId,
      image: imageId,
      increment: incrementId,
      read: manifest.stats.bytesRead,
      stored: manifest.stats.bytesStored,
      ms: manifest.stats.durationMs,
    });
    this.deps.observer?.backupFinished({
      vmId,
      jobId: options.jobId ?? -1,
      datastoreId,
      mode: incrementId > 0 ? 'INCREMENT' : 'FULL',
      bytesRead: manifest.stats.bytesRead,
      bytesStored: manifest.stats.bytesStored,
      bytesDeduplicated: manifest.stats.bytesDeduplicated,
      bytesZero: manifest.stats.bytesZero,
      durationMs: manifest.stats.durationMs,
    });
    return { imageId, incrementId, manifest };
  }

  #increments(
    datastoreId: number,
    scope: { imageId?: number; incrementId?: number } = {},
  ): Promise<ReferencedIncrement[]> {
    return incrementsOnDatastore(this.deps.store.db, datastoreId, scope);
  }

  /**
   * Restores from the image's datastore, or from the copy in `request.datastoreId`; with no
   * datastore asked for, a copy (if one is COPIED) is the fallback when the image's own fails.
   */
  async restore(request: RestoreRequest): Promise<RestoreOutcome> {
    const db = this.deps.store.db;
    const src = await readRestoreSource(db, request.imageId, request.incrementId);
    const own = src.image.datastore_id;
    const asked = request.datastoreId ?? own;
    const key = { imageId: request.imageId, incrementId: src.increment.inc_id };
    if (asked !== own) await copyToRestore(db, { ...key, datastoreId: asked });
    const datastore = datastoreToOpen(await datastoreRow(db, asked));
    const copy =
      request.datastoreId === undefined ? await anyCopied(db, key.imageId, key.incrementId) : undefined;
    const fallback = copy && datastoreToOpen(await datastoreRow(db, copy.datastore_id));
    const result = await this.deps.engine.restore(
      {
        datastore,
        manifestPath: src.increment.source,
        hypervisor: src.hypervisor,
        host: src.host,
        imageId: request.imageId,
        diskId: request.diskId,
        dir: request.dir,
        targetFor: request.targetFor,
        resume: request.resume ?? false,
        who: request.who ?? { uid: -1, isAdmin: false },
        progress: request.progress,
      },
      fallback,
    );
    return asked === own ? result : { ...result, fromCopy: `datastore ${asked} (the copy, as asked)` };
  }

  /** Verifies, then records per image what it found (oneimage list/show show a broken image). */
  async verify(
    datastoreId: number,
    scope: { imageId?: number; incrementId?: number },
    progress?: ProgressCounter,
  ): Promise<VerifyResult> {
    const { store, clock } = this.deps;
    const datastore = datastoreToOpen(await datastoreRow(store.db, datastoreId));
    const own = await this.#increments(datastoreId, scope);
    const list = await withCopies(store.db, datastoreId, own, scope.imageId === undefined);
    const result = await this.deps.engine.verify(datastore, list.all, scope, progress ? { progress } : {});
    const { checked, broken } = imageVerdicts(own, ownPart(list, result), undefined);
    const nowS = epochSeconds(clock);
    const copyProblems = await store.tx(async (trx) => {
      await recordVerifyResults(trx, checked, broken, nowS, this.deps.ctime(nowS));
      return recordCopyProblems(trx, list, result, nowS);
    });
    if (copyProblems > 0) this.deps.copies?.changed(false);
    return result;
  }

  /**
   * A scheduled verify: from where the last one stopped, until the budget is spent; records the
   * images it read whole or found broken, and where the next one resumes, in one transaction.
   */
  async scheduledVerify(
    datastoreId: number,
    budget: VerifyBudget | undefined,
  ): Promise<ScheduledVerifyOutcome> {
    const { store, clock } = this.deps;
    const datastore = datastoreToOpen(await datastoreRow(store.db, datastoreId));
    const from = await verifyPosition(store.db, datastoreId);
    const own = await this.#increments(datastoreId);
    const list = await withCopies(store.db, datastoreId, own, true);
    const startMs = clock.now();
    const result = await this.deps.engine.verify(
      datastore,
      list.all,
      {},
      {
        from,
        budget: budget && {
          bytes: 'bytes' in budget ? budget.bytes : undefined,
          untilMs: 'seconds' in budget ? startMs + budget.seconds * 1000 : undefined,
          now: () => clock.now(),
        },
      },
    );
    const { checked, broken } = imageVerdicts(own, ownPart(list, result), from);
    const nowS = epochSeconds(clock);
    const copyProblems = await store.tx(async (trx) => {
      await recordVerifyResults(trx, checked, broken, nowS, this.deps.ctime(nowS));
      const stop = result.stoppedAt;
      const carried = from?.imageBroken === true && stop?.imageId === from.imageId;
      await saveVerifyPosition(
        trx,
        datastoreId,
        stop && { ...stop, imageBroken: carried || broken.has(stop.imageId) },
        nowS,
      );
      return recordCopyProblems(trx, list, result, nowS);
    });
    if (copyProblems > 0) this.deps.copies?.changed(false);
    return { ...result, resumedFrom: from };
  }

  async gc(datastoreId: number): Promise<GcResult> {
    const { db } = this.deps.store;
    const datastore = datastoreToOpen(await datastoreRow(db, datastoreId));
    return this.deps.engine.gc(datastore, () => manifestsOnDatastore(db, datastoreId));
  }
}
