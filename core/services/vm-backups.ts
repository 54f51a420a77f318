/**
 * Backups of single VMs (`one.vm.backup`, OpenNebula's `onevm backup`) and restores
 * (`one.image.restore` to new disks and a new VM; `one.vm.restore` in place). Backups run in the
 * background, as in OpenNebula: the call returns once the backup is queued; the VM shows why it
 * waits, then its progress and, on failure, an ERROR attribute "<ctime> : <message>". Every
 * data-moving call goes through the scheduler port and waits for a slot of its kind.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { epochSeconds } from '../clock.js';
import { ErrorCode, OneError } from '../errors.js';
import { isAuthorized, type Requester } from '../permissions.js';
import type { OperationProgress, ProgressWatch } from '../progress.js';
import type { Tx } from '../store/db.js';
import { findImage, isBackupDatastore } from '../store/images.js';
import { cancelJobRun } from '../store/jobs.js';
import { findOwnedNameClash } from '../store/owned.js';
import {
  disksOfVm,
  findVm,
  firstHostId,
  hostNamesById,
  hypervisorVms,
  insertVm,
  type NewVmDisk,
} from '../store/vms.js';
import { setSingle } from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import type { ServiceDeps } from './context.js';
import {
  checkName,
  loadAuthorized,
  newObjectOwnership,
  notAuthorized,
  notFound,
  ownedView,
} from './objects.js';
import { TemplateReader } from './template-reader.js';

export interface VmBackupDeps {
  /** Where restores go when the caller names no directory. */
  readonly restoreDir: string;
}

