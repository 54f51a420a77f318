/**
 * A running VM's point in time through QEMU's QMP, pull mode (../shared/LIVE-VMS.md): per disk a
 * qcow2 fleecing node backed by the disk, filled by a `blockdev-backup sync=none` job
 * (copy-before-write), all started in one `transaction` with the next dirty bitmap (the new
 * checkpoint) and the disabling of the previous one (whose extents an increment reads). The
 * fleecing nodes are exported read-only on an NBD Unix socket in the scratch directory, with the
 * previous bitmap as the `qemu:dirty-bitmap:` meta context. Everything this module adds to QEMU
 * is named `onebackup-*`, so `recoverQmp` can find and remove what a crash left.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Freezer, withFreeze } from './kvm-freeze.js';
import { NbdClient, STATE_DIRTY, STATE_HOLE, STATE_ZERO } from './nbd-client.js';
import { qemuImg } from './qemu-tools.js';
import { QmpClient, type QmpValue } from './qmp.js';
import {
  type ChangedBlocks,
  type Consistency,
  type DiskSpec,
  type Extent,
  PermanentDriverError,
  type PointInTime,
  type PrepareOptions,
  type VmSpec,
} from './types.js';

export const PREFIX = 'onebackup-';

/** One disk of a live point in time. */
export interface LiveDisk {
  readonly spec: DiskSpec;
  readonly node: string;
  readonly fleeceNode: string;
  readonly fleeceFile: string;
  readonly jobId: string;
  readonly exportId: string;
  readonly client: NbdClient;
  readonly base: string | undefined;
}

export interface QmpPointInTime extends PointInTime {
  readonly kind: 'qmp';
  /** QMP serves one client at a time: the view holds no connection while its disks are read. */
  readonly socket: string;
  readonly live: readonly LiveDisk[];
  readonly socketPath: string;
  readonly scratchDir: string;
  readonly checkpoint: string;
  readonly changes: ReadonlyMap<number, ChangedBlocks>;
  readonly consistency: Consistency;
}

interface BitmapInfo {
  readonly name: string;
  readonly recording: boolean;
  readonly persistent: boolean;
  readonly inconsistent: boolean;
}

interface BlockNode {
  readonly node: string;
  readonly file: string;
  readonly format: string;
  readonly virtualSize: number;
  readonly bitmaps: readonly BitmapInfo[];
}

type Json = { [key: string]: QmpValue };

function obj(v: QmpValue | undefined): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

function list(v: QmpValue | undefined): QmpValue[] {
  return Array.isArray(v) ? v : [];
}

async function resolved(path: string): Promise<string> {
  return realpath(path).catch(() => path);
}

/** The VM's block devices with what they are backed by (the top node and its image file). */
export async function blockNodes(qmp: QmpClient): Promise<BlockNode[]> {
  const out: BlockNode[] = [];
  for (const dev of list(await qmp.execute('query-block'))) {
    const inserted = obj(obj(dev).inserted);
    const node = inserted['node-name'];
    const image = obj(inserted.image);
    if (typeof node !== 'string' || typeof inserted.file !== 'string') continue;
    out.push({
      node,
      file: await resolved(String(image.filename ?? inserted.file)),
      format: String(image.format ?? inserted.drv ?? ''),
      virtualSize: Number(image['virtual-size'] ?? 0),
      bitmaps: list(inserted['dirty-bitmaps']).map((b) => {
        const o = obj(b);
        return {
          name: String(o.name ?? ''),
          recording: o.recording === true,
          persistent: o.persistent === true,
          inconsistent: o.inconsistent === true,
        };
      }),
    });
  }
  return out;
}

/** Which QEMU node holds each of the VM's disks (matched by image file). */
async function nodesOfDisks(qmp: QmpClient, vm: VmSpec): Promise<Map<number, BlockNode>> {
  const nodes = await blockNodes(qmp);
  const out = new Map<number, BlockNode>();
  for (const d of vm.disks) {
    const file = await resolved(d.source);
    const n = nodes.find((x) => x.file === file);
    if (!n)
      throw new PermanentDriverError(
        `VM ${vm.id} disk ${d.diskId}: ${d.source} is not attached to the QEMU process (QEMU has ${nodes.map((x) => x.file).join(', ') || 'no disks'}); run onehost sync or fix the VM's DISK`,
      );
    out.set(d.diskId, n);
  }
  return out;
}

