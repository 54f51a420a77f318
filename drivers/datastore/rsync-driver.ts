/**
 * The `rsync` datastore driver (configuration in rsync.ts): the layout and the write protocol of
 * `local` (docs/FORMAT.md) over one SFTP session on the backup server. Every file is written to
 * `<dir>/.tmp-<random>`, written, fsynced (fsync@openssh.com) and closed in one pipelined burst,
 * renamed into place (posix-rename@openssh.com) and its directory fsynced, so a crash of either
 * side or of the connection leaves the old state or the new one.
 *
 * State: the session (opened by open(), opened again by the next call after the connection was
 * lost: a backup running then fails as retryable, and the retry reconnects), the directories
 * known to exist, and the temp files in flight; those a lost session left are removed once the
 * next session is up (cleanup() removes any others).
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { SyncLevel } from '../../core/model.js';
import { FX, isDirectory, OPEN, SftpSession as Session, type SftpSession, SftpStatusError } from '../sftp.js';
import { describeTarget, explainSshFailure, SshError, type SshTarget, sshSubsystemArgs } from '../ssh.js';
import { checkChunkId, checkManifestPath, IDENTITY_FILE, isChunkId } from './datastore-names.js';
import type {
  CallOptions,
  ChunkHead,
  DatastoreDriver,
  DatastoreStat,
  FilesystemSpace,
  PutChunkOptions,
} from './types.js';

const { join, dirname } = posix;
/** See DatastoreDriver.isPermanent: ENOENT is retried. */
const PERMANENT = new Set(['ENOSPC', 'EACCES', 'ENOTDIR', 'ENOTSUP']);
const MiB = 1024 * 1024;

const errno = (message: string, code: string): Error => Object.assign(new Error(message), { code });
const isStatus = (err: unknown, status: number): boolean =>
  err instanceof SftpStatusError && err.status === status;

/** The configuration of an `rsync` datastore (parsed by rsync.ts). */
export interface RsyncConfig {
  readonly id: number;
  readonly target: SshTarget;
  /** The directory on the backup server, normalised. */
  readonly basePath: string;
}

export class RsyncDatastore implements DatastoreDriver {
  readonly name = 'rsync';
  /** Each file is fsynced on the server (fsync@openssh.com) before its put resolves. */
  readonly syncLevel: SyncLevel = 'file';
  readonly #config: RsyncConfig;
  readonly #what: string;
  #session: SftpSession | undefined;
  #connecting: Promise<SftpSession> | undefined;
  #closed = false;
  readonly #dirs = new Set<string>();
  readonly #tmp = new Set<string>();
  #orphans: string[] = [];

  private constructor(config: RsyncConfig) {
    this.#config = config;
    this.#what = `datastore ${config.id} (rsync)`;
  }

  /** Connects and makes BASE_PATH (and its missing parents) on the server. */
  static async open(config: RsyncConfig): Promise<RsyncDatastore> {
    const d = new RsyncDatastore(config);
    try {
      const s = await d.#sftp();
      await d.#ensureDir(s, config.basePath);
    } catch (err) {
      await d.close();
      throw await d.#explain(err, config.basePath, 0);
    }
    return d;
  }

