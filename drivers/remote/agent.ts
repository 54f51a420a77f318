/**
 * The host agent: runs on a hypervisor host (started by the daemon over SSH, agent-main.ts) and
 * serves the hypervisor driver contract of that host's own drivers over its stdin and stdout
 * (frames.ts). The daemon keeps the hot path (hash, compress, encrypt, store); the agent reads
 * disks, takes and releases points in time and writes restored disks where the VMs live, so NBD
 * exports, QMP and libvirt sockets never leave the host. Points in time and disk writers stay
 * here behind numeric handles. When the daemon goes away (stdin ends: it stopped, crashed, or the
 * network dropped), every point in time still open is released as failed and every disk writer
 * suspended, so nothing is left frozen or exported; then the agent exits.
 */
import { createHash } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { cpus, homedir, hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { HOST_DIGEST_KEY_BYTES, hostChunkDigest } from '../../core/host-digest.js';
import type { DiskFormat } from '../../core/model.js';
import type { DefineRequest, HostReach } from '../../core/vm-discovery.js';
import type {
  DiskWriteOptions,
  DiskWriter,
  HypervisorDriver,
  PointInTime,
  PrepareOptions,
  VmSpec,
} from '../hypervisor/types.js';
import { encodeFrame, type Frame, FrameReader } from './frames.js';
import {
  type AgentHealth,
  type AgentHello,
  type AgentMethod,
  PROTOCOL_VERSION,
  toWireError,
} from './wire.js';

interface AgentOptions {
  readonly drivers: ReadonlyMap<string, HypervisorDriver>;
  readonly version: string;
  /** Where the agent keeps its scratch files; one directory per daemon scratch directory. */
  readonly scratchRoot?: string;
}

interface Reply {
  readonly result?: unknown;
  readonly body?: Uint8Array;
}

/** The point in time as the daemon gets it: the contract's public fields, changes as pairs. */
function pitForWire(handle: number, pit: PointInTime): Record<string, unknown> {
  return {
    handle,
    vmId: pit.vmId,
    disks: pit.disks,
    checkpoint: pit.checkpoint,
    changes: pit.changes ? [...pit.changes] : undefined,
    consistency: pit.consistency,
  };
}

/** Serves one daemon connection until `input` ends; resolves once everything open was released. */
export async function serveAgent(input: Readable, output: Writable, options: AgentOptions): Promise<void> {
  const { drivers } = options;
  const pits = new Map<number, { driver: HypervisorDriver; pit: PointInTime }>();
  const writers = new Map<number, DiskWriter>();
  const aborts = new Map<number, AbortController>();
  let nextHandle = 1;
  const scratchRoot = options.scratchRoot ?? join(homedir(), '.cache', 'onebackup-agent');
  /** The daemon's scratch directory names this host's scratch directory for that daemon. */
  const scratchFor = (daemonScratch: string) =>
    join(scratchRoot, `scratch-${createHash('sha256').update(daemonScratch).digest('hex').slice(0, 12)}`);

  const send = (header: Record<string, unknown>, body?: Uint8Array) => {
    for (const part of encodeFrame(header, body)) output.write(part);
  };
  const driverOf = (name: unknown): HypervisorDriver => {
    const d = drivers.get(String(name));
    if (!d) throw new Error(`this host's agent has no hypervisor driver "${String(name)}"`);
    return d;
  };
  const pitOf = (handle: unknown) => {
    const p = pits.get(Number(handle));
    if (!p)
      throw new Error(`point in time ${String(handle)} is not open on this host (the agent restarted?)`);
    return p;
  };
  const writerOf = (handle: unknown) => {
    const w = writers.get(Number(handle));
    if (!w) throw new Error(`disk writer ${String(handle)} is not open on this host (the agent restarted?)`);
    return w;
  };

  async function call(
    id: number,
    driverName: unknown,
    method: AgentMethod,
    args: unknown[],
    body?: Buffer,
  ): Promise<Reply> {
    const arg = <T>(i: number): T => args[i] as T;
    switch (method) {
      case 'inspect':
        return { result: await driverOf(driverName).inspect(arg<string>(0), arg<DiskFormat | undefined>(1)) };
      case 'prepare': {
        const driver = driverOf(driverName);
        const given = arg<Omit<PrepareOptions, 'signal'>>(1);
        const abort = new AbortController();
        aborts.set(id, abort);
        try {
          const pit = await driver.prepare(arg<VmSpec>(0), {
            ...given,
            scratchDir: scratchFor(given.scratchDir),
            signal: abort.signal,
          });
          const handle = nextHandle++;
          pits.set(handle, { driver, pit });
          return { result: pitForWire(handle, pit) };
        } finally {
          aborts.delete(id);
        }
      }
      case 'extents': {
        const { driver, pit } = pitOf(arg<unknown>(0));
        return { result: await driver.extents(pit, arg<number>(1)) };
      }
      case 'read': {
        const { driver, pit } = pitOf(arg<unknown>(0));
        const into = Buffer.allocUnsafe(arg<number>(3));
        await driver.read(pit, arg<number>(1), arg<number>(2), into);
        return { body: into };
      }
      case 'digests': {
        const { driver, pit } = pitOf(arg<unknown>(0));
        const diskId = arg<number>(1);
        const chunkSize = arg<number>(2);
        // The disk's host digest key, when the daemon sent one (the call's body): keyed digests.
        const key = body !== undefined && body.length > 0 ? body : undefined;
        if (key && key.length !== HOST_DIGEST_KEY_BYTES)
          throw new Error(`a host digest key is ${HOST_DIGEST_KEY_BYTES} bytes, not ${key.length}`);
        const size = pit.disks.find((d) => d.diskId === diskId)?.virtualSize ?? 0;
        const buffer = Buffer.allocUnsafe(chunkSize);
        const digests: (string | null)[] = [];
        for (const i of arg<number[]>(3)) {
          const into = buffer.subarray(0, Math.max(0, Math.min(chunkSize, size - i * chunkSize)));
          await driver.read(pit, diskId, i * chunkSize, into);
          digests.push(isZero(into) ? null : hostChunkDigest(key, into));
        }
        return { result: digests };
      }
      case 'release': {
        const p = pits.get(Number(arg<unknown>(0)));
        pits.delete(Number(arg<unknown>(0)));
        if (p) await p.driver.release(p.pit, arg<{ succeeded: boolean }>(1));
        return {};
      }
      case 'recover': {
        const driver = driverOf(driverName);
        return {
          result: driver.recover ? await driver.recover(arg<VmSpec>(0), scratchFor(arg<string>(1))) : [],
        };
      }
      case 'discover': {
        const driver = driverOf(driverName);
        return { result: driver.discover ? await driver.discover(arg<HostReach>(0)) : null };
      }
      case 'define': {
        const driver = driverOf(driverName);
        if (!driver.define) throw new Error(`the ${driver.name} driver cannot define VMs`);
        const request = arg<{ from: string; name: string; sources: [string, string][] }>(1);
        const asked: DefineRequest = { ...request, sources: new Map(request.sources) };
        return { result: await driver.define(arg<HostReach>(0), asked) };
      }
      case 'disksOf': {
        const driver = driverOf(driverName);
        return { result: driver.disksOf ? await driver.disksOf(arg<VmSpec>(0)) : null };
      }
      case 'stateOf': {
        const driver = driverOf(driverName);
        return { result: (driver.stateOf ? await driver.stateOf(arg<VmSpec>(0)) : undefined) ?? null };
      }
      case 'createDisk': {
        const driver = driverOf(driverName);
        const writer = await driver.createDisk(
          arg<string>(0),
          arg<DiskFormat>(1),
          arg<number>(2),
          arg<DiskWriteOptions | undefined>(3) ?? undefined,
        );
        const handle = nextHandle++;
        writers.set(handle, writer);
        return { result: { handle, done: [...writer.done], durability: writer.durability ?? null } };
      }
      case 'freeBytes':
        return { result: await driverOf(driverName).freeBytes(arg<string>(0)) };
      case 'writer.write':
        await writerOf(arg<unknown>(0)).write(arg<number>(1), body ?? new Uint8Array(0));
        return {};
      case 'writer.checkpoint':
        await writerOf(arg<unknown>(0)).checkpoint();
        return {};
      case 'writer.commit':
      case 'writer.abort':
      case 'writer.suspend': {
        const writer = writerOf(arg<unknown>(0));
        writers.delete(Number(arg<unknown>(0)));
        if (method === 'writer.commit') await writer.commit();
        else if (method === 'writer.abort') await writer.abort();
        else await writer.suspend();
        return {};
      }
      case 'health':
        return { result: await machineHealth(arg<string[]>(0)) };
    }
  }

  const hello: AgentHello = {
    t: 'hello',
    protocol: PROTOCOL_VERSION,
    version: options.version,
    node: process.version,
    hostname: hostname(),
    drivers: [...drivers.values()].map((d) => ({ name: d.name, capabilities: d.capabilities })),
  };
  send({ ...hello });

  const running = new Set<Promise<void>>();
  const handle = (frame: Frame) => {
    const h = frame.header;
    const id = Number(h.id);
    if (h.t === 'abort') {
      aborts.get(id)?.abort(new Error('cancelled by the daemon'));
      return;
    }
    if (h.t !== 'call') return;
    const method = h.method as AgentMethod;
    const work = call(id, h.driver, method, Array.isArray(h.args) ? (h.args as unknown[]) : [], frame.body)
      .then((reply) => send({ t: 'ok', id, result: reply.result ?? null }, reply.body))
      .catch((err: unknown) => {
        let permanent = false;
        try {
          permanent = drivers.get(String(h.driver))?.isPermanent(err) ?? false;
        } catch {
          permanent = false;
        }
        send({ t: 'err', id, error: toWireError(err, permanent) });
      })
      .finally(() => running.delete(work));
    running.add(work);
  };

  const reader = new FrameReader();
  await new Promise<void>((resolve) => {
    input.on('data', (data: Buffer) => {
      try {
        for (const frame of reader.push(data)) handle(frame);
      } catch {
        input.destroy();
        resolve();
      }
    });
    input.on('end', () => resolve());
    input.on('close', () => resolve());
    input.on('error', () => resolve());
  });
  // The daemon is gone: nothing it started may stay frozen, exported or half-written.
  for (const a of aborts.values()) a.abort(new Error('the daemon went away'));
  await Promise.allSettled(running);
  await Promise.allSettled(
    [...pits.values()].map(({ driver, pit }) => driver.release(pit, { succeeded: false })),
  );
  await Promise.allSettled([...writers.values()].map((w) => w.suspend()));
  pits.clear();
  writers.clear();
}

/** Free and total bytes of the filesystems holding `paths` (statfs), the load: host monitoring. */
export async function machineHealth(paths: readonly string[]): Promise<AgentHealth> {
  const space = await Promise.all(
    paths.map(async (path) => {
      try {
        const s = await statfs(path);
        return { path, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
      } catch (err) {
        return { path, freeBytes: 0, totalBytes: 0, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  return { space, load1: loadavg()[0] ?? 0, cpus: cpus().length };
}

/** Whether every byte is zero (eight at a time where aligned). */
function isZero(b: Buffer): boolean {
  const words = Math.floor(b.length / 8);
  const view = new BigUint64Array(b.buffer, b.byteOffset, b.byteOffset % 8 === 0 ? words : 0);
  for (const w of view) if (w !== 0n) return false;
  for (let i = view.length * 8; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
