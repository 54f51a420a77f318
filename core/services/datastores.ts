/**
 * Backup datastores: where backups are stored, and how (driver, compression, encryption).
 * Admins create them; users need USE on one to put it in a job.
 */
import { join } from 'node:path';
import { ErrorCode, OneError } from '../errors.js';
import { COMPRESSIONS, type Compression } from '../model.js';
import type { Requester } from '../permissions.js';
import {
  deleteDatastore,
  findDatastoreIdByName,
  imageIdsByDatastore,
  imageIdsInDatastore,
  insertDatastore,
  jobIdsUsingDatastore,
  listDatastores,
  takeDatastoreId,
} from '../store/datastores.js';
import type { Tx } from '../store/db.js';
import type { DatastoreTable } from '../store/schema.js';
import { decodeAttributes, encodeAttributes, type PlainAttribute, single } from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import type { ServiceDeps } from './context.js';
import { checkName, loadAuthorized, requireAdmin, visibleInPool } from './objects.js';
import { type Named, withNames } from './owned-view.js';
import { TemplateReader } from './template-reader.js';

export interface DatastoreView extends Named<DatastoreTable> {
  readonly template: readonly PlainAttribute[];
  readonly imageIds: readonly number[];
}

const SINGLETONS = ['NAME', 'TYPE', 'DS_MAD', 'BASE_PATH', 'COMPRESSION', 'COMPRESSION_LEVEL', 'ENCRYPTION'];
const LEVELS: Readonly<Record<Compression, readonly [number, number, number]>> = {
  zstd: [1, 19, 1],
  gzip: [1, 9, 6],
  none: [0, 0, 0],
};

export class DatastoreService {
  constructor(private readonly deps: ServiceDeps) {}

  async allocate(who: Requester, text: string): Promise<number> {
    requireAdmin(who, 'CREATE', 'DATASTORE');
    const r = new TemplateReader(parseTemplate(text).attributes, SINGLETONS, []);
    const name = r.require('NAME', 'give the datastore a NAME = "..."');
    if (name !== undefined) {
      const p = checkName(name);
      if (p) r.fail(r.at('NAME'), 'NAME', p);
    }
    const type = r.oneOf('TYPE', ['BACKUP_DS'], 'BACKUP_DS');
    const dsMad = r.oneOf('DS_MAD', this.deps.datastoreDrivers, 'local', { lower: true });
    const compression = r.oneOf('COMPRESSION', COMPRESSIONS, 'zstd', { lower: true });
    const [min, max, dflt] = LEVELS[compression];
    const level = r.integer('COMPRESSION_LEVEL', min, max, dflt);
    const encryption = r.yesNo('ENCRYPTION', 'NO');
    const basePath = r.get('BASE_PATH');
    if (basePath !== undefined && !basePath.startsWith('/')) {
      r.fail(r.at('BASE_PATH'), 'BASE_PATH', `BASE_PATH="${basePath}" must be an absolute path`);
    }
    r.throwIfProblems();
    return this.deps.store.tx(async (trx) => {
      const clash = await findDatastoreIdByName(trx, name as string);
      if (clash !== undefined)
        throw new OneError(ErrorCode.ALLOCATE, `NAME is already taken by DATASTORE ${clash}.`);
      const id = await takeDatastoreId(trx);
      if (encryption === 'YES') await this.deps.createDatastoreKey(id);
      const attributes: PlainAttribute[] = [
        single('BASE_PATH', basePath ?? join(this.deps.defaultDatastoreBase, String(id))),
        single('COMPRESSION', compression),
        single('COMPRESSION_LEVEL', String(level)),
        single('DS_MAD', dsMad),
        single('ENCRYPTION', encryption),
        single('TYPE', type),
        ...r.others(),
      ];
      await insertDatastore(trx, {
        id,
        name: name as string,
        owner: who,
        template: encodeAttributes(attributes),
        type,
        dsMad,
      });
      return id;
    });
  }

  async delete(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'datastores', id, 'ADMIN');
      const images = await imageIdsInDatastore(trx, id);
      if (images.length > 0) {
        throw new OneError(
          ErrorCode.ACTION,
          `datastore ${id} still holds backup images ${images.join(',')}; delete them (oneimage delete) first`,
        );
      }
      const jobs = await jobIdsUsingDatastore(trx, id);
      if (jobs.length > 0) {
        throw new OneError(
          ErrorCode.ACTION,
          `datastore ${id} is the DATASTORE_ID of backup jobs ${jobs.join(',')}; change those jobs first`,
        );
      }
      await deleteDatastore(trx, id);
    });
    await this.deps.closeDatastore?.(id);
  }

  async info(who: Requester, id: number): Promise<DatastoreView> {
    return this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'datastores', id, 'INFO')) as DatastoreTable;
      const [view] = await this.views(trx, [row]);
      return view as DatastoreView;
    });
  }

  async pool(who: Requester): Promise<DatastoreView[]> {
    return this.deps.store.tx(async (trx) => {
      const rows = await listDatastores(trx);
      return this.views(trx, visibleInPool(rows, who, -2, -1, -1));
    });
  }

  private async views(trx: Tx, rows: readonly DatastoreTable[]): Promise<DatastoreView[]> {
    const named = await withNames(trx, rows);
    const images = await imageIdsByDatastore(trx);
    return named.map((n) => ({
      ...n,
      template: decodeAttributes(n.row.template),
      imageIds: images.get(n.row.id) ?? [],
    }));
  }
}
