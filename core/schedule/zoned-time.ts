/**
 * Wall clock <-> epoch in an IANA time zone, with Intl only. A wall time that does not exist
 * (spring-forward gap) moves forward by the gap; one that exists twice (fall-back) takes the
 * earlier instant.
 */
export interface WallClock {
  readonly year: number;
  readonly month: number; // 1-12
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const cache = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = cache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    cache.set(timeZone, f);
  }
  return f;
}

export function epochToWallClock(epochS: number, timeZone: string): WallClock {
  const p = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(new Date(epochS * 1000))
      .map((x) => [x.type, Number(x.value)]),
  );
  return {
    year: p['year'] as number,
    month: p['month'] as number,
    day: p['day'] as number,
    hour: p['hour'] as number,
    minute: p['minute'] as number,
    second: p['second'] as number,
  };
}

/** Seconds east of UTC at that instant. */
export function offsetSeconds(epochS: number, timeZone: string): number {
  const w = epochToWallClock(epochS, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) / 1000 - epochS;
}

export function wallClockToEpoch(w: WallClock, timeZone: string): number {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) / 1000;
  // Candidates from the offsets around that time; keep those that map back to the same wall clock.
  const offsets = new Set([
    offsetSeconds(asUtc - 86400, timeZone),
    offsetSeconds(asUtc, timeZone),
    offsetSeconds(asUtc + 86400, timeZone),
  ]);
  const exact = [...offsets]
    .map((o) => asUtc - o)
    .filter((e) => {
      const back = epochToWallClock(e, timeZone);
      return (
        back.year === w.year &&
        back.month === w.month &&
        back.day === w.day &&
        back.hour === w.hour &&
        back.minute === w.minute &&
        back.second === w.second
      );
    })
    .sort((a, b) => a - b);
  if (exact.length > 0) return exact[0] as number;
  // In a gap: use the offset before the gap, which lands after it.
  return asUtc - offsetSeconds(asUtc - 86400, timeZone);
}

export function offsetString(epochS: number, timeZone: string): string {
  const o = Math.round(offsetSeconds(epochS, timeZone) / 60);
  const abs = Math.abs(o);
  return `${o < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
}
