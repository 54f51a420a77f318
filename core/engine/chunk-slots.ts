/**
 * Reusable chunk buffers shared with the worker threads. One SharedArrayBuffer holds `count`
 * slots; each slot has a plaintext region (one chunk) and a payload region (one stored chunk,
 * compressed and encrypted), both starting on 4 KiB boundaries: reads into unaligned 4 MiB
 * buffers ran 5x slower here, and a fresh 4 MiB allocation per chunk costs page faults and
 * zeroing in the kernel (PERFORMANCE.md). The memory is a shared WebAssembly.Memory because V8
 * maps it page-aligned (reads into it ran at 11 GB/s, 6.8 GB/s 16 bytes further); a plain
 * SharedArrayBuffer comes from malloc, 16 bytes into a page. Page alignment also lets the
 * slots be written with O_DIRECT (drivers/direct-io.ts). Workers read and write the slots in
 * place, so a chunk is neither copied nor transferred between threads, and memory stays at
 * `count` slots whatever the disk size. One slot set serves the whole daemon (ChunkPool.slots).
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

export class ChunkSlot implements SlotRef {
  /** One chunk of guest bytes. */
  readonly plain: Uint8Array;
  /** One stored chunk (its first `length` bytes are meaningful). */
  readonly payload: Uint8Array;

  constructor(
    readonly memory: SharedArrayBuffer,
    readonly plainOffset: number,
    readonly payloadOffset: number,
  ) {
    this.plain = new Uint8Array(memory, plainOffset, CHUNK_SIZE);
    this.payload = new Uint8Array(memory, payloadOffset, PAYLOAD_CAPACITY);
  }

  get ref(): SlotRef {
    return { memory: this.memory, plainOffset: this.plainOffset, payloadOffset: this.payloadOffset };
  }
}

/** A fixed set of slots with an async acquire: the bound on chunks in flight. */
export class ChunkSlots {
  readonly #free: ChunkSlot[] = [];
  readonly #waiting: ((slot: ChunkSlot) => void)[] = [];

  constructor(readonly count: number) {
    const stride = aligned(CHUNK_SIZE) + aligned(PAYLOAD_CAPACITY);
    const pages = Math.ceil((stride * count) / WASM_PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
      .buffer as SharedArrayBuffer;
    for (let i = 0; i < count; i++) {
      const base = i * stride;
      this.#free.push(new ChunkSlot(memory, base, base + aligned(CHUNK_SIZE)));
    }
  }

  /** A free slot, waiting for one to be released when all are in use. */
  acquire(): Promise<ChunkSlot> {
    const slot = this.#free.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(slot: ChunkSlot): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else this.#free.push(slot);
  }
}