/** `name`, or `name-2`, `name-3`, ...: the first no VM of the owner has. */
async function freeVmName(trx: Tx, uid: number, name: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${name}-${n}`;
    if ((await findOwnedNameClash(trx, 'vms', candidate, -1, uid)) === undefined) return candidate;
  }
}

/** A restore or verify the caller tagged, to follow it with `one.progress.info`. */
function watchOf(who: Requester, tag: string): ProgressWatch | undefined {
  return tag === '' ? undefined : { tag, uid: who.uid };
}

export class VmBackupService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly backups: VmBackupDeps,
  ) {}

  /**
   * Queues a backup of a VM that belongs to no job; it starts when a slot is free (the VM shows
   * why it waits). Resolves once queued.
   */
  async backup(who: Requester, vmId: number, datastoreId: number, reset: boolean): Promise<number> {
    const request = await this.deps.store.tx(async (trx) => {
      const vm = await loadAuthorized(trx, who, 'vms', vmId, 'MANAGE');
      const row = await findVm(trx, vm.id);
      if (!row) throw notFound('VM', vm.id);
      if (row.backup_job_id >= 0) {
        throw new OneError(
          ErrorCode.ACTION,
          `Unable to start an individual backup for the Virtual Machine, it is part of Backup Job ID ${row.backup_job_id}`,
        );
      }
      const ds = await loadAuthorized(trx, who, 'datastores', datastoreId, 'USE');
      if (!(await isBackupDatastore(trx, ds.id)))
        throw new OneError(ErrorCode.ACTION, 'Datastore needs to be of type BACKUP');
      const hostName = (await hostNamesById(trx)).get(row.host_id) ?? String(row.host_id);
      return {
        vmId,
        hostId: row.host_id,
        hostName,
        datastoreId,
        reset,
        owner: { uid: who.uid, gid: who.gid, isAdmin: who.isAdmin },
      };
    });
    this.deps.scheduler.requestVmBackup(request);
    return vmId;
  }

  /**
   * `onevm backup-cancel` (`one.vm.backupcancel`): the VM's running or queued backup, whether
   * `onevm backup` or its job started it, stops. MANAGE on the VM, as `one.vm.backup`. A job's
   * VM ends as `onebackupjob cancel` leaves it (a running one in ERROR, a queued one out of the
   * run); a queued `onevm backup` leaves the queue; a running one is aborted and its chunks removed.
   * Nothing is recorded as a backup. Returns what was stopped.
   */
  async cancel(who: Requester, vmId: number): Promise<'queued' | 'running'> {
    const { jobId, fromJob } = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'vms', vmId, 'MANAGE');
      const row = await findVm(trx, vmId);
      if (!row) throw notFound('VM', vmId);
      if (row.backup_job_id < 0) return { jobId: -1, fromJob: undefined };
      return {
        jobId: row.backup_job_id,
        fromJob: await cancelJobRun(trx, row.backup_job_id, this.deps.clock.now(), vmId),
      };
    });
    if (fromJob && fromJob.running.length + fromJob.queued.length > 0) {
      this.deps.scheduler.abort(fromJob.running);
      this.deps.scheduler.jobChanged(jobId);
      return fromJob.running.length > 0 ? 'running' : 'queued';
    }
    const manual = await this.deps.scheduler.cancelVmBackup(vmId);
    if (manual === undefined)
      throw new OneError(ErrorCode.ACTION, `Could not cancel backup for VM ${vmId}, no backup in progress`);
    return manual;
  }

  /** `one.progress.info`: the caller's tagged restore or verify while it waits or runs. */
  progress(who: Requester, tag: string): OperationProgress {
    const p = this.deps.scheduler.progress({ tag, uid: who.uid });
    if (!p)
      throw new OneError(ErrorCode.NO_EXISTS, `no restore or verify of yours runs under the tag "${tag}"`);
    return p;
  }

  /** `onedatastore gc`: MANAGE on the datastore. Returns a one-line summary. */
  async gc(who: Requester, datastoreId: number): Promise<string> {
    await this.deps.store.tx((trx) => loadAuthorized(trx, who, 'datastores', datastoreId, 'MANAGE'));
    const r = await this.deps.scheduler.gc(datastoreId);
    const unknown = r.unknownManifests.length;
    const line = `chunks kept: ${r.chunksKept}, chunks removed: ${r.chunksRemoved}, unknown manifests kept: ${unknown}`;
    if (unknown === 0) return line;
    return [
      `${line} (no image references them; adopt them as images with onedatastore import, giving this datastore's NAME and BASE_PATH)`,
      ...r.unknownManifests.map((p) => `unknown manifest: ${p}`),
    ].join('\n');
  }

  /**
   * `onedatastore verify` / `oneimage verify`: every chunk read and checked (digest, GCM tag).
   * Returns a report; the first line is `OK ...` or `FAILED ...`, then one line per broken backup chunk.
   */
  async verify(
    who: Requester,
    target: { datastoreId: number } | { imageId: number; incrementId: number },
    tag = '',
  ): Promise<string> {
    let datastoreId: number;
    let scope: { imageId?: number; incrementId?: number } = {};
    if ('imageId' in target) {
      const image = await this.deps.store.tx(async (trx) => {
        await loadAuthorized(trx, who, 'images', target.imageId, 'USE');
        const row = await findImage(trx, target.imageId);
        if (!row) throw notFound('IMAGE', target.imageId);
        return row;
      });
      datastoreId = image.datastore_id;
      scope = {
        imageId: target.imageId,
        ...(target.incrementId >= 0 ? { incrementId: target.incrementId } : {}),
      };
    } else {
      await this.deps.store.tx((trx) => loadAuthorized(trx, who, 'datastores', target.datastoreId, 'MANAGE'));
      datastoreId = target.datastoreId;
    }
    const r = await this.deps.scheduler.verify(datastoreId, scope, watchOf(who, tag));
    const head =
      r.problems.length === 0
        ? `OK: ${r.chunksChecked} chunks verified`
        : `FAILED: ${r.problems.length} broken chunk references in ${r.chunksChecked} chunks` +
          (r.chunksQuarantined ? `, ${r.chunksQuarantined} bad chunks quarantined` : '');
    return [
      head,
      ...r.problems.map(
        (p) => `image ${p.imageId} increment ${p.incrementId} disk ${p.diskId}: ${p.message}`,
      ),
    ].join('\n');
  }

  /**
   * `one.image.restore`: new disk files in the original formats and, unless one disk was asked
   * for, a new VM (powered off) in the inventory. Template: NAME, INCREMENT_ID, DISK_ID, TO.
   */
  async restore(who: Requester, imageId: number, text: string): Promise<string> {
    const r = new TemplateReader(
      text.trim() === '' ? [] : parseTemplate(text).attributes,
      ['NAME', 'INCREMENT_ID', 'DISK_ID', 'TO', 'RESUME', 'DEFINE', 'PROGRESS_TAG', 'BACKUP_DATASTORE_ID'],
      [],
    );
    // DEFINE = "YES": also a new hypervisor VM (a libvirt domain) like the original, on these disks.
    const define = r.oneOf('DEFINE', ['YES', 'NO'], 'NO') === 'YES';
    const incrementId =
      r.get('INCREMENT_ID') === undefined ? undefined : r.integer('INCREMENT_ID', 0, 1e9, 0);
    const diskId = r.get('DISK_ID') === undefined ? undefined : r.integer('DISK_ID', 0, 1e6, 0);
    const resume = r.oneOf('RESUME', ['YES', 'NO'], 'NO') === 'YES';
    // BACKUP_DATASTORE_ID: read the image's copy in that datastore (COPY_DATASTORE_ID) instead.
    const datastoreId =
      r.get('BACKUP_DATASTORE_ID') === undefined ? undefined : r.integer('BACKUP_DATASTORE_ID', 0, 1e9, 0);
    const to = r.get('TO');
    if (to !== undefined && !to.startsWith('/'))
      r.fail(r.at('TO'), 'TO', `TO="${to}" must be an absolute directory`);
    const askedName = r.get('NAME');
    if (askedName !== undefined) {
      const problem = checkName(askedName);
      if (problem) r.fail(r.at('NAME'), 'NAME', problem);
    }
    r.throwIfProblems();
    const image = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'images', imageId, 'USE');
      const row = await findImage(trx, imageId);
      if (!row) throw notFound('IMAGE', imageId);
      // A NAME the caller chose must be free before any byte is written (as onevm create's).
      if (askedName !== undefined && diskId === undefined) {
        const clash = await findOwnedNameClash(trx, 'vms', askedName, -1, who.uid);
        if (clash !== undefined)
          throw new OneError(ErrorCode.ACTION, `NAME is already taken by VM ${clash}.`);
      }
      return row;
    });
    if (!who.isAdmin && to !== undefined) {
      throw new OneError(
        ErrorCode.AUTHORIZATION,
        `User [${who.uid}] : only admins may restore into a directory of their choice (TO)`,
      );
    }
    const stamp = epochSeconds(this.deps.clock);
    // Each restore its own directory: two in the same second never share files.
    const unique = `image-${imageId}-${stamp}-${randomBytes(3).toString('hex')}`;
    const dir = to ?? join(this.backups.restoreDir, unique);
    const { manifest, files, chunksSkipped, durability, fromCopy } = await this.deps.scheduler.restore({
      imageId,
      vmId: image.vm_id,
      incrementId,
      diskId,
      dir,
      resume,
      datastoreId,
      who: { uid: who.uid, isAdmin: who.isAdmin },
      watch: watchOf(who, r.get('PROGRESS_TAG') ?? ''),
    });
    const lines = [...files.entries()].map(([d, f]) => `DISK ${d}: ${f}`);
    if (resume) lines.push(`RESUMED: ${chunksSkipped ?? 0} chunks were already written`);
    if (durability !== undefined) lines.push(`DURABLE: ${durability}`);
    if (fromCopy !== undefined) lines.push(`FROM COPY: ${fromCopy}`);
    if (diskId !== undefined) return lines.join('\n');
    const deployId = define ? await this.defineLike(image.vm_id, imageId, askedName, who, files) : undefined;
    if (deployId !== undefined) lines.push(`DEPLOY_ID: ${deployId}`);
    const vmId = await this.deps.store.tx(async (trx) => {
      const original = await findVm(trx, image.vm_id);
      const host = original ? original.host_id : await firstHostId(trx);
      if (host === undefined)
        throw new OneError(
          ErrorCode.ACTION,
          'no host to register the restored VM on; create one with onehost create',
        );
      const name =
        deployId ??
        (await freeVmName(
          trx,
          who.uid,
          askedName ?? `${original?.name ?? `vm-${image.vm_id}`}-restore-${imageId}`,
        ));
      const disks: NewVmDisk[] = [];
      for (const d of manifest.disks) {
        const source = files.get(d.diskId);
        if (source !== undefined)
          disks.push({ diskId: d.diskId, source, format: d.format, sizeBytes: d.virtualSize });
      }
      return insertVm(trx, {
        name,
        ownership: newObjectOwnership(who),
        template: deployId === undefined ? [] : setSingle([], 'DEPLOY_ID', deployId),
        hostId: host,
        state: 'POWEROFF',
        stime: stamp,
        backupConfig: {},
        disks,
      });
    });
    return [`VM: ${vmId}`, ...lines].join('\n');
  }

  /**
   * Defines a new hypervisor VM like the backed-up one (its libvirt domain), on the restored
   * files; returns its DEPLOY_ID (also the new inventory VM's name).
   */
  private async defineLike(
    vmId: number,
    imageId: number,
    askedName: string | undefined,
    who: Requester,
    files: ReadonlyMap<number, string>,
  ): Promise<string> {
    const { original, disks, name } = await this.deps.store.read(async (trx) => {
      const row = await findVm(trx, vmId);
      return {
        original: (await hypervisorVms(trx, vmId))[0],
        disks: await disksOfVm(trx, vmId),
        name: await freeVmName(trx, who.uid, askedName ?? `${row?.name ?? `vm-${vmId}`}-restore-${imageId}`),
      };
    });
    const from = original?.location.deployId;
    if (!original || from === undefined)
      throw new OneError(
        ErrorCode.ACTION,
        `image ${imageId}: VM ${vmId} is not a hypervisor VM with a DEPLOY_ID, so no new one can be defined like it; the disks were restored (${[...files.values()].join(', ')})`,
      );
    const host = original.location.host;
    if (host && !this.deps.discovery.isLocal(host))
      throw new OneError(
        ErrorCode.ACTION,
        `image ${imageId}: VM ${vmId} runs on host ${host.name}, reached over SSH, and the disks were restored on this machine (${[...files.values()].join(', ')}); copy them to the host and define the VM there, or restore in place (onevm restore)`,
      );
    const sources = new Map<string, string>();
    for (const d of disks) {
      const to = files.get(d.disk_id);
      if (to !== undefined) sources.set(d.source, to);
    }
    try {
      const made = await this.deps.discovery.define(
        original.vmMad,
        { name: '', libvirtUri: original.location.libvirtUri, access: host },
        { from, name, sources },
      );
      if (made === undefined) throw new Error(`VM_MAD="${original.vmMad}" cannot define VMs`);
      return made;
    } catch (err) {
      throw new OneError(
        ErrorCode.ACTION,
        `image ${imageId}: cannot define a VM like ${from}: ${err instanceof Error ? err.message : String(err)}; the disks were restored (${[...files.values()].join(', ')})`,
      );
    }
  }

  /** `one.vm.restore`: the VM's own disk files are replaced; the VM must be powered off. */
  async restoreInPlace(
    who: Requester,
    vmId: number,
    imageId: number,
    incrementId: number,
    diskId: number,
  ): Promise<number> {
    const { vm, disks, reach } = await this.deps.store.tx(async (trx) => {
      const owned = await loadAuthorized(trx, who, 'vms', vmId, 'ADMIN');
      const image = await findImage(trx, imageId);
      if (!image) throw new OneError(ErrorCode.NO_EXISTS, `Error getting image [${imageId}].`);
      if (!isAuthorized(who, ownedView(image), 'USE')) throw notAuthorized(who, 'USE', 'IMAGE', imageId);
      if (image.vm_id !== vmId) {
        throw new OneError(
          ErrorCode.ACTION,
          `image ${imageId} is a backup of VM ${image.vm_id}, not of VM ${vmId}`,
        );
      }
      const row = await findVm(trx, owned.id);
      if (!row) throw notFound('VM', owned.id);
      return { vm: row, disks: await disksOfVm(trx, vmId), reach: (await hypervisorVms(trx, vmId))[0] };
    });
    // A kvm VM's state is its hypervisor's, asked now: the disks must not be in use.
    const live = reach
      ? await this.deps.discovery.stateOf(reach.vmMad, reach).catch(() => undefined)
      : undefined;
    const state = live ?? vm.state;
    if (state !== 'POWEROFF') {
      throw new OneError(
        ErrorCode.ACTION,
        `VM ${vmId} must be POWEROFF for an in-place restore (it is ${state}${live ? ' according to its hypervisor' : ''}); power it off first`,
      );
    }
    if (this.deps.scheduler.hasBackup(vmId))
      throw new OneError(ErrorCode.ACTION, `VM ${vmId}: a backup is running`);
    const byId = new Map(disks.map((d) => [d.disk_id, d.source]));
    await this.deps.scheduler.restore({
      imageId,
      vmId,
      incrementId: incrementId < 0 ? undefined : incrementId,
      diskId: diskId < 0 ? undefined : diskId,
      dir: '/',
      targetFor: (d) => {
        const source = byId.get(d);
        if (source === undefined)
          throw new OneError(ErrorCode.ACTION, `VM ${vmId} has no disk ${d} to restore into`);
        return source;
      },
    });
    return vmId;
  }
}
