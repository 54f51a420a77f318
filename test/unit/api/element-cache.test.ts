/**
 * What decides that a kept pool element may be answered again (sameData: the same data, in the
 * same order, and nothing it cannot look into), and that the cache stays within its bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ElementCache } from '../../../core/api/element-cache.js';
import { escapeStringToBytes } from '../../../core/api/xmlrpc-value.js';
import { sameData } from '../../../core/docs/pool.js';

describe('sameData', () => {
  it('is equal data: primitives, arrays, Maps and plain objects, deeply', () => {
    const view = () => ({
      row: { id: 1, name: 'a', template: '[]' },
      template: [{ kind: 'vector', name: 'NIC', values: new Map([['IP', '10.0.0.1']]) }],
      ids: [1, 2],
      none: undefined,
    });
    assert.ok(sameData(view(), view()));
    assert.ok(sameData(Number.NaN, Number.NaN));
    assert.ok(sameData(Object.create(null), Object.create(null)));
  });

  it('is not equal on any difference, in any place or order', () => {
    const differ: [unknown, unknown][] = [
      [
        { a: 1, b: 2 },
        { b: 2, a: 1 },
      ],
      [{ a: 1 }, { a: 1, b: undefined }],
      [{ a: undefined }, { b: undefined }],
      [
        [1, 2],
        [1, 2, 3],
      ],
      [
        new Map([
          ['x', '1'],
          ['y', '2'],
        ]),
        new Map([
          ['y', '2'],
          ['x', '1'],
        ]),
      ],
      [new Map([['x', '1']]), new Map([['x', '2']])],
      [new Map([['x', '1']]), { x: '1' }],
      [[{ m: new Map([['IP', '1']]) }], [{ m: new Map([['IP', '2']]) }]],
      [0, -0],
      [1, '1'],
      [null, undefined],
      [{}, []],
      // Objects it cannot look into are the same only as themselves.
      [new Date(0), new Date(0)],
      [new (class Row {})(), new (class Row {})()],
    ];
    for (const [a, b] of differ) {
      assert.equal(sameData(a, b), false, `${String(a)} / ${String(b)}`);
      assert.equal(sameData(b, a), false, `${String(b)} / ${String(a)}`);
    }
    const d = new Date(0);
    assert.ok(sameData(d, d));
  });
});

describe('ElementCache', () => {
  const doc = (n: number, tag: string) => ({
    root: 'POOL',
    elements: Array.from({ length: n }, (_, i) => ({
      slot: `X ${i}`,
      source: { i, tag },
      xml: () => `<X>${i}&amp;${tag}</X>`,
    })),
  });
  const text = (n: number, tag: string) =>
    `<POOL>${Array.from({ length: n }, (_, i) => `<X>${i}&amp;${tag}</X>`).join('')}</POOL>`;

  it('answers the escaped document, renders a changed element again, and keeps within its bytes', () => {
    const cache = new ElementCache(2_000);
    const bytes = (n: number, tag: string) => Buffer.concat(cache.escaped(doc(n, tag)).pieces);
    assert.ok(bytes(10, 'a').equals(escapeStringToBytes(text(10, 'a'))));
    assert.ok(bytes(10, 'a').equals(escapeStringToBytes(text(10, 'a'))));
    assert.deepEqual({ hits: cache.stats.hits, misses: cache.stats.misses }, { hits: 10, misses: 10 });
    assert.ok(bytes(10, 'b').equals(escapeStringToBytes(text(10, 'b'))));
    assert.equal(cache.stats.misses, 20);
    assert.equal(cache.stats.entries, 10, 'a changed element replaces its own entry');
    // 200 elements of ~30 escaped bytes each are more than 2,000 bytes: the oldest go.
    assert.ok(bytes(200, 'c').equals(escapeStringToBytes(text(200, 'c'))));
    assert.ok(cache.stats.bytes <= 2_000, `${cache.stats.bytes} bytes kept`);
    assert.ok(cache.stats.entries < 200);
  });
});
