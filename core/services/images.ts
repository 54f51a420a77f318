/** Backup images: made by backups (a later part); here listed, shown and deleted. */
import type { Requester } from '../permissions.js';
import { decodeAttributes, type PlainAttribute } from '../store/attributes.js';
import type { Tx } from '../store/db.js';
import type { ImageIncrementTable, ImageTable } from '../store/schema.js';
import type { ServiceDeps } from './context.js';
import { loadAuthorized, visibleInPool } from './objects.js';
import { type Named, withNames } from './owned-view.js';

export interface ImageView extends Named<ImageTable> {
  readonly template: readonly PlainAttribute[];
  readonly datastoreName: string;
  readonly increments: readonly ImageIncrementTable[];
}

export class ImageService {
  constructor(private readonly deps: ServiceDeps) {}

  /** Deletes the image and its increments; their manifests go too (chunks at the next GC). */
  async delete(who: Requester, id: number): Promise<void> {
    const { datastoreId, sources } = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'images', id, 'MANAGE');
      const image = await trx
        .selectFrom('images')
        .select('datastore_id')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const incs = await trx
        .selectFrom('image_increments')
        .select('source')
        .where('image_id', '=', id)
        .execute();
      await trx.deleteFrom('image_increments').where('image_id', '=', id).execute();
      await trx.deleteFrom('images').where('id', '=', id).execute();
      return { datastoreId: image.datastore_id, sources: incs.map((i) => i.source) };
    });
    await this.deps.dropManifests(datastoreId, sources);
  }

  async info(who: Requester, id: number): Promise<ImageView> {
    return this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'images', id, 'INFO')) as ImageTable;
      const [view] = await this.views(trx, [row]);
      return view as ImageView;
    });
  }

  async pool(who: Requester, filter: number, start: number, end: number): Promise<ImageView[]> {
    return this.deps.store.tx(async (trx) => {
      const rows = await trx.selectFrom('images').selectAll().orderBy('id', 'desc').execute();
      return this.views(trx, visibleInPool(rows, who, filter, start, end));
    });
  }

  private async views(trx: Tx, rows: readonly ImageTable[]): Promise<ImageView[]> {
    const named = await withNames(trx, rows);
    const ds = new Map(
      (await trx.selectFrom('datastores').select(['id', 'name']).execute()).map((d) => [d.id, d.name]),
    );
    const ids = rows.map((r) => r.id);
    const incs = ids.length
      ? await trx
          .selectFrom('image_increments')
          .selectAll()
          .where('image_id', 'in', ids)
          .orderBy('inc_id')
          .execute()
      : [];
    return named.map((n) => ({
      ...n,
      template: decodeAttributes(n.row.template),
      datastoreName: ds.get(n.row.datastore_id) ?? '',
      increments: incs.filter((i) => i.image_id === n.row.id),
    }));
  }
}
