/** Backup images: made by backups (a later part); here listed, shown and deleted. */
import type { Requester } from '../permissions.js';
import { copiesOfImages } from '../store/copies.js';
import type { Tx } from '../store/db.js';
import {
  datastoreNamesById,
  deleteImage,
  type ImageRow,
  type IncrementRow,
  incrementsOfImages,
  listImages,
} from '../store/images.js';
import { decodeAttributes, type PlainAttribute } from '../template/attributes.js';
import type { ServiceDeps } from './context.js';
import { groupBy } from './group-by.js';
import { copyAttributes } from './image-copies.js';
import { loadAuthorized, type PoolQuery, pageOf, visibleInPool } from './objects.js';
import { type Named, withNames } from './owned-view.js';

export interface ImageView extends Named<ImageRow> {
  readonly template: readonly PlainAttribute[];
  readonly datastoreName: string;
  readonly increments: readonly IncrementRow[];
}

export class ImageService {
  constructor(private readonly deps: ServiceDeps) {}

  /** Deletes the image and its increments; their manifests go too (chunks at the next GC). */
  async delete(who: Requester, id: number): Promise<void> {
    const { datastoreId, sources } = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'images', id, 'MANAGE');
      return deleteImage(trx, id);
    });
    await this.deps.dropManifests(datastoreId, sources);
  }

  async info(who: Requester, id: number): Promise<ImageView> {
    return this.deps.store.read(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'images', id, 'INFO')) as ImageRow;
      const [view] = await this.views(trx, [row]);
      return view as ImageView;
    });
  }

  async pool(who: Requester, q: PoolQuery): Promise<ImageView[]> {
    return this.deps.store.read(async (trx) => {
      const rows = await listImages(trx);
      return this.views(trx, pageOf(visibleInPool(rows, who, q), q));
    });
  }

  private async views(trx: Tx, rows: readonly ImageRow[]): Promise<ImageView[]> {
    const named = await withNames(trx, rows);
    const ds = await datastoreNamesById(trx);
    const incs = await incrementsOfImages(
      trx,
      rows.map((r) => r.id),
    );
    const copies = await copiesOfImages(
      trx,
      rows.map((r) => r.id),
    );
    const copiesOf = groupBy(copies, (c) => c.image_id);
    const incrementsOf = groupBy(incs, (i) => i.image_id);
    return named.map((n) => ({
      ...n,
      template: [...decodeAttributes(n.row.template), ...copyAttributes(copiesOf.get(n.row.id) ?? [], ds)],
      datastoreName: ds.get(n.row.datastore_id) ?? '',
      increments: incrementsOf.get(n.row.id) ?? [],
    }));
  }
}
