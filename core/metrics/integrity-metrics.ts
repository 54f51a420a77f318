/**
 * Gauges of backup integrity per datastore, computed at scrape time from the images' verify
 * results (issue 10): images a verify found broken, images never verified, and the oldest
 * verify time of an image, so an alert fires on broken backups or on a verify that stopped
 * running. Each scrape resets them: a deleted datastore leaves no series.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Store } from '../store/db.js';
import { backupDatastoreIds, imageVerifyCounts } from '../store/state-reads.js';

export class IntegrityMetrics {
  readonly #broken: Gauge<'datastore'>;
  readonly #never: Gauge<'datastore'>;
  readonly #oldest: Gauge<'datastore'>;

  constructor(
    registry: Registry,
    private readonly store: Store,
  ) {
    const registers = [registry];
    const gauge = (name: string, help: string) =>
      new Gauge<'datastore'>({ name, help, labelNames: ['datastore'], registers });
    this.#broken = gauge(
      'onebackup_datastore_images_broken',
      'Backup images of each datastore that the last verify reading them found broken (STATE 5, ERROR).',
    );
    this.#never = gauge(
      'onebackup_datastore_images_unverified',
      'Backup images of each datastore that no verify has found whole yet (broken ones included).',
    );
    this.#oldest = gauge(
      'onebackup_datastore_images_verified_oldest_timestamp_seconds',
      'Oldest last-verified time among the verified images of each datastore (absent when none is).',
    );
  }

  async refresh(): Promise<void> {
    const [datastores, counts] = await Promise.all([
      backupDatastoreIds(this.store.db),
      imageVerifyCounts(this.store.db),
    ]);
    const byDs = new Map(counts.map((c) => [c.datastore_id, c]));
    for (const g of [this.#broken, this.#never, this.#oldest]) g.reset();
    for (const ds of datastores) {
      const c = byDs.get(ds.id);
      const labels = { datastore: String(ds.id) };
      this.#broken.set(labels, c?.broken ?? 0);
      this.#never.set(labels, c?.never ?? 0);
      if (c && c.oldest > 0) this.#oldest.set(labels, c.oldest);
    }
  }
}
