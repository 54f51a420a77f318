/**
 * The copier of backups to their datastore's COPY_DATASTORE_ID (issue 12, item 4): reads the
 * copies to run from the store (core/store/copies.ts), lets the engine move the chunks
 * (core/engine/copy.ts), records COPIED or FAILED. One copy at a time, beside backups: a copy
 * never holds a backup slot, and a failed one never blocks the next backups. After each recorded
 * backup every failed copy is tried again; otherwise a failed copy waits RETRY_AFTER_S, doubled at
 * each failure up to an hour. Dropped copies (retention, `oneimage delete`) have their manifest
 * deleted from the target first, then a GC of the target frees their chunks (KEEP_LAST holds in
 * the copy as in the primary).
 * Crash story: a copy is PENDING from the backup's own transaction on; one cut by a crash is still
 * PENDING at the next start and runs again, finding the chunks it had written (only the missing
 * ones cross). Its manifest is written last, so a target never names a chunk it does not hold.
 */
import { type Clock, epochSeconds } from '../clock.js';
import type { CopyResult } from '../engine/copy.js';
import type { ReferencedIncrement } from '../engine/maintenance.js';
import type { CopyJob } from '../engine/runner.js';
import type { Logger } from '../log.js';
import { datastoreRow } from '../store/backups.js';
import {
  type CopyRow,
  copiesToRun,
  copyKeyOf,
  forgetCopy,
  nextCopyRetry,
  previousCopy,
  recordCopied,
  recordCopyFailed,
} from '../store/copies.js';
import { type DatastoreSettings, datastoreToOpen } from '../store/datastores.js';
import type { Store } from '../store/db.js';
import { manifestsOnDatastore } from '../store/images.js';
import { CoalescedPass } from './coalesced-pass.js';
import { failureMessage } from './failure.js';

/** The engine as the copier uses it (core/engine/runner.ts). */
export interface CopyEngine {
  copy(job: CopyJob): Promise<CopyResult>;
  dropManifests(
    ds: DatastoreSettings,
    paths: readonly string[],
    listIncrements: () => Promise<readonly ReferencedIncrement[]>,
  ): Promise<void>;
}

export interface BackupCopiesDeps {
  /** Among several daemons, only the leader runs these passes (absent: always). */
  readonly leading?: () => boolean;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly engine: CopyEngine;
}

/** First wait before a failed copy is tried again (seconds), doubled per failure up to MAX_RETRY_S. */
export const RETRY_AFTER_S = 60;
const MAX_RETRY_S = 3600;
const PASS_S = 300;

export class BackupCopies {
  readonly #deps: BackupCopiesDeps;
  readonly #pass: CoalescedPass;
  #retryAll = false;
  #cancelTimer: (() => void) | undefined;
  readonly #abort = new AbortController();

  constructor(deps: BackupCopiesDeps) {
    this.#deps = deps;
    this.#pass = new CoalescedPass(() => this.#fire(), deps.log, 'backup copy pass failed', deps.leading);
  }

  /** Runs the copies due now (after a recorded backup: every failed one too). */
  changed(retryFailed = false): void {
    if (retryFailed) this.#retryAll = true;
    this.#pass.run();
  }

  /** Stops starting copies; the one running is aborted and stays PENDING for the next start. */
  async stop(): Promise<void> {
    this.#cancelTimer?.();
    this.#abort.abort(new Error('onebackupd is stopping'));
    await this.#pass.stop();
  }

  /** Resolves when no pass runs (tests). */
  idle(): Promise<void> {
    return this.#pass.settled();
  }

  async #fire(): Promise<void> {
    const { store, clock } = this.#deps;
    const retryAll = this.#retryAll;
    this.#retryAll = false;
    const rows = await copiesToRun(store.db, epochSeconds(clock), retryAll);
    const dropped = new Map<number, CopyRow[]>();
    for (const row of rows)
      if (row.state === 'DROPPED')
        dropped.set(row.datastore_id, [...(dropped.get(row.datastore_id) ?? []), row]);
    for (const [target, list] of dropped) await this.#drop(target, list);
    for (const row of rows) {
      if (this.#pass.stopped) return;
      if (row.state !== 'DROPPED') await this.#copy(row);
    }
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (this.#pass.stopped) return;
    // Due retries, and every PASS_S anyway: copies an image delete dropped go without a backup.
    const next = (await nextCopyRetry(store.db)) ?? Number.POSITIVE_INFINITY;
    this.#cancelTimer = clock.setTimeout(
      () => this.changed(),
      Math.min(PASS_S * 1000, Math.max(1000, next * 1000 - clock.now() + 5)),
    );
  }

  async #copy(row: CopyRow): Promise<void> {
    const { store, clock, log, engine } = this.#deps;
    const key = copyKeyOf(row);
    const where = { image: row.image_id, increment: row.inc_id, datastore: row.datastore_id };
    try {
      const source = datastoreToOpen(await datastoreRow(store.db, row.source_datastore_id));
      const target = datastoreToOpen(await datastoreRow(store.db, row.datastore_id));
      const previous = await previousCopy(store.db, row);
      log.info('backup copy started', {
        ...where,
        attempt: row.attempts + 1,
        previous: previous?.source ?? 'none',
      });
      const r = await engine.copy({
        source,
        target,
        manifestPath: row.source,
        previousPath: previous?.source,
        signal: this.#abort.signal,
      });
      await store.tx((trx) =>
        recordCopied(trx, key, { chunks: r.chunksWritten, bytes: r.bytesWritten }, epochSeconds(clock)),
      );
      log.info('backup copied', {
        ...where,
        chunks: r.chunks,
        chunksWritten: r.chunksWritten,
        bytesWritten: r.bytesWritten,
        reencoded: r.reencoded,
        ms: r.durationMs,
      });
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      const nowS = epochSeconds(clock);
      const wait = Math.min(MAX_RETRY_S, RETRY_AFTER_S * 2 ** Math.min(row.attempts, 6));
      const reason = `datastore ${row.datastore_id}: ${failureMessage(err)}`;
      await store.tx((trx) => recordCopyFailed(trx, key, reason, nowS, nowS + wait));
      log.warn('backup copy failed; tried again at the next backup or later', {
        ...where,
        retryInS: wait,
        error: failureMessage(err),
      });
    }
  }

  /** Deletes dropped copies' manifests from their target, then their rows; a GC frees their chunks. */
  async #drop(datastoreId: number, rows: readonly CopyRow[]): Promise<void> {
    const { store, log, engine } = this.#deps;
    try {
      const target = datastoreToOpen(await datastoreRow(store.db, datastoreId));
      await engine.dropManifests(
        target,
        rows.map((r) => r.source),
        () => manifestsOnDatastore(store.db, datastoreId),
      );
      await store.tx(async (trx) => {
        for (const r of rows) await forgetCopy(trx, copyKeyOf(r));
      });
      log.info('dropped copies deleted', { datastore: datastoreId, copies: rows.length });
    } catch (err) {
      log.warn('cannot delete dropped copies yet; tried again at the next pass', {
        datastore: datastoreId,
        copies: rows.map((r) => `${r.image_id}/${r.inc_id}`),
        error: failureMessage(err),
      });
    }
  }
}
