import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dayOfYear,
  daysInMonth,
  epochToWallClock,
  isTimeZone,
  normalizeWallClock,
  offsetSeconds,
  offsetString,
  type WallClock,
  wallClockToEpoch,
  weekday,
} from '../../../core/schedule/zoned-time.js';

const wall = (year: number, month: number, day: number, hour = 0, minute = 0, second = 0): WallClock => ({
  year,
  month,
  day,
  hour,
  minute,
  second,
});
const utc = (...a: [number, number, number, number?, number?, number?]) =>
  Date.UTC(a[0], a[1] - 1, a[2], a[3] ?? 0, a[4] ?? 0, a[5] ?? 0) / 1000;

describe('zoned time', () => {
  it('UTC round trip', () => {
    assert.equal(wallClockToEpoch(wall(2026, 1, 5, 9), 'UTC'), 1767603600);
    assert.deepEqual(epochToWallClock(1767603600, 'UTC'), wall(2026, 1, 5, 9));
    assert.deepEqual(epochToWallClock(utc(2026, 1, 1, 0, 0, 0), 'UTC'), wall(2026, 1, 1));
    assert.equal(offsetString(1767603600, 'UTC'), '+0000');
  });

  it('offsets in winter and summer, east and west', () => {
    assert.equal(offsetString(utc(2026, 1, 15), 'Europe/Madrid'), '+0100');
    assert.equal(offsetString(utc(2026, 7, 15), 'Europe/Madrid'), '+0200');
    assert.equal(offsetString(utc(2026, 1, 15), 'America/New_York'), '-0500');
    assert.equal(offsetString(utc(2026, 7, 15), 'America/New_York'), '-0400');
    assert.equal(offsetString(utc(2026, 1, 15), 'Asia/Kolkata'), '+0530');
    assert.equal(offsetSeconds(utc(2026, 1, 15), 'Asia/Kathmandu'), 20700);
  });

  it('an ordinary wall time maps to one instant', () => {
    assert.equal(wallClockToEpoch(wall(2026, 7, 1, 3, 30), 'Europe/Madrid'), utc(2026, 7, 1, 1, 30));
    assert.equal(wallClockToEpoch(wall(2026, 1, 1, 3, 30), 'Europe/Madrid'), utc(2026, 1, 1, 2, 30));
  });

  it('Europe/Madrid spring-forward (29 Mar 2026, 02:00 -> 03:00): 02:30 moves to 03:30 CEST', () => {
    const e = wallClockToEpoch(wall(2026, 3, 29, 2, 30), 'Europe/Madrid');
    assert.equal(e, utc(2026, 3, 29, 1, 30));
    assert.deepEqual(epochToWallClock(e, 'Europe/Madrid'), wall(2026, 3, 29, 3, 30));
    assert.equal(offsetString(e, 'Europe/Madrid'), '+0200');
    // The edges: 01:59:59 CET, 02:00 -> 03:00 CEST, 03:00 CEST.
    assert.equal(
      wallClockToEpoch(wall(2026, 3, 29, 1, 59, 59), 'Europe/Madrid'),
      utc(2026, 3, 29, 0, 59, 59),
    );
    assert.equal(wallClockToEpoch(wall(2026, 3, 29, 2, 0), 'Europe/Madrid'), utc(2026, 3, 29, 1, 0));
    assert.equal(wallClockToEpoch(wall(2026, 3, 29, 3, 0), 'Europe/Madrid'), utc(2026, 3, 29, 1, 0));
  });

  it('Europe/Madrid fall-back (25 Oct 2026, 03:00 -> 02:00): 02:30 is the first, CEST', () => {
    const e = wallClockToEpoch(wall(2026, 10, 25, 2, 30), 'Europe/Madrid');
    assert.equal(e, utc(2026, 10, 25, 0, 30));
    assert.equal(offsetString(e, 'Europe/Madrid'), '+0200');
    assert.deepEqual(epochToWallClock(e + 3600, 'Europe/Madrid'), wall(2026, 10, 25, 2, 30));
    assert.equal(offsetString(e + 3600, 'Europe/Madrid'), '+0100');
    assert.equal(wallClockToEpoch(wall(2026, 10, 25, 3, 0), 'Europe/Madrid'), utc(2026, 10, 25, 2, 0));
  });

  it('America/New_York: 8 Mar 2026 02:30 moves to 03:30 EDT; 1 Nov 2026 01:30 is EDT', () => {
    const gap = wallClockToEpoch(wall(2026, 3, 8, 2, 30), 'America/New_York');
    assert.equal(gap, utc(2026, 3, 8, 7, 30));
    assert.deepEqual(epochToWallClock(gap, 'America/New_York'), wall(2026, 3, 8, 3, 30));
    const overlap = wallClockToEpoch(wall(2026, 11, 1, 1, 30), 'America/New_York');
    assert.equal(overlap, utc(2026, 11, 1, 5, 30));
    assert.equal(offsetString(overlap, 'America/New_York'), '-0400');
    assert.equal(offsetString(overlap + 3600, 'America/New_York'), '-0500');
  });

  it('a weekly 03:30 kept on the wall clock across the Madrid spring-forward (decision 6)', () => {
    const before = wallClockToEpoch(wall(2026, 3, 22, 3, 30), 'Europe/Madrid');
    const w = epochToWallClock(before, 'Europe/Madrid');
    const next = wallClockToEpoch(normalizeWallClock({ ...w, day: w.day + 7 }), 'Europe/Madrid');
    assert.deepEqual(epochToWallClock(next, 'Europe/Madrid'), wall(2026, 3, 29, 3, 30));
    assert.equal(next - before, 7 * 86400 - 3600);
  });

  it('out-of-range fields carry over; calendar helpers', () => {
    assert.deepEqual(normalizeWallClock(wall(2026, 1, 32)), wall(2026, 2, 1));
    assert.deepEqual(normalizeWallClock(wall(2026, 13, 1, 24)), wall(2027, 1, 2));
    assert.deepEqual(normalizeWallClock(wall(2026, 2, 29)), wall(2026, 3, 1));
    assert.equal(wallClockToEpoch(wall(2026, 1, 32, 9), 'UTC'), utc(2026, 2, 1, 9));
    assert.equal(daysInMonth(2026, 2), 28);
    assert.equal(daysInMonth(2028, 2), 29);
    assert.equal(daysInMonth(2100, 2), 28);
    assert.equal(daysInMonth(2026, 12), 31);
    assert.equal(weekday(wall(2026, 1, 5)), 1); // Monday
    assert.equal(weekday(wall(2026, 3, 29)), 0); // Sunday
    assert.equal(dayOfYear(wall(2026, 1, 1)), 0);
    assert.equal(dayOfYear(wall(2026, 6, 30)), 180);
    assert.equal(dayOfYear(wall(2028, 12, 31)), 365);
  });

  it('time zone names', () => {
    assert.equal(isTimeZone('Europe/Madrid'), true);
    assert.equal(isTimeZone('UTC'), true);
    assert.equal(isTimeZone('Mars/Olympus_Mons'), false);
    assert.throws(() => epochToWallClock(0, 'Mars/Olympus_Mons'), RangeError);
  });
});
