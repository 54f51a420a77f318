/**
 * Restored disk files of the `fs` driver. A disk is written into a partial file next to its
 * target (`<target>.part`, created exclusively, so two restores never write one file) and moved
 * into place at commit: with link() when the target must not be replaced (a restore never
 * overwrites a file that exists), with rename() when it must (in-place restores). A checkpoint
 * makes the writes so far durable and appends them to `<target>.part.done` (one line per write:
 * guest offset, length, first host cluster of a qcow2); a resumed writer reopens the partial and
 * skips what that file lists. abort() removes both files; suspend() keeps them for a resume.
 */
import { link, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DiskFormat } from '../../core/model.js';
import { DirectFile } from '../direct-io.js';
import { Qcow2Writer } from './qcow2-writer.js';
import { type DiskWriteOptions, type DiskWriter, PermanentDriverError } from './types.js';

interface Placed {
  readonly offset: number;
  readonly length: number;
  readonly host: number;
}

/** The writes a previous attempt recorded as durable; a torn last line (a crash) is ignored. */
async function readDone(path: string): Promise<Placed[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const placed: Placed[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+) (-?\d+)$/.exec(line);
    if (m) placed.push({ offset: Number(m[1]), length: Number(m[2]), host: Number(m[3]) });
  }
  return placed;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Makes a directory's entries durable (a file linked or renamed into it). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Moves the finished partial to the target, durably; refuses to replace a file unless told to. */
async function place(partial: string, target: string, overwrite: boolean): Promise<void> {
  await placeName(partial, target, overwrite);
  await syncDir(dirname(target));
}

async function placeName(partial: string, target: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    await rename(partial, target);
    return;
  }
  try {
    await link(partial, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new PermanentDriverError(
        `${target} already exists; a restore never replaces a file: choose another directory or remove it`,
      );
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // A filesystem without hard links: check, then rename (a small window, only there).
    if (await exists(target))
      throw new PermanentDriverError(
        `${target} already exists; a restore never replaces a file: choose another directory or remove it`,
      );
    await rename(partial, target);
    return;
  }
  await unlink(partial);
}

export async function openDiskWriter(
  target: string,
  format: DiskFormat,
  virtualSize: number,
  options: DiskWriteOptions,
): Promise<DiskWriter> {
  const { partial } = options;
  const donePath = `${partial}.done`;
  if (!options.overwrite && (await exists(target)))
    throw new PermanentDriverError(
      `${target} already exists; a restore never replaces a file: choose another directory or remove it`,
    );
  const placed = options.resume && (await exists(partial)) ? await readDone(donePath) : undefined;
  /** Creates the partial exclusively: a second restore into the same target stops here. */
  const exclusive = async <T>(create: () => Promise<T>): Promise<T> => {
    try {
      return await create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new PermanentDriverError(
          `${partial} exists: another restore writes ${target}, or one was interrupted (resume it with --resume, or remove ${partial})`,
        );
      throw err;
    }
  };
  let qcow2: Qcow2Writer | undefined;
  let raw: DirectFile | undefined;
  if (format === 'qcow2') {
    qcow2 = placed
      ? await Qcow2Writer.reopen(partial, virtualSize, placed)
      : await exclusive(() => Qcow2Writer.create(partial, virtualSize));
  } else if (placed) {
    raw = await DirectFile.reopen(partial);
  } else {
    raw = await exclusive(() => DirectFile.create(partial, 0o600));
    await raw.truncate(virtualSize);
  }
  // A fresh partial (ours alone now): a record left by someone else's earlier attempt is void.
  if (!placed) await rm(donePath, { force: true });
  const done = new Set((placed ?? []).map((p) => p.offset));
  let completed: Placed[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    if (raw) await raw.close();
    if (qcow2) await qcow2.abort();
  };
  const writer: DiskWriter = {
    done,
    durability: 'fsync of each disk file before it is put in place, then of its directory',
    async write(offset, data) {
      if (qcow2) await qcow2.write(offset, data);
      else await (raw as DirectFile).write(data, offset);
      completed.push({ offset, length: data.length, host: qcow2 ? qcow2.hostClusterOf(offset) : -1 });
    },
    async checkpoint() {
      if (completed.length === 0 || closed) return;
      const batch = completed;
      completed = [];
      if (qcow2) await qcow2.sync();
      else await (raw as DirectFile).sync();
      await writeFile(donePath, batch.map((p) => `${p.offset} ${p.length} ${p.host}\n`).join(''), {
        flag: 'a',
      });
    },
    async commit() {
      if (qcow2) {
        closed = true;
        await qcow2.commit();
      } else {
        await (raw as DirectFile).sync();
        await close();
      }
      await place(partial, target, options.overwrite);
      await rm(donePath, { force: true });
    },
    async abort() {
      await close().catch(() => undefined);
      await rm(partial, { force: true });
      await rm(donePath, { force: true });
    },
    async suspend() {
      await writer.checkpoint().catch(() => undefined);
      await close().catch(() => undefined);
    },
  };
  return writer;
}
