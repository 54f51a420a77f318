/**
 * `onedatastore import` (one.datastore.import): attaches a datastore's existing storage to this
 * daemon and rebuilds its backup images from the manifests there (core/store/datastore-import.ts),
 * or, given the storage of a datastore already attached (same directory, same DATASTORE_UUID),
 * adopts the manifests no image references. Keeps the storage's DATASTORE_UUID; storage from
 * before identities gets a new one. Never makes an encryption key: an encrypted datastore's key
 * comes back with `onedatastore key-import`. Its manifests are authenticated with that key, so
 * the first import attaches an encrypted datastore with no images, and the same import run again
 * once the key is installed adopts its backups (a manifest whose MAC fails is not adopted).
 */
import { randomUUID } from 'node:crypto';
import { epochSeconds } from '../clock.js';
import { DATASTORE_UUID, type FoundManifest } from '../datastore-access.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Requester } from '../permissions.js';
import { backupImageName } from '../schedule/image-names.js';
import { type ImportedImage, recordImportedBackups, referencedManifests } from '../store/datastore-import.js';
import { datastoreToOpen, insertDatastore, takeDatastoreId } from '../store/datastores.js';
import type { Tx } from '../store/db.js';
import { encodeAttributes } from '../template/attributes.js';
import type { ServiceDeps } from './context.js';
import {
  datastoreAttributes,
  readDatastoreTemplate,
  refuseNameClash,
  refuseOverlap,
  storageOf,
} from './datastore-storage.js';
import { requireAdmin } from './objects.js';

/** Imports or adopts; returns the report `onedatastore import` prints (first line `ID: <id>`). */
export async function importDatastore(deps: ServiceDeps, who: Requester, text: string): Promise<string> {
  requireAdmin(who, 'CREATE', 'DATASTORE');
  const t = readDatastoreTemplate(text, deps.datastoreDrivers);
  const basePath = t.reader.require('BASE_PATH', 'give the BASE_PATH of the directory to attach');
  t.reader.throwIfProblems();
  const access = deps.datastoreAccess;
  const probe = storageOf(-1, t.dsMad, datastoreAttributes(t, basePath as string, ''));
  const { identity, empty } = await access.survey(probe);
  if (!identity && empty)
    throw new OneError(
      ErrorCode.ACTION,
      `BASE_PATH="${basePath}" holds no datastore (no identity document, no backups); make a new one with onedatastore create`,
    );
  const { found, unreadable, locked } = await access.manifests(probe);
  const encrypted = locked > 0 || found.some((m) => m.encrypted);
  const given = t.reader.get('ENCRYPTION');
  if (given !== undefined && (t.encryption === 'YES') !== encrypted)
    throw new OneError(
      ErrorCode.ACTION,
      `ENCRYPTION="${t.encryption}" does not match the backups in BASE_PATH="${basePath}" (they are ${encrypted ? '' : 'not '}encrypted); leave ENCRYPTION out`,
    );
  const nowS = epochSeconds(deps.clock);
  const nameOf = (vmId: number, at: number) => backupImageName(vmId, at, deps.timeZone);
  const record = (trx: Tx, id: number, manifests: readonly FoundManifest[]) =>
    recordImportedBackups(trx, id, who, manifests, nowS, nameOf);
  return deps.store.tx(async (trx) => {
    const attached = await refuseOverlap(
      trx,
      access,
      probe,
      `the imported datastore ${t.name}`,
      (row) =>
        identity !== undefined && datastoreToOpen(row).attributes.get(DATASTORE_UUID) === identity.uuid,
    );
    if (attached) {
      const keyed =
        encrypted || datastoreToOpen(attached).attributes.get('ENCRYPTION') === 'YES'
          ? await access.manifests(probe, attached.id).catch((err: unknown) => {
              throw new OneError(
                ErrorCode.ACTION,
                `datastore ${attached.id} is encrypted and its manifests are authenticated with its key: ${(err as Error).message}; then run this import again`,
              );
            })
          : { found, unreadable };
      const known = await referencedManifests(trx, attached.id);
      const images = await record(
        trx,
        attached.id,
        keyed.found.filter((m) => !known.has(m.path)),
      );
      return report(
        attached.id,
        images,
        keyed.unreadable,
        0,
        `already attached: manifests no image referenced adopted`,
      );
    }
    await refuseNameClash(trx, t.name);
    const id = await takeDatastoreId(trx);
    const uuid = identity?.uuid ?? randomUUID();
    const attributes = datastoreAttributes(t, basePath as string, uuid, encrypted ? 'YES' : 'NO');
    // The storage keeps the chunk IDs it has: its identity's, SHA-256 when it has none (backups
    // from before identities, the only storage that holds backups without one).
    await access.claim(
      storageOf(id, t.dsMad, attributes),
      identity
        ? { ...identity, datastoreId: id }
        : { format: 'onebackup-datastore', version: 1, uuid, datastoreId: id, createdAt: nowS },
    );
    await insertDatastore(trx, {
      id,
      name: t.name,
      owner: who,
      template: encodeAttributes(attributes),
      type: t.type,
      dsMad: t.dsMad,
    });
    return report(id, await record(trx, id, found), unreadable, locked);
  });
}

function report(
  id: number,
  images: readonly ImportedImage[],
  unreadable: readonly { path: string; message: string }[],
  /** Encrypted manifests not adopted yet: they need the key. */
  locked: number,
  note?: string,
): string {
  const increments = images.reduce((s, i) => s + i.increments, 0);
  return [
    `ID: ${id}`,
    ...(note ? [`NOTE: ${note}`] : []),
    `IMAGES: ${images.length} (${increments} increments)`,
    ...images.map(
      (i) => `IMAGE ${i.imageId}: VM ${i.vmId}${i.vmGone ? ' (gone)' : ''}, ${i.increments} increments`,
    ),
    ...unreadable.map((u) => `UNREADABLE MANIFEST ${u.path}: ${u.message}`),
    ...(locked > 0
      ? [
          `KEY: the ${locked} backups are encrypted and their manifests authenticated with the key: install it with onedatastore key-import ${id} FILE, then run this import again to adopt them`,
        ]
      : []),
  ].join('\n');
}
