/** Hosts: where VMs run, and which hypervisor driver reaches their disks. Admins create them. */
import { ErrorCode, OneError } from '../errors.js';
import type { Requester } from '../permissions.js';
import type { Tx } from '../store/db.js';
import {
  forgetHostHealth,
  hostHealthByHost,
  recordHostHealth,
  type StoredHostHealth,
} from '../store/host-health.js';
import { type HostSyncResult, setVmState, syncHostVms } from '../store/host-sync.js';
import {
  deleteHost,
  diskDirsByHost,
  findHostIdByName,
  insertHost,
  listHosts,
  vmIdsOnHost,
  vmsByHost,
} from '../store/hosts.js';
import type { HostTable } from '../store/schema.js';
import { hostAccessOf, hypervisorVms } from '../store/vms.js';
import {
  decodeAttributes,
  encodeAttributes,
  type PlainAttribute,
  storedSingle,
} from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import type { Position } from '../template/types.js';
import { type DiscoveredVm, HOST_ACCESS_ATTRIBUTES } from '../vm-discovery.js';
import type { ServiceDeps } from './context.js';
import { HostHealthBoard, type HostHealthRecord } from './host-health.js';
import { checkName, loadAuthorized, requireAdmin, visibleInPool, WHOLE_POOL } from './objects.js';
import { type Named, withNames } from './owned-view.js';
import { TemplateReader } from './template-reader.js';

export interface HostView extends Named<HostTable> {
  readonly template: readonly PlainAttribute[];
  /** What the last monitoring pass found (undefined: none yet). */
  readonly health: HostHealthRecord | undefined;
  readonly vmIds: readonly number[];
  /** The VMs registered on the host whose state is RUNNING. */
  readonly runningVmIds: readonly number[];
}

export class HostService {
  readonly #health = new HostHealthBoard();

  constructor(private readonly deps: ServiceDeps) {}

  async allocate(who: Requester, text: string): Promise<number> {
    requireAdmin(who, 'CREATE', 'HOST');
    const attrs = parseTemplate(text).attributes;
    const r = new TemplateReader(attrs, ['NAME', 'VM_MAD'], []);
    const name = r.require('NAME', 'give the host a NAME = "..."');
    if (name !== undefined) {
      const p = checkName(name);
      if (p) r.fail(r.at('NAME'), 'NAME', p);
    }
    const vmMad = r.oneOf('VM_MAD', this.deps.hypervisorDrivers, 'fs', { lower: true });
    // How the daemon reaches the host: NAME is its SSH address unless TRANSPORT = "local".
    const attributes: Record<string, string> = {};
    const where = new Map<string, Position>();
    for (const a of attrs)
      if (a.kind === 'single' && HOST_ACCESS_ATTRIBUTES.includes(a.name)) {
        attributes[a.name] = a.value;
        where.set(a.name, { line: a.line, column: a.column });
      }
    if (name !== undefined)
      for (const p of this.deps.discovery.checkHost({ name, attributes }))
        r.fail(where.get(p.attribute) ?? r.at(p.attribute), p.attribute, p.message);
    r.throwIfProblems();
    return this.deps.store.tx(async (trx) => {
      const clash = await findHostIdByName(trx, name as string);
      if (clash !== undefined)
        throw new OneError(ErrorCode.ALLOCATE, `NAME is already taken by HOST ${clash}.`);
      return insertHost(trx, {
        name: name as string,
        owner: who,
        template: encodeAttributes([...r.others()]),
        vmMad,
      });
    });
  }

  /** Every monitored host: its name and whether it answered its last check (metrics). */
  reachability(): { name: string; reachable: boolean }[] {
    return this.#health.reachability();
  }

