/**
 * Recorded backups: what a VM backup reads before it starts, and the one transaction that makes a
 * finished backup exist (image or increment, KEEP_LAST, the VM's chain pointers; for a job's VM
 * also its set, task and run, through the caller's `also`).
 * Crash story: until recordBackup's transaction commits, the backup does not exist; its manifest
 * is unreferenced and a later GC removes it. After the commit, everything about it is there.
 */
import { type BackupConfig, backupConfigFromJson, backupConfigToJson } from '../backup-config.js';
import { ErrorCode, OneError } from '../errors.js';
import type { BackupMode, DiskFormat, VmState } from '../model.js';
import { isAuthorized, permissionsFromBits, type Requester } from '../permissions.js';
import type { HostAccess } from '../vm-discovery.js';
import { dropCopies, queueCopy } from './copies.js';
import { findDatastore } from './datastores.js';
import { nextId, type Queryable, type Tx } from './db.js';
import { IMAGE_STATE_ERROR } from './images.js';
import { newObjectOwnership } from './owned.js';
import type { DatastoreTable, ImageIncrementTable, ImageTable, OwnedColumns } from './schema.js';
import { hostAccessOf, type VmLocationAttributes, vmLocation } from './vms.js';

/** Everything a VM backup reads before it starts. */
export interface BackupSource {
  readonly vm: {
    readonly id: number;
    readonly hostId: number;
    readonly state: VmState;
    readonly uid: number;
    readonly gid: number;
  };
  readonly backupConfig: BackupConfig;
  /** VM_MAD of the VM's host; undefined when the host is gone. */
  readonly hypervisor: string | undefined;
  readonly disks: readonly { diskId: number; source: string; format: DiskFormat; virtualSize: number }[];
  readonly datastore: DatastoreTable;
  /** Where a kvm VM runs: the VM's DEPLOY_ID, QMP_SOCKET, GUEST_AGENT_SOCKET, the host's LIBVIRT_URI. */
  readonly location: VmLocationAttributes;
  /** Whether this backup, recorded now, adds an increment to an open chain (else it starts an image). */
  readonly continuesChain: boolean;
}

/** Whether a backup of the VM into `datastoreId` would add to its open increment chain. */
async function opensOnChain(
  db: Queryable,
  cfg: BackupConfig,
  mode: BackupMode,
  reset: boolean,
  datastoreId: number,
): Promise<{ chain: boolean; imageId: number }> {
  const imageId = cfg.incrementalBackupId ?? -1;
  if (mode !== 'INCREMENT' || reset || imageId < 0) return { chain: false, imageId };
  const img = await db
    .selectFrom('images')
    .select('datastore_id')
    .where('id', '=', imageId)
    .executeTakeFirst();
  return { chain: img !== undefined && img.datastore_id === datastoreId, imageId };
}

export async function readBackupSource(
  db: Queryable,
  vmId: number,
  datastoreId: number,
  plan: { readonly mode: BackupMode | undefined; readonly reset: boolean } = {
    mode: undefined,
    reset: false,
  },
): Promise<BackupSource> {
  const vm = await db.selectFrom('vms').selectAll().where('id', '=', vmId).executeTakeFirst();
  if (!vm) throw new OneError(ErrorCode.NO_EXISTS, `VM ${vmId} no longer exists`);
  const datastore = await findDatastore(db, datastoreId);
  if (!datastore) throw new OneError(ErrorCode.NO_EXISTS, `datastore ${datastoreId} does not exist`);
  if (datastore.type !== 'BACKUP_DS')
    throw new OneError(ErrorCode.ACTION, 'Datastore needs to be of type BACKUP');
  const host = await db
    .selectFrom('hosts')
    .select(['vm_mad', 'template', 'name'])
    .where('id', '=', vm.host_id)
    .executeTakeFirst();
  const backupConfig = backupConfigFromJson(vm.backup_config);
  const { chain } = await opensOnChain(
    db,
    backupConfig,
    plan.mode ?? backupConfig.mode ?? 'FULL',
    plan.reset,
    datastoreId,
  );
  const location = vmLocation(vm.template, host);
  const disks = await db
    .selectFrom('vm_disks')
    .selectAll()
    .where('vm_id', '=', vmId)
    .orderBy('disk_id')
    .execute();
  return {
    vm: { id: vm.id, hostId: vm.host_id, state: vm.state, uid: vm.uid, gid: vm.gid },
    backupConfig,
    hypervisor: host?.vm_mad,
    location,
    continuesChain: chain,
    disks: disks.map((d) => ({
      diskId: d.disk_id,
      source: d.source,
      format: d.format,
      virtualSize: d.size_bytes,
    })),
    datastore,
  };
}

/** The manifest path of the newest recorded backup of a VM in a datastore. */
export async function newestManifestPath(
  db: Queryable,
  vmId: number,
  datastoreId: number,
): Promise<string | undefined> {
  const inc = await db
    .selectFrom('image_increments')
    .innerJoin('images', 'images.id', 'image_increments.image_id')
    .select('image_increments.source')
    .where('images.vm_id', '=', vmId)
    .where('images.datastore_id', '=', datastoreId)
    .orderBy('image_increments.date', 'desc')
    .orderBy('image_increments.image_id', 'desc')
    .orderBy('image_increments.inc_id', 'desc')
    .executeTakeFirst();
  return inc?.source;
}

