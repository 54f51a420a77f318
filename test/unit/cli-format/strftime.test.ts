import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  periodToStr,
  rubyTimeToS,
  strftime,
  TIME_PATTERNS,
  timeToStr,
} from '../../../cli/format/strftime.js';

const T = 1767600000; // Mon 2026-01-05 08:00:00 UTC

describe('strftime', () => {
  it('formats the patterns the CLIs use', () => {
    assert.equal(strftime(T, TIME_PATTERNS.dateTime, 'UTC'), '01/05/26 08:00');
    assert.equal(strftime(T + 7, TIME_PATTERNS.dayTimeSeconds, 'UTC'), '01/05 08:00:07');
    assert.equal(strftime(T, TIME_PATTERNS.dayTime, 'UTC'), '01/05 08:00');
    assert.equal(strftime(T, TIME_PATTERNS.date, 'UTC'), '01/05/26');
    assert.equal(strftime(1796090400, TIME_PATTERNS.rubyTime, 'UTC'), '2026-12-01 02:00:00 +0000');
    assert.equal(strftime(1767225615, '%a %b %e %H:%M:%S %Y', 'UTC'), 'Thu Jan  1 00:00:15 2026');
    assert.equal(strftime(T, '100%% %Q', 'UTC'), '100% %Q');
  });

  it('uses the wall clock and offset of the zone, DST included', () => {
    assert.equal(rubyTimeToS(T, 'Europe/Madrid'), '2026-01-05 09:00:00 +0100');
    assert.equal(rubyTimeToS(T + 180 * 86400, 'Europe/Madrid'), '2026-07-04 10:00:00 +0200');
    assert.equal(rubyTimeToS(T, 'America/New_York'), '2026-01-05 03:00:00 -0500');
    assert.equal(rubyTimeToS(T, 'Asia/Kolkata'), '2026-01-05 13:30:00 +0530');
    assert.equal(strftime(T, TIME_PATTERNS.dateTime, 'Pacific/Kiritimati'), '01/05/26 22:00');
  });

  it('drops fractions of a second', () => {
    assert.equal(strftime(T + 59.999, TIME_PATTERNS.dayTimeSeconds, 'UTC'), '01/05 08:00:59');
  });
});

describe('time_to_str and period_to_str', () => {
  it('0 is `-`', () => {
    assert.equal(timeToStr(0, TIME_PATTERNS.dateTime, 'UTC'), '-');
    assert.equal(timeToStr(T, TIME_PATTERNS.dateTime, 'UTC'), '01/05/26 08:00');
  });

  it('period is %3dd %02dh%02dm%02ds with flooring divmod', () => {
    assert.equal(periodToStr(19), '  0d 00h00m19s');
    assert.equal(periodToStr(93784), '  1d 02h03m04s');
    assert.equal(periodToStr(1000 * 86400 + 59), '1000d 00h00m59s');
    assert.equal(periodToStr(-1), ' -1d 23h59m59s');
  });
});
