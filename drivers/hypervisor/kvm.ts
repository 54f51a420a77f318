/**
 * `kvm` hypervisor driver: VMs run by QEMU, reached through QMP (a bare QEMU's socket, the VM's
 * QMP_SOCKET) or libvirt (DEPLOY_ID). A running VM is backed up from a point-in-time fleecing
 * view over NBD (kvm-qmp.ts), with changed-block increments from QEMU dirty bitmaps and
 * FS_FREEZE through the guest agent or a pause (kvm-freeze.ts); a VM that is not running is read
 * from its disk files as the `fs` driver reads them. Restored disks are files, as with `fs`.
 * The VM's state is the hypervisor's: a reachable QEMU process is running.
 */

import { tmpdir } from 'node:os';
import type { DiscoveredDisk, DiscoveredVm } from '../../core/vm-discovery.js';
import { fsDriver } from './fs.js';
import { isPermanentFsError } from './fs-errors.js';
import { type Freezer, thawLeftover } from './kvm-freeze.js';
import {
  defineLike,
  domainDisks,
  domainState,
  type LibvirtPointInTime,
  recoverLibvirt,
  releaseLibvirtView,
  takeLibvirtView,
  uriOf,
  virsh,
} from './kvm-libvirt.js';
import {
  blockNodes,
  liveExtents,
  type QmpPointInTime,
  recoverQmp,
  releaseQmpView,
  takeQmpView,
} from './kvm-qmp.js';
import { QmpClient } from './qmp.js';
import {
  type ChangedBlocks,
  type HypervisorDriver,
  PermanentDriverError,
  type PointInTime,
  type PrepareOptions,
  type VmSpec,
} from './types.js';

/** A powered-off VM's point in time: its files, through the fs driver. */
interface FilesPointInTime extends PointInTime {
  readonly kind: 'files';
  readonly inner: PointInTime;
}

type KvmPointInTime = QmpPointInTime | LibvirtPointInTime | FilesPointInTime;

function kvmPit(pit: PointInTime): KvmPointInTime {
  return pit as KvmPointInTime;
}

function qmpSocketOf(vm: VmSpec): string {
  const socket = vm.location?.qmpSocket;
  if (socket) return socket;
  throw new PermanentDriverError(
    `VM ${vm.id} is on a kvm host but has neither QMP_SOCKET nor DEPLOY_ID; set QMP_SOCKET = "/path/of/qmp.sock" (a bare QEMU) or import it with onehost sync`,
  );
}

/** Whether a QEMU process answers at the socket (its absence means the VM is off). */
async function reachable(socket: string): Promise<QmpClient | undefined> {
  try {
    return await QmpClient.connect(socket, { timeoutMs: 5000 });
  } catch {
    return undefined;
  }
}

/** A libvirt domain's file disks, with their facts read from the files. */
async function libvirtDisks(uri: string, domain: string): Promise<DiscoveredDisk[]> {
  const disks: DiscoveredDisk[] = [];
  for (const d of await domainDisks(uri, domain)) {
    const format: 'qcow2' | 'raw' = d.format === 'qcow2' ? 'qcow2' : 'raw';
    // A disk file that cannot be read (gone, no permission) is listed with size 0: the VM shows
    // up, and its backup fails naming the file.
    const facts = await fsDriver.inspect(d.source, format).catch(() => ({ format, virtualSize: 0 }));
    disks.push({ source: d.source, format: facts.format, virtualSize: facts.virtualSize });
  }
  return disks;
}

/**
 * Freezes through QMP (`stop`/`cont`, on the view's own connection) and the guest agent's socket.
 * The agent connection of a freeze stays open for its thaw (one connection and `guest-sync`
 * fewer while the guest is frozen); a thaw that cannot use it connects again.
 */
function qmpFreezer(vm: VmSpec, qmp: QmpClient): Freezer {
  let frozenThrough: QmpClient | undefined;
  const connectAgent = (command: string) => {
    const socket = vm.location?.agentSocket;
    if (!socket) throw new Error('the VM has no GUEST_AGENT_SOCKET');
    // A thaw waits longer than a freeze: a guest left frozen is worse than a slow backup.
    const waitMs = command === 'guest-fsfreeze-thaw' ? 60_000 : 10_000;
    return QmpClient.connect(socket, { agent: true, timeoutMs: waitMs });
  };
  const freezeAgent = async () => {
    const agent = await connectAgent('guest-fsfreeze-freeze');
    try {
      await agent.execute('guest-fsfreeze-freeze', undefined, 30_000);
    } catch (err) {
      agent.close();
      throw err;
    }
    frozenThrough = agent;
  };
  const thawAgent = async () => {
    const held = frozenThrough;
    frozenThrough = undefined;
    if (held) {
      try {
        await held.execute('guest-fsfreeze-thaw', undefined, 30_000);
        return;
      } catch {
        // The connection broke: thaw through a new one (its guest-sync drops a late answer).
      } finally {
        held.close();
      }
    }
    const agent = await connectAgent('guest-fsfreeze-thaw');
    try {
      await agent.execute('guest-fsfreeze-thaw', undefined, 30_000);
    } finally {
      agent.close();
    }
  };
  const monitor = async (command: string) => {
    await qmp.execute(command);
  };
  return {
    freeze: (kind) => (kind === 'AGENT' ? freezeAgent() : monitor('stop')),
    thaw: (kind) => (kind === 'AGENT' ? thawAgent() : monitor('cont')),
  };
}

