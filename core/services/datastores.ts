/**
 * Backup datastores: where backups are stored, and how (driver, compression, encryption).
 * Admins create them; users need USE on one to put it in a job. Each has a DATASTORE_UUID that
 * its storage's identity document repeats (core/engine/datastore-identity.ts); create refuses
 * storage that is, holds or lies inside another datastore's, or that already holds backups.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { epochSeconds } from '../clock.js';
import { DATASTORE_UUID, type DatastoreAccess, newIdentity } from '../datastore-access.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Requester } from '../permissions.js';
import { COPY_ATTRIBUTE, copyUsers } from '../store/copies.js';
import {
  datastoreToOpen,
  deleteDatastore,
  findDatastore,
  imageIdsByDatastore,
  imageIdsInDatastore,
  insertDatastore,
  jobIdsUsingDatastore,
  listDatastores,
  takeDatastoreId,
} from '../store/datastores.js';
import type { Tx } from '../store/db.js';
import type { DatastoreTable } from '../store/schema.js';
import { decodeAttributes, encodeAttributes, type PlainAttribute } from '../template/attributes.js';
import type { ServiceDeps } from './context.js';
import { importDatastore } from './datastore-import.js';
import {
  datastoreAttributes,
  readDatastoreTemplate,
  refuseNameClash,
  refuseOverlap,
  storageOf,
} from './datastore-storage.js';
import { loadAuthorized, requireAdmin, visibleInPool, WHOLE_POOL } from './objects.js';
import { type Named, withNames } from './owned-view.js';

export interface DatastoreView extends Named<DatastoreTable> {
  readonly template: readonly PlainAttribute[];
  readonly imageIds: readonly number[];
  /** The filesystem under BASE_PATH (statfs), in MiB as OpenNebula's TOTAL_MB/FREE_MB/USED_MB; 0 when unknown. */
  readonly capacity: DatastoreCapacity;
}

export interface DatastoreCapacity {
  readonly totalMb: number;
  readonly freeMb: number;
  readonly usedMb: number;
}

const NO_CAPACITY: DatastoreCapacity = Object.freeze({ totalMb: 0, freeMb: 0, usedMb: 0 });
const MIB = 1024 * 1024;

/** What the filesystem holding the datastore has, as OpenNebula's datastore monitor reports it (df). */
async function capacityOf(access: DatastoreAccess, v: DatastoreView): Promise<DatastoreCapacity> {
  const c = await access.capacity(storageOf(v.row.id, v.row.ds_mad, v.template));
  if (!c) return NO_CAPACITY;
  return {
    totalMb: Math.floor(c.totalBytes / MIB),
    freeMb: Math.floor(c.freeBytes / MIB),
    usedMb: Math.floor(c.usedBytes / MIB),
  };
}

/**
 * COPY_DATASTORE_ID, when given: another existing backup datastore, where every backup recorded
 * into this one is copied (core/scheduler/copies.ts).
 */
async function checkCopyTarget(trx: Tx, attributes: readonly PlainAttribute[]): Promise<void> {
  const a = attributes.find((x) => x.kind === 'single' && x.name === COPY_ATTRIBUTE);
  if (a?.kind !== 'single') return;
  const fix = 'give the ID of another backup datastore (onedatastore list), or leave it out';
  if (!/^\d+$/.test(a.value.trim()))
    throw new OneError(ErrorCode.ACTION, `${COPY_ATTRIBUTE}="${a.value}" is not a datastore ID; ${fix}`);
  const target = await findDatastore(trx, Number(a.value.trim()));
  if (target?.type !== 'BACKUP_DS')
    throw new OneError(
      ErrorCode.ACTION,
      `${COPY_ATTRIBUTE}="${a.value}": there is no backup datastore ${a.value}; ${fix}`,
    );
}

export class DatastoreService {
  constructor(private readonly deps: ServiceDeps) {}

