/**
 * Runs VM backups and restores against the store: reads what to back up, takes the point in
 * time, runs the engine, and records the result in one transaction (image, increment, KEEP_LAST,
 * the VM's chain pointers). Manifests dropped by KEEP_LAST are deleted after that commit; their
 * chunks go at the next garbage collection.
 * Crash story: until the record transaction commits, a backup does not exist; a manifest written
 * just before a crash is unreferenced and removed by GC; temp files go at the next start.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { DiskSpec, HypervisorDriver } from '../../drivers/hypervisor/types.js';
import { type Clock, epochSeconds } from '../clock.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BackupObserver } from '../metrics/observer.js';
import type { BackupMode, Compression, DiskFormat } from '../model.js';
import { decodeAttributes, getSingle } from '../store/attributes.js';
import {
  datastoreRow,
  type FinishedBackup,
  newestManifestPath,
  readBackupSource,
  readRestoreSource,
  recordBackup,
} from '../store/backups.js';
import type { Store, Tx } from '../store/db.js';
import { incrementsOnDatastore } from '../store/images.js';
import type { DatastoreTable } from '../store/schema.js';
import { runBackup } from './backup.js';
import type { ChunkKeys } from './chunk-codec.js';
import { backupImageName } from './image-names.js';
import { collectGarbage, type GcResult, type VerifyResult, verifyBackups } from './maintenance.js';
import { decodeManifest, type Manifest } from './manifest.js';
import type { OpenDatastores } from './open-datastores.js';
import type { ChunkPool } from './pool.js';
import { restoreDisk } from './restore.js';

export interface EngineDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly pool: ChunkPool;
  readonly hypervisors: ReadonlyMap<string, HypervisorDriver>;
  /** Each datastore's driver, opened once and shared (closed on delete and at stop). */
  readonly openDatastores: OpenDatastores;
  readonly loadKeys: (datastoreId: number) => Promise<ChunkKeys>;
  readonly scratchDir: string;
  readonly timeZone: string;
  /** Told of each recorded backup and each GC and verify (metrics). */
  readonly observer?: BackupObserver;
}

export interface BackupOptions {
  readonly reset: boolean;
  /** From a backup job: its MODE/KEEP_LAST override the VM's own BACKUP_CONFIG. */
  readonly mode?: BackupMode | undefined;
  readonly keepLast?: number | undefined;
  readonly jobId?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Store changes that commit in the same transaction as the backup's record (a job's VM set). */
  readonly alsoRecord?: AlsoRecord | undefined;
}

/** Told the backup's final byte counts, inside the record transaction. */
export type AlsoRecord = (trx: Tx, bytes: { bytesDone: number; bytesTotal: number }) => Promise<void>;

export interface BackupProgressInfo {
  readonly vmId: number;
  readonly startedAt: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface BackupResult {
  readonly imageId: number;
  readonly incrementId: number;
  readonly manifest: Manifest;
}

interface DatastoreSetup {
  readonly row: DatastoreTable;
  readonly driver: DatastoreDriver;
  readonly compression: Compression;
  readonly level: number;
  readonly keys: ChunkKeys | undefined;
}

export class BackupRunner {
  readonly running = new Map<number, BackupProgressInfo>();
  /** Backups writing to each datastore, and the GC holding one exclusively. */
  readonly #writers = new Map<number, number>();
  readonly #exclusive = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: EngineDeps) {}