export const kvmDriver: HypervisorDriver = {
  name: 'kvm',
  capabilities: { freeze: ['NONE', 'AGENT', 'SUSPEND'], dirtyBitmaps: true },
  inspect: fsDriver.inspect,

  isPermanent(err) {
    return err instanceof PermanentDriverError || isPermanentFsError(err);
  },

  async stateOf(vm) {
    if (vm.location?.deployId) return domainState(uriOf(vm), vm.location.deployId);
    const qmp = await reachable(qmpSocketOf(vm));
    qmp?.close();
    return qmp ? 'RUNNING' : 'POWEROFF';
  },

  async prepare(vm: VmSpec, options: PrepareOptions): Promise<PointInTime> {
    const domain = vm.location?.deployId;
    if (domain) {
      if ((await domainState(uriOf(vm), domain)) === 'RUNNING') return takeLibvirtView(vm, options);
    } else {
      const socket = qmpSocketOf(vm);
      // The probe's connection takes the view: one QMP handshake, not two.
      const probe = await reachable(socket);
      if (probe) return takeQmpView(vm, socket, options, (qmp) => qmpFreezer(vm, qmp), probe);
    }
    const inner = await fsDriver.prepare({ ...vm, state: 'POWEROFF' }, { ...options, freeze: 'NONE' });
    const changes = new Map<number, ChangedBlocks>();
    for (const d of vm.disks)
      changes.set(d.diskId, {
        kind: 'full',
        reason: 'the VM is not running: its disk files are read whole',
      });
    const pit: FilesPointInTime = {
      kind: 'files',
      vmId: vm.id,
      disks: inner.disks,
      inner,
      changes,
      consistency: {
        level: 'filesystem',
        frozenMs: 0,
        warnings:
          options.freeze === 'NONE' ? [] : [`FS_FREEZE=${options.freeze} not needed: the VM is powered off`],
      },
    };
    return pit;
  },

  async extents(pit, diskId) {
    const p = kvmPit(pit);
    if (p.kind === 'files') return fsDriver.extents(p.inner, diskId);
    const disk = p.live.find((d) => d.spec.diskId === diskId);
    if (!disk) throw new Error(`disk ${diskId} is not part of this point in time`);
    return liveExtents(disk);
  },

  async read(pit, diskId, offset, into) {
    const p = kvmPit(pit);
    if (p.kind === 'files') return fsDriver.read(p.inner, diskId, offset, into);
    const disk = p.live.find((d) => d.spec.diskId === diskId);
    if (!disk) throw new Error(`disk ${diskId} is not part of this point in time`);
    const length = Math.max(0, Math.min(into.length, disk.client.size - offset));
    if (length > 0) await disk.client.read(offset, into.subarray(0, length));
    if (length < into.length) into.fill(0, length);
  },

  async release(pit, outcome) {
    const p = kvmPit(pit);
    if (p.kind === 'files') return fsDriver.release(p.inner);
    if (p.kind === 'libvirt') return releaseLibvirtView(p, outcome?.succeeded ?? false);
    await releaseQmpView(p, outcome?.succeeded ?? false);
  },

  async recover(vm, scratchDir) {
    if (vm.location?.deployId) return recoverLibvirt(vm, scratchDir, undefined, true);
    const socket = vm.location?.qmpSocket;
    if (!socket) return [];
    const qmp = await reachable(socket);
    if (!qmp) return [];
    try {
      const done: string[] = [];
      if (await thawLeftover(qmpFreezer(vm, qmp), scratchDir, vm.id))
        done.push('thawed a freeze left by a crash');
      done.push(...(await recoverQmp(qmp, vm, scratchDir, 'all')));
      return done;
    } finally {
      qmp.close();
    }
  },

  async discover(host) {
    const uri = host.libvirtUri ?? 'qemu:///system';
    const names = (await virsh(uri, ['list', '--all', '--name']))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const out: DiscoveredVm[] = [];
    for (const name of names)
      out.push({
        deployId: name,
        name,
        state: await domainState(uri, name),
        disks: await libvirtDisks(uri, name),
      });
    return out;
  },

  async define(host, request) {
    return defineLike(
      host.libvirtUri ?? 'qemu:///system',
      request.from,
      request.name,
      request.sources,
      tmpdir(),
    );
  },

  async disksOf(vm) {
    if (vm.location?.deployId) return libvirtDisks(uriOf(vm), vm.location.deployId);
    const qmp = await QmpClient.connect(qmpSocketOf(vm)).catch((err: Error) => {
      throw new PermanentDriverError(
        `VM ${vm.id}: cannot reach QEMU at ${vm.location?.qmpSocket}: ${err.message}`,
      );
    });
    try {
      const nodes = await blockNodes(qmp);
      return nodes
        .filter((n) => n.format === 'raw' || n.format === 'qcow2')
        .map((n) => ({ source: n.file, format: n.format as 'raw' | 'qcow2', virtualSize: n.virtualSize }));
    } finally {
      qmp.close();
    }
  },

  createDisk: fsDriver.createDisk,
  freeBytes: fsDriver.freeBytes,
};
