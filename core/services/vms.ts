/** VMs in the inventory (`onevm create`, `delete`, `show`, `list`): template checks, then store transitions. */

import type { DiskFacts } from '../disk-facts.js';
import { ErrorCode, OneError } from '../errors.js';
import { DISK_FORMATS, type DiskFormat, isDiskFormat, VM_STATES } from '../model.js';
import { isAuthorized, type Requester } from '../permissions.js';
import type { Tx } from '../store/db.js';
import { removeDeletedVmFromJob } from '../store/jobs.js';
import {
  backupIdsOfVms,
  deleteVm,
  disksOfVms,
  findVm,
  findVmHostByRef,
  hostAccessOf,
  hostsById,
  insertVm,
  listVms,
  type NewVmDisk,
  type VmDiskRow,
  type VmRow,
} from '../store/vms.js';
import { decodeAttributes, type PlainAttribute, storedSingle } from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import type { DiscoveredDisk, VmReach } from '../vm-discovery.js';
import type { ServiceDeps } from './context.js';
import { groupBy } from './group-by.js';
import {
  checkName,
  loadAuthorized,
  newObjectOwnership,
  notFound,
  ownedView,
  type PoolQuery,
  pageOf,
  requireAdmin,
  visibleInPool,
} from './objects.js';
import { type Named, withNames } from './owned-view.js';
import { TemplateReader } from './template-reader.js';
import { readBackupConfig, updateVm, updateVmConf } from './vm-update.js';

export interface VmView extends Named<VmRow> {
  readonly template: readonly PlainAttribute[];
  readonly disks: readonly VmDiskRow[];
  readonly hostName: string;
  /** The hypervisor driver (VM_MAD) of the VM's host. */
  readonly hostVmMad: string;
  /**
   * The hypervisor's name for the VM (OpenNebula's DEPLOY_ID: a libvirt domain name or UUID);
   * '' when no hypervisor driver knows the VM as a running entity (hand-registered `fs` VMs).
   */
  readonly deployId: string;
  readonly backupIds: readonly number[];
}

export class VmService {
  constructor(private readonly deps: ServiceDeps) {}

