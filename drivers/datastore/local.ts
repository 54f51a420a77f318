/**
 * `local` datastore: a directory on this host.
 *   <base>/chunks/<2 hex>/<id>     one file per chunk, never rewritten
 *   <base>/backups/<path>          manifests
 *   <base>/quarantine/<id>.<ms>    chunks found bad, moved aside (quarantineChunk)
 *   <base>/onebackup-datastore.json    identity: which datastore this directory belongs to
 * Writes go to `<dir>/.tmp-<random>` and are renamed into place, so a crash leaves the old state
 * or the new one under a name; cleanup() removes `.tmp-*` leftovers. SYNC_LEVEL says when they are
 * made durable: `file` fsyncs each file and its directory before the rename returns (a flush per
 * chunk); `filesystem` (the default) renames chunks into place unflushed and flush() syncs the
 * whole filesystem once (syncfs(2), through coreutils' `sync -f`: Node has no binding), while
 * manifests and the identity are fsynced as under `file`; `none` flushes nothing.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  statfs,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { ErrorCode, OneError } from '../../core/errors.js';
import { DEFAULT_SYNC_LEVEL, SYNC_LEVELS, type SyncLevel } from '../../core/model.js';
import { DirectFile, readFileInto } from '../direct-io.js';
import { execFileOffThread } from '../exec-thread.js';
import { checkChunkId, checkManifestPath, IDENTITY_FILE, isChunkId } from './datastore-names.js';
import type {
  CallOptions,
  ChunkHead,
  DatastoreAttributes,
  DatastoreDriver,
  DatastoreDriverFactory,
  FilesystemSpace,
  PutChunkOptions,
} from './types.js';

/** See DatastoreDriver.isPermanent: ENOENT is left out on purpose. */
const PERMANENT = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR']);

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a file atomically: temp name, (fsync,) rename, (directory fsync); `durable` says whether
 * to flush. Chunks are written with O_DIRECT where they can (direct-io.ts): no page-cache copy, so
 * their bytes are on the device when the write returns and a later flush has little left to do.
 */
async function writeAtomic(
  path: string,
  bytes: Uint8Array,
  durable: boolean,
  o?: CallOptions,
): Promise<void> {
  o?.signal?.throwIfAborted();
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  let fh: DirectFile;
  try {
    fh = await DirectFile.create(tmp, 0o600);
  } catch (err) {
    throw explain(err, path);
  }
  try {
    try {
      await fh.write(bytes, 0);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    o?.signal?.throwIfAborted();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw explain(err, path);
  }
  if (durable) await fsyncDir(dir);
}

const WHY: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied for onebackupd',
  EROFS: 'read-only filesystem',
};

/** The same error (code kept, for isPermanent), with the file and the reason in words. */
function explain(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !(code in WHY) || (err as Error).name === 'AbortError') return err;
  return Object.assign(new Error(`cannot write ${path}: ${WHY[code]} (${code})`), { code });
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** The configuration of a `local` datastore: where its directory is and how it flushes. */
export interface LocalConfig {
  readonly id: number;
  readonly basePath: string;
  /** SYNC_LEVEL; DEFAULT_SYNC_LEVEL when left out. */
  readonly syncLevel?: SyncLevel | undefined;
}

