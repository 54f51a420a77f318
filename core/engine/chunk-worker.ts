/**
 * piscina worker: hashing, compression and encryption of one chunk, off the main thread.
 * Slot tasks work in place on a shared slot (chunk-slots.ts): the plaintext and the payload
 * never cross the thread boundary, only the chunk ID and lengths do. The copying decode task
 * remains for verification, where chunks arrive one by one from the datastore.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { move } from 'piscina';
import { type HostDigestKind, hostChunkDigest } from '../host-digest.js';
import { gcmLeavesGarbage } from './aes-gcm.js';
import { type CodecOptions, decodeChunk, decodeChunkInto, encodeChunkInto } from './chunk-codec.js';
import { chunkId } from './chunk-id.js';
import { PAYLOAD_CAPACITY, type SlotRef } from './chunk-slots.js';
import { CHUNK_SIZE } from './manifest.js';

export interface EncodeSlotTask {
  readonly op: 'encode-slot';
  readonly slot: SlotRef;
  /** Bytes of plaintext at the start of the slot's plain region. */
  readonly length: number;
  readonly options: CodecOptions;
  /** The ID this chunk had in the previous backup: when it still matches, skip compression. */
  readonly previousId?: string | undefined;
  /** Host digests asked for (core/host-digest.ts): the result also has the chunk's. */
  readonly hostDigest?: HostDigestKind | undefined;
}

/** The chunk ID, and the payload length in the slot (0 when unchanged since previousId). */
export interface EncodeSlotResult {
  readonly id: string;
  readonly length: number;
  /** The plaintext's host digest (core/host-digest.ts), when the task asked for it. */
  readonly hostDigest?: string;
}

export interface DecodeSlotTask {
  readonly op: 'decode-slot';
  readonly slot: SlotRef;
  readonly id: string;
  /** Bytes of payload at the start of the slot's payload region. */
  readonly length: number;
  readonly keys: CodecOptions['keys'];
}

export interface DecodeTask {
  readonly op: 'decode';
  readonly id: string;
  readonly payload: Uint8Array;
  readonly keys: CodecOptions['keys'];
}

export type ChunkTask = EncodeSlotTask | DecodeSlotTask | DecodeTask;

/**
 * AES-GCM in node:crypto (aes-gcm.ts without its addon) returns a new Buffer for every 16 KiB
 * slice: 4 MiB of garbage per chunk, which V8 frees only once about 64 MiB of such external
 * memory have piled up; in the daemon that kept 35 MiB of RSS per worker thread for good. Then a
 * young-generation collection after each slot task (a scavenge of this thread's tiny heap,
 * 0.2-0.4 ms here against 5-10 ms for the chunk) frees them while they are few: 12 MiB per
 * thread instead. The addon leaves no such garbage, and no collection is forced.
 */
const collectYoung = gcmLeavesGarbage
  ? (() => {
      setFlagsFromString('--expose-gc');
      return runInNewContext('gc') as (options: { type: 'minor' }) => void;
    })()
  : undefined;

export default function run(task: ChunkTask): EncodeSlotResult | number | Uint8Array {
  const result = runTask(task);
  if (task.op !== 'decode') collectYoung?.({ type: 'minor' });
  return result;
}

function runTask(task: ChunkTask): EncodeSlotResult | number | Uint8Array {
  if (task.op === 'encode-slot') {
    const plain = new Uint8Array(task.slot.memory, task.slot.plainOffset, task.length);
    const id = chunkId(plain, task.options.keys, task.options.chunkIds);
    const digest = task.hostDigest ? { hostDigest: hostChunkDigest(task.hostDigest.key, plain) } : {};
    if (id === task.previousId) return { id, length: 0, ...digest };
    const payload = new Uint8Array(task.slot.memory, task.slot.payloadOffset, PAYLOAD_CAPACITY);
    return { ...encodeChunkInto(plain, task.options, payload, id), ...digest };
  }
  if (task.op === 'decode-slot') {
    const payload = new Uint8Array(task.slot.memory, task.slot.payloadOffset, task.length);
    const plain = new Uint8Array(task.slot.memory, task.slot.plainOffset, CHUNK_SIZE);
    return decodeChunkInto(task.id, payload, task.keys, plain);
  }
  const plain = decodeChunk(task.id, task.payload, task.keys);
  const out = new Uint8Array(plain.length);
  out.set(plain);
  return move(out) as Uint8Array;
}