/** A finished VM backup, as the engine returned it. */
export interface FinishedBackup {
  readonly vmId: number;
  readonly datastoreId: number;
  /** Manifest path in the datastore. */
  readonly source: string;
  readonly sizeBytes: number;
  readonly format: DiskFormat;
  /** JSON of the increment's statistics. */
  readonly stats: string;
  /** The new image's NAME, if a new image is made. */
  readonly imageName: string;
  readonly nowS: number;
  readonly reset: boolean;
  /** From a backup job: its MODE/KEEP_LAST override the VM's own BACKUP_CONFIG. */
  readonly mode?: BackupMode | undefined;
  readonly keepLast?: number | undefined;
  readonly jobId?: number | undefined;
  /** Who retention acts for (the job's owner, or who ran `onevm backup`): it drops only what they may MANAGE. */
  readonly owner: RetentionOwner;
}

export type RetentionOwner = Pick<Requester, 'uid' | 'gid' | 'isAdmin'>;

export interface RecordedBackup {
  readonly imageId: number;
  readonly incrementId: number;
  /** Manifest paths of the backups retention dropped: delete them after the commit. */
  readonly dropped: readonly string[];
}

const MB = 1024 * 1024;

/**
 * One transaction: image or increment, KEEP_LAST, the VM's chain pointers, then `also` (a job's
 * set, task and run) in the same transaction.
 */
export async function recordBackup(
  trx: Tx,
  b: FinishedBackup,
  also?: (trx: Tx) => Promise<void>,
): Promise<RecordedBackup> {
  const vm = await trx
    .selectFrom('vms')
    .select(['id', 'uid', 'gid', 'backup_config'])
    .where('id', '=', b.vmId)
    .executeTakeFirst();
  if (!vm) throw new OneError(ErrorCode.NO_EXISTS, `VM ${b.vmId} no longer exists`);
  const cfg = backupConfigFromJson(vm.backup_config);
  const mode: BackupMode = b.mode ?? cfg.mode ?? 'FULL';
  const keepLast = b.keepLast ?? cfg.keepLast ?? 0;
  const sizeMb = Math.ceil(b.sizeBytes / MB);
  let { chain, imageId } = await opensOnChain(trx, cfg, mode, b.reset, b.datastoreId);
  let incrementId = 0;
  const increment = (inc: number, type: BackupMode): ImageIncrementTable => ({
    image_id: imageId,
    inc_id: inc,
    type,
    parent_id: inc - 1,
    source: b.source,
    size_mb: sizeMb,
    date: b.nowS,
    stats: b.stats,
  });
  if (chain) {
    const last = await trx
      .selectFrom('image_increments')
      .select('inc_id')
      .where('image_id', '=', imageId)
      .orderBy('inc_id', 'desc')
      .executeTakeFirst();
    incrementId = (last?.inc_id ?? -1) + 1;
    await trx.insertInto('image_increments').values(increment(incrementId, 'INCREMENT')).execute();
    await trx.updateTable('images').set({ size_mb: sizeMb }).where('id', '=', imageId).execute();
  } else {
    imageId = await nextId(trx, 'images');
    await trx
      .insertInto('images')
      .values(newImage(imageId, vm, b, sizeMb))
      .execute();
    await trx.insertInto('image_increments').values(increment(0, 'FULL')).execute();
  }
  await queueCopy(
    trx,
    { imageId, incrementId, vmId: b.vmId, datastoreId: b.datastoreId, source: b.source },
    b.nowS,
  );
  const dropped = keepLast > 0 ? await applyRetention(trx, b, imageId, mode, keepLast) : [];
  const next: BackupConfig = {
    ...cfg,
    lastDatastoreId: b.datastoreId,
    lastIncrementId: mode === 'INCREMENT' ? incrementId : -1,
    incrementalBackupId: mode === 'INCREMENT' ? imageId : -1,
    lastBackupTime: b.nowS,
  };
  await trx
    .updateTable('vms')
    .set({ backup_config: backupConfigToJson(next) })
    .where('id', '=', b.vmId)
    .execute();
  if (also) await also(trx);
  return { imageId, incrementId, dropped };
}

function newImage(
  id: number,
  owner: Pick<OwnedColumns, 'uid' | 'gid'>,
  b: FinishedBackup,
  sizeMb: number,
): ImageTable {
  return {
    id,
    name: b.imageName,
    ...newObjectOwnership(owner),
    template: '[]',
    type: 'BACKUP',
    datastore_id: b.datastoreId,
    vm_id: b.vmId,
    backup_job_id: b.jobId ?? -1,
    source: `${b.vmId}/`,
    size_mb: sizeMb,
    format: b.format,
    regtime: b.nowS,
    state: 1,
    verified_at: 0,
  };
}

