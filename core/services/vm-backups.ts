/**
 * Backups of single VMs (`one.vm.backup`, OpenNebula's `onevm backup`) and restores
 * (`one.image.restore` to new disks and a new VM; `one.vm.restore` in place). Backups run in the
 * background, as in OpenNebula: the call returns once the backup has started; the VM shows its
 * progress and, on failure, an ERROR attribute "<ctime> : <message>".
 */
import { join } from 'node:path';
import { epochSeconds } from '../clock.js';
import type { BackupRunner } from '../engine/runner.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BackupObserver } from '../metrics/observer.js';
import { isAuthorized, type Requester } from '../permissions.js';
import { classifyFailure } from '../scheduler/failure.js';
import { findImage, isBackupDatastore } from '../store/images.js';
import { disksOfVm, findVm, firstHostId, insertVm, type NewVmDisk, setVmError } from '../store/vms.js';
import { parseTemplate } from '../template/parser.js';
import type { ServiceDeps } from './context.js';
import { loadAuthorized, newObjectOwnership, notAuthorized, notFound, ownedView } from './objects.js';
import { TemplateReader } from './template-reader.js';

export interface VmBackupDeps {
  readonly runner: BackupRunner;
  readonly log: Logger;
  /** Where restores go when the caller names no directory. */
  readonly restoreDir: string;
  /** ctime()-style time for ERROR attributes. */
  readonly ctime: (epochS: number) => string;
  /** Told of failed backups and of restores (metrics). */
  readonly observer?: BackupObserver;
}