  async allocate(who: Requester, text: string): Promise<number> {
    requireAdmin(who, 'CREATE', 'VM');
    const r = new TemplateReader(
      parseTemplate(text).attributes,
      ['NAME', 'HOST', 'STATE'],
      ['DISK', 'BACKUP_CONFIG'],
    );
    const backupConfig = readBackupConfig(r);
    const name = r.require('NAME', 'give the VM a NAME = "..."');
    if (name !== undefined) {
      const p = checkName(name);
      if (p) r.fail(r.at('NAME'), 'NAME', p);
    }
    const hostRef = r.require('HOST', 'name the host it runs on: HOST = "node1" (see onehost list)');
    let state = r.oneOf('STATE', VM_STATES, 'RUNNING');
    const disks: { source: string; format: DiskFormat | undefined; at: { line: number; column: number } }[] =
      [];
    const vectors = r.vectors('DISK');
    const reach = reachOf([...r.others()]);
    // A kvm VM (DEPLOY_ID or QMP_SOCKET) without DISK gets its disks from the hypervisor, below.
    if (vectors.length === 0 && reach.deployId === undefined && reach.qmpSocket === undefined)
      r.fail(
        { line: 1, column: 1 },
        'DISK',
        'a VM needs at least one DISK = [ SOURCE = "/path", FORMAT = "qcow2" ] (on a kvm host, DEPLOY_ID or QMP_SOCKET lets onebackup read its disks from the hypervisor)',
      );
    for (const v of vectors) {
      const source = v.values.get('SOURCE');
      const at = v.positions.get('SOURCE') ?? v;
      if (!source) {
        r.fail(v, 'DISK/SOURCE', 'DISK needs SOURCE = "/absolute/path/of/the/disk/file"');
        continue;
      }
      if (!source.startsWith('/')) r.fail(at, 'DISK/SOURCE', `SOURCE="${source}" must be an absolute path`);
      const formatRaw = v.values.get('FORMAT');
      let format: DiskFormat | undefined;
      if (formatRaw !== undefined) {
        const f = formatRaw.toLowerCase();
        if (isDiskFormat(f)) format = f;
        else
          r.fail(
            v.positions.get('FORMAT') ?? v,
            'DISK/FORMAT',
            `FORMAT="${formatRaw}" is not one of ${DISK_FORMATS.join(', ')}`,
          );
      }
      if (disks.some((d) => d.source === source))
        r.fail(at, 'DISK/SOURCE', `SOURCE="${source}" is given for two disks`);
      disks.push({ source, format, at });
    }
    r.throwIfProblems();
    const facts: DiskFacts[] = [];
    if (vectors.length === 0) {
      for (const d of await this.hypervisorDisks(r, hostRef as string, reach)) {
        disks.push({ source: d.source, format: d.format, at: { line: 1, column: 1 } });
        facts.push(d);
      }
      r.throwIfProblems();
    }
    for (const d of vectors.length === 0 ? [] : disks) {
      try {
        facts.push(await this.deps.inspectDisk(d.source, d.format));
      } catch (err) {
        r.fail(d.at, 'DISK/SOURCE', err instanceof Error ? err.message : String(err));
      }
    }
    r.throwIfProblems();
    // A kvm VM's state is its hypervisor's, not what the template says.
    if (reach.deployId !== undefined || reach.qmpSocket !== undefined)
      state = (await this.hypervisorState(hostRef as string, reach)) ?? state;
    const now = Math.floor(this.deps.clock.now() / 1000);
    return this.deps.store.tx(async (trx) => {
      const host = await findVmHostByRef(trx, hostRef as string);
      if (!host) {
        r.fail(r.at('HOST'), 'HOST', `host "${hostRef}" does not exist; see onehost list`);
        r.throwIfProblems();
        return -1;
      }
      if (!isAuthorized(who, ownedView(host), 'USE')) {
        r.fail(r.at('HOST'), 'HOST', `user ${who.uname} may not USE host ${host.id} (${host.name})`);
        r.throwIfProblems();
      }
      const newDisks: NewVmDisk[] = [];
      for (const [i, d] of disks.entries()) {
        const f = facts[i];
        if (f) newDisks.push({ diskId: i, source: d.source, format: f.format, sizeBytes: f.virtualSize });
      }
      return insertVm(trx, {
        name: name as string,
        ownership: newObjectOwnership(who),
        template: [...r.others()],
        hostId: host.id,
        state,
        stime: now,
        backupConfig,
        disks: newDisks,
      });
    });
  }

  /** A new kvm VM's state as its hypervisor reports it (undefined: it cannot tell). */
  private async hypervisorState(
    hostRef: string,
    reach: VmReach,
  ): Promise<'RUNNING' | 'POWEROFF' | undefined> {
    const on = await this.onHost(hostRef, reach);
    return on && this.deps.discovery.stateOf(on.host.vm_mad, on.vm).catch(() => undefined);
  }

  /** The host a new VM names, and how its hypervisor reaches the VM (with the host's LIBVIRT_URI). */
  private async onHost(hostRef: string, reach: VmReach) {
    const host = await this.deps.store.read((trx) => findVmHostByRef(trx, hostRef));
    if (!host) return undefined;
    const libvirtUri = storedSingle(host.template, 'LIBVIRT_URI');
    const location = {
      ...reach,
      ...(libvirtUri !== undefined ? { libvirtUri } : {}),
      host: hostAccessOf(host),
    };
    return { host, vm: { id: -1, location } };
  }

  /** A new kvm VM's disks as its hypervisor has them (the VM's template named no DISK). */
  private async hypervisorDisks(
    r: TemplateReader,
    hostRef: string,
    reach: VmReach,
  ): Promise<readonly DiscoveredDisk[]> {
    const on = await this.onHost(hostRef, reach);
    if (!on) return [];
    const { host } = on;
    const where = reach.deployId !== undefined ? 'DEPLOY_ID' : 'QMP_SOCKET';
    try {
      const found = await this.deps.discovery.disksOf(host.vm_mad, on.vm);
      if (found === undefined)
        r.fail(
          r.at(where),
          'DISK',
          `host ${host.name} (VM_MAD="${host.vm_mad}") cannot list a VM's disks; give DISK = [ SOURCE = "..." ]`,
        );
      else if (found.length === 0)
        r.fail(r.at(where), 'DISK', `the hypervisor reports no file disks for ${where}`);
      return found ?? [];
    } catch (err) {
      r.fail(
        r.at(where),
        where,
        `cannot read the VM's disks from the hypervisor: ${err instanceof Error ? err.message : String(err)}`,
      );
      return [];
    }
  }