function mayManage(owner: RetentionOwner, row: Pick<OwnedColumns, 'uid' | 'gid' | 'permissions'>): boolean {
  return isAuthorized(
    { ...owner, uname: '', gname: '' },
    { uid: row.uid, gid: row.gid, permissions: permissionsFromBits(row.permissions) },
    'MANAGE',
  );
}

/**
 * KEEP_LAST, within one VM's backups in one datastore: in INCREMENT mode the oldest increments of
 * the chain, in FULL mode the oldest images. Only what the owner may MANAGE is dropped, and never
 * the VM's newest image that a verify found whole (so a run of broken backups cannot push out the
 * last good one).
 */
async function applyRetention(
  trx: Tx,
  b: FinishedBackup,
  imageId: number,
  mode: BackupMode,
  keepLast: number,
): Promise<string[]> {
  const dropped: string[] = [];
  if (mode === 'INCREMENT') {
    const chain = await trx
      .selectFrom('images')
      .select(['uid', 'gid', 'permissions'])
      .where('id', '=', imageId)
      .executeTakeFirst();
    if (!chain || !mayManage(b.owner, chain)) return dropped;
    const incs = await trx
      .selectFrom('image_increments')
      .selectAll()
      .where('image_id', '=', imageId)
      .orderBy('inc_id')
      .execute();
    const drop = incs.slice(0, Math.max(0, incs.length - keepLast));
    await dropCopies(
      trx,
      imageId,
      drop.map((i) => i.inc_id),
    );
    for (const inc of drop) {
      dropped.push(inc.source);
      await trx
        .deleteFrom('image_increments')
        .where('image_id', '=', imageId)
        .where('inc_id', '=', inc.inc_id)
        .execute();
    }
    const oldest = incs[drop.length];
    if (drop.length > 0 && oldest) {
      await trx
        .updateTable('image_increments')
        .set({ type: 'FULL', parent_id: -1 })
        .where('image_id', '=', imageId)
        .where('inc_id', '=', oldest.inc_id)
        .execute();
    }
    return dropped;
  }
  const images = await trx
    .selectFrom('images')
    .select(['id', 'uid', 'gid', 'permissions', 'state', 'verified_at'])
    .where('vm_id', '=', b.vmId)
    .where('datastore_id', '=', b.datastoreId)
    .where('type', '=', 'BACKUP')
    .orderBy('id')
    .execute();
  const lastGood = images.filter((i) => i.verified_at > 0 && i.state !== IMAGE_STATE_ERROR).at(-1)?.id;
  for (const img of images.slice(0, Math.max(0, images.length - keepLast))) {
    if (img.id === lastGood || !mayManage(b.owner, img)) continue;
    const incs = await trx
      .selectFrom('image_increments')
      .select('source')
      .where('image_id', '=', img.id)
      .execute();
    dropped.push(...incs.map((i) => i.source));
    await dropCopies(trx, img.id);
    await trx.deleteFrom('image_increments').where('image_id', '=', img.id).execute();
    await trx.deleteFrom('images').where('id', '=', img.id).execute();
  }
  return dropped;
}

/** What a restore of an image increment reads. */
export interface RestoreSource {
  readonly image: ImageTable;
  readonly increment: ImageIncrementTable;
  /** VM_MAD of the host of the image's VM, if both still exist. */
  readonly hypervisor: string | undefined;
  /** How the daemon reaches that host (in-place restores write there). */
  readonly host: HostAccess | undefined;
}

/** The increment to restore (the newest when none is named). */
export async function readRestoreSource(
  db: Queryable,
  imageId: number,
  incrementId: number | undefined,
): Promise<RestoreSource> {
  const image = await db.selectFrom('images').selectAll().where('id', '=', imageId).executeTakeFirst();
  if (!image) throw new OneError(ErrorCode.NO_EXISTS, `Error getting image [${imageId}].`);
  let q = db.selectFrom('image_increments').selectAll().where('image_id', '=', imageId);
  q = incrementId === undefined ? q.orderBy('inc_id', 'desc') : q.where('inc_id', '=', incrementId);
  const increment = await q.executeTakeFirst();
  if (!increment)
    throw new OneError(
      ErrorCode.ACTION,
      `image ${imageId} has no increment ${incrementId ?? '(none)'}; see oneimage show ${imageId}`,
    );
  const host = await db
    .selectFrom('vms')
    .innerJoin('hosts', 'hosts.id', 'vms.host_id')
    .select(['hosts.vm_mad', 'hosts.name', 'hosts.template'])
    .where('vms.id', '=', image.vm_id)
    .executeTakeFirst();
  return { image, increment, hypervisor: host?.vm_mad, host: host && hostAccessOf(host) };
}

/** A datastore row by ID, NO_EXISTS when it is gone. */
export async function datastoreRow(db: Queryable, datastoreId: number): Promise<DatastoreTable> {
  const row = await findDatastore(db, datastoreId);
  if (!row) throw new OneError(ErrorCode.NO_EXISTS, `Error getting datastore [${datastoreId}].`);
  return row;
}
