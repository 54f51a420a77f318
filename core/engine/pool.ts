/**
 * The worker pool of the hot path (piscina). encode/decode hand buffers over as transferables,
 * so a chunk is not copied between threads. One pool per daemon; close() waits for idle.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { ChunkCorruptError, type CodecOptions } from './chunk-codec.js';
import type { DecodeTask, EncodeTask } from './chunk-worker.js';

export class ChunkPool {
  readonly #pool: Piscina;
  #active = 0;
  #busyMs = 0;
  #changedAt = performance.now();
  #lastCallAt = performance.now();

  constructor(threads: number) {
    const n = threads > 0 ? threads : availableParallelism();
    this.#pool = new Piscina({
      filename: new URL('./chunk-worker.js', import.meta.url).href,
      minThreads: n,
      maxThreads: n,
      idleTimeout: 60_000,
    });
  }

  get threads(): number {
    return this.#pool.threads.length;
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

  async #run(task: EncodeTask | DecodeTask, options: Parameters<Piscina['run']>[1]): Promise<unknown> {
    this.#account(performance.now());
    this.#active += 1;
    try {
      return await this.#pool.run(task, options);
    } finally {
      this.#account(performance.now());
      this.#active -= 1;
    }
  }

  async encode(
    data: Uint8Array,
    options: CodecOptions,
    signal?: AbortSignal,
    previousId?: string,
  ): Promise<{ id: string; payload: Uint8Array }> {
    const task: EncodeTask = { op: 'encode', data, options, previousId };
    const out = (await this.#run(task, {
      transferList: [data.buffer as ArrayBuffer],
      ...(signal ? { signal } : {}),
    })) as Uint8Array;
    return { id: Buffer.from(out.buffer, out.byteOffset, 64).toString('ascii'), payload: out.subarray(64) };
  }

  async decode(
    id: string,
    payload: Uint8Array,
    keys: CodecOptions['keys'],
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const copy = new Uint8Array(payload.length);
    copy.set(payload);
    const task: DecodeTask = { op: 'decode', id, payload: copy, keys };
    try {
      return (await this.#run(task, {
        transferList: [copy.buffer],
        ...(signal ? { signal } : {}),
      })) as Uint8Array;
    } catch (err) {
      // Errors cross the thread boundary as plain Errors; give corruption back its type.
      const message = err instanceof Error ? err.message : String(err);
      if (message.startsWith(`chunk ${id}: `)) throw new ChunkCorruptError(message);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}
