/** The CLI's progress lines (cli/common/progress.ts): plain lines at a modest rate off a terminal, redraws on one. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressReporter } from '../../../cli/common/progress.js';

const MiB = 1024 * 1024;

function reporter(tty: boolean) {
  let now = 1_000_000;
  let out = '';
  const r = new ProgressReporter('image 3', 'restore', { tty, write: (t) => (out += t), now: () => now });
  return { r, out: () => out, advance: (ms: number) => (now += ms) };
}

describe('ProgressReporter', () => {
  it('off a terminal: a line per 10 % more (or 30 s), with bytes, speed and time left; never a redraw', () => {
    const { r, out, advance } = reporter(false);
    r.update({ done: 0, total: 100 * MiB, queued: 'restore slots 1/1' });
    r.update({ done: 0, total: 100 * MiB, queued: 'restore slots 1/1' });
    // One sample every 100 ms at 10 MiB/s: 1 MiB each.
    for (let i = 0; i <= 100; i++) {
      r.update({ done: i * MiB, total: 100 * MiB });
      advance(100);
    }
    r.end();
    const lines = out()
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(lines[0], 'image 3: queued: restore slots 1/1', 'a queue reason once');
    const progress = lines.slice(1);
    assert.ok(progress.length >= 10 && progress.length <= 12, progress.join('\n'));
    assert.equal(progress[0], 'image 3: restore 0 % (0 B of 100.0 MiB)');
    assert.match(
      progress.at(-1) ?? '',
      /^image 3: restore 100 % \(100\.0 MiB of 100\.0 MiB\), 10\.0 MiB\/s, 0:00 left$/,
    );
    assert.ok(
      progress.includes('image 3: restore 50 % (50.0 MiB of 100.0 MiB), 10.0 MiB/s, 0:05 left'),
      progress.join('\n'),
    );
    assert.doesNotMatch(out(), /\r/);
  });

  it('off a terminal: a slow operation still says something every 30 s', () => {
    const { r, out, advance } = reporter(false);
    for (let s = 0; s <= 120; s++) {
      r.update({ done: s * 1024, total: 1000 * MiB });
      advance(1000);
    }
    assert.equal(
      out()
        .split('\n')
        .filter((l) => l !== '').length,
      5,
    );
  });

  it('on a terminal: one line redrawn in place, ended by a newline', () => {
    const { r, out, advance } = reporter(true);
    for (let i = 0; i <= 4; i++) {
      r.update({ done: i * MiB, total: 4 * MiB });
      advance(500);
    }
    r.end();
    assert.equal((out().match(/\r/g) ?? []).length, 5);
    assert.ok(out().endsWith('\n'));
    assert.equal(out().split('\n').length, 2);
  });
});
