import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOB_ATTRIBUTES } from '../../../core/template/job-attributes.js';
import { parseTemplate } from '../../../core/template/parser.js';
import { nearMisses } from '../../../core/template/suggest.js';

const misses = (text: string) =>
  nearMisses(parseTemplate(text).attributes, JOB_ATTRIBUTES).map((m) => [m.name, m.suggestion, m.line]);

describe('did you mean', () => {
  it('names the known attribute a typo is close to, with its line', () => {
    assert.deepEqual(misses('NAME = "j"\nBACKUP_VM = "1"\n'), [['BACKUP_VM', 'BACKUP_VMS', 2]]);
    assert.deepEqual(misses('EXECUTON = "PARALLEL"\nKEEP_LSAT = 2\n'), [
      ['EXECUTON', 'EXECUTION', 1],
      ['KEEP_LSAT', 'KEEP_LAST', 2],
    ]);
    // Names are case-insensitive: the parser upper-cases them, so keep_last is KEEP_LAST itself.
    assert.deepEqual(misses('keep_last = 2\n'), []);
  });

  it('leaves known attributes and user attributes that are not near a known one alone', () => {
    assert.deepEqual(misses('NAME = "j"\nBACKUP_VMS = "1"\nOWNER_TEAM = "ops"\nCOST_CENTER = "42"\n'), []);
    // Two edits from a short name is another word, not a typo.
    assert.deepEqual(misses('NOTE = "x"\n'), []);
  });
});
