/**
 * The engine's entry: one VM backup, restore, verify or garbage collection at a time per call,
 * moving bytes between the hypervisor and datastore drivers. It reads no state and records
 * nothing: the caller (core/scheduler/vm-operations.ts) reads what to do from the store, and
 * records a backup through `commit`, which runs while this backup still holds its datastore
 * against garbage collection.
 * Invariants: a VM has at most one backup here; GC of a datastore never runs while a backup
 * writes to it (writers and the exclusive GC are counted per datastore).
 * Crash story: until `commit` resolves, a backup does not exist; a manifest written just before
 * a crash is unreferenced and removed by GC; temp files go at the next start.
 */
import { randomBytes } from 'node:crypto';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type {
  DiskSpec,
  HypervisorDriver,
  HypervisorHosts,
  VmLocation,
} from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import { type Clock, epochSeconds } from '../clock.js';
import { ErrorCode, OneError } from '../errors.js';
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { ChunkIdHash, Compression, FsFreeze, VmState } from '../model.js';
import type { HostAccess } from '../vm-discovery.js';
import type { WriteMarks } from '../write-marks.js';
import { runBackup } from './backup.js';
import { boundedDatastore } from './bounded-datastore.js';
import { checkpointOf } from './changed-chunks.js';
import { classifiedDriver } from './classified-driver.js';
import { type CopyJob, type CopyResult, runCopy } from './copy.js';
import { checkIdentity } from './datastore-identity.js';
import {
  allocatedChunkBytes,
  checkBackupSpace,
  removeOrphanChunks,
  trackingDatastore,
} from './failed-backup.js';
import {
  collectGarbage,
  type GcResult,
  type ReferencedIncrement,
  type VerifyOptions,
  type VerifyResult,
  verifyBackups,
} from './maintenance.js';
import { decodeManifest, type Manifest } from './manifest.js';
import type { DatastoreToOpen, OpenDatastores } from './open-datastores.js';
import { PhaseTimes } from './phase-times.js';
import type { ChunkPool } from './pool.js';
import type { RestoreJournal } from './restore-journal.js';
import { type RestoreJob, type RestoreResult, restoreWithFallback, runRestore } from './restore-run.js';

export type { CopyJob } from './copy.js';
export type { RestoreJob } from './restore-run.js';

export interface EngineDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly pool: ChunkPool;
  /** The hypervisor drivers of each host: local, or run by the host's agent over SSH. */
  readonly hypervisors: HypervisorHosts;
  /** Each datastore's driver, opened once and shared (closed on delete and at stop). */
  readonly openDatastores: OpenDatastores;
  readonly loadKeys: (datastoreId: number) => Promise<ChunkKeys>;
  readonly scratchDir: string;
  /** Restores under way and interrupted ones kept for --resume. */
  readonly restoreJournal: RestoreJournal;
  /**
   * Datastores backups are writing to, kept where a crash leaves them: what a backup killed with
   * the daemon wrote (chunks no manifest names) is collected at the next start.
   */
  readonly writeMarks?: WriteMarks;
  /** DATASTORE_TIMEOUT: a datastore call of a backup that takes longer fails the backup (0: none). */
  readonly datastoreTimeoutMs?: number;
  /** Told of each GC and verify (metrics). */
  readonly observer?: BackupObserver;
  /**
   * Datastore locks between daemons sharing the store (PostgreSQL): backups and copies writing
   * to a datastore share its lock, a GC or a removal of failed backups' chunks takes it alone.
   * Undefined when not got (another daemon holds it the other way). Absent: this daemon is alone.
   */
  readonly datastoreLocks?: (
    datastoreId: number,
    mode: 'shared' | 'exclusive',
  ) => Promise<{ release(): Promise<void> } | undefined>;
}

/** A datastore lock held (release() is safe after the connection broke). */
interface HeldLock {
  release(): Promise<void>;
}

/** What a daemon alone on its store holds: its own counts of writers and GCs are the whole truth. */
const ALONE: HeldLock = Object.freeze({ release: async () => undefined });

/** How long a backup waits for a GC that another daemon runs on its datastore. */
const WAIT_FOR_OTHER_GC_MS = 10 * 60 * 1000;

export interface BackupProgressInfo {
  readonly vmId: number;
  readonly startedAt: number;
  bytesDone: number;
  bytesTotal: number;
}

