/**
 * One restore of an image increment, as the runner takes it: the pre-flight (every chunk the
 * restore needs is in the datastore; enough free space where the disks go), the journal entry
 * (restore-journal.ts) written before any disk, then each disk through restore.ts. A restore into
 * new files never replaces a file (the hypervisor driver refuses) and may be resumed
 * (`resume`: the newest interrupted restore of the same backup and disk by the same user is
 * continued in its own directory, skipping the chunks it had made durable). An in-place restore
 * replaces the VM's files and keeps nothing when it fails.
 */
import { dirname, join } from 'node:path';
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { DiskWriter, HypervisorDriver } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DiskFormat } from '../model.js';
import type { ProgressCounter } from '../progress.js';
import type { HostAccess } from '../vm-discovery.js';
import type { Manifest, ManifestDisk } from './manifest.js';
import type { DatastoreToOpen } from './open-datastores.js';
import type { ChunkPool } from './pool.js';
import { allocatedBytes, restoreDisk } from './restore.js';
import { type JournalEntry, RestoreJournal } from './restore-journal.js';

export interface RestoreJob {
  readonly datastore: DatastoreToOpen;
  /** The increment's manifest path in the datastore. */
  readonly manifestPath: string;
  /** VM_MAD of the host of the image's VM, if any. */
  readonly hypervisor: string | undefined;
  /** How the daemon reaches that host: an in-place restore writes there. */
  readonly host?: HostAccess | undefined;
  readonly imageId: number;
  readonly diskId: number | undefined;
  /** A new directory for the disks (unused when resuming: the interrupted restore's is). */
  readonly dir: string;
  /** In-place restores: the VM's own files, replaced. */
  readonly targetFor?: ((diskId: number, format: DiskFormat) => string) | undefined;
  /** Continue the interrupted restore of this backup instead of starting a new one. */
  readonly resume: boolean;
  readonly who: { readonly uid: number; readonly isAdmin: boolean };
  /** Told the allocated bytes to write, then each one written. */
  readonly progress?: ProgressCounter | undefined;
}

export interface RestoreResult {
  readonly manifest: Manifest;
  readonly files: Map<number, string>;
  /** Chunks a resumed restore found already written. */
  readonly chunksSkipped: number;
  /** How the disks were made durable (the hypervisor driver's words), for the output. */
  readonly durability: string;
}

interface Setup {
  readonly driver: DatastoreDriver;
  readonly keys: ChunkKeys | undefined;
  readonly hypervisor: HypervisorDriver;
  readonly pool: ChunkPool;
  readonly journal: RestoreJournal;
  readonly nowS: number;
}

const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** Every chunk the disks need is in the datastore, or an error naming them and the datastore. */
async function checkChunks(
  job: RestoreJob,
  driver: DatastoreDriver,
  disks: readonly ManifestDisk[],
): Promise<void> {
  const needed = new Map<string, number>();
  for (const d of disks)
    for (const id of d.chunks) if (id !== null && !needed.has(id)) needed.set(id, d.diskId);
  const missing: string[] = [];
  const queue = new PQueue({ concurrency: 32 });
  let failure: unknown;
  for (const [id, diskId] of needed)
    queue
      .add(async () => {
        if (!(await driver.hasChunk(id))) missing.push(`${id} (disk ${diskId})`);
      })
      .catch((err: unknown) => {
        failure ??= err;
      });
  await queue.onIdle();
  if (failure) throw failure;
  if (missing.length === 0) return;
  const where = job.datastore.attributes.get('BASE_PATH');
  throw new OneError(
    ErrorCode.ACTION,
    `image ${job.imageId} cannot be restored: ${missing.length} of its ${needed.size} chunks are missing from datastore ${job.datastore.id}${where ? ` (${where})` : ''}: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}; nothing was written (run onedatastore verify ${job.datastore.id}; the next backup of the VM writes them again)`,
  );
}

/** Enough free space where each disk goes for what is left to write, or an error saying where. */
async function checkSpace(
  hypervisor: HypervisorDriver,
  manifest: Manifest,
  opened: readonly { disk: ManifestDisk; target: string; writer: DiskWriter }[],
): Promise<void> {
  const byDir = new Map<string, { need: number; target: string }>();
  for (const o of opened) {
    const dir = dirname(o.target);
    const at = byDir.get(dir) ?? { need: 0, target: o.target };
    at.need += allocatedBytes(manifest, o.disk, o.writer.done);
    byDir.set(dir, at);
  }
  for (const [dir, { need, target }] of byDir) {
    const free = await hypervisor.freeBytes(target);
    if (free < need)
      throw new OneError(
        ErrorCode.ACTION,
        `not enough space in ${dir}: the restore needs ${mib(need)} (the allocated bytes of the backup) and ${mib(free)} are free; free space there or restore elsewhere (--to)`,
      );
  }
}

