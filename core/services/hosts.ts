/** Hosts: where VMs run, and which hypervisor driver reaches their disks. Admins create them. */
import { ErrorCode, OneError } from '../errors.js';
import type { Requester } from '../permissions.js';
import type { Tx } from '../store/db.js';
import {
  deleteHost,
  findHostIdByName,
  insertHost,
  listHosts,
  vmIdsOnHost,
  vmsByHost,
} from '../store/hosts.js';
import type { HostTable } from '../store/schema.js';
import { decodeAttributes, encodeAttributes, type PlainAttribute } from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import type { ServiceDeps } from './context.js';
import { checkName, loadAuthorized, requireAdmin, visibleInPool, WHOLE_POOL } from './objects.js';
import { type Named, withNames } from './owned-view.js';
import { TemplateReader } from './template-reader.js';

export interface HostView extends Named<HostTable> {
  readonly template: readonly PlainAttribute[];
  readonly vmIds: readonly number[];
  /** The VMs registered on the host whose state is RUNNING. */
  readonly runningVmIds: readonly number[];
}

export class HostService {
  constructor(private readonly deps: ServiceDeps) {}

  async allocate(who: Requester, text: string): Promise<number> {
    requireAdmin(who, 'CREATE', 'HOST');
    const r = new TemplateReader(parseTemplate(text).attributes, ['NAME', 'VM_MAD'], []);
    const name = r.require('NAME', 'give the host a NAME = "..."');
    if (name !== undefined) {
      const p = checkName(name);
      if (p) r.fail(r.at('NAME'), 'NAME', p);
    }
    const vmMad = r.oneOf('VM_MAD', this.deps.hypervisorDrivers, 'fs', { lower: true });
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

  async delete(who: Requester, id: number): Promise<void> {
    await this.deps.store.tx(async (trx) => {
      await loadAuthorized(trx, who, 'hosts', id, 'ADMIN');
      const vms = await vmIdsOnHost(trx, id);
      if (vms.length > 0) {
        throw new OneError(
          ErrorCode.ACTION,
          `host ${id} still has VMs ${vms.join(',')}; delete them (onevm delete) before the host`,
        );
      }
      await deleteHost(trx, id);
    });
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

  private async views(trx: Tx, rows: readonly HostTable[]): Promise<HostView[]> {
    const named = await withNames(trx, rows);
    const vms = await vmsByHost(trx);
    return named.map((n) => {
      const on = vms.get(n.row.id) ?? [];
      return {
        ...n,
        template: decodeAttributes(n.row.template),
        vmIds: on.map((v) => v.id),
        runningVmIds: on.filter((v) => v.state === 'RUNNING').map((v) => v.id),
      };
    });
  }
}
