/** RPO (issue 5): the attribute's syntax and messages, and the breach prediction, one case per rule. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TemplateProblem } from '../../../core/errors.js';
import {
  parseRpo,
  predictedNextSuccessS,
  type RpoInput,
  rpoBreachPredicted,
} from '../../../core/schedule/rpo.js';
import { normaliseJobTemplate } from '../../../core/services/backupjob-template.js';
import { getSingle } from '../../../core/template/attributes.js';
import { parseTemplate } from '../../../core/template/parser.js';

describe('RPO attribute', () => {
  it('reads durations with units and plain seconds', () => {
    assert.deepEqual(parseRpo('24h'), { seconds: 86_400 });
    assert.deepEqual(parseRpo('90m'), { seconds: 5400 });
    assert.deepEqual(parseRpo('7d'), { seconds: 604_800 });
    assert.deepEqual(parseRpo(' 1D12H '), { seconds: 129_600 });
    assert.deepEqual(parseRpo('2w'), { seconds: 1_209_600 });
    assert.deepEqual(parseRpo('3600'), { seconds: 3600 });
  });

  it('refuses what is not a duration, zero and more than a year, saying how to write one', () => {
    for (const bad of ['daily', '24 hours', '1.5h', '-1h', 'h', '']) {
      const r = parseRpo(bad);
      assert.ok('problem' in r, bad);
      assert.match(r.problem, /is not a duration; write a duration such as "24h", "90m", "7d"/);
    }
    for (const bad of ['0', '0h', '400d']) {
      const r = parseRpo(bad);
      assert.ok('problem' in r, bad);
      assert.match(r.problem, /must be more than 0 and at most 366 days/);
    }
  });

  it('a job template keeps a valid RPO (normalised) and reports a bad one with its line and column', () => {
    const problems: TemplateProblem[] = [];
    const ok = normaliseJobTemplate(parseTemplate('NAME="j"\nRPO = "24H"\n').attributes, problems, {
      isAdmin: true,
    });
    assert.deepEqual(problems, []);
    assert.equal(getSingle(ok.attributes, 'RPO'), '24h');
    const bad: TemplateProblem[] = [];
    normaliseJobTemplate(parseTemplate('NAME="j"\nRPO="daily"\n').attributes, bad, { isAdmin: true });
    assert.equal(bad.length, 1);
    assert.equal(bad[0]?.attribute, 'RPO');
    assert.equal(bad[0]?.line, 2);
    assert.equal(bad[0]?.column, 5);
    assert.match(bad[0]?.message ?? '', /RPO="daily" is not a duration/);
  });
});

describe('RPO breach prediction', () => {
  const base: RpoInput = {
    nowS: 100_000,
    rpoS: 3600,
    lastSuccessS: 100_000 - 1800,
    state: { kind: 'idle', nextScheduleS: undefined },
    running: 0,
    maxBackups: 2,
    vmDurationS: 600,
    meanDurationS: 300,
  };

  it('a VM with no backup at all is in breach', () => {
    assert.equal(rpoBreachPredicted({ ...base, lastSuccessS: undefined }), true);
  });

  it('running: ends its usual duration after it started', () => {
    const state = { kind: 'running', startedS: 100_000 - 100 } as const;
    assert.equal(predictedNextSuccessS({ ...base, state }), 100_000 + 500);
    assert.equal(rpoBreachPredicted({ ...base, state }), false);
    // Running longer than usual: it ends "now" at the earliest.
    const late = { kind: 'running', startedS: 100_000 - 5000 } as const;
    assert.equal(predictedNextSuccessS({ ...base, state: late }), 100_000);
  });

  it('queued: waits for the waves of MAX_BACKUPS backups ahead of it', () => {
    // Rank 5 with 1 running: 5 ahead, 2 slots, 2 waves of 300 s, then its own 600 s.
    const state = { kind: 'queued', rank: 5, notBeforeS: 0 } as const;
    assert.equal(predictedNextSuccessS({ ...base, state, running: 1 }), 100_000 + 600 + 600);
    assert.equal(rpoBreachPredicted({ ...base, state, running: 1 }), false);
    // Rank 11: 11 ahead, 5 waves. Far down the queue the next success comes after last + RPO (101 800): breach predicted.
    const far = { kind: 'queued', rank: 11, notBeforeS: 0 } as const;
    assert.equal(predictedNextSuccessS({ ...base, state: far, running: 1 }), 100_000 + 5 * 300 + 600);
    assert.equal(rpoBreachPredicted({ ...base, state: far, running: 1 }), true);
    // Unlimited slots: it starts now. A retry time later than the queue delays it.
    assert.equal(predictedNextSuccessS({ ...base, state: far, maxBackups: 0 }), 100_000 + 600);
    const retry = { kind: 'queued', rank: 1, notBeforeS: 101_000 } as const;
    assert.equal(predictedNextSuccessS({ ...base, state: retry }), 101_600);
  });

  it('idle: the next schedule plus its duration, or as if started now without a schedule', () => {
    const scheduled = { kind: 'idle', nextScheduleS: 100_000 + 2000 } as const;
    assert.equal(rpoBreachPredicted({ ...base, state: scheduled }), true);
    const soon = { kind: 'idle', nextScheduleS: 100_000 + 60 } as const;
    assert.equal(rpoBreachPredicted({ ...base, state: soon }), false);
    assert.equal(rpoBreachPredicted(base), false);
    assert.equal(rpoBreachPredicted({ ...base, lastSuccessS: 100_000 - 3300 }), true);
  });

  it('a VM with no duration of its own uses the mean of all recent backups', () => {
    const state = { kind: 'running', startedS: 100_000 } as const;
    assert.equal(predictedNextSuccessS({ ...base, state, vmDurationS: 0 }), 100_300);
  });
});
