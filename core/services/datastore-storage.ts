/**
 * What create and import share: reading a datastore template, its stored attributes, and the
 * checks on its storage (no other datastore's storage may equal, hold or lie inside it).
 */
import type { DatastoreAccess, StorageSettings } from '../datastore-access.js';
import { DATASTORE_UUID, locationsOverlap } from '../datastore-access.js';
import { ErrorCode, OneError } from '../errors.js';
import { COMPRESSIONS, type Compression, DEFAULT_SYNC_LEVEL, SYNC_LEVELS, type SyncLevel } from '../model.js';
import { parseVerifyBudget, parseVerifyInterval } from '../schedule/verify-settings.js';
import { datastoreToOpen, findDatastoreIdByName, listDatastores } from '../store/datastores.js';
import type { Tx } from '../store/db.js';
import type { DatastoreTable } from '../store/schema.js';
import { type PlainAttribute, single } from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import { checkName } from './objects.js';
import { TemplateReader } from './template-reader.js';

const SINGLETONS = [
  'NAME',
  'TYPE',
  'DS_MAD',
  'BASE_PATH',
  'COMPRESSION',
  'COMPRESSION_LEVEL',
  'ENCRYPTION',
  DATASTORE_UUID,
  'VERIFY_INTERVAL',
  'VERIFY_BUDGET',
  'SYNC_LEVEL',
];
const LEVELS: Readonly<Record<Compression, readonly [number, number, number]>> = {
  zstd: [1, 19, 1],
  gzip: [1, 9, 6],
  none: [0, 0, 0],
};

export interface DatastoreTemplate {
  /** Still open: the caller may add problems, then calls throwIfProblems(). */
  readonly reader: TemplateReader;
  readonly name: string;
  readonly type: string;
  readonly dsMad: string;
  readonly compression: Compression;
  readonly level: number;
  readonly encryption: 'YES' | 'NO';
  readonly syncLevel: SyncLevel;
  readonly basePath: string | undefined;
  /** VERIFY_INTERVAL and VERIFY_BUDGET as given (checked): the scheduled verify. */
  readonly verify: readonly PlainAttribute[];
}

export function readDatastoreTemplate(text: string, drivers: readonly string[]): DatastoreTemplate {
  const r = new TemplateReader(parseTemplate(text).attributes, SINGLETONS, []);
  const name = r.require('NAME', 'give the datastore a NAME = "..."');
  if (name !== undefined) {
    const p = checkName(name);
    if (p) r.fail(r.at('NAME'), 'NAME', p);
  }
  if (r.get(DATASTORE_UUID) !== undefined)
    r.fail(r.at(DATASTORE_UUID), DATASTORE_UUID, `${DATASTORE_UUID} is set by onebackupd; leave it out`);
  const type = r.oneOf('TYPE', ['BACKUP_DS'], 'BACKUP_DS');
  const dsMad = r.oneOf('DS_MAD', drivers, 'local', { lower: true });
  const compression = r.oneOf('COMPRESSION', COMPRESSIONS, 'zstd', { lower: true });
  const [min, max, dflt] = LEVELS[compression];
  const level = r.integer('COMPRESSION_LEVEL', min, max, dflt);
  const encryption = r.yesNo('ENCRYPTION', 'NO');
  const syncLevel = r.oneOf('SYNC_LEVEL', SYNC_LEVELS, DEFAULT_SYNC_LEVEL, { lower: true });
  const basePath = r.get('BASE_PATH');
  if (basePath !== undefined && !basePath.startsWith('/'))
    r.fail(r.at('BASE_PATH'), 'BASE_PATH', `BASE_PATH="${basePath}" must be an absolute path`);
  // The default (<state dir>/datastores/<id>) is a directory on this machine: only `local` has one.
  if (basePath === undefined && dsMad !== 'local')
    r.require(
      'BASE_PATH',
      `DS_MAD="${dsMad}" keeps the backups on another machine: give the directory there`,
    );
  const verify: PlainAttribute[] = [];
  for (const [attr, parse] of [
    ['VERIFY_INTERVAL', parseVerifyInterval],
    ['VERIFY_BUDGET', parseVerifyBudget],
  ] as const) {
    const v = r.get(attr);
    if (v === undefined) continue;
    try {
      parse(v);
      verify.push(single(attr, v.trim()));
    } catch (err) {
      r.fail(r.at(attr), attr, (err as Error).message);
    }
  }
  if (r.get('VERIFY_BUDGET') !== undefined && r.get('VERIFY_INTERVAL') === undefined)
    r.fail(
      r.at('VERIFY_BUDGET'),
      'VERIFY_BUDGET',
      'VERIFY_BUDGET limits the scheduled verify: give VERIFY_INTERVAL too (e.g. VERIFY_INTERVAL = "24")',
    );
  return {
    reader: r,
    name: name ?? '',
    type,
    dsMad,
    compression,
    level,
    encryption,
    syncLevel,
    basePath,
    verify,
  };
}

/** The attributes a datastore is stored with. */
export function datastoreAttributes(
  t: DatastoreTemplate,
  basePath: string,
  uuid: string,
  encryption: 'YES' | 'NO' = t.encryption,
): PlainAttribute[] {
  return [
    single('BASE_PATH', basePath),
    single('COMPRESSION', t.compression),
    single('COMPRESSION_LEVEL', String(t.level)),
    single(DATASTORE_UUID, uuid),
    single('DS_MAD', t.dsMad),
    single('ENCRYPTION', encryption),
    single('SYNC_LEVEL', t.syncLevel),
    single('TYPE', t.type),
    ...t.verify,
    ...t.reader.others(),
  ];
}

export function storageOf(id: number, dsMad: string, attributes: readonly PlainAttribute[]): StorageSettings {
  const map = new Map<string, string>();
  for (const a of attributes) if (a.kind === 'single' && !map.has(a.name)) map.set(a.name, a.value);
  return { id, dsMad, attributes: map };
}

export async function refuseNameClash(trx: Tx, name: string): Promise<void> {
  const clash = await findDatastoreIdByName(trx, name);
  if (clash !== undefined)
    throw new OneError(ErrorCode.ALLOCATE, `NAME is already taken by DATASTORE ${clash}.`);
}

/**
 * Throws when another datastore's storage equals, holds or lies inside `storage` (`what` names
 * the new one in the message). `sameAs` is a datastore allowed at exactly the same location.
 */
export async function refuseOverlap(
  trx: Tx,
  access: DatastoreAccess,
  storage: StorageSettings,
  what: string,
  sameAs?: (row: DatastoreTable) => boolean,
): Promise<DatastoreTable | undefined> {
  const mine = await access.location(storage);
  for (const row of await listDatastores(trx)) {
    if (row.id === storage.id) continue;
    let theirs: string;
    try {
      theirs = await access.location(datastoreToOpen(row));
    } catch {
      continue; // a driver this daemon does not have, or a configuration it refuses
    }
    if (!locationsOverlap(mine, theirs)) continue;
    if (mine === theirs && sameAs?.(row)) return row;
    const how =
      mine === theirs ? 'is the same directory as' : mine.startsWith(theirs) ? 'is inside' : 'holds';
    throw new OneError(
      ErrorCode.ACTION,
      `BASE_PATH of ${what} (${mine}) ${how} the BASE_PATH of datastore ${row.id} (${row.name}: ${theirs}); two datastores must not share or nest their directories: give another BASE_PATH`,
    );
  }
  return undefined;
}