  get #base(): string {
    return this.#config.basePath;
  }

  #where(path: string): string {
    return `${describeTarget(this.#config.target)}:${path}`;
  }

  async #sftp(): Promise<SftpSession> {
    if (this.#closed) throw new Error(`${this.#what} is closed`);
    if (this.#session?.alive) return this.#session;
    this.#connecting ??= Session.open(sshSubsystemArgs(this.#config.target, 'sftp'), (stderr) =>
      explainSshFailure(this.#config.target, stderr, this.#what),
    ).then(
      (s) => {
        this.#connecting = undefined;
        if (this.#closed) {
          s.end();
          throw new Error(`${this.#what} is closed`);
        }
        this.#session = s;
        this.#dirs.clear();
        // Temp files the lost session was writing: nobody will finish them.
        const orphans = this.#orphans;
        this.#orphans = [];
        for (const p of orphans) s.remove(p).catch(() => {});
        return s;
      },
      (err: unknown) => {
        this.#connecting = undefined;
        throw err;
      },
    );
    return this.#connecting;
  }

  /** An SFTP status turned into an errno-coded error naming the server and the path. */
  async #explain(err: unknown, path: string, writing: number): Promise<unknown> {
    if (!(err instanceof SftpStatusError)) return err;
    const where = this.#where(path);
    switch (err.status) {
      case FX.NO_SUCH_FILE:
        return errno(`${this.#what}: ${where}: no such file or directory`, 'ENOENT');
      case FX.PERMISSION_DENIED:
        return errno(
          `${this.#what}: ${where}: permission denied for the SSH user on the backup server`,
          'EACCES',
        );
      case FX.OP_UNSUPPORTED:
        return errno(
          `${this.#what}: ${err.message}: the backup server needs OpenSSH 6.5 or newer`,
          'ENOTSUP',
        );
      case FX.FAILURE: {
        if (writing > 0 && this.#session?.alive) {
          // SFTP v3 reports ENOSPC as a bare "Failure": ask the filesystem.
          const free = await this.freeBytes().catch(() => undefined);
          if (free !== undefined && free < writing + MiB)
            return errno(
              `${this.#what}: cannot write ${where}: no space left on the backup server's filesystem (${(free / MiB).toFixed(1)} MiB free)`,
              'ENOSPC',
            );
        }
        return errno(`${this.#what}: ${where}: the backup server answered: ${err.message}`, 'EIO');
      }
      default:
        return errno(`${this.#what}: ${where}: ${err.message}`, 'EIO');
    }
  }

  /** Makes `dir` and its missing parents; a non-directory on the way is refused for good. */
  async #ensureDir(s: SftpSession, dir: string): Promise<void> {
    if (this.#dirs.has(dir)) return;
    try {
      if (!isDirectory(await s.stat(dir)))
        throw errno(`${this.#what}: ${this.#where(dir)} is not a directory`, 'ENOTDIR');
    } catch (err) {
      if (!isStatus(err, FX.NO_SUCH_FILE) || dir === '/') throw err;
      await this.#ensureDir(s, dirname(dir));
      await s.mkdir(dir, 0o700).catch(async (mkdirErr: unknown) => {
        // Made meanwhile by a concurrent call: fine; anything else is the real failure.
        if (!isDirectory(await s.stat(dir).catch(() => ({})))) throw mkdirErr;
      });
    }
    this.#dirs.add(dir);
  }

  async #fsyncDir(s: SftpSession, dir: string): Promise<void> {
    const h = await s.open(dir, OPEN.READ);
    await Promise.all([s.fsync(h, dir), s.close(h, dir)]);
  }

  /** Writes `path` atomically: temp name, write + fsync + close, rename, directory fsync. */
  async #writeAtomic(path: string, bytes: Uint8Array, o?: CallOptions): Promise<void> {
    o?.signal?.throwIfAborted();
    const s = await this.#sftp();
    const dir = dirname(path);
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    this.#tmp.add(tmp);
    try {
      await this.#ensureDir(s, dir);
      let h: Buffer;
      try {
        h = await s.open(tmp, OPEN.WRITE | OPEN.CREAT | OPEN.EXCL);
      } catch (err) {
        if (!isStatus(err, FX.NO_SUCH_FILE)) throw err;
        // A directory removed behind our back: make it again (or find what is in its way).
        this.#dirs.clear();
        await this.#ensureDir(s, dir);
        h = await s.open(tmp, OPEN.WRITE | OPEN.CREAT | OPEN.EXCL);
      }
      const steps = await Promise.allSettled([s.write(h, 0, bytes, tmp), s.fsync(h, tmp), s.close(h, tmp)]);
      const failed = steps.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      o?.signal?.throwIfAborted();
      await s.rename(tmp, path);
      this.#tmp.delete(tmp);
      await this.#fsyncDir(s, dir);
    } catch (err) {
      if (this.#tmp.delete(tmp)) {
        if (s.alive) await s.remove(tmp).catch(() => {});
        else this.#orphans.push(tmp);
      }
      throw await this.#explain(err, path, bytes.length);
    }
  }

  async #read(path: string, into?: Uint8Array, o?: CallOptions): Promise<Buffer | number> {
    o?.signal?.throwIfAborted();
    const s = await this.#sftp();
    try {
      const h = await s.open(path, OPEN.READ);
      try {
        return await s.readAll(h, path, into);
      } finally {
        await s.close(h, path).catch(() => {});
      }
    } catch (err) {
      throw await this.#explain(err, path, 0);
    }
  }

  /** Removes `path`; one that is not there is fine. */
  async #remove(path: string): Promise<void> {
    const s = await this.#sftp();
    await s.remove(path).catch(async (err: unknown) => {
      if (!isStatus(err, FX.NO_SUCH_FILE)) throw await this.#explain(err, path, 0);
    });
  }

  /** Every file under `dir` with its size (directories recursed, several at a time). */
  async *#walk(dir: string): AsyncGenerator<{ path: string; size: number }> {
    const s = await this.#sftp();
    let entries: { name: string; attrs: { size?: number; permissions?: number } }[];
    try {
      entries = await s.readdir(dir);
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return;
      throw await this.#explain(err, dir, 0);
    }
    const subdirs: string[] = [];
    for (const e of entries) {
      const path = join(dir, e.name);
      if (isDirectory(e.attrs)) subdirs.push(path);
      else yield { path, size: e.attrs.size ?? 0 };
    }
    for (const sub of subdirs) yield* this.#walk(sub);
  }

  #chunkPath(id: string): string {
    checkChunkId(id);
    return join(this.#base, 'chunks', id.slice(0, 2), id);
  }

  async hasChunk(id: string, o?: CallOptions): Promise<boolean> {
    o?.signal?.throwIfAborted();
    const path = this.#chunkPath(id);
    const s = await this.#sftp();
    try {
      await s.stat(path);
      return true;
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return false;
      throw await this.#explain(err, path, 0);
    }
  }

  async chunkHead(id: string, bytes: number): Promise<ChunkHead | undefined> {
    const path = this.#chunkPath(id);
    const s = await this.#sftp();
    try {
      const h = await s.open(path, OPEN.READ);
      try {
        return await s.head(h, path, bytes);
      } finally {
        await s.close(h, path).catch(() => {});
      }
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return undefined;
      throw await this.#explain(err, path, 0);
    }
  }

  async putChunk(id: string, bytes: Uint8Array, o?: PutChunkOptions): Promise<boolean> {
    if (!o?.replace && (await this.hasChunk(id, o))) return false;
    await this.#writeAtomic(this.#chunkPath(id), bytes, o);
    return true;
  }

  /** Every put is fsynced on the server before it resolves (SFTP has no filesystem-wide sync). */
  async flush(): Promise<void> {}

  async getChunk(id: string, o?: CallOptions): Promise<Buffer> {
    return (await this.#read(this.#chunkPath(id), undefined, o)) as Buffer;
  }

  async getChunkInto(id: string, into: Uint8Array, o?: CallOptions): Promise<number> {
    return (await this.#read(this.#chunkPath(id), into, o)) as number;
  }

  async deleteChunk(id: string): Promise<void> {
    await this.#remove(this.#chunkPath(id));
  }

  async quarantineChunk(id: string): Promise<boolean> {
    const from = this.#chunkPath(id);
    const s = await this.#sftp();
    const dir = join(this.#base, 'quarantine');
    try {
      await this.#ensureDir(s, dir);
      await s.rename(from, join(dir, `${id}.${Date.now()}`));
      await Promise.all([this.#fsyncDir(s, dir), this.#fsyncDir(s, dirname(from))]);
      return true;
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return false;
      throw await this.#explain(err, from, 0);
    }
  }

  async *listChunks(): AsyncIterable<string> {
    for await (const { path } of this.#walk(join(this.#base, 'chunks'))) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      if (isChunkId(name)) yield name;
    }
  }

  async putManifest(path: string, doc: Uint8Array, o?: CallOptions): Promise<void> {
    checkManifestPath(path);
    await this.#writeAtomic(join(this.#base, 'backups', path), doc, o);
  }

  async getManifest(path: string, o?: CallOptions): Promise<Buffer> {
    checkManifestPath(path);
    return (await this.#read(join(this.#base, 'backups', path), undefined, o)) as Buffer;
  }

  async listManifests(prefix: string): Promise<string[]> {
    const root = join(this.#base, 'backups');
    const out: string[] = [];
    for await (const { path } of this.#walk(root)) {
      const rel = path.slice(root.length + 1);
      if (rel.startsWith(prefix) && !rel.split('/').some((p) => p.startsWith('.tmp-'))) out.push(rel);
    }
    return out.sort();
  }

  async deleteManifest(path: string): Promise<void> {
    checkManifestPath(path);
    await this.#remove(join(this.#base, 'backups', path));
  }

  /** statvfs of BASE_PATH on the server (no walk). */
  async filesystem(): Promise<FilesystemSpace> {
    const s = await this.#sftp();
    const v = await s.statvfs(this.#base).catch(async (err: unknown) => {
      throw await this.#explain(err, this.#base, 0);
    });
    return {
      totalBytes: v.blocks * v.blockSize,
      freeBytes: v.available * v.blockSize,
      usedBytes: (v.blocks - v.free) * v.blockSize,
    };
  }

  async freeBytes(): Promise<number> {
    return (await this.filesystem()).freeBytes;
  }

  async stat(): Promise<DatastoreStat> {
    const fs = await this.filesystem();
    let used = 0;
    for await (const f of this.#walk(this.#base)) used += f.size;
    return { capacityBytes: fs.totalBytes, freeBytes: fs.freeBytes, usedBytes: used };
  }

  async cleanup(): Promise<number> {
    let removed = 0;
    for await (const { path } of this.#walk(this.#base))
      if (path.slice(path.lastIndexOf('/') + 1).startsWith('.tmp-') && !this.#tmp.has(path)) {
        await this.#remove(path);
        removed++;
      }
    return removed;
  }

  async readIdentity(): Promise<Buffer | undefined> {
    try {
      return (await this.#read(join(this.#base, IDENTITY_FILE))) as Buffer;
    } catch (err) {
      if (this.isNotFound(err)) return undefined;
      throw err;
    }
  }

  async writeIdentity(doc: Uint8Array): Promise<void> {
    await this.#writeAtomic(join(this.#base, IDENTITY_FILE), doc);
  }

  async isEmpty(): Promise<boolean> {
    for await (const _ of this.listChunks()) return false;
    return (await this.listManifests('')).length === 0;
  }

  isNotFound(err: unknown): boolean {
    return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  }

  isPermanent(err: unknown): boolean {
    if (err instanceof SshError) return err.permanent;
    return PERMANENT.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#session?.end();
    this.#session = undefined;
  }
}
