/**
 * A hypervisor driver whose every action runs on another host, through that host's agent
 * (agent.ts) over SSH: the engine sees the same contract as for a local driver. Disk bytes cross
 * the connection raw (the daemon hashes, compresses and encrypts them; docs/DECISIONS.md says
 * why); points in time and disk writers live on the host behind handles.
 */

import type { DiskFacts } from '../../core/disk-facts.js';
import { OneError } from '../../core/errors.js';
import type { DiskFormat } from '../../core/model.js';
import { PermanentDriverError } from '../../core/permanent-failure.js';
import type { DefineRequest, DiscoveredDisk, DiscoveredVm, HostReach } from '../../core/vm-discovery.js';
import type {
  ChangedBlocks,
  DiskWriteOptions,
  DiskWriter,
  Extent,
  HypervisorCapabilities,
  HypervisorDriver,
  PointInTime,
  PrepareOptions,
  VmSpec,
} from '../hypervisor/types.js';
import { SshError } from '../ssh.js';
import type { AgentConnection } from './agent-connection.js';
import type { AgentHealth, AgentHello, AgentMethod } from './wire.js';

/** Opens (or reuses) the connection to the host's agent. */
export type AgentReach = () => Promise<AgentConnection>;

interface RemotePit {
  readonly conn: AgentConnection;
  readonly handle: number;
}

/** What the agent needs of a VM: the driver's own fields, not how the daemon reaches the host. */
function vmForWire(vm: VmSpec): VmSpec {
  const { host: _host, ...location } = vm.location ?? {};
  return { ...vm, location };
}

export class RemoteHypervisorDriver implements HypervisorDriver {
  readonly #pits = new WeakMap<PointInTime, RemotePit>();

  constructor(
    readonly name: string,
    readonly capabilities: HypervisorCapabilities,
    private readonly reach: AgentReach,
  ) {}