/** One VM backup as the engine takes it: the VM's disks and where they go. */
export interface VmBackupJob {
  readonly vmId: number;
  readonly hostId: number;
  readonly vmState: VmState;
  /** VM_MAD of the VM's host (undefined: the host is gone; `fs` is used). */
  readonly hypervisor: string | undefined;
  readonly disks: readonly DiskSpec[];
  /** Where a kvm VM runs (libvirt domain or QMP socket). */
  readonly location?: VmLocation | undefined;
  readonly fsFreeze: FsFreeze;
  /** FS_FREEZE=AGENT and the agent does not answer: fail, or go on crash-consistent (default). */
  readonly onFreezeFailure?: 'FAIL' | 'CONTINUE' | undefined;
  /** An increment with INCREMENT_MODE=CBT: read only what changed since the previous backup's checkpoint. */
  readonly changeTracking?: boolean | undefined;
  readonly datastore: DatastoreToOpen;
  /** The newest recorded backup of the VM in that datastore: unchanged chunks are not re-encoded. */
  readonly previousManifestPath: string | undefined;
  /** The backup continues the chain whose newest increment is `previousManifestPath` (an INCREMENT). */
  readonly continuesChain?: boolean | undefined;
  /** Every recorded increment in the datastore, for a GC after retention dropped backups. */
  readonly listIncrements: () => Promise<readonly ReferencedIncrement[]>;
  readonly signal?: AbortSignal | undefined;
}

/** What the caller's commit recorded; `dropped` manifests are deleted after it, their chunks by a GC. */
export interface Committed {
  readonly dropped: readonly string[];
}

interface DatastoreSetup {
  readonly id: number;
  readonly driver: DatastoreDriver;
  readonly compression: Compression;
  readonly level: number;
  readonly keys: ChunkKeys | undefined;
  /** How it names its chunks: its identity says. */
  readonly chunkIds: ChunkIdHash;
}

export class BackupRunner {
  readonly running = new Map<number, BackupProgressInfo>();
  /** Backups writing to each datastore, and the GC holding one exclusively. */
  readonly #writers = new Map<number, number>();
  readonly #exclusive = new Map<number, Promise<unknown>>();
  /** Chunks written by failed backups, per datastore, until no backup writes there. */
  readonly #orphans = new Map<number, Set<string>>();

  constructor(private readonly deps: EngineDeps) {}

