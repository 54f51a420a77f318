/**
 * Chunk IDs: BLAKE3 (new datastores) is the real BLAKE3, in keyed mode when encrypted, checked
 * against the reference test vectors; SHA-256 (datastores made before) is unchanged. A chunk's
 * version byte says which hash names it, so a reader needs nothing else, and a chunk cannot pass
 * as the other kind.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CHUNK_HEADER,
  ChunkCorruptError,
  decodeChunk,
  encodeChunk,
  storedChunkProblem,
} from '../../../core/engine/chunk-codec.js';
import { chunkId } from '../../../core/engine/chunk-id.js';
import { CHUNK_ID_HASHES, type ChunkIdHash, DEFAULT_CHUNK_ID_HASH } from '../../../core/model.js';

/** The input of BLAKE3's published test vectors: byte i is i mod 251. */
const vectorInput = (length: number) => Uint8Array.from({ length }, (_, i) => i % 251);
/** The key of BLAKE3's published keyed_hash vectors (32 ASCII bytes). */
const VECTOR_KEY = Buffer.from('whats the Elvish word for friend');

const key = createHash('sha512').update('chunk-id test').digest();
const keys = { mac: key.subarray(0, 32), enc: key.subarray(32) };

describe('chunk IDs', () => {
  it('new datastores name chunks with BLAKE3', () => {
    assert.equal(DEFAULT_CHUNK_ID_HASH, 'blake3');
  });

  it('BLAKE3 matches the reference test vectors, plain and keyed', () => {
    const mac = { mac: VECTOR_KEY, enc: key.subarray(32) };
    assert.equal(
      chunkId(vectorInput(0), undefined, 'blake3'),
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    );
    assert.equal(
      chunkId(vectorInput(0), mac, 'blake3'),
      '92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26',
    );
    assert.equal(
      chunkId(vectorInput(1024), undefined, 'blake3'),
      '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7',
    );
  });

  it('SHA-256 IDs are what they always were: SHA-256, HMAC-SHA-256 with the MAC key', () => {
    const plain = randomBytes(100_000);
    assert.equal(chunkId(plain, undefined, 'sha256'), createHash('sha256').update(plain).digest('hex'));
    assert.equal(chunkId(plain, keys, 'sha256'), createHmac('sha256', keys.mac).update(plain).digest('hex'));
  });

  it('keyed IDs depend on the key, and BLAKE3 IDs differ from SHA-256 ones', () => {
    const plain = randomBytes(4096);
    const other = { mac: randomBytes(32), enc: keys.enc };
    assert.notEqual(chunkId(plain, keys, 'blake3'), chunkId(plain, other, 'blake3'));
    assert.notEqual(chunkId(plain, keys, 'blake3'), chunkId(plain, undefined, 'blake3'));
    assert.notEqual(chunkId(plain, keys, 'blake3'), chunkId(plain, keys, 'sha256'));
    // A chunk in a shared slot (a SharedArrayBuffer view) hashes as a copy of it does.
    const shared = new Uint8Array(new SharedArrayBuffer(plain.length + 64), 64, plain.length);
    shared.set(plain);
    assert.equal(chunkId(shared, keys, 'blake3'), chunkId(plain, keys, 'blake3'));
  });

  for (const hash of CHUNK_ID_HASHES)
    for (const encrypted of [false, true])
      it(`a ${hash} chunk (${encrypted ? 'encrypted' : 'plain'}) says so in its header and decodes by itself`, () => {
        const plain = Buffer.concat([randomBytes(50_000), Buffer.alloc(200_000, 3)]);
        const k = encrypted ? keys : undefined;
        const { id, payload } = encodeChunk(plain, {
          compression: 'zstd',
          level: 1,
          keys: k,
          chunkIds: hash,
        });
        assert.equal(id, chunkId(plain, k, hash));
        assert.equal(payload[0], hash === 'sha256' ? 1 : 2);
        assert.deepEqual(decodeChunk(id, payload, k), plain);
        const head = payload.subarray(0, CHUNK_HEADER);
        assert.equal(storedChunkProblem({ size: payload.length, head }, plain.length, encrypted), undefined);
        // Claiming the other hash in the header does not make the chunk pass: its ID is rechecked.
        const other: ChunkIdHash = hash === 'sha256' ? 'blake3' : 'sha256';
        const relabelled = Buffer.from(payload);
        relabelled[0] = other === 'sha256' ? 1 : 2;
        assert.throws(
          () => decodeChunk(id, relabelled, k),
          (err: unknown) => {
            assert.ok(err instanceof ChunkCorruptError);
            assert.match(err.message, /digest mismatch/);
            return true;
          },
        );
        const unknown = Buffer.from(payload);
        unknown[0] = 3;
        assert.throws(() => decodeChunk(id, unknown, k), /unknown format/);
        assert.match(
          storedChunkProblem(
            { size: unknown.length, head: unknown.subarray(0, CHUNK_HEADER) },
            plain.length,
            encrypted,
          ) ?? '',
          /unknown format 3/,
        );
      });
});