export class VmBackupService {
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly deps: ServiceDeps,
    private readonly backups: VmBackupDeps,
  ) {}

  /** Starts a backup of a VM that belongs to no job. Resolves when it has started. */
  async backup(who: Requester, vmId: number, datastoreId: number, reset: boolean): Promise<number> {
    const hostId = await this.deps.store.tx(async (trx) => {
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
      return row.host_id;
    });
    if (this.backups.runner.running.has(vmId)) {
      throw new OneError(
        ErrorCode.ACTION,
        `Could not create a new backup for VM ${vmId}, a backup is already running`,
      );
    }
    this.deps.scheduler.backupStarted(vmId, hostId);
    const task = this.backups.runner
      .backupVm(vmId, datastoreId, { reset })
      .then(
        async () => this.setError(vmId, undefined),
        async (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          this.backups.log.error('backup failed', { vm: vmId, error: message });
          this.backups.observer?.backupFailed({ vmId, jobId: -1, reason: classifyFailure(err, false) });
          await this.setError(vmId, message);
        },
      )
      .finally(() => {
        this.#inFlight.delete(task);
        this.deps.scheduler.backupFinished(vmId);
      });
    this.#inFlight.add(task);
    return vmId;
  }

  private async setError(vmId: number, message: string | undefined): Promise<void> {
    const text =
      message === undefined
        ? undefined
        : `${this.backups.ctime(epochSeconds(this.deps.clock))} : [backup] ${message}`;
    await this.deps.store.tx((trx) => setVmError(trx, vmId, text));
  }

  /** `onedatastore gc`: MANAGE on the datastore. Returns a one-line summary. */
  async gc(who: Requester, datastoreId: number): Promise<string> {
    await this.deps.store.tx((trx) => loadAuthorized(trx, who, 'datastores', datastoreId, 'MANAGE'));
    const r = await this.backups.runner.gc(datastoreId);
    return `chunks kept: ${r.chunksKept}, chunks removed: ${r.chunksRemoved}, manifests removed: ${r.manifestsRemoved}`;
  }

  /**
   * `onedatastore verify` / `oneimage verify`: every chunk read and checked (digest, GCM tag).
   * Returns a report; the first line is `OK ...` or `FAILED ...`, then one line per broken backup chunk.
   */
  async verify(
    who: Requester,
    target: { datastoreId: number } | { imageId: number; incrementId: number },
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
    const r = await this.backups.runner.verify(datastoreId, scope);
    const head =
      r.problems.length === 0
        ? `OK: ${r.chunksChecked} chunks verified`
        : `FAILED: ${r.problems.length} broken chunk references in ${r.chunksChecked} chunks`;
    return [
      head,
      ...r.problems.map(
        (p) => `image ${p.imageId} increment ${p.incrementId} disk ${p.diskId}: ${p.message}`,
      ),
    ].join('\n');
  }

  /** Waits for the backups started here (daemon shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * `one.image.restore`: new disk files in the original formats and, unless one disk was asked
   * for, a new VM (powered off) in the inventory. Template: NAME, INCREMENT_ID, DISK_ID, TO.
   */
  async restore(who: Requester, imageId: number, text: string): Promise<string> {
    const r = new TemplateReader(
      text.trim() === '' ? [] : parseTemplate(text).attributes,
      ['NAME', 'INCREMENT_ID', 'DISK_ID', 'TO'],
      [],
    );
    const incrementId =
      r.get('INCREMENT_ID') === undefined ? undefined : r.integer('INCREMENT_ID', 0, 1e9, 0);
    const diskId = r.get('DISK_ID') === undefined ? undefined : r.integer('DISK_ID', 0, 1e6, 0);
    const to = r.get('TO');
    if (to !== undefined && !to.startsWith('/'))
      r.fail(r.at('TO'), 'TO', `TO="${to}" must be an absolute directory`);
    r.throwIfProblems();
    const image = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'images', imageId, 'USE');
      const row = await findImage(trx, imageId);
      if (!row) throw notFound('IMAGE', imageId);
      return row;
    });
    if (!who.isAdmin && to !== undefined) {
      throw new OneError(
        ErrorCode.AUTHORIZATION,
        `User [${who.uid}] : only admins may restore into a directory of their choice (TO)`,
      );
    }
    const stamp = epochSeconds(this.deps.clock);
    const dir = to ?? join(this.backups.restoreDir, `image-${imageId}-${stamp}`);
    const { manifest, files } = await this.observeRestore(
      image.vm_id,
      this.backups.runner.restoreImage(imageId, incrementId, diskId, dir),
    );
    const lines = [...files.entries()].map(([d, f]) => `DISK ${d}: ${f}`);
    if (diskId !== undefined) return lines.join('\n');
    const vmId = await this.deps.store.tx(async (trx) => {
      const original = await findVm(trx, image.vm_id);
      const host = original ? original.host_id : await firstHostId(trx);
      if (host === undefined)
        throw new OneError(
          ErrorCode.ACTION,
          'no host to register the restored VM on; create one with onehost create',
        );
      const name = r.get('NAME') ?? `${original?.name ?? `vm-${image.vm_id}`}-restore-${imageId}`;
      const disks: NewVmDisk[] = [];
      for (const d of manifest.disks) {
        const source = files.get(d.diskId);
        if (source !== undefined)
          disks.push({ diskId: d.diskId, source, format: d.format, sizeBytes: d.virtualSize });
      }
      return insertVm(trx, {
        name,
        ownership: newObjectOwnership(who),
        template: [],
        hostId: host,
        state: 'POWEROFF',
        stime: stamp,
        backupConfig: {},
        disks,
      });
    });
    return [`VM: ${vmId}`, ...lines].join('\n');
  }

  /** `one.vm.restore`: the VM's own disk files are replaced; the VM must be powered off. */
  async restoreInPlace(
    who: Requester,
    vmId: number,
    imageId: number,
    incrementId: number,
    diskId: number,
  ): Promise<number> {
    const { vm, disks } = await this.deps.store.tx(async (trx) => {
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
      return { vm: row, disks: await disksOfVm(trx, vmId) };
    });
    if (vm.state !== 'POWEROFF') {
      throw new OneError(
        ErrorCode.ACTION,
        `VM ${vmId} must be POWEROFF for an in-place restore (it is ${vm.state})`,
      );
    }
    if (this.backups.runner.running.has(vmId))
      throw new OneError(ErrorCode.ACTION, `VM ${vmId}: a backup is running`);
    const byId = new Map(disks.map((d) => [d.disk_id, d.source]));
    const restoring = this.backups.runner.restoreImage(
      imageId,
      incrementId < 0 ? undefined : incrementId,
      diskId < 0 ? undefined : diskId,
      '/',
      (d) => {
        const source = byId.get(d);
        if (source === undefined)
          throw new OneError(ErrorCode.ACTION, `VM ${vmId} has no disk ${d} to restore into`);
        return source;
      },
    );
    await this.observeRestore(vmId, restoring);
    return vmId;
  }

  /** Logs the end of a restore and tells the observer, then passes the outcome on. */
  private async observeRestore<T>(vmId: number, restoring: Promise<T>): Promise<T> {
    try {
      const result = await restoring;
      this.backups.log.info('restore done', { vm: vmId });
      this.backups.observer?.restoreFinished({ vmId, ok: true });
      return result;
    } catch (err) {
      this.backups.log.error('restore failed', {
        vm: vmId,
        error: err instanceof Error ? err.message : String(err),
      });
      this.backups.observer?.restoreFinished({ vmId, ok: false });
      throw err;
    }
  }
}
