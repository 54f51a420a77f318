/**
 * Reusable chunk buffers shared with the worker threads. One SharedArrayBuffer holds `count`
 * plaintext regions (one chunk each) and as many payload regions (one stored chunk, compressed
 * and encrypted), all starting on 4 KiB boundaries: reads into unaligned 4 MiB
 * buffers ran 5x slower here, and a fresh 4 MiB allocation per chunk costs page faults and
 * zeroing in the kernel (PERFORMANCE.md). The memory is a shared WebAssembly.Memory because V8
 * maps it page-aligned (reads into it ran at 11 GB/s, 6.8 GB/s 16 bytes further); a plain
 * SharedArrayBuffer comes from malloc, 16 bytes into a page. Page alignment also lets the
 * regions be written with O_DIRECT (drivers/direct-io.ts). Workers read and write the regions in
 * place (a slot pairs one of each for a task), so a chunk is neither copied nor transferred
 * between threads, and memory stays at `count` of each whatever the disk size. One slot set serves the whole daemon (ChunkPool.slots).
 */
import { CHUNK_SIZE } from './manifest.js';
import { zstd } from './zstd-binding.js';

/** The part of the WebAssembly global used here (the project's `lib` does not declare it). */
declare const WebAssembly: {
  Memory: new (d: {
    initial: number;
    maximum: number;
    shared: boolean;
  }) => { readonly buffer: ArrayBufferLike };
};

const ALIGN = 4096;
const WASM_PAGE = 65536;

/** Header (6) + nonce (12) + tag (16) of a stored chunk: see chunk-codec.ts. */
export const PAYLOAD_OVERHEAD = 34;

/** The largest stored chunk: a chunk that does not compress, plus zstd's or deflate's framing. */
export const PAYLOAD_CAPACITY = PAYLOAD_OVERHEAD + zstd.compressBound(CHUNK_SIZE) + 64 * 1024;

function aligned(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** Where one slot lives in the shared buffer; plain structured-clonable data for the workers. */
export interface SlotRef {
  readonly memory: SharedArrayBuffer;
  readonly plainOffset: number;
  readonly payloadOffset: number;
}

/** One region of the shared buffer: a chunk's plaintext, or one stored chunk. */
export interface Region {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** A plaintext region and a payload region, paired for one encode or decode. */
export class ChunkSlot implements SlotRef {
  /** One chunk of guest bytes. */
  readonly plain: Uint8Array;
  /** One stored chunk (its first `length` bytes are meaningful). */
  readonly payload: Uint8Array;

  constructor(
    readonly memory: SharedArrayBuffer,
    readonly plainRegion: Region,
    readonly payloadRegion: Region,
  ) {
    this.plain = plainRegion.bytes;
    this.payload = payloadRegion.bytes;
  }

  get plainOffset(): number {
    return this.plainRegion.offset;
  }

  get payloadOffset(): number {
    return this.payloadRegion.offset;
  }

  get ref(): SlotRef {
    return { memory: this.memory, plainOffset: this.plainOffset, payloadOffset: this.payloadOffset };
  }
}

/** A fixed set of regions with an async acquire, in the order asked. */
class Regions {
  readonly #free: Region[] = [];
  readonly #waiting: ((r: Region) => void)[] = [];

  constructor(regions: Region[]) {
    this.#free.push(...regions.reverse());
  }

  acquire(): Promise<Region> {
    const r = this.#free.pop();
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(r: Region): void {
    const next = this.#waiting.shift();
    if (next) next(r);
    else this.#free.push(r);
  }
}

/**
 * Fixed sets of plaintext and payload regions with an async acquire: the bound on chunks in
 * flight. The two are taken apart so that an encoded chunk gives its plaintext region back at
 * once (the next read can start) while its payload waits for the disk, and a decoded one its
 * payload region while its plaintext is written. Every caller takes a plaintext region before a
 * payload region, and only holders of both (encoding, decoding) or of one that they are writing
 * ever wait on nothing but I/O: so no two callers can wait on each other in a cycle.
 */
export class ChunkSlots {
  readonly memory: SharedArrayBuffer;
  readonly #plains: Regions;
  readonly #payloads: Regions;

  constructor(
    readonly count: number,
    readonly payloadCount = count,
  ) {
    const plainStride = aligned(CHUNK_SIZE);
    const payloadStride = aligned(PAYLOAD_CAPACITY);
    const total = plainStride * count + payloadStride * payloadCount;
    const pages = Math.ceil(total / WASM_PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
      .buffer as SharedArrayBuffer;
    this.memory = memory;
    const plains: Region[] = [];
    for (let i = 0; i < count; i++) {
      const offset = i * plainStride;
      plains.push({ offset, bytes: new Uint8Array(memory, offset, CHUNK_SIZE) });
    }
    const payloads: Region[] = [];
    for (let i = 0; i < payloadCount; i++) {
      const offset = count * plainStride + i * payloadStride;
      payloads.push({ offset, bytes: new Uint8Array(memory, offset, PAYLOAD_CAPACITY) });
    }
    this.#plains = new Regions(plains);
    this.#payloads = new Regions(payloads);
  }

  acquirePlain(): Promise<Region> {
    return this.#plains.acquire();
  }

  releasePlain(r: Region): void {
    this.#plains.release(r);
  }

  /** A payload region; callers that will hold a plaintext region too take that one first. */
  acquirePayload(): Promise<Region> {
    return this.#payloads.acquire();
  }

  releasePayload(r: Region): void {
    this.#payloads.release(r);
  }

  pair(plain: Region, payload: Region): ChunkSlot {
    return new ChunkSlot(this.memory, plain, payload);
  }

  /** A plaintext and a payload region (in that order), waiting while all are in use. */
  async acquire(): Promise<ChunkSlot> {
    const plain = await this.acquirePlain();
    return this.pair(plain, await this.acquirePayload());
  }

  release(slot: ChunkSlot): void {
    this.releasePayload(slot.payloadRegion);
    this.releasePlain(slot.plainRegion);
  }
}
