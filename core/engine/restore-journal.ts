/**
 * Restores under way, one JSON file each in `<state dir>/restores/.journal/`, written before the
 * first byte of a disk: where each disk's partial file is, so a crash never leaves one nobody
 * knows about. A finished restore removes its entry. A failed or interrupted restore into new
 * files (`oneimage restore`) keeps its partial files for `--resume` for `keepSeconds` (24 h by
 * default); an in-place restore (`onevm restore`) keeps nothing. sweep() removes what is not
 * kept: at daemon start (nothing runs then) and before each restore (skipping restores running).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface JournalDisk {
  readonly diskId: number;
  readonly target: string;
  readonly partial: string;
}

export interface JournalEntry {
  readonly token: string;
  readonly imageId: number;
  readonly datastoreId: number;
  readonly manifestPath: string;
  /** The one disk asked for, or null for every disk of the backup. */
  readonly diskId: number | null;
  /** Who started it: only they (or an admin) resume it. */
  readonly uid: number;
  readonly resumable: boolean;
  readonly startedAt: number;
  readonly disks: readonly JournalDisk[];
  /** Disks already in place (a multi-disk restore interrupted after them). */
  readonly committed?: readonly number[];
}

export interface SweepResult {
  readonly removed: number;
  /** Interrupted restores kept for --resume. */
  readonly kept: readonly JournalEntry[];
}

export const RESUME_KEEP_SECONDS = 24 * 3600;

export class RestoreJournal {
  readonly #active = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly keepSeconds = RESUME_KEEP_SECONDS,
  ) {}

  static newToken(): string {
    return randomBytes(8).toString('hex');
  }

  /** Records (or updates) a restore about to write; it counts as running until finish() or release(). */
  async record(entry: JournalEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${entry.token}.json`);
    await writeFile(`${path}.tmp`, JSON.stringify(entry), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
    this.#active.add(entry.token);
  }

  /** The restore finished or left nothing: its entry goes. */
  async finish(token: string): Promise<void> {
    this.#active.delete(token);
    await rm(join(this.dir, `${token}.json`), { force: true });
  }

  /** The restore stopped and keeps its partial files for a resume. */
  release(token: string): void {
    this.#active.delete(token);
  }

  /** Every entry on disk, newest first; unreadable ones are skipped. */
  async entries(): Promise<JournalEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: JournalEntry[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      try {
        out.push(JSON.parse(await readFile(join(this.dir, name), 'utf8')) as JournalEntry);
      } catch {
        // A torn write (a crash while recording): nothing was written for it yet.
        await rm(join(this.dir, name), { force: true });
      }
    }
    return out.sort((a, b) => b.startedAt - a.startedAt);
  }

  /** The newest interrupted restore of this backup (and disk) that `who` may resume. */
  async findResumable(
    match: { imageId: number; manifestPath: string; diskId: number | null },
    who: { uid: number; isAdmin: boolean },
  ): Promise<JournalEntry | undefined> {
    return (await this.entries()).find(
      (e) =>
        e.resumable &&
        !this.#active.has(e.token) &&
        e.imageId === match.imageId &&
        e.manifestPath === match.manifestPath &&
        e.diskId === match.diskId &&
        (who.isAdmin || e.uid === who.uid),
    );
  }

  /** Takes a kept entry over for a resume (it counts as running again). */
  claim(entry: JournalEntry): void {
    this.#active.add(entry.token);
  }

  /** Removes a restore's partial files and its entry. */
  async sweepEntry(e: JournalEntry): Promise<void> {
    this.#active.delete(e.token);
    for (const d of e.disks) {
      await rm(d.partial, { force: true });
      await rm(`${d.partial}.done`, { force: true });
    }
    await rm(join(this.dir, `${e.token}.json`), { force: true });
  }

  /** Removes the partial files of restores not kept for a resume (or kept too long). */
  async sweep(nowS: number): Promise<SweepResult> {
    let removed = 0;
    const kept: JournalEntry[] = [];
    for (const e of await this.entries()) {
      if (this.#active.has(e.token)) continue;
      if (e.resumable && nowS - e.startedAt < this.keepSeconds) {
        kept.push(e);
        continue;
      }
      await this.sweepEntry(e);
      removed += 1;
    }
    return { removed, kept };
  }
}
