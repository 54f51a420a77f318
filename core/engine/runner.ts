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
import { type BackupMode, type Compression, type DiskFormat, isBackupMode } from '../model.js';
import { newObjectOwnership } from '../services/objects.js';
import { decodeAttributes, getSingle } from '../store/attributes.js';
import { nextId, type Store, type Tx } from '../store/db.js';
import type { DatastoreTable, VmTable } from '../store/schema.js';
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
}

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

const MB = 1024 * 1024;

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
      return collectGarbage(this.deps.store, datastoreId, driver);
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
    const result = await verifyBackups(this.deps.store, datastoreId, driver, this.deps.pool, keys, scope);
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
    const row = await this.deps.store.db
      .selectFrom('datastores')
      .selectAll()
      .where('id', '=', datastoreId)
      .executeTakeFirst();
    if (!row) throw new OneError(ErrorCode.NO_EXISTS, `Error getting datastore [${datastoreId}].`);
    return this.openDatastore(row);
  }

  /** Backs up one VM into a datastore and records it. Throws with a message naming what failed. */
  async backupVm(vmId: number, datastoreId: number, options: BackupOptions): Promise<BackupResult> {
    if (this.running.has(vmId))
      throw new OneError(ErrorCode.ACTION, `VM ${vmId}: a backup of this VM is already running`);
    const { store, clock } = this.deps;
    const vm = await store.db.selectFrom('vms').selectAll().where('id', '=', vmId).executeTakeFirst();
    if (!vm) throw new OneError(ErrorCode.NO_EXISTS, `VM ${vmId} no longer exists`);
    const dsRow = await store.db
      .selectFrom('datastores')
      .selectAll()
      .where('id', '=', datastoreId)
      .executeTakeFirst();
    if (!dsRow) throw new OneError(ErrorCode.NO_EXISTS, `datastore ${datastoreId} does not exist`);
    if (dsRow.type !== 'BACKUP_DS')
      throw new OneError(ErrorCode.ACTION, 'Datastore needs to be of type BACKUP');
    const host = await store.db
      .selectFrom('hosts')
      .selectAll()
      .where('id', '=', vm.host_id)
      .executeTakeFirst();
    const hypervisor = this.deps.hypervisors.get(host?.vm_mad ?? 'fs');
    if (!hypervisor)
      throw new OneError(
        ErrorCode.INTERNAL,
        `host ${vm.host_id}: hypervisor driver ${host?.vm_mad} is not available`,
      );
    const diskRows = await store.db
      .selectFrom('vm_disks')
      .selectAll()
      .where('vm_id', '=', vmId)
      .orderBy('disk_id')
      .execute();
    const disks: DiskSpec[] = diskRows.map((d) => ({
      diskId: d.disk_id,
      source: d.source,
      format: d.format as DiskFormat,
      virtualSize: d.size_bytes,
    }));
    const cfg = JSON.parse(vm.backup_config) as Record<string, string>;
    const fsFreeze = (cfg['FS_FREEZE'] ?? 'NONE') as 'NONE';
    const ds = await this.openDatastore(dsRow);
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
        { id: vmId, state: vm.state === 'POWEROFF' ? 'POWEROFF' : 'RUNNING', disks },
        {
          freeze: fsFreeze,
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
      const { imageId, incrementId, dropped } = await store.tx((trx) =>
        this.record(trx, vm, dsRow, path, manifest, options),
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
    const inc = await this.deps.store.db
      .selectFrom('image_increments')
      .innerJoin('images', 'images.id', 'image_increments.image_id')
      .select('image_increments.source')
      .where('images.vm_id', '=', vmId)
      .where('images.datastore_id', '=', ds.row.id)
      .orderBy('image_increments.date', 'desc')
      .orderBy('image_increments.image_id', 'desc')
      .orderBy('image_increments.inc_id', 'desc')
      .executeTakeFirst();
    if (!inc) return undefined;
    try {
      return decodeManifest(await ds.driver.getManifest(inc.source), inc.source);
    } catch (err) {
      this.deps.log.warn('previous manifest unreadable; backing up every chunk', { vm: vmId, error: err });
      return undefined;
    }
  }

  /** One transaction: image or increment, KEEP_LAST, the VM's chain pointers. */
  private async record(
    trx: Tx,
    vm: VmTable,
    ds: DatastoreTable,
    source: string,
    manifest: Manifest,
    options: BackupOptions,
  ): Promise<{ imageId: number; incrementId: number; dropped: string[] }> {
    const now = epochSeconds(this.deps.clock);
    const fresh = await trx
      .selectFrom('vms')
      .select('backup_config')
      .where('id', '=', vm.id)
      .executeTakeFirst();
    if (!fresh) throw new OneError(ErrorCode.NO_EXISTS, `VM ${vm.id} no longer exists`);
    const cfg = JSON.parse(fresh.backup_config) as Record<string, string>;
    const modeText = (options.mode ?? cfg['MODE'] ?? 'FULL').toUpperCase();
    const mode: BackupMode = isBackupMode(modeText) ? modeText : 'FULL';
    const keepLast = options.keepLast ?? Number(cfg['KEEP_LAST'] ?? '0');
    const sizeMb = Math.ceil(manifest.disks.reduce((s, d) => s + d.virtualSize, 0) / MB);
    const stats = JSON.stringify({
      ...manifest.stats,
      compression: manifest.compression,
      compressionLevel: manifest.compressionLevel,
      encrypted: manifest.encrypted,
      digests: Object.fromEntries(manifest.disks.map((d) => [d.diskId, d.digest])),
    });
    let imageId = Number(cfg['INCREMENTAL_BACKUP_ID'] ?? '-1');
    let chain = mode === 'INCREMENT' && !options.reset && imageId >= 0;
    if (chain) {
      const img = await trx
        .selectFrom('images')
        .select(['id', 'datastore_id'])
        .where('id', '=', imageId)
        .executeTakeFirst();
      chain = img !== undefined && img.datastore_id === ds.id;
    }
    let incrementId = 0;
    if (chain) {
      const last = await trx
        .selectFrom('image_increments')
        .select('inc_id')
        .where('image_id', '=', imageId)
        .orderBy('inc_id', 'desc')
        .executeTakeFirst();
      incrementId = (last?.inc_id ?? -1) + 1;
      await trx
        .insertInto('image_increments')
        .values({
          image_id: imageId,
          inc_id: incrementId,
          type: 'INCREMENT',
          parent_id: incrementId - 1,
          source,
          size_mb: sizeMb,
          date: now,
          stats,
        })
        .execute();
      await trx.updateTable('images').set({ size_mb: sizeMb }).where('id', '=', imageId).execute();
    } else {
      imageId = await nextId(trx, 'images');
      await trx
        .insertInto('images')
        .values({
          id: imageId,
          name: backupImageName(vm.id, now, this.deps.timeZone),
          ...newObjectOwnership(vm),
          template: '[]',
          type: 'BACKUP',
          datastore_id: ds.id,
          vm_id: vm.id,
          backup_job_id: options.jobId ?? -1,
          source: `${vm.id}/`,
          size_mb: sizeMb,
          format: manifest.disks.every((d) => d.format === 'raw') ? 'raw' : 'qcow2',
          regtime: now,
          state: 1,
        })
        .execute();
      await trx
        .insertInto('image_increments')
        .values({
          image_id: imageId,
          inc_id: 0,
          type: 'FULL',
          parent_id: -1,
          source,
          size_mb: sizeMb,
          date: now,
          stats,
        })
        .execute();
    }
    const dropped: string[] = [];
    if (keepLast > 0) {
      if (mode === 'INCREMENT') {
        const incs = await trx
          .selectFrom('image_increments')
          .selectAll()
          .where('image_id', '=', imageId)
          .orderBy('inc_id')
          .execute();
        const drop = incs.slice(0, Math.max(0, incs.length - keepLast));
        for (const inc of drop) {
          dropped.push(inc.source);
          await trx
            .deleteFrom('image_increments')
            .where('image_id', '=', imageId)
            .where('inc_id', '=', inc.inc_id)
            .execute();
        }
        const oldest = incs[drop.length];
        if (drop.length > 0 && oldest) {
          await trx
            .updateTable('image_increments')
            .set({ type: 'FULL', parent_id: -1 })
            .where('image_id', '=', imageId)
            .where('inc_id', '=', oldest.inc_id)
            .execute();
        }
      } else {
        const images = await trx
          .selectFrom('images')
          .select('id')
          .where('vm_id', '=', vm.id)
          .where('type', '=', 'BACKUP')
          .orderBy('id')
          .execute();
        for (const img of images.slice(0, Math.max(0, images.length - keepLast))) {
          const incs = await trx
            .selectFrom('image_increments')
            .select('source')
            .where('image_id', '=', img.id)
            .execute();
          dropped.push(...incs.map((i) => i.source));
          await trx.deleteFrom('image_increments').where('image_id', '=', img.id).execute();
          await trx.deleteFrom('images').where('id', '=', img.id).execute();
        }
      }
    }
    const next = {
      ...cfg,
      LAST_DATASTORE_ID: String(ds.id),
      LAST_INCREMENT_ID: mode === 'INCREMENT' ? String(incrementId) : '-1',
      INCREMENTAL_BACKUP_ID: mode === 'INCREMENT' ? String(imageId) : '-1',
      LAST_BACKUP_TIME: String(now),
    };
    await trx
      .updateTable('vms')
      .set({ backup_config: JSON.stringify(next) })
      .where('id', '=', vm.id)
      .execute();
    return { imageId, incrementId, dropped };
  }

  /** Restores disks of an image increment into `dir`; returns the files written, by disk ID. */
  async restoreImage(
    imageId: number,
    incrementId: number | undefined,
    diskId: number | undefined,
    dir: string,
    targetFor: (diskId: number, format: DiskFormat) => string = (d, f) => join(dir, `disk.${d}.${f}`),
  ): Promise<{ manifest: Manifest; files: Map<number, string> }> {
    const { store } = this.deps;
    const image = await store.db
      .selectFrom('images')
      .selectAll()
      .where('id', '=', imageId)
      .executeTakeFirst();
    if (!image) throw new OneError(ErrorCode.NO_EXISTS, `Error getting image [${imageId}].`);
    let q = store.db.selectFrom('image_increments').selectAll().where('image_id', '=', imageId);
    q = incrementId === undefined ? q.orderBy('inc_id', 'desc') : q.where('inc_id', '=', incrementId);
    const inc = await q.executeTakeFirst();
    if (!inc)
      throw new OneError(
        ErrorCode.ACTION,
        `image ${imageId} has no increment ${incrementId ?? '(none)'}; see oneimage show ${imageId}`,
      );
    const ds = await this.datastoreDriver(image.datastore_id);
    const manifest = decodeManifest(
      await ds.driver.getManifest(inc.source),
      `${image.datastore_id}:${inc.source}`,
    );
    const disks = diskId === undefined ? manifest.disks : manifest.disks.filter((d) => d.diskId === diskId);
    if (disks.length === 0)
      throw new OneError(ErrorCode.ACTION, `Cannot restore disk ${diskId}, it is not part of the backup`);
    const vm = await store.db
      .selectFrom('vms')
      .select('host_id')
      .where('id', '=', image.vm_id)
      .executeTakeFirst();
    const host = vm
      ? await store.db.selectFrom('hosts').select('vm_mad').where('id', '=', vm.host_id).executeTakeFirst()
      : undefined;
    const hypervisor =
      this.deps.hypervisors.get(host?.vm_mad ?? 'fs') ??
      (this.deps.hypervisors.get('fs') as HypervisorDriver);
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
