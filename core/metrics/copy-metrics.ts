/**
 * Gauges of the second copy of backups (COPY_DATASTORE_ID), per copy target, computed at scrape
 * time from the copy states in the store: images by their copy state (an image is failed when
 * one of its increments' copies failed, else pending while one waits, else copied), the queue
 * time of the oldest increment not copied yet (alert on `time() - ...`: the copy lags), and the
 * bytes the live copies wrote. Each scrape resets them: a deleted datastore leaves no series.
 */
import { Gauge, type Registry } from 'prom-client';
import { copyStates } from '../store/copies.js';
import type { Store } from '../store/db.js';

const STATES = ['copied', 'pending', 'failed'] as const;

export class CopyMetrics {
  readonly #images: Gauge<'datastore' | 'state'>;
  readonly #oldest: Gauge<'datastore'>;
  readonly #bytes: Gauge<'datastore'>;

  constructor(
    registry: Registry,
    private readonly store: Store,
  ) {
    const registers = [registry];
    this.#images = new Gauge({
      name: 'onebackup_image_copies',
      help: 'Backup images by the state of their copy in each copy target (COPY_DATASTORE_ID): copied, pending or failed.',
      labelNames: ['datastore', 'state'],
      registers,
    });
    this.#oldest = new Gauge({
      name: 'onebackup_copy_oldest_pending_timestamp_seconds',
      help: 'When the oldest backup increment not yet copied to each copy target was recorded (absent when all are copied).',
      labelNames: ['datastore'],
      registers,
    });
    this.#bytes = new Gauge({
      name: 'onebackup_copy_written_bytes',
      help: 'Bytes of chunks the copies kept in each copy target wrote there (chunks the target lacked).',
      labelNames: ['datastore'],
      registers,
    });
  }

  async refresh(): Promise<void> {
    const rows = await copyStates(this.store.db);
    for (const g of [this.#images, this.#oldest, this.#bytes]) g.reset();
    const images = new Map<string, 'copied' | 'pending' | 'failed'>();
    const rank = { copied: 0, pending: 1, failed: 2 } as const;
    for (const r of rows) {
      const ds = String(r.datastore_id);
      const state = r.state === 'FAILED' ? 'failed' : r.state === 'PENDING' ? 'pending' : 'copied';
      const key = `${ds}/${r.image_id}`;
      const was = images.get(key);
      if (was === undefined || rank[state] > rank[was]) images.set(key, state);
      this.#bytes.inc({ datastore: ds }, r.bytes_written);
    }
    const oldest = new Map<string, number>();
    for (const r of rows)
      if (r.state !== 'COPIED') {
        const ds = String(r.datastore_id);
        oldest.set(ds, Math.min(oldest.get(ds) ?? Number.POSITIVE_INFINITY, r.queued_at));
      }
    const targets = new Set(rows.map((r) => String(r.datastore_id)));
    for (const ds of targets) for (const state of STATES) this.#images.set({ datastore: ds, state }, 0);
    for (const [key, state] of images) this.#images.inc({ datastore: key.split('/')[0] as string, state });
    for (const [ds, at] of oldest) this.#oldest.set({ datastore: ds }, at);
  }
}