/** Whether the disk's changes since `base` can be trusted; the reason when not. */
function baseProblem(node: BlockNode, spec: DiskSpec, base: string): string | undefined {
  const b = node.bitmaps.find((x) => x.name === base);
  if (!b)
    return `checkpoint ${base} is not on disk ${spec.diskId} (the VM was restarted without it, the disk was replaced, or the checkpoint was deleted)`;
  if (b.inconsistent)
    return `checkpoint ${base} of disk ${spec.diskId} is inconsistent (QEMU stopped uncleanly)`;
  if (!b.recording)
    return `checkpoint ${base} of disk ${spec.diskId} stopped recording (an earlier backup attempt did not finish)`;
  if (node.virtualSize !== spec.virtualSize) return `disk ${spec.diskId} was resized`;
  return undefined;
}

function runsToExtents(runs: readonly { offset: number; length: number }[]): Extent[] {
  const out: Extent[] = [];
  for (const r of runs) {
    const last = out.at(-1);
    if (last && last.offset + last.length === r.offset)
      out[out.length - 1] = { offset: last.offset, length: last.length + r.length };
    else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

/** The data extents of a live disk (NBD base:allocation: neither hole nor zero). */
export async function liveExtents(disk: LiveDisk): Promise<Extent[]> {
  const runs = await disk.client.blockStatus('base:allocation');
  return runsToExtents(runs.filter((r) => (r.flags & (STATE_HOLE | STATE_ZERO)) === 0));
}

/** The dirty extents of an export's `qemu:dirty-bitmap:<bitmap>` context. */
export async function dirtyExtents(client: NbdClient, bitmap: string): Promise<Extent[]> {
  const runs = await client.blockStatus(`qemu:dirty-bitmap:${bitmap}`);
  return runsToExtents(runs.filter((r) => (r.flags & STATE_DIRTY) !== 0));
}

async function ignoring(p: Promise<unknown>): Promise<void> {
  await p.catch(() => undefined);
}

/** Takes the point in time of a running VM reached at `socket`. */
export async function takeQmpView(
  vm: VmSpec,
  socket: string,
  options: PrepareOptions,
  /** QMP accepts one client at a time: the freezer must use this view's connection. */
  freezerFor: (qmp: QmpClient) => Freezer,
  /** A connection to `socket` already made (the probe that found QEMU running); the view closes it. */
  connected?: QmpClient,
): Promise<QmpPointInTime> {
  const timings: Record<string, number> = {};
  /** Runs one step of taking the view, adding its duration to `timings[name]`. */
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      timings[name] = Math.round((timings[name] ?? 0) + performance.now() - started);
    }
  };
  await mkdir(options.scratchDir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    connected?.close();
    throw err;
  });
  const qmp =
    connected ??
    (await step('qmpConnect', () => QmpClient.connect(socket)).catch((err: Error) => {
      throw new Error(`VM ${vm.id}: cannot reach QEMU at ${socket}: ${err.message}`);
    }));
  // QEMU node names are at most 31 characters: onebackup-<time base 36><4 hex>-f<disk>.
  const tag = `${PREFIX}${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const socketPath = join(options.scratchDir, `nbd-vm${vm.id}.sock`);
  const live: LiveDisk[] = [];
  const added: string[] = [];
  let _started = false;
  try {
    await step('recover', () => recoverQmp(qmp, vm, options.scratchDir, options.changesSince));
    const nodes = await step('queryBlock', () => nodesOfDisks(qmp, vm));
    const changes = new Map<number, ChangedBlocks>();
    const actions: QmpValue[] = [];
    const pending: Omit<LiveDisk, 'client'>[] = [];
    for (const spec of vm.disks) {
      const node = nodes.get(spec.diskId) as BlockNode;
      const base = options.changesSince;
      const problem = base === undefined ? undefined : baseProblem(node, spec, base);
      if (base !== undefined && problem !== undefined)
        changes.set(spec.diskId, { kind: 'full', reason: problem });
      const fleeceFile = join(options.scratchDir, `vm${vm.id}-disk${spec.diskId}-${tag}.fleece.qcow2`);
      await step('fleeceCreate', () =>
        qemuImg(['create', '-q', '-f', 'qcow2', fleeceFile, String(node.virtualSize)]),
      );
      const d = {
        spec: { ...spec, virtualSize: node.virtualSize },
        node: node.node,
        fleeceNode: `${tag}-f${spec.diskId}`,
        fleeceFile,
        jobId: `${tag}-j${spec.diskId}`,
        exportId: `${tag}-e${spec.diskId}`,
        base: base !== undefined && problem === undefined ? base : undefined,
      };
      await step('fleeceAdd', () =>
        qmp.execute('blockdev-add', {
          driver: 'qcow2',
          'node-name': d.fleeceNode,
          file: { driver: 'file', filename: fleeceFile },
          backing: node.node,
        }),
      );
      added.push(d.fleeceNode);
      pending.push(d);
      // Persistent bitmaps live in qcow2 images; a raw disk's checkpoint lasts until QEMU stops.
      actions.push({
        type: 'block-dirty-bitmap-add',
        data: { node: node.node, name: tag, persistent: node.format === 'qcow2' },
      });
      if (d.base)
        actions.push({ type: 'block-dirty-bitmap-disable', data: { node: node.node, name: d.base } });
      actions.push({
        type: 'blockdev-backup',
        data: {
          device: node.node,
          target: d.fleeceNode,
          sync: 'none',
          'job-id': d.jobId,
          'auto-dismiss': true,
        },
      });
    }
    options.signal?.throwIfAborted();
    const consistency = await step('freezeAndTransaction', () =>
      withFreeze(freezerFor(qmp), options, vm.id, async () => {
        await step('transaction', () => qmp.execute('transaction', { actions }));
      }),
    );
    _started = true;
    await step('nbdServerStart', () =>
      qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: socketPath } } }),
    );
    for (const d of pending) {
      await step('exportAdd', () =>
        qmp.execute('block-export-add', {
          type: 'nbd',
          id: d.exportId,
          'node-name': d.fleeceNode,
          name: `disk${d.spec.diskId}`,
          writable: false,
          ...(d.base ? { bitmaps: [d.base] } : {}),
        }),
      );
      const client = await step('nbdConnect', () =>
        NbdClient.connect(socketPath, {
          exportName: `disk${d.spec.diskId}`,
          metaContexts: d.base ? ['base:allocation', `qemu:dirty-bitmap:${d.base}`] : ['base:allocation'],
        }),
      );
      live.push({ ...d, client });
      if (d.base) {
        const base = d.base;
        changes.set(d.spec.diskId, {
          kind: 'extents',
          extents: await step('dirtyStatus', () => dirtyExtents(client, base)),
        });
      }
    }
    qmp.close();
    return {
      kind: 'qmp',
      vmId: vm.id,
      disks: live.map((d) => d.spec),
      socket,
      live,
      socketPath,
      scratchDir: options.scratchDir,
      checkpoint: tag,
      changes,
      consistency,
      timings,
    };
  } catch (err) {
    await Promise.all(live.map((d) => ignoring(d.client.close())));
    // The previous checkpoint stays: still recording before the transaction; after it, stopped,
    // and the next backup then says why it reads whole disks.
    await ignoring(recoverQmp(qmp, vm, options.scratchDir, options.changesSince));
    for (const node of added) await ignoring(qmp.execute('blockdev-del', { 'node-name': node }));
    qmp.close();
    throw err;
  }
}

/** Ends a view: closes the exports; `succeeded` keeps its checkpoint and drops the one it read since. */
export async function releaseQmpView(pit: QmpPointInTime, succeeded: boolean): Promise<void> {
  await Promise.all(pit.live.map((d) => ignoring(d.client.close())));
  const qmp = await QmpClient.connect(pit.socket).catch(() => undefined);
  // QEMU gone (the VM stopped): nothing of the view is left to remove.
  if (!qmp) return;
  const vm: VmSpec = { id: pit.vmId, state: 'RUNNING', disks: pit.disks };
  // Success: only the new checkpoint stays. Failure: the new one goes, and the one the view read
  // since (it stopped recording at the view's instant) stays until the next backup, which reads
  // whole disks and says why.
  const base = pit.live.find((d) => d.base !== undefined)?.base;
  await ignoring(recoverQmp(qmp, vm, pit.scratchDir, succeeded ? pit.checkpoint : base));
  qmp.close();
}

/**
 * Removes every `onebackup-*` export, block job, fleecing node and file of the VM, and the
 * `onebackup-*` bitmaps but `keep` (a name: only that one; `all`: every one, for a recovery that
 * does not know which one the next backup starts from: that backup removes the others): what a
 * crash, a cancel or a finished backup leaves. Returns what it removed.
 */
export async function recoverQmp(
  qmp: QmpClient,
  vm: VmSpec,
  scratchDir: string,
  keep: string | undefined | 'all',
): Promise<string[]> {
  const kept = (b: BitmapInfo) => keep === 'all' || b.name === keep;
  const done: string[] = [];
  for (const e of list(await qmp.execute('query-block-exports').catch(() => []))) {
    const id = String(obj(e).id ?? '');
    if (!id.startsWith(PREFIX)) continue;
    await ignoring(qmp.execute('block-export-del', { id, mode: 'hard' }));
    await ignoring(qmp.waitEvent((ev) => ev.event === 'BLOCK_EXPORT_DELETED' && ev.data.id === id, 10_000));
    done.push(`export ${id}`);
  }
  await ignoring(qmp.execute('nbd-server-stop'));
  for (const j of list(await qmp.execute('query-block-jobs').catch(() => []))) {
    const id = String(obj(j).device ?? '');
    if (!id.startsWith(PREFIX)) continue;
    await ignoring(qmp.execute('block-job-cancel', { device: id, force: true }));
    await ignoring(
      qmp.waitEvent(
        (ev) =>
          (ev.event === 'BLOCK_JOB_CANCELLED' || ev.event === 'BLOCK_JOB_COMPLETED') && ev.data.device === id,
        10_000,
      ),
    );
    done.push(`job ${id}`);
  }
  for (const n of list(await qmp.execute('query-named-block-nodes', { flat: true }).catch(() => []))) {
    const name = String(obj(n)['node-name'] ?? '');
    const file = String(obj(obj(n).image).filename ?? obj(n).file ?? '');
    if (!name.startsWith(PREFIX) || !/-f\d+$/.test(name)) continue;
    await ignoring(qmp.execute('blockdev-del', { 'node-name': name }));
    if (file) await rm(file, { force: true });
    done.push(`fleecing node ${name}`);
  }
  const nodes = await blockNodes(qmp);
  const files = new Set(await Promise.all(vm.disks.map((d) => resolved(d.source))));
  for (const node of nodes) {
    if (!files.has(node.file)) continue;
    for (const b of node.bitmaps) {
      if (!b.name.startsWith(PREFIX) || kept(b)) continue;
      await ignoring(qmp.execute('block-dirty-bitmap-remove', { node: node.node, name: b.name }));
      done.push(`checkpoint ${b.name}`);
    }
  }
  await ignoring(rm(join(scratchDir, `nbd-vm${vm.id}.sock`), { force: true }));
  const leftovers = await readdir(scratchDir).catch(() => [] as string[]);
  for (const f of leftovers.filter((x) => x.startsWith(`vm${vm.id}-`) && x.endsWith('.fleece.qcow2')))
    await rm(join(scratchDir, f), { force: true });
  return done;
}