  async delete(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'hosts', id, 'ADMIN');
      await forgetHostHealth(trx, id);
      const vms = await vmIdsOnHost(trx, id);
      if (vms.length > 0) {
        throw new OneError(
          ErrorCode.ACTION,
          `host ${id} still has VMs ${vms.join(',')}; delete them (onevm delete) before the host`,
        );
      }
      await deleteHost(trx, id);
    });
    this.#health.forget(id);
  }

  async info(who: Requester, id: number): Promise<HostView> {
    return this.deps.store.read(async (trx) => {
      const row = (await loadAuthorized(trx, who, 'hosts', id, 'INFO')) as HostTable;
      const [view] = await this.views(trx, [row]);
      return view as HostView;
    });
  }

  async pool(who: Requester): Promise<HostView[]> {
    return this.deps.store.read(async (trx) => {
      const rows = await listHosts(trx);
      return this.views(trx, visibleInPool(rows, who, WHOLE_POOL));
    });
  }

  /**
   * Makes the host's VMs match its hypervisor (kvm through libvirt: domains, their disks and
   * states); admins only. Returns what changed.
   */
  async sync(
    who: Requester,
    id: number,
    options: { readonly monitor?: boolean } = {},
  ): Promise<HostSyncResult> {
    requireAdmin(who, 'MANAGE', 'HOST');
    const host = await this.deps.store.read(
      async (trx) => (await loadAuthorized(trx, who, 'hosts', id, 'ADMIN')) as HostTable,
    );
    const reach = {
      name: host.name,
      libvirtUri: storedSingle(host.template, 'LIBVIRT_URI'),
      access: hostAccessOf(host),
    };
    let found: readonly DiscoveredVm[] | undefined;
    try {
      found = await this.deps.discovery.discover(host.vm_mad, reach);
    } catch (err) {
      throw new OneError(
        ErrorCode.ACTION,
        `host ${id} (${host.name}): cannot list its VMs through ${host.vm_mad}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (!found)
      throw new OneError(
        ErrorCode.ACTION,
        `host ${id} (${host.name}) has VM_MAD="${host.vm_mad}", which cannot list VMs; register them with onevm create`,
      );
    const vms = found;
    const nowS = Math.floor(this.deps.clock.now() / 1000);
    // The monitor imports new domains only where the host asks for it (IMPORT_VMS = "YES").
    const importNew = !options.monitor || storedSingle(host.template, 'IMPORT_VMS')?.toUpperCase() === 'YES';
    return this.deps.store.tx((trx) => syncHostVms(trx, id, who, vms, nowS, importNew));
  }

  /**
   * One monitoring pass (the daemon runs it every MONITORING_INTERVAL_HOST): hosts whose driver
   * lists VMs are synchronised; VMs reached through a bare QEMU get the state it reports.
   */
  async monitor(who: Requester): Promise<{ synced: number; states: number; problems: string[] }> {
    const problems: string[] = [];
    let synced = 0;
    let states = 0;
    const hosts = await this.deps.store.read((trx) => listHosts(trx));
    const reachable = await this.checkHealth(hosts, problems);
    for (const h of hosts) {
      if (h.vm_mad === 'fs' || !reachable.has(h.id)) continue;
      try {
        await this.sync(who, h.id, { monitor: true });
        synced++;
      } catch (err) {
        if (!(err instanceof OneError && /cannot list VMs;/.test(err.message)))
          problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    for (const vm of await this.deps.store.read((trx) => hypervisorVms(trx))) {
      if (vm.location.deployId || !vm.location.qmpSocket) continue;
      const state = await this.deps.discovery.stateOf(vm.vmMad, vm).catch(() => undefined);
      if (state && (await this.deps.store.tx((trx) => setVmState(trx, vm.id, state)))) states++;
    }
    return { synced, states, problems };
  }

  /**
   * Every host at once: reachable (its agent answers over SSH, or this machine), the agent's
   * version, free space where its VMs' disks live. Returns the IDs of the reachable ones.
   */
  private async checkHealth(hosts: readonly HostTable[], problems: string[]): Promise<Set<number>> {
    const dirs = await this.deps.store.read((trx) => diskDirsByHost(trx));
    const checkedAt = Math.floor(this.deps.clock.now() / 1000);
    const reachable = new Set<number>();
    const checks: StoredHostHealth[] = [];
    await Promise.all(
      hosts.map(async (h) => {
        const health = await this.deps.discovery.health(hostAccessOf(h), dirs.get(h.id) ?? []);
        this.#health.set(h.id, { name: h.name, health, checkedAt });
        checks.push({ hostId: h.id, name: h.name, checkedAt, health });
        if (health.reachable) reachable.add(h.id);
        else problems.push(`host ${h.id} (${h.name}) is unreachable: ${health.error ?? 'no answer'}`);
        for (const s of health.space)
          if (s.error !== undefined) problems.push(`host ${h.id} (${h.name}): ${s.path}: ${s.error}`);
      }),
    );
    // In the store: every daemon sharing it shows the same, a restarted one the last check.
    await this.deps.store
      .tx((trx) => recordHostHealth(trx, checks))
      .catch((err: unknown) =>
        problems.push(`cannot record host monitoring: ${err instanceof Error ? err.message : String(err)}`),
      );
    return reachable;
  }

  private async views(trx: Tx, rows: readonly HostTable[]): Promise<HostView[]> {
    const named = await withNames(trx, rows);
    const vms = await vmsByHost(trx);
    const checked = await hostHealthByHost(trx);
    return named.map((n) => {
      const on = vms.get(n.row.id) ?? [];
      return {
        ...n,
        template: decodeAttributes(n.row.template),
        health: checked.get(n.row.id),
        vmIds: on.map((v) => v.id),
        runningVmIds: on.filter((v) => v.state === 'RUNNING').map((v) => v.id),
      };
    });
  }
}