/** syncfs(2) of the filesystem holding `dir`: coreutils' `sync -f`, spawned off the main thread. */
async function syncFilesystem(dir: string, o?: CallOptions): Promise<void> {
  try {
    await execFileOffThread('sync', ['-f', dir], {
      maxBuffer: 64 * 1024,
      ...(o?.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    const why = ((err as { stderr?: string }).stderr ?? '').trim() || (err as Error).message;
    throw new Error(`cannot flush the filesystem of ${dir} (sync -f): ${why}`);
  }
}

class LocalDatastore implements DatastoreDriver {
  readonly name = 'local';
  private readonly chunks: string;
  private readonly backups: string;
  #closed = false;

  constructor(
    private readonly base: string,
    readonly syncLevel: SyncLevel,
  ) {
    this.chunks = join(base, 'chunks');
    this.backups = join(base, 'backups');
  }

  private checkOpen(): void {
    if (this.#closed) throw new Error(`datastore ${this.base} is closed`);
  }

  private chunkPath(id: string): string {
    this.checkOpen();
    checkChunkId(id);
    return join(this.chunks, id.slice(0, 2), id);
  }

  async hasChunk(id: string): Promise<boolean> {
    try {
      const fh = await open(this.chunkPath(id), 'r');
      await fh.close();
      return true;
    } catch (err) {
      if (this.isNotFound(err)) return false;
      throw err;
    }
  }

  async chunkHead(id: string, bytes: number): Promise<ChunkHead | undefined> {
    let fh: import('node:fs/promises').FileHandle;
    try {
      fh = await open(this.chunkPath(id), 'r');
    } catch (err) {
      if (this.isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const { size } = await fh.stat();
      const head = Buffer.alloc(Math.min(bytes, size));
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      return { size, head: head.subarray(0, bytesRead) };
    } finally {
      await fh.close();
    }
  }

  async putChunk(id: string, bytes: Uint8Array, o?: PutChunkOptions): Promise<boolean> {
    if (!o?.replace && (await this.hasChunk(id))) return false;
    await writeAtomic(this.chunkPath(id), bytes, this.syncLevel === 'file', o);
    return true;
  }

  async flush(o?: CallOptions): Promise<void> {
    this.checkOpen();
    if (this.syncLevel === 'filesystem') await syncFilesystem(this.base, o);
  }

  async getChunk(id: string): Promise<Buffer> {
    return readFile(this.chunkPath(id));
  }

  async getChunkInto(id: string, into: Uint8Array, o?: CallOptions): Promise<number> {
    o?.signal?.throwIfAborted();
    return readFileInto(this.chunkPath(id), into);
  }

  async quarantineChunk(id: string): Promise<boolean> {
    const from = this.chunkPath(id);
    const dir = join(this.base, 'quarantine');
    await mkdir(dir, { recursive: true });
    try {
      await rename(from, join(dir, `${id}.${Date.now()}`));
    } catch (err) {
      if (this.isNotFound(err)) return false;
      throw err;
    }
    await fsyncDir(dir);
    await fsyncDir(dirname(from));
    return true;
  }

  async deleteChunk(id: string): Promise<void> {
    await rm(this.chunkPath(id), { force: true });
  }

  async *listChunks(): AsyncIterable<string> {
    this.checkOpen();
    for await (const path of walk(this.chunks)) {
      const name = path.slice(path.lastIndexOf(sep) + 1);
      if (isChunkId(name)) yield name;
    }
  }

  async putManifest(path: string, doc: Uint8Array, o?: CallOptions): Promise<void> {
    this.checkOpen();
    checkManifestPath(path);
    return writeAtomic(join(this.backups, ...path.split('/')), doc, this.syncLevel !== 'none', o);
  }

  async getManifest(path: string): Promise<Buffer> {
    this.checkOpen();
    checkManifestPath(path);
    return readFile(join(this.backups, ...path.split('/')));
  }

  async listManifests(prefix: string): Promise<string[]> {
    this.checkOpen();
    const out: string[] = [];
    for await (const path of walk(this.backups)) {
      const rel = relative(this.backups, path).split(sep).join('/');
      if (rel.startsWith(prefix) && !rel.split('/').some((p) => p.startsWith('.tmp-'))) out.push(rel);
    }
    return out.sort();
  }

  async deleteManifest(path: string): Promise<void> {
    this.checkOpen();
    checkManifestPath(path);
    await unlink(join(this.backups, ...path.split('/'))).catch((err: unknown) => {
      if (!this.isNotFound(err)) throw err;
    });
  }

  async freeBytes(): Promise<number> {
    this.checkOpen();
    await mkdir(this.base, { recursive: true });
    const s = await statfs(this.base);
    return s.bavail * s.bsize;
  }

  async filesystem(): Promise<FilesystemSpace> {
    this.checkOpen();
    const s = await statfs(this.base);
    return {
      totalBytes: s.blocks * s.bsize,
      freeBytes: s.bavail * s.bsize,
      usedBytes: (s.blocks - s.bfree) * s.bsize,
    };
  }

  async stat() {
    this.checkOpen();
    await mkdir(this.base, { recursive: true });
    const s = await statfs(this.base);
    let used = 0;
    const { stat } = await import('node:fs/promises');
    for await (const path of walk(this.base)) used += (await stat(path)).size;
    return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize, usedBytes: used };
  }

  async cleanup(): Promise<number> {
    this.checkOpen();
    let removed = 0;
    for await (const path of walk(this.base)) {
      if (path.slice(path.lastIndexOf(sep) + 1).startsWith('.tmp-')) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async readIdentity(): Promise<Buffer | undefined> {
    this.checkOpen();
    try {
      return await readFile(join(this.base, IDENTITY_FILE));
    } catch (err) {
      if (this.isNotFound(err)) return undefined;
      throw err;
    }
  }

  async writeIdentity(doc: Uint8Array): Promise<void> {
    this.checkOpen();
    await writeAtomic(join(this.base, IDENTITY_FILE), doc, this.syncLevel !== 'none');
  }

  async isEmpty(): Promise<boolean> {
    this.checkOpen();
    for await (const _ of this.listChunks()) return false;
    return (await this.listManifests('')).length === 0;
  }

  isNotFound(err: unknown): boolean {
    return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  }

  isPermanent(err: unknown): boolean {
    return PERMANENT.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
  }

  async close(): Promise<void> {
    // Nothing is held between calls: every call opens and closes its own files.
    this.#closed = true;
  }
}

/**
 * The real path of a directory that may not exist yet: the deepest existing ancestor with its
 * symlinks resolved, then the rest of the path as given (normalised).
 */
async function realLocation(path: string): Promise<string> {
  const rest: string[] = [];
  for (let at = normalize(path); ; ) {
    try {
      return join(await realpath(at), ...rest.reverse());
    } catch (err) {
      const parent = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      rest.push(basename(at));
      at = parent;
    }
  }
}

/** Kernel filesystems that cannot hold backups (statfs f_type): a BASE_PATH there is a mistake. */
const VIRTUAL_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x63677270, 'cgroup2'],
  [0x27e0eb, 'cgroup'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
]);

/**
 * Makes BASE_PATH, refusing a kernel filesystem (/proc, /sys, ...) or a parent that is not a
 * writable directory, with the reason. Directories are made one level at a time: Node's recursive
 * mkdir never returns under /proc, which once hung every backup, verify and start-up.
 */
async function makeBase(id: number, basePath: string): Promise<void> {
  const missing: string[] = [];
  let at = normalize(basePath);
  for (;;) {
    try {
      const st = await stat(at);
      if (!st.isDirectory())
        throw new OneError(
          ErrorCode.ACTION,
          `datastore ${id} (local): BASE_PATH="${basePath}": ${at} is not a directory`,
        );
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) throw err;
      missing.push(at);
      at = dirname(at);
    }
  }
  const fsType = VIRTUAL_FS.get((await statfs(at)).type);
  if (fsType !== undefined)
    throw new OneError(
      ErrorCode.ACTION,
      `datastore ${id} (local): BASE_PATH="${basePath}" is on the kernel's ${fsType} filesystem, which cannot hold backups; give a directory on a disk`,
    );
  try {
    await access(at, constants.W_OK | constants.X_OK);
  } catch {
    if (missing.length > 0)
      throw new OneError(
        ErrorCode.ACTION,
        `datastore ${id} (local): BASE_PATH="${basePath}" cannot be made: ${at} is not writable by onebackupd`,
      );
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export const localDatastore = {
  name: 'local',
  requiredAttributes: ['BASE_PATH'],
  parseConfig(ds: DatastoreAttributes): LocalConfig {
    const basePath = ds.attributes.get('BASE_PATH');
    if (basePath === undefined || basePath === '')
      throw new OneError(
        ErrorCode.ACTION,
        `datastore ${ds.id} (local): BASE_PATH is missing; the local driver needs the directory that holds the backups`,
      );
    if (!isAbsolute(basePath))
      throw new OneError(
        ErrorCode.ACTION,
        `datastore ${ds.id} (local): BASE_PATH="${basePath}" must be an absolute path`,
      );
    const given = ds.attributes.get('SYNC_LEVEL');
    const syncLevel = SYNC_LEVELS.find((l) => l === (given ?? DEFAULT_SYNC_LEVEL).trim().toLowerCase());
    if (syncLevel === undefined)
      throw new OneError(
        ErrorCode.ACTION,
        `datastore ${ds.id} (local): SYNC_LEVEL="${given}" is not one of ${SYNC_LEVELS.join(', ')}; give SYNC_LEVEL = "filesystem" (the default: one flush per backup), "file" (a flush per chunk) or "none" (no flush: throwaway targets)`,
      );
    return Object.freeze({ id: ds.id, basePath, syncLevel });
  },
  redact: (config: LocalConfig) => config,
  location: (config: LocalConfig) => realLocation(config.basePath),
  probePaths: (config: LocalConfig) => [config.basePath, join(config.basePath, IDENTITY_FILE)],
  open: async (config: LocalConfig) => {
    await makeBase(config.id, config.basePath);
    return new LocalDatastore(config.basePath, config.syncLevel ?? DEFAULT_SYNC_LEVEL);
  },
} satisfies DatastoreDriverFactory<LocalConfig>;