export async function runRestore(job: RestoreJob, manifest: Manifest, setup: Setup): Promise<RestoreResult> {
  const { diskId, manifestPath } = job;
  const { journal, hypervisor } = setup;
  const disks = diskId === undefined ? manifest.disks : manifest.disks.filter((d) => d.diskId === diskId);
  if (disks.length === 0)
    throw new OneError(ErrorCode.ACTION, `Cannot restore disk ${diskId}, it is not part of the backup`);
  const inPlace = job.targetFor !== undefined;
  let entry: JournalEntry | undefined;
  if (job.resume) {
    entry = await journal.findResumable(
      { imageId: job.imageId, manifestPath, diskId: diskId ?? null },
      job.who,
    );
    if (!entry)
      throw new OneError(
        ErrorCode.ACTION,
        `image ${job.imageId}: no interrupted restore of this backup${diskId === undefined ? '' : ` (disk ${diskId})`} to resume (interrupted restores are kept 24 hours); restore it again without --resume`,
      );
    journal.claim(entry);
  } else {
    await journal.sweep(setup.nowS);
  }
  const targetFor = job.targetFor ?? ((d: number, f: DiskFormat) => join(job.dir, `disk.${d}.${f}`));
  entry ??= {
    token: RestoreJournal.newToken(),
    imageId: job.imageId,
    datastoreId: job.datastore.id,
    manifestPath,
    diskId: diskId ?? null,
    uid: job.who.uid,
    resumable: !inPlace,
    startedAt: setup.nowS,
    disks: disks.map((d) => {
      const target = targetFor(d.diskId, d.format);
      return { diskId: d.diskId, target, partial: `${target}.part` };
    }),
  };
  const started = entry;
  const opened: { disk: ManifestDisk; target: string; writer: DiskWriter }[] = [];
  let writing = job.resume;
  try {
    await checkChunks(job, setup.driver, disks);
    if (!job.resume) await journal.record(started);
    const files = new Map<number, string>();
    const committed = new Set(started.committed ?? []);
    for (const disk of disks) {
      const at = started.disks.find((d) => d.diskId === disk.diskId);
      if (at && committed.has(disk.diskId)) {
        // Finished before the interruption.
        files.set(disk.diskId, at.target);
        if (job.progress) job.progress.bytesDone += allocatedBytes(manifest, disk, new Set());
        continue;
      }
      if (!at) throw new OneError(ErrorCode.ACTION, `the interrupted restore has no disk ${disk.diskId}`);
      const writer = await hypervisor.createDisk(at.target, disk.format, disk.virtualSize, {
        partial: at.partial,
        resume: job.resume,
        overwrite: inPlace,
      });
      opened.push({ disk, target: at.target, writer });
    }
    await checkSpace(hypervisor, manifest, opened);
    if (job.progress) {
      for (const d of disks) job.progress.bytesTotal += allocatedBytes(manifest, d, new Set());
      for (const d of disks) job.progress.chunksTotal += d.chunks.filter((c) => c !== null).length;
    }
    writing = true;
    let chunksSkipped = 0;
    const durability = [
      ...new Set(opened.map((o) => o.writer.durability ?? 'not stated by the driver')),
    ].join('; ');
    while (opened.length > 0) {
      const o = opened[0] as (typeof opened)[number];
      chunksSkipped += await restoreDisk({
        manifest,
        disk: o.disk,
        writer: o.writer,
        datastore: setup.driver,
        pool: setup.pool,
        keys: setup.keys,
        keepOnFailure: started.resumable,
        progress: job.progress,
      }).finally(() => opened.shift());
      files.set(o.disk.diskId, o.target);
      committed.add(o.disk.diskId);
      if (opened.length > 0) await journal.record({ ...started, committed: [...committed] });
    }
    await journal.finish(started.token);
    return { manifest, files, chunksSkipped, durability };
  } catch (err) {
    // Kept for --resume once writing began (or when resuming); a refused pre-flight leaves nothing.
    const keep = started.resumable && writing;
    for (const o of opened) await (keep ? o.writer.suspend() : o.writer.abort()).catch(() => undefined);
    // Only the partials this restore opened are removed: one it could not create is another's.
    if (keep) journal.release(started.token);
    else await journal.finish(started.token);
    throw err;
  }
}

/**
 * Runs `restore` on the job's datastore; if that fails and a `fallback` datastore holds the
 * increment's copy (COPY_DATASTORE_ID, the same manifest path), runs it again from there,
 * resuming what the first attempt wrote into new files; the result says which and why.
 */
export async function restoreWithFallback(
  job: RestoreJob,
  fallback: DatastoreToOpen | undefined,
  restore: (job: RestoreJob) => Promise<RestoreResult>,
  journal: RestoreJournal,
  log: Logger,
): Promise<RestoreResult & { readonly fromCopy?: string }> {
  try {
    return await restore(job);
  } catch (err) {
    if (!fallback) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    log.warn("restore failed on the backup's datastore; restoring from its copy", {
      image: job.imageId,
      datastore: job.datastore.id,
      copy: fallback.id,
      error: reason,
    });
    const match = { imageId: job.imageId, manifestPath: job.manifestPath, diskId: job.diskId ?? null };
    const resume = job.targetFor === undefined && (await journal.findResumable(match, job.who)) !== undefined;
    const result = await restore({ ...job, datastore: fallback, resume });
    return {
      ...result,
      fromCopy: `datastore ${fallback.id} (the copy): datastore ${job.datastore.id} failed: ${reason}`,
    };
  }
}