  async delete(who: Requester, id: number): Promise<void> {
    const jobId = await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'vms', id, 'MANAGE');
      const row = await findVm(trx, id);
      if (this.deps.scheduler.hasBackup(id)) {
        const fix = row && row.backup_job_id >= 0 ? `: onebackupjob cancel ${row.backup_job_id}` : '';
        throw new OneError(
          ErrorCode.ACTION,
          `VM ${id} has a backup running; cancel it first${fix}, then delete the VM`,
        );
      }
      // A VM deleted from the inventory leaves its backup job (BACKUP_VMS and sets) in the same transaction.
      if (row && row.backup_job_id >= 0)
        await removeDeletedVmFromJob(trx, row.backup_job_id, id, this.deps.clock.now());
      await deleteVm(trx, id);
      return row?.backup_job_id ?? -1;
    });
    if (jobId >= 0) this.deps.scheduler.jobChanged(jobId);
  }

  /** `one.vm.update`: the user template (type 0 replaces, 1 merges), and STATE on fs hosts. */
  update(who: Requester, id: number, text: string, type: number): Promise<number> {
    return updateVm(this.deps, who, id, text, type);
  }

  /** `one.vm.updateconf`: BACKUP_CONFIG (type 0 replaces, 1 merges). */
  updateConf(who: Requester, id: number, text: string, type: number): Promise<number> {
    return updateVmConf(this.deps, who, id, text, type);
  }

  async info(who: Requester, id: number): Promise<VmView> {
    return this.deps.store.read(async (trx) => {
      await loadAuthorized(trx, who, 'vms', id, 'INFO');
      const row = await findVm(trx, id);
      const [view] = row ? await this.views(trx, [row]) : [];
      if (!view) throw notFound('VM', id);
      return view;
    });
  }

  /**
   * The VMs a pool call lists: oned's filter and ID range, then `keep` (state and key-value
   * filters, which read the document), then the page. Without `keep` only the page is built.
   */
  async pool(who: Requester, q: PoolQuery, keep?: (v: VmView) => boolean): Promise<VmView[]> {
    return this.deps.store.read(async (trx) => {
      const rows = visibleInPool(await listVms(trx), who, q);
      if (!keep) return this.views(trx, pageOf(rows, q));
      return pageOf((await this.views(trx, rows)).filter(keep), q);
    });
  }

  private async views(trx: Tx, rows: readonly VmRow[]): Promise<VmView[]> {
    const named = await withNames(trx, rows);
    const ids = rows.map((r) => r.id);
    const disks = await disksOfVms(trx, ids);
    const hosts = await hostsById(trx);
    const images = await backupIdsOfVms(trx, ids);
    // Grouped once, in the order read: a pool of n VMs would otherwise scan every disk n times.
    const disksOf = groupBy(disks, (d) => d.vm_id);
    const backupIdsOf = groupBy(images, (i) => i.vm_id);
    return named.map((n) => ({
      ...n,
      template: decodeAttributes(n.row.template),
      disks: disksOf.get(n.row.id) ?? [],
      hostName: hosts.get(n.row.host_id)?.name ?? '',
      hostVmMad: hosts.get(n.row.host_id)?.vmMad ?? '',
      deployId: '',
      backupIds: (backupIdsOf.get(n.row.id) ?? []).map((i) => i.id),
    }));
  }
}

/** DEPLOY_ID, QMP_SOCKET and GUEST_AGENT_SOCKET of a VM template, as the hypervisor reaches the VM. */
function reachOf(attrs: readonly PlainAttribute[]): VmReach {
  const get = (name: string) => {
    const a = attrs.find((x) => x.name === name);
    return a?.kind === 'single' && a.value !== '' ? a.value : undefined;
  };
  const pairs: [keyof VmReach, string | undefined][] = [
    ['deployId', get('DEPLOY_ID')],
    ['qmpSocket', get('QMP_SOCKET')],
    ['agentSocket', get('GUEST_AGENT_SOCKET')],
  ];
  return Object.fromEntries(pairs.filter(([, v]) => v !== undefined));
}
