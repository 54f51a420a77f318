/**
 * The worker pool of the hot path (piscina). The hot path's tasks work in place on shared slots
 * (chunk-slots.ts), so a chunk is neither copied nor transferred between threads; verification
 * hands its buffers over as transferables. One pool per daemon; close() waits for idle.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import type { HostDigestKind } from '../host-digest.js';
import { ChunkCorruptError, type CodecOptions } from './chunk-codec.js';
import { type ChunkSlot, ChunkSlots } from './chunk-slots.js';
import type { DecodeSlotTask, DecodeTask, EncodeSlotResult, EncodeSlotTask } from './chunk-worker.js';

/** Chunk buffers shared by every operation beyond what one operation keeps in flight. */
const SHARED_EXTRA = 4;

/** Where an operation takes its chunk buffers: acquire waits while all are in use. */
export interface ChunkSlotSource
  extends Pick<
    ChunkSlots,
    'acquire' | 'release' | 'acquirePlain' | 'releasePlain' | 'acquirePayload' | 'releasePayload' | 'pair'
  > {
  /** Chunks one operation keeps in flight. */
  readonly count: number;
}

export class ChunkPool {
  readonly #pool: Piscina;
  #shared: ChunkSlots | undefined;
  readonly #threads: number;
  #active = 0;
  #busyMs = 0;
  #changedAt = performance.now();
  #lastCallAt = performance.now();

  constructor(threads: number) {
    const n = threads > 0 ? threads : availableParallelism();
    this.#threads = n;
    this.#pool = new Piscina({
      filename: new URL('./chunk-worker.js', import.meta.url).href,
      minThreads: n,
      maxThreads: n,
      idleTimeout: 60_000,
    });
  }

  /** Worker threads of the pool (configured, whether or not started yet). */
  get threads(): number {
    return this.#threads;
  }

  /**
   * Slots for one backup or restore. Every operation of the daemon draws from one set of chunk
   * buffers, so memory is bounded per daemon, not per operation: two plaintext regions per thread
   * keep every worker busy while the main thread reads the next chunk, one more is that next
   * chunk, and SHARED_EXTRA more let several operations read while the workers are busy; as many
   * payload regions hold encoded chunks until the disk has them (chunk-slots.ts), so a write that
   * waits on the disk holds a payload, not a worker's next plaintext.
   * `count` is how many one operation keeps in flight. Slot tasks are never aborted in a worker
   * (a cancelled run waits for its chunks in flight, a few milliseconds each), so a slot is free
   * only once no thread writes to it: a cancelled run can never scribble on another's buffers.
   */
  slots(): ChunkSlotSource {
    this.#shared ??= new ChunkSlots(this.#threads * 2 + 1 + SHARED_EXTRA);
    const shared = this.#shared;
    return {
      count: this.#threads * 2 + 1,
      acquire: () => shared.acquire(),
      release: (slot) => shared.release(slot),
      acquirePlain: () => shared.acquirePlain(),
      releasePlain: (r) => shared.releasePlain(r),
      acquirePayload: () => shared.acquirePayload(),
      releasePayload: (r) => shared.releasePayload(r),
      pair: (plain, payload) => shared.pair(plain, payload),
    };
  }

  /** Chunk buffers the daemon holds (allocated at the first backup or restore). */
  get slotCount(): number {
    return this.#shared?.count ?? 0;
  }

  get utilization(): number {
    return this.#pool.utilization;
  }

  /**
   * Share (0-1) of the threads' time spent on tasks since the previous call: piscina's
   * `utilization` averages over the pool's whole life, which says nothing about now in a
   * long-running daemon, and worker event-loop utilisation counts idle Atomics.wait as busy.
   * Tasks are counted as they run (at most one per thread), for the metric of the same name.
   */
  busyShareSinceLastCall(): number {
    const now = performance.now();
    this.#account(now);
    const elapsed = now - this.#lastCallAt;
    const share = elapsed > 0 ? this.#busyMs / (elapsed * this.threads) : 0;
    this.#busyMs = 0;
    this.#lastCallAt = now;
    return Math.min(1, share);
  }

  #account(now: number): void {
    this.#busyMs += Math.min(this.#active, this.threads) * (now - this.#changedAt);
    this.#changedAt = now;
  }

  /** Runs a task on the pool, counting it as busy time. */
  async #run(task: unknown, options: Parameters<Piscina['run']>[1]): Promise<unknown> {
    this.#account(performance.now());
    this.#active += 1;
    try {
      return await this.#pool.run(task, options);
    } finally {
      this.#account(performance.now());
      this.#active -= 1;
    }
  }

  /**
   * Hashes, compresses and encrypts the slot's plaintext into its payload region, in place; with
   * `hostDigest`, also gives the chunk's host digest (core/host-digest.ts).
   * Not abortable: the slot is reused as soon as this settles (see slots()).
   */
  async encodeSlot(
    slot: ChunkSlot,
    length: number,
    options: CodecOptions,
    previousId?: string,
    hostDigest?: HostDigestKind,
  ): Promise<EncodeSlotResult> {
    const task: EncodeSlotTask = {
      op: 'encode-slot',
      slot: slot.ref,
      length,
      options,
      previousId,
      hostDigest,
    };
    return (await this.#run(task, {})) as EncodeSlotResult;
  }

  /**
   * Checks and decodes the slot's payload (`length` bytes) into its plain region, in place;
   * returns the plaintext length. Throws ChunkCorruptError. Not abortable, as encodeSlot.
   */
  async decodeSlot(slot: ChunkSlot, id: string, length: number, keys: CodecOptions['keys']): Promise<number> {
    const task: DecodeSlotTask = { op: 'decode-slot', slot: slot.ref, id, length, keys };
    return this.#typed(id, () => this.#run(task, {}) as Promise<number>);
  }

  /** Errors cross the thread boundary as plain Errors; give corruption back its type. */
  async #typed<T>(id: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.startsWith(`chunk ${id}: `)) throw new ChunkCorruptError(message);
      throw err;
    }
  }

  /** Checks and decodes one stored chunk (verification: chunks come one by one). */
  async decode(
    id: string,
    payload: Uint8Array,
    keys: CodecOptions['keys'],
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const copy = new Uint8Array(payload.length);
    copy.set(payload);
    const task: DecodeTask = { op: 'decode', id, payload: copy, keys };
    return this.#typed(
      id,
      () =>
        this.#run(task, {
          transferList: [copy.buffer],
          ...(signal ? { signal } : {}),
        }) as Promise<Uint8Array>,
    );
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}