  private async enterWriter(datastoreId: number): Promise<void> {
    for (let gc = this.#exclusive.get(datastoreId); gc; gc = this.#exclusive.get(datastoreId))
      await gc.catch(() => undefined);
    this.#writers.set(datastoreId, (this.#writers.get(datastoreId) ?? 0) + 1);
  }

  private leaveWriter(datastoreId: number): void {
    this.#writers.set(datastoreId, (this.#writers.get(datastoreId) ?? 1) - 1);
  }

  /** Garbage collection of one datastore; refused while backups write to it. */
  async gc(datastoreId: number): Promise<GcResult> {
    if ((this.#writers.get(datastoreId) ?? 0) > 0 || this.#exclusive.has(datastoreId)) {
      throw new OneError(
        ErrorCode.ACTION,
        `datastore ${datastoreId}: backups are running on it; run gc when they finish`,
      );
    }
    const run = (async () => {
      const { driver } = await this.datastoreDriver(datastoreId);
      return collectGarbage(await incrementsOnDatastore(this.deps.store.db, datastoreId), driver);
    })();
    this.#exclusive.set(datastoreId, run);
    try {
      const result = await run.catch((err: unknown) => {
        this.deps.observer?.gcFinished({ datastoreId, ok: false });
        throw err;
      });
      this.deps.log.info('garbage collection done', { datastore: datastoreId, ...result });
      this.deps.observer?.gcFinished({ datastoreId, ok: true });
      return result;
    } finally {
      this.#exclusive.delete(datastoreId);
    }
  }

  async verify(
    datastoreId: number,
    scope: { imageId?: number; incrementId?: number } = {},
  ): Promise<VerifyResult> {
    const { driver, keys } = await this.datastoreDriver(datastoreId);
    const incs = await incrementsOnDatastore(this.deps.store.db, datastoreId, scope);
    const result = await verifyBackups(incs, driver, this.deps.pool, keys);
    this.deps.log.info('verify done', {
      datastore: datastoreId,
      ...scope,
      chunks: result.chunksChecked,
      problems: result.problems.length,
    });
    this.deps.observer?.verifyFinished({ datastoreId, ok: result.problems.length === 0 });
    return result;
  }

  private async openDatastore(row: DatastoreTable): Promise<DatastoreSetup> {
    const t = decodeAttributes(row.template);
    const attributes = new Map<string, string>();
    for (const a of t) if (a.kind === 'single' && !attributes.has(a.name)) attributes.set(a.name, a.value);
    const driver = await this.deps.openDatastores.get({ id: row.id, dsMad: row.ds_mad, attributes });
    const encrypted = getSingle(t, 'ENCRYPTION') === 'YES';
    return {
      row,
      driver,
      compression: (getSingle(t, 'COMPRESSION') ?? 'zstd') as Compression,
      level: Number(getSingle(t, 'COMPRESSION_LEVEL') ?? '1'),
      keys: encrypted ? await this.deps.loadKeys(row.id) : undefined,
    };
  }

  async datastoreDriver(datastoreId: number): Promise<DatastoreSetup> {
    return this.openDatastore(await datastoreRow(this.deps.store.db, datastoreId));
  }

  /** Backs up one VM into a datastore and records it. Throws with a message naming what failed. */
  async backupVm(vmId: number, datastoreId: number, options: BackupOptions): Promise<BackupResult> {
    if (this.running.has(vmId))
      throw new OneError(ErrorCode.ACTION, `VM ${vmId}: a backup of this VM is already running`);
    const { store, clock } = this.deps;
    const src = await readBackupSource(store.db, vmId, datastoreId);
    const hypervisor = this.deps.hypervisors.get(src.hypervisor ?? 'fs');
    if (!hypervisor)
      throw new OneError(
        ErrorCode.INTERNAL,
        `host ${src.vm.hostId}: hypervisor driver ${src.hypervisor} is not available`,
      );
    const disks: DiskSpec[] = src.disks.map((d) => ({ ...d }));
    const ds = await this.openDatastore(src.datastore);
    await this.enterWriter(datastoreId);
    const progress: BackupProgressInfo = {
      vmId,
      startedAt: epochSeconds(clock),
      bytesDone: 0,
      bytesTotal: disks.reduce((s, d) => s + d.virtualSize, 0),
    };
    this.running.set(vmId, progress);
    let left = false;
    try {
      const pit = await hypervisor.prepare(
        { id: vmId, state: src.vm.state, disks },
        {
          freeze: src.backupConfig.fsFreeze ?? 'NONE',
          scratchDir: this.deps.scratchDir,
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
      const previous = await this.latestManifest(vmId, ds);
      let manifest: Manifest;
      const path = `${vmId}/${epochSeconds(clock)}-${randomBytes(4).toString('hex')}.json`;
      try {
        manifest = await runBackup({
          pit,
          hypervisor,
          datastore: ds.driver,
          pool: this.deps.pool,
          compression: ds.compression,
          compressionLevel: ds.level,
          keys: ds.keys,
          manifestPath: path,
          parent: null,
          previous,
          now: () => clock.now(),
          signal: options.signal,
          onProgress: (p) => {
            progress.bytesDone = p.bytesDone;
          },
        });
      } finally {
        await hypervisor.release(pit);
      }
      const nowS = epochSeconds(clock);
      const finished: FinishedBackup = {
        vmId,
        datastoreId,
        source: path,
        sizeBytes: manifest.disks.reduce((s, d) => s + d.virtualSize, 0),
        format: manifest.disks.every((d) => d.format === 'raw') ? 'raw' : 'qcow2',
        stats: JSON.stringify({
          ...manifest.stats,
          compression: manifest.compression,
          compressionLevel: manifest.compressionLevel,
          encrypted: manifest.encrypted,
          digests: Object.fromEntries(manifest.disks.map((d) => [d.diskId, d.digest])),
        }),
        imageName: backupImageName(vmId, nowS, this.deps.timeZone),
        nowS,
        reset: options.reset,
        mode: options.mode,
        keepLast: options.keepLast,
        jobId: options.jobId,
      };
      const bytesTotal = Math.max(manifest.stats.bytesRead, progress.bytesTotal);
      const { imageId, incrementId, dropped } = await store.tx((trx) =>
        recordBackup(
          trx,
          finished,
          options.alsoRecord
            ? (t) =>
                (options.alsoRecord as AlsoRecord)(t, { bytesDone: manifest.stats.bytesRead, bytesTotal })
            : undefined,
        ),
      );
      for (const p of dropped) {
        await ds.driver
          .deleteManifest(p)
          .catch((err: unknown) =>
            this.deps.log.warn('cannot delete dropped manifest', { path: p, error: err }),
          );
      }
      this.leaveWriter(datastoreId);
      left = true;
      if (
        dropped.length > 0 &&
        (this.#writers.get(datastoreId) ?? 0) === 0 &&
        !this.#exclusive.has(datastoreId)
      ) {
        // Retention dropped backups: free their chunks now that no backup writes here.
        await this.gc(datastoreId).catch((err: unknown) =>
          this.deps.log.warn('garbage collection after retention failed', {
            datastore: datastoreId,
            error: err,
          }),
        );
      }
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
    } finally {
      if (!left) this.leaveWriter(datastoreId);
      this.running.delete(vmId);
    }
  }

  /** The newest recorded backup of a VM in a datastore, to skip re-compressing unchanged chunks. */
  private async latestManifest(vmId: number, ds: DatastoreSetup): Promise<Manifest | undefined> {
    const source = await newestManifestPath(this.deps.store.db, vmId, ds.row.id);
    if (source === undefined) return undefined;
    try {
      return decodeManifest(await ds.driver.getManifest(source), source);
    } catch (err) {
      this.deps.log.warn('previous manifest unreadable; backing up every chunk', { vm: vmId, error: err });
      return undefined;
    }
  }

  /** Restores disks of an image increment into `dir`; returns the files written, by disk ID. */
  async restoreImage(
    imageId: number,
    incrementId: number | undefined,
    diskId: number | undefined,
    dir: string,
    targetFor: (diskId: number, format: DiskFormat) => string = (d, f) => join(dir, `disk.${d}.${f}`),
  ): Promise<{ manifest: Manifest; files: Map<number, string> }> {
    const {
      image,
      increment: inc,
      hypervisor: vmMad,
    } = await readRestoreSource(this.deps.store.db, imageId, incrementId);
    const ds = await this.datastoreDriver(image.datastore_id);
    const manifest = decodeManifest(
      await ds.driver.getManifest(inc.source),
      `${image.datastore_id}:${inc.source}`,
    );
    const disks = diskId === undefined ? manifest.disks : manifest.disks.filter((d) => d.diskId === diskId);
    if (disks.length === 0)
      throw new OneError(ErrorCode.ACTION, `Cannot restore disk ${diskId}, it is not part of the backup`);
    const hypervisor =
      this.deps.hypervisors.get(vmMad ?? 'fs') ?? (this.deps.hypervisors.get('fs') as HypervisorDriver);
    const files = new Map<number, string>();
    for (const disk of disks) {
      const target = targetFor(disk.diskId, disk.format);
      await restoreDisk({
        manifest,
        disk,
        target,
        hypervisor,
        datastore: ds.driver,
        pool: this.deps.pool,
        keys: ds.keys,
      });
      files.set(disk.diskId, target);
    }
    return { manifest, files };
  }
}
