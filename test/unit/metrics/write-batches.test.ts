import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBatches } from '../../../core/metrics/write-batches.js';

describe('writes in batches', () => {
  it('writes a burst in one batch, what comes during a write in the next, in order', async () => {
    const written: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const b = writeBatches<number>(
      async (batch) => {
        written.push([...batch]);
        if (written.length === 1) await gate;
      },
      () => assert.fail('no batch fails here'),
    );
    for (let i = 0; i < 100; i++) b.push(i);
    while (written.length === 0) await new Promise((r) => setImmediate(r));
    b.push(100);
    b.push(101);
    release();
    await b.flush();
    assert.equal(written.length, 2);
    assert.deepEqual(
      written[0],
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(written[1], [100, 101]);
  });

  it('reports a failed batch and goes on with the next; flush waits for both', async () => {
    const failures: (readonly string[])[] = [];
    const written: string[] = [];
    const b = writeBatches<string>(
      async (batch) => {
        if (batch.includes('bad')) throw new Error('disk full');
        written.push(...batch);
      },
      (err, batch) => {
        assert.match(String(err), /disk full/);
        failures.push(batch);
      },
    );
    b.push('bad');
    b.push('also lost');
    await b.flush();
    b.push('good');
    await b.flush();
    assert.deepEqual(failures, [['bad', 'also lost']]);
    assert.deepEqual(written, ['good']);
  });
});