  async allocate(who: Requester, text: string): Promise<number> {
    requireAdmin(who, 'CREATE', 'DATASTORE');
    const t = readDatastoreTemplate(text, this.deps.datastoreDrivers);
    t.reader.throwIfProblems();
    const access = this.deps.datastoreAccess;
    const created = await this.deps.store.tx(async (trx) => {
      await refuseNameClash(trx, t.name);
      const id = await takeDatastoreId(trx);
      const uuid = randomUUID();
      const attributes = datastoreAttributes(
        t,
        t.basePath ?? join(this.deps.defaultDatastoreBase, String(id)),
        uuid,
      );
      await checkCopyTarget(trx, attributes);
      const storage = storageOf(id, t.dsMad, attributes);
      await refuseOverlap(trx, access, storage, `the new datastore ${t.name}`);
      const found = await access.survey(storage);
      if (!found.empty)
        throw new OneError(
          ErrorCode.ACTION,
          `BASE_PATH="${storage.attributes.get('BASE_PATH')}" already holds backups${found.identity ? ` of datastore ${found.identity.uuid}` : ''}; attach it with onedatastore import instead of create, or give an empty directory`,
        );
      await access.claim(storage, newIdentity(uuid, id, epochSeconds(this.deps.clock)));
      if (t.encryption === 'YES') await this.deps.createDatastoreKey(id);
      await insertDatastore(trx, {
        id,
        name: t.name,
        owner: who,
        template: encodeAttributes(attributes),
        type: t.type,
        dsMad: t.dsMad,
      });
      return id;
    });
    // Its VERIFY_INTERVAL, if any, is armed by the scheduler's verify timer.
    this.deps.scheduler.schedulesChanged();
    return created;
  }

  /** `onedatastore import`: see datastore-import.ts. */
  async importStorage(who: Requester, text: string): Promise<string> {
    const report = await importDatastore(this.deps, who, text);
    this.deps.scheduler.schedulesChanged();
    return report;
  }

  /** The datastore's encryption key wrapped under `passphrase` (ADMIN on the datastore). */
  async keyExport(who: Requester, id: number, passphrase: string): Promise<string> {
    const { uuid } = await this.#encrypted(who, id);
    return this.deps.datastoreAccess.exportKey(id, uuid, passphrase);
  }

  /** Installs an exported key as the datastore's key (ADMIN on the datastore). */
  async keyImport(who: Requester, id: number, wrapped: string, passphrase: string): Promise<void> {
    const { uuid } = await this.#encrypted(who, id);
    await this.deps.datastoreAccess.importKey(id, uuid, wrapped, passphrase);
  }

  async #encrypted(who: Requester, id: number): Promise<{ uuid: string }> {
    return this.deps.store.tx(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'datastores', id, 'ADMIN')) as DatastoreTable;
      const settings = datastoreToOpen(row);
      if (settings.attributes.get('ENCRYPTION') !== 'YES')
        throw new OneError(
          ErrorCode.ACTION,
          `datastore ${id} is not encrypted (ENCRYPTION="NO"): it has no key`,
        );
      return { uuid: settings.attributes.get(DATASTORE_UUID) ?? '' };
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
      const copies = await copyUsers(trx, id);
      if (copies.sources.length > 0 || copies.copies > 0)
        throw new OneError(
          ErrorCode.ACTION,
          copies.sources.length > 0
            ? `datastore ${id} is the COPY_DATASTORE_ID of datastores ${copies.sources.join(',')}; it keeps their backups' copies`
            : `datastore ${id} still holds ${copies.copies} copies of backups; delete their images (oneimage delete) first`,
        );
      await deleteDatastore(trx, id);
    });
    await this.deps.closeDatastore?.(id);
  }

  async info(who: Requester, id: number): Promise<DatastoreView> {
    const [view] = await this.deps.store.read(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'datastores', id, 'INFO')) as DatastoreTable;
      return this.views(trx, [row]);
    });
    return this.#withCapacity(view as DatastoreView);
  }

  async pool(who: Requester): Promise<DatastoreView[]> {
    const views = await this.deps.store.read(async (trx) => {
      const rows = await listDatastores(trx);
      return this.views(trx, visibleInPool(rows, who, WHOLE_POOL));
    });
    return Promise.all(views.map((v) => this.#withCapacity(v)));
  }

  /**
   * The view with its filesystem's capacity, read outside the transaction (through the driver:
   * an rsync datastore's is the backup server's); a datastore whose storage did not answer its
   * last probe is not asked (its capacity is unknown, 0).
   */
  async #withCapacity(v: DatastoreView): Promise<DatastoreView> {
    const answering = this.deps.datastoreAnswering;
    if (answering && !answering(v.row.id)) return v;
    return { ...v, capacity: await capacityOf(this.deps.datastoreAccess, v) };
  }

  private async views(trx: Tx, rows: readonly DatastoreTable[]): Promise<DatastoreView[]> {
    const named = await withNames(trx, rows);
    const images = await imageIdsByDatastore(trx);
    return named.map((n) => ({
      ...n,
      template: decodeAttributes(n.row.template),
      imageIds: images.get(n.row.id) ?? [],
      capacity: NO_CAPACITY,
    }));
  }
}
