/**
 * AES-256-GCM for chunks: the native addon (built by `npm run build` with gcc, which the tests'
 * machines have) writes exactly what node:crypto writes, in place or apart, and refuses a wrong
 * tag; chunks encoded by one implementation decode with the other (a daemon built without gcc
 * reads a datastore written by one built with it, and back).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gcmImplementation, gcmOpen, gcmSeal } from '../../../core/engine/aes-gcm.js';
import { ChunkCorruptError, decodeChunk, encodeChunk } from '../../../core/engine/chunk-codec.js';

const key = createHash('sha512').update('aes-gcm test').digest();
const keys = { mac: key.subarray(0, 32), enc: key.subarray(32) };
const codecModule = fileURLToPath(new URL('../../../core/engine/chunk-codec.js', import.meta.url));

function reference(k: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array) {
  const c = createCipheriv('aes-256-gcm', k, nonce);
  c.setAAD(aad);
  return { sealed: Buffer.concat([c.update(data), c.final()]), tag: c.getAuthTag() };
}

const flip = (buf: Buffer, at: number) => buf.writeUInt8(buf.readUInt8(at) ^ 1, at);

/** Runs `script` in a child process whose codec uses node:crypto only; returns its stdout. */
function withNodeCrypto(script: string, input: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ONEBACKUP_NATIVE_GCM: '0', CODEC: codecModule },
    input,
  }).toString();
}

describe('AES-256-GCM for chunks', () => {
  it('is the native addon on a machine with gcc', () => {
    assert.match(gcmImplementation, /native addon/);
  });

  it('seals what node:crypto seals, in place and apart, for lengths around the block size', () => {
    for (const length of [0, 1, 15, 16, 17, 16 * 1024 + 3, 1_000_003]) {
      const data = randomBytes(length);
      const nonce = randomBytes(12);
      const aad = Buffer.from(`chunk-${length}`);
      const want = reference(keys.enc, nonce, aad, data);
      const apart = Buffer.alloc(length);
      const tag = Buffer.alloc(16);
      gcmSeal(keys.enc, nonce, aad, data, apart, tag);
      assert.ok(apart.equals(want.sealed), `apart, ${length} bytes`);
      assert.ok(tag.equals(want.tag));
      const inPlace = Buffer.from(data);
      gcmSeal(keys.enc, nonce, aad, inPlace, inPlace, tag);
      assert.ok(inPlace.equals(want.sealed), `in place, ${length} bytes`);
      const opened = Buffer.alloc(length);
      assert.equal(gcmOpen(keys.enc, nonce, aad, inPlace, opened, tag), true);
      assert.ok(opened.equals(data));
      if (length > 0) {
        flip(inPlace, length - 1);
        assert.equal(gcmOpen(keys.enc, nonce, aad, inPlace, opened, tag), false, 'a flipped byte');
        flip(inPlace, length - 1);
      }
      assert.equal(gcmOpen(keys.enc, nonce, Buffer.from('other'), inPlace, opened, tag), false, 'other AAD');
    }
  });

  it('refuses a wrong key length and buffers that overlap without being the same bytes', () => {
    const buf = Buffer.alloc(64);
    assert.throws(
      () => gcmSeal(keys.enc.subarray(1), randomBytes(12), buf, buf, buf, Buffer.alloc(16)),
      /32 bytes/,
    );
    assert.throws(
      () =>
        gcmSeal(
          keys.enc,
          randomBytes(12),
          Buffer.alloc(0),
          buf.subarray(0, 32),
          buf.subarray(8),
          Buffer.alloc(16),
        ),
      /overlap/,
    );
  });

  it('chunks written by either implementation are read by the other; a wrong tag is corrupt', () => {
    const plain = Buffer.concat([randomBytes(100_000), Buffer.alloc(300_000, 7)]);
    const ours = encodeChunk(plain, { compression: 'zstd', level: 1, keys, chunkIds: 'blake3' });
    const script = `
      const { decodeChunk, encodeChunk } = await import(process.env.CODEC);
      const { gcmImplementation } = await import(process.env.CODEC.replace('chunk-codec', 'aes-gcm'));
      const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
      const k = Buffer.from(input.key, 'hex');
      const keys = { mac: k.subarray(0, 32), enc: k.subarray(32) };
      const plain = decodeChunk(input.id, Buffer.from(input.payload, 'base64'), keys);
      const again = encodeChunk(plain, { compression: 'zstd', level: 1, keys, chunkIds: 'blake3' });
      console.log(JSON.stringify({ impl: gcmImplementation, id: again.id, payload: again.payload.toString('base64'),
        same: plain.equals(Buffer.from(input.plain, 'base64')) }));`;
    const out = JSON.parse(
      withNodeCrypto(
        script.replace("require('node:fs')", "(await import('node:fs'))"),
        JSON.stringify({
          key: key.toString('hex'),
          id: ours.id,
          payload: ours.payload.toString('base64'),
          plain: plain.toString('base64'),
        }),
      ),
    ) as { impl: string; id: string; payload: string; same: boolean };
    assert.match(out.impl, /node:crypto/);
    assert.equal(out.same, true, 'node:crypto read the native chunk');
    const theirs = Buffer.from(out.payload, 'base64');
    assert.ok(decodeChunk(out.id, theirs, keys).equals(plain), 'native read the node:crypto chunk');
    flip(theirs, 20);
    assert.throws(() => decodeChunk(out.id, theirs, keys), ChunkCorruptError);
  });
});
