/** strftime-like formatting of epoch seconds in a time zone (the CLI's local zone by default). */

export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

interface Parts {
  y: string;
  m: string;
  d: string;
  H: string;
  M: string;
  S: string;
  a: string;
  b: string;
  e: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function parts(epochS: number, timeZone: string): Parts {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(epochS * 1000)).map((x) => [x.type, x.value]));
  const month = new Intl.DateTimeFormat('en-US', { timeZone, month: 'short' }).format(
    new Date(epochS * 1000),
  );
  const day = String(Number(p['day']));
  return {
    y: String(p['year']),
    m: String(p['month']),
    d: String(p['day']),
    H: String(p['hour']),
    M: String(p['minute']),
    S: String(p['second']),
    a: String(p['weekday']),
    b: month,
    e: day.padStart(2, ' '),
  };
}

/** UTC offset of the zone at that instant, as `+0100`. */
export function offsetOf(epochS: number, timeZone: string): string {
  const p = parts(epochS, timeZone);
  const asUtc =
    Date.UTC(Number(p.y), Number(p.m) - 1, Number(p.d), Number(p.H), Number(p.M), Number(p.S)) / 1000;
  const minutes = Math.round((asUtc - epochS) / 60);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
}

/** Supports %Y %y %m %d %e %H %M %S %a %b %z %%. */
export function strftime(epochS: number, pattern: string, timeZone: string = localTimeZone()): string {
  const p = parts(epochS, timeZone);
  return pattern.replace(/%([YymdeHMSabz%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return p.y;
      case 'y':
        return p.y.slice(-2);
      case 'm':
        return p.m;
      case 'd':
        return p.d;
      case 'e':
        return p.e;
      case 'H':
        return p.H;
      case 'M':
        return p.M;
      case 'S':
        return p.S;
      case 'a':
        return p.a;
      case 'b':
        return p.b;
      case 'z':
        return offsetOf(epochS, timeZone);
      default:
        return '%';
    }
  });
}

/** C ctime() without the newline: `Thu Jan  1 00:00:15 2026`. */
export function ctime(epochS: number, timeZone: string = localTimeZone()): string {
  return strftime(epochS, '%a %b %e %H:%M:%S %Y', timeZone);
}