  /**
   * Counts a writer of the datastore once no GC of this daemon holds it, and shares the
   * datastore's lock with the writers of other daemons (waiting while another daemon's GC holds
   * it). Returns the function that leaves (safe to call twice).
   */
  async #enterWriter(datastoreId: number, signal?: AbortSignal): Promise<() => void> {
    for (let gc = this.#exclusive.get(datastoreId); gc; gc = this.#exclusive.get(datastoreId))
      await gc.catch(() => undefined);
    this.#writers.set(datastoreId, (this.#writers.get(datastoreId) ?? 0) + 1);
    let lock: HeldLock;
    try {
      lock = await this.#sharedLock(datastoreId, signal);
    } catch (err) {
      this.#writers.set(datastoreId, (this.#writers.get(datastoreId) ?? 1) - 1);
      throw err;
    }
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#writers.set(datastoreId, (this.#writers.get(datastoreId) ?? 1) - 1);
      void lock.release();
    };
  }

  async #sharedLock(datastoreId: number, signal: AbortSignal | undefined): Promise<HeldLock> {
    const locks = this.deps.datastoreLocks;
    if (!locks) return ALONE;
    const { clock } = this.deps;
    const deadline = clock.now() + WAIT_FOR_OTHER_GC_MS;
    for (;;) {
      const lock = await locks(datastoreId, 'shared');
      if (lock) return lock;
      signal?.throwIfAborted();
      if (clock.now() > deadline)
        throw new OneError(
          ErrorCode.ACTION,
          `datastore ${datastoreId}: a garbage collection on another onebackupd has held it for ${WAIT_FOR_OTHER_GC_MS / 60_000} minutes; the backup is retried`,
        );
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 1000));
    }
  }

  /** The datastore alone against every daemon's writers; undefined when another daemon's writers hold it. */
  async #exclusiveLock(datastoreId: number): Promise<HeldLock | undefined> {
    const locks = this.deps.datastoreLocks;
    return locks ? locks(datastoreId, 'exclusive') : ALONE;
  }

  /** Garbage collection of one datastore; refused while backups write to it. */
  async gc(
    datastore: DatastoreToOpen,
    listIncrements: () => Promise<readonly ReferencedIncrement[]>,
  ): Promise<GcResult> {
    const datastoreId = datastore.id;
    if ((this.#writers.get(datastoreId) ?? 0) > 0 || this.#exclusive.has(datastoreId)) {
      throw new OneError(
        ErrorCode.ACTION,
        `datastore ${datastoreId}: backups are running on it; run gc when they finish`,
      );
    }
    const run = (async () => {
      const lock = await this.#exclusiveLock(datastoreId);
      if (lock === undefined)
        throw new OneError(
          ErrorCode.ACTION,
          `datastore ${datastoreId}: backups on another onebackupd are writing to it; run gc when they finish`,
        );
      try {
        const { driver, keys } = await this.datastore(datastore);
        // Listed inside the exclusive hold: a backup recorded after this list cannot exist yet.
        return await collectGarbage([...(await listIncrements())], driver, keys);
      } finally {
        await lock.release();
      }
    })();
    this.#exclusive.set(datastoreId, run);
    try {
      const result = await run.catch((err: unknown) => {
        this.deps.observer?.gcFinished({ datastoreId, ok: false });
        throw err;
      });
      const { unknownManifests, ...counts } = result;
      this.deps.log.info('garbage collection done', {
        datastore: datastoreId,
        ...counts,
        unknownManifests: unknownManifests.length,
      });
      if (unknownManifests.length > 0)
        this.deps.log.warn('manifests no image references were kept; onedatastore import adopts them', {
          datastore: datastoreId,
          manifests: unknownManifests,
        });
      this.deps.observer?.gcFinished({ datastoreId, ok: true });
      // Every chunk no manifest names is gone: what interrupted backups left too.
      this.#exclusive.delete(datastoreId);
      this.#settled(datastoreId);
      return result;
    } finally {
      this.#exclusive.delete(datastoreId);
    }
  }

  async verify(
    datastore: DatastoreToOpen,
    increments: readonly ReferencedIncrement[],
    scope: { imageId?: number; incrementId?: number } = {},
    options: VerifyOptions = {},
  ): Promise<VerifyResult> {
    const { driver, keys } = await this.datastore(datastore);
    const result = await verifyBackups([...increments], driver, this.deps.pool, keys, options);
    this.deps.log.info('verify done', {
      datastore: datastore.id,
      ...scope,
      chunks: result.chunksChecked,
      bytes: result.bytesRead,
      problems: result.problems.length,
      ...(options.from ? { resumedAt: options.from } : {}),
      ...(result.stoppedAt ? { stoppedAt: result.stoppedAt } : {}),
    });
    this.deps.observer?.verifyFinished({ datastoreId: datastore.id, ok: result.problems.length === 0 });
    return result;
  }

  /** Copies an increment into another datastore, holding that one against GC meanwhile (copy.ts). */
  async copy(job: CopyJob): Promise<CopyResult> {
    const source = await this.datastore(job.source);
    const target = await this.datastore(job.target);
    const leave = await this.#enterWriter(target.id);
    try {
      return await runCopy(job, source, target, this.deps);
    } finally {
      leave();
    }
  }

  /**
   * Deletes manifests retention or a delete dropped from a datastore (a missing one is fine),
   * then frees their chunks with a GC when no backup writes there.
   */
  async dropManifests(
    ds: DatastoreToOpen,
    paths: readonly string[],
    listIncrements: () => Promise<readonly ReferencedIncrement[]>,
  ): Promise<void> {
    const { driver } = await this.datastore(ds);
    for (const p of paths)
      await driver.deleteManifest(p).catch((err: unknown) => {
        if (!driver.isNotFound(err)) throw err;
      });
    if ((this.#writers.get(ds.id) ?? 0) === 0 && !this.#exclusive.has(ds.id))
      await this.gc(ds, listIncrements);
  }

  /** The datastore's open driver with its compression and keys, once its identity is checked. */
  async datastore(ds: DatastoreToOpen): Promise<DatastoreSetup> {
    const driver = await this.deps.openDatastores.get(ds);
    const chunkIds = await checkIdentity(driver, ds, epochSeconds(this.deps.clock));
    const encrypted = ds.attributes.get('ENCRYPTION') === 'YES';
    return {
      id: ds.id,
      driver,
      compression: (ds.attributes.get('COMPRESSION') ?? 'zstd') as Compression,
      level: Number(ds.attributes.get('COMPRESSION_LEVEL') ?? '1'),
      keys: encrypted ? await this.deps.loadKeys(ds.id) : undefined,
      chunkIds,
    };
  }

  /** The host's driver, its errors passed through its own isPermanent() on their way to the scheduler. */
  #hypervisor(name: string | undefined, hostId: number, host: HostAccess | undefined): HypervisorDriver {
    const hypervisor = this.deps.hypervisors.driver(name ?? 'fs', host);
    if (!hypervisor)
      throw new OneError(ErrorCode.INTERNAL, `host ${hostId}: hypervisor driver ${name} is not available`);
    return classifiedDriver(hypervisor);
  }

  /**
   * Backs up one VM, then `commit`s it (the caller's store transaction) while still holding the
   * datastore against GC; deletes what retention dropped. Throws with a message naming what failed.
   */
  async backupVm<C extends Committed>(
    job: VmBackupJob,
    commit: (manifest: Manifest, manifestPath: string) => Promise<C>,
  ): Promise<{ manifest: Manifest; committed: C }> {
    const { vmId } = job;
    if (this.running.has(vmId))
      throw new OneError(ErrorCode.ACTION, `VM ${vmId}: a backup of this VM is already running`);
    const { clock } = this.deps;
    const phases = new PhaseTimes(() => clock.now());
    const began = clock.now();
    const hypervisor = this.#hypervisor(job.hypervisor, job.hostId, job.location?.host);
    const disks = [...job.disks];
    const ds = await phases.time('datastore', () => this.datastore(job.datastore));
    const datastoreId = ds.id;
    const leave = await this.#enterWriter(datastoreId, job.signal);
    this.deps.writeMarks?.mark(datastoreId);
    const progress: BackupProgressInfo = {
      vmId,
      startedAt: epochSeconds(clock),
      bytesDone: 0,
      bytesTotal: disks.reduce((s, d) => s + d.virtualSize, 0),
    };
    this.running.set(vmId, progress);
    /** Chunks this backup wrote: removed if it fails and no manifest names them. */
    const written = new Set<string>();
    let recorded = false;
    try {
      const previous = await phases.time('previousManifest', () =>
        this.#previousManifest(vmId, ds, job.previousManifestPath),
      );
      const changesSince = job.changeTracking ? checkpointOf(previous) : undefined;
      const pit = await phases.time('prepare', () =>
        hypervisor.prepare(
          { id: vmId, state: job.vmState, disks, location: job.location },
          {
            freeze: job.fsFreeze,
            scratchDir: this.deps.scratchDir,
            changesSince,
            ...(job.onFreezeFailure ? { onFreezeFailure: job.onFreezeFailure } : {}),
            ...(job.signal ? { signal: job.signal } : {}),
          },
        ),
      );
      phases.addAll('prepare.', pit.timings);
      let manifest: Manifest | undefined;
      const path = `${vmId}/${epochSeconds(clock)}-${randomBytes(4).toString('hex')}.json`;
      try {
        await phases.time('spaceCheck', async () => {
          const extents = await Promise.all(
            pit.disks.map(async (d) => ({
              virtualSize: d.virtualSize,
              extents: await hypervisor.extents(pit, d.diskId),
            })),
          );
          await checkBackupSpace(ds.driver, job.datastore, vmId, allocatedChunkBytes(extents), previous);
        });
        const backupStarted = clock.now();
        manifest = await runBackup({
          pit,
          hypervisor,
          datastore: trackingDatastore(
            boundedDatastore(ds.driver, datastoreId, this.deps.datastoreTimeoutMs ?? 0, clock),
            written,
          ),
          pool: this.deps.pool,
          compression: ds.compression,
          compressionLevel: ds.level,
          keys: ds.keys,
          chunkIds: ds.chunkIds,
          manifestPath: path,
          // An increment names its parent and the chain's first manifest (import rebuilds chains).
          parent: job.continuesChain ? (job.previousManifestPath ?? null) : null,
          chain: (job.continuesChain && (previous?.chain ?? job.previousManifestPath)) || path,
          previous,
          changesSince,
          changeTracking: job.changeTracking,
          now: () => clock.now(),
          signal: job.signal,
          onProgress: (p) => {
            progress.bytesDone = p.bytesDone;
          },
          phases,
        });
        phases.add('backup', clock.now() - backupStarted);
      } finally {
        await phases.time('release', () => hypervisor.release(pit, { succeeded: manifest !== undefined }));
      }
      const committed = await phases.time('commit', () => commit(manifest, path));
      recorded = true;
      for (const p of committed.dropped) {
        await ds.driver
          .deleteManifest(p)
          .catch((err: unknown) =>
            this.deps.log.warn('cannot delete dropped manifest', { path: p, error: err }),
          );
      }
      leave();
      this.deps.log.debug('backup phases (ms)', {
        vm: vmId,
        total: clock.now() - began,
        ...phases.fields(),
      });
      if (
        committed.dropped.length > 0 &&
        (this.#writers.get(datastoreId) ?? 0) === 0 &&
        !this.#exclusive.has(datastoreId)
      ) {
        // Retention dropped backups: free their chunks now that no backup writes here.
        await this.gc(job.datastore, job.listIncrements).catch((err: unknown) =>
          this.deps.log.warn('garbage collection after retention failed', {
            datastore: datastoreId,
            error: err,
          }),
        );
      }
      return { manifest, committed };
    } finally {
      // Nothing is read or written for it any more (what follows is cleanup): the logs' timeline.
      if (!recorded)
        this.deps.log.info('backup ended without a record', { vm: vmId, datastore: datastoreId });
      if (!recorded && written.size > 0) {
        const pending = this.#orphans.get(datastoreId) ?? new Set<string>();
        for (const id of written) pending.add(id);
        this.#orphans.set(datastoreId, pending);
      }
      leave();
      this.running.delete(vmId);
      await this.#removeOrphans(job.datastore, ds.driver, ds.keys);
      this.#settled(datastoreId);
    }
  }

  /** No backup writes to the datastore and nothing a failed one wrote is left: unmarked. */
  #settled(datastoreId: number): void {
    if (
      (this.#writers.get(datastoreId) ?? 0) === 0 &&
      !this.#orphans.has(datastoreId) &&
      !this.#exclusive.has(datastoreId)
    )
      this.deps.writeMarks?.clear(datastoreId);
  }

  /**
   * Chunks failed backups wrote, deleted once no backup writes to the datastore (under its
   * exclusive hold, as a GC) when no manifest names them (failed-backup.ts).
   */
  async #removeOrphans(
    datastore: DatastoreToOpen,
    driver: DatastoreDriver,
    keys: ChunkKeys | undefined,
  ): Promise<void> {
    const id = datastore.id;
    const pending = this.#orphans.get(id);
    if (!pending || (this.#writers.get(id) ?? 0) > 0 || this.#exclusive.has(id)) return;
    this.#orphans.delete(id);
    const run = (async () => {
      const lock = await this.#exclusiveLock(id);
      if (lock === undefined)
        throw new OneError(ErrorCode.ACTION, 'backups on another onebackupd are writing to the datastore');
      try {
        return await removeOrphanChunks(driver, pending, keys);
      } finally {
        await lock.release();
      }
    })();
    this.#exclusive.set(id, run);
    try {
      const removed = await run;
      this.deps.log.info('removed the chunks of failed backups', { datastore: id, chunks: removed });
    } catch (err) {
      this.deps.log.warn('cannot remove the chunks of failed backups; onedatastore gc will', {
        datastore: id,
        error: err instanceof Error ? err.message : String(err),
      });
    } finally {
      this.#exclusive.delete(id);
    }
  }

  /** The newest recorded backup of a VM in a datastore, to skip re-compressing unchanged chunks. */
  async #previousManifest(
    vmId: number,
    ds: DatastoreSetup,
    path: string | undefined,
  ): Promise<Manifest | undefined> {
    if (path === undefined) return undefined;
    try {
      return decodeManifest(await ds.driver.getManifest(path), path, ds.keys);
    } catch (err) {
      this.deps.log.warn('previous manifest unreadable; backing up every chunk', { vm: vmId, error: err });
      return undefined;
    }
  }

  /**
   * Restores disks of an image increment after a pre-flight (chunks present, space free); returns
   * the files written, by disk ID. With a `fallback` datastore holding the increment's copy, a
   * restore that fails on its own datastore is done again from the copy (restore-run.ts).
   */
  restore(
    job: RestoreJob,
    fallback?: DatastoreToOpen,
  ): Promise<RestoreResult & { readonly fromCopy?: string }> {
    const { restoreJournal, log } = this.deps;
    return restoreWithFallback(job, fallback, (j) => this.#restoreFrom(j), restoreJournal, log);
  }

  async #restoreFrom(job: RestoreJob): Promise<RestoreResult> {
    const ds = await this.datastore(job.datastore);
    const manifest = decodeManifest(
      await ds.driver.getManifest(job.manifestPath),
      `${ds.id}:${job.manifestPath}`,
      ds.keys,
    );
    // In place: on the VM's host; otherwise on this machine, with the same driver.
    const hypervisor = classifiedDriver(
      this.deps.hypervisors.driver(job.hypervisor ?? 'fs', job.targetFor ? job.host : undefined) ??
        (this.deps.hypervisors.driver('fs', undefined) as HypervisorDriver),
    );
    return runRestore(job, manifest, {
      driver: ds.driver,
      keys: ds.keys,
      hypervisor,
      pool: this.deps.pool,
      journal: this.deps.restoreJournal,
      nowS: epochSeconds(this.deps.clock),
    });
  }
}