  async #call(method: AgentMethod, args: readonly unknown[], signal?: AbortSignal): Promise<unknown> {
    const conn = await this.reach();
    return (await conn.call(this.name, method, args, { signal })).result;
  }

  #pit(pit: PointInTime): RemotePit {
    const p = this.#pits.get(pit);
    if (!p) throw new Error(`VM ${pit.vmId}: this point in time was not taken through the host's agent`);
    return p;
  }

  async inspect(source: string, format: DiskFormat | undefined): Promise<DiskFacts> {
    return (await this.#call('inspect', [source, format ?? null])) as DiskFacts;
  }

  async prepare(vm: VmSpec, options: PrepareOptions): Promise<PointInTime> {
    const conn = await this.reach();
    const { signal, ...rest } = options;
    const reply = await conn.call(this.name, 'prepare', [vmForWire(vm), rest], { signal });
    const w = reply.result as {
      handle: number;
      vmId: number;
      disks: PointInTime['disks'];
      checkpoint?: string | null;
      changes?: [number, ChangedBlocks][] | null;
      consistency?: PointInTime['consistency'] | null;
    };
    const pit: PointInTime = {
      vmId: w.vmId,
      disks: w.disks,
      checkpoint: w.checkpoint ?? undefined,
      changes: w.changes ? new Map(w.changes) : undefined,
      consistency: w.consistency ?? undefined,
    };
    this.#pits.set(pit, { conn, handle: w.handle });
    return pit;
  }

  async extents(pit: PointInTime, diskId: number): Promise<Extent[]> {
    const { conn, handle } = this.#pit(pit);
    return (await conn.call(this.name, 'extents', [handle, diskId])).result as Extent[];
  }

  async read(pit: PointInTime, diskId: number, offset: number, into: Uint8Array): Promise<void> {
    const { conn, handle } = this.#pit(pit);
    const { body } = await conn.call(this.name, 'read', [handle, diskId, offset, into.length]);
    if (!body || body.length !== into.length)
      throw new Error(
        `VM ${pit.vmId} disk ${diskId}: the host's agent sent ${body?.length ?? 0} bytes of ${into.length}`,
      );
    into.set(body);
  }

  async chunkDigests(
    pit: PointInTime,
    diskId: number,
    chunkSize: number,
    indexes: readonly number[],
    key?: Uint8Array,
  ): Promise<readonly (string | null)[]> {
    const { conn, handle } = this.#pit(pit);
    // The key goes as the call's body: bytes on the agent's stdin, never in a header or a log.
    const reply = await conn.call(this.name, 'digests', [handle, diskId, chunkSize, indexes], {
      ...(key ? { body: key } : {}),
    });
    const digests = reply.result;
    if (
      !Array.isArray(digests) ||
      digests.length !== indexes.length ||
      !digests.every((d) => d === null || (typeof d === 'string' && /^[0-9a-f]{64}$/.test(d)))
    )
      throw new Error(
        `VM ${pit.vmId} disk ${diskId}: the host's agent answered ${Array.isArray(digests) ? digests.length : 'no'} chunk digests for ${indexes.length}, or not as hex`,
      );
    return digests as (string | null)[];
  }

  async release(pit: PointInTime, outcome?: { readonly succeeded: boolean }): Promise<void> {
    const p = this.#pits.get(pit);
    if (!p) return;
    this.#pits.delete(pit);
    // A lost connection released it already: the agent releases everything when the daemon goes.
    await p.conn
      .call(this.name, 'release', [p.handle, outcome ?? { succeeded: false }])
      .catch(() => undefined);
  }

  async recover(vm: VmSpec, scratchDir: string): Promise<readonly string[]> {
    return (await this.#call('recover', [vmForWire(vm), scratchDir])) as string[];
  }

  async discover(host: HostReach): Promise<readonly DiscoveredVm[]> {
    const { access: _access, ...reach } = host;
    return ((await this.#call('discover', [reach])) as DiscoveredVm[] | null) ?? [];
  }

  async define(host: HostReach, request: DefineRequest): Promise<string> {
    const { access: _access, ...reach } = host;
    return (await this.#call('define', [reach, { ...request, sources: [...request.sources] }])) as string;
  }

  async disksOf(vm: VmSpec): Promise<readonly DiscoveredDisk[]> {
    return ((await this.#call('disksOf', [vmForWire(vm)])) as DiscoveredDisk[] | null) ?? [];
  }

  async stateOf(vm: VmSpec): Promise<'RUNNING' | 'POWEROFF' | undefined> {
    return ((await this.#call('stateOf', [vmForWire(vm)])) as 'RUNNING' | 'POWEROFF' | null) ?? undefined;
  }

  async createDisk(
    target: string,
    format: DiskFormat,
    virtualSize: number,
    options?: DiskWriteOptions,
  ): Promise<DiskWriter> {
    const conn = await this.reach();
    const reply = (await conn.call(this.name, 'createDisk', [target, format, virtualSize, options ?? null]))
      .result as {
      handle: number;
      done: number[];
      durability: string | null;
    };
    const call = async (method: AgentMethod, extra: readonly unknown[] = [], body?: Uint8Array) => {
      await conn.call(this.name, method, [reply.handle, ...extra], body ? { body } : {});
    };
    return {
      done: new Set(reply.done),
      ...(reply.durability !== null ? { durability: `${reply.durability} on host ${conn.target.host}` } : {}),
      write: (offset, data) => call('writer.write', [offset], data),
      checkpoint: () => call('writer.checkpoint'),
      commit: () => call('writer.commit'),
      abort: () => call('writer.abort'),
      suspend: () => call('writer.suspend'),
    };
  }

  async freeBytes(target: string): Promise<number> {
    return (await this.#call('freeBytes', [target])) as number;
  }

  /** The host's filesystems holding `paths`, its load: host monitoring. */
  async health(paths: readonly string[]): Promise<{ hello: AgentHello; health: AgentHealth }> {
    const conn = await this.reach();
    const hello = await conn.hello;
    return { hello, health: (await conn.call(this.name, 'health', [paths])).result as AgentHealth };
  }

  /** The host's own verdict travels with the error; a wrong host key or login needs an operator. */
  isPermanent(err: unknown): boolean {
    if (err instanceof PermanentDriverError || err instanceof OneError) return true;
    if (err instanceof SshError) return err.permanent;
    return false;
  }
}
