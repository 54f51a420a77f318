/** Backup images: made by backups (a later part); here listed, shown and deleted. */
import type { Requester } from '../permissions.js';
import { decodeAttributes, type PlainAttribute } from '../store/attributes.js';
import type { Tx } from '../store/db.js';
import type { ImageTable } from '../store/schema.js';
import type { ServiceDeps } from './context.js';
import { loadAuthorized, visibleInPool } from './objects.js';
import { type Named, withNames } from './owned-view.js';

export interface ImageView extends Named<ImageTable> {
  readonly template: readonly PlainAttribute[];
  readonly datastoreName: string;
}

export class ImageService {
  constructor(private readonly deps: ServiceDeps) {}

  async delete(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'images', id, 'MANAGE');
      await trx.deleteFrom('images').where('id', '=', id).execute();
    });
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
    return named.map((n) => ({
      ...n,
      template: decodeAttributes(n.row.template),
      datastoreName: ds.get(n.row.datastore_id) ?? '',
    }));
  }
}
