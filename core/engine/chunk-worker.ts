/**
 * piscina worker: hashing, compression and encryption of one chunk, off the main thread.
 * Results travel as one transferred buffer: for encode, 64 ASCII bytes of chunk ID then the
 * payload (no payload when the chunk is unchanged since the previous backup); for decode, the
 * plaintext.
 */
import { move } from 'piscina';
import { type CodecOptions, chunkId, decodeChunk, encodeChunk } from './chunk-codec.js';

export interface EncodeTask {
  readonly op: 'encode';
  readonly data: Uint8Array;
  readonly options: CodecOptions;
  /** The ID this chunk had in the previous backup: when it still matches, skip compression. */
  readonly previousId?: string | undefined;
}

export interface DecodeTask {
  readonly op: 'decode';
  readonly id: string;
  readonly payload: Uint8Array;
  readonly keys: CodecOptions['keys'];
}

export default function run(task: EncodeTask | DecodeTask): unknown {
  if (task.op === 'encode') {
    if (task.previousId !== undefined && chunkId(task.data, task.options.keys) === task.previousId) {
      return move(new Uint8Array(Buffer.from(task.previousId, 'ascii')));
    }
    const { id, payload } = encodeChunk(task.data, task.options);
    const out = new Uint8Array(64 + payload.length);
    out.set(Buffer.from(id, 'ascii'), 0);
    out.set(payload, 64);
    return move(out);
  }
  const plain = decodeChunk(task.id, task.payload, task.keys);
  const out = new Uint8Array(plain.length);
  out.set(plain);
  return move(out);
}
