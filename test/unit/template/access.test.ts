import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allNamed,
  firstSingle,
  lastWins,
  replaceMerge,
  withoutNamed,
} from '../../../core/template/access.js';
import { parseTemplate } from '../../../core/template/parser.js';
import type { PrintableAttribute } from '../../../core/template/serialize.js';
import { plain } from './fixtures.js';

const attrs = (text: string) => parseTemplate(text).attributes;

describe('template access helpers', () => {
  const t = attrs('DISK = [ A = 1 ]\nDISK = "single"\nNAME = "first"\nname = "second"\nB = 2');

  it('firstSingle: the first single of that name, passing over vectors (Template::get)', () => {
    assert.equal(firstSingle(t, 'NAME')?.value, 'first');
    assert.equal(firstSingle(t, 'NAME')?.line, 3);
    assert.equal(firstSingle(t, 'DISK')?.value, 'single');
    assert.equal(firstSingle(t, 'MISSING'), undefined);
  });

  it('allNamed and withoutNamed', () => {
    assert.deepEqual(plain(allNamed(t, 'DISK')), [
      ['DISK', [['A', '1']]],
      ['DISK', 'single'],
    ]);
    assert.deepEqual(plain(withoutNamed(t, ['DISK', 'NAME'])), [['B', '2']]);
  });

  it('lastWins: a replace-mode template keeps the last of each name, in its place', () => {
    assert.deepEqual(plain(lastWins(t)), [
      ['DISK', 'single'],
      ['NAME', 'second'],
      ['B', '2'],
    ]);
  });

  it('replaceMerge: each name in the update replaces all of it; empty vectors are not added', () => {
    const stored: PrintableAttribute[] = [
      { kind: 'single', name: 'KEEP_LAST', value: '3' },
      { kind: 'single', name: 'MODE', value: 'FULL' },
      { kind: 'vector', name: 'LABELS', values: new Map([['A', '1']]) },
      { kind: 'single', name: 'MODE', value: 'FULL again' },
      { kind: 'single', name: 'DESCRIPTION', value: 'kept' },
    ];
    const update = attrs('MODE = "INCREMENT"\nLABELS = [ ]\nNEW = [ X = 1 ]\nNEW = "two"');
    assert.deepEqual(plain(replaceMerge(stored, update)), [
      ['KEEP_LAST', '3'],
      ['DESCRIPTION', 'kept'],
      ['MODE', 'INCREMENT'],
      ['NEW', [['X', '1']]],
      ['NEW', 'two'],
    ]);
    assert.deepEqual(plain(lastWins(replaceMerge(stored, update))).at(-1), ['NEW', 'two']);
    assert.deepEqual(stored.length, 5, 'the inputs are left alone');
  });
});
