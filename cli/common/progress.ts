/**
 * Progress of a long operation on stderr (`onevm backup --wait`, `oneimage restore`,
 * `onedatastore verify`): percent, bytes, speed and time left. On a terminal one line redrawn in
 * place; otherwise plain lines at a modest rate (each 10 % more, or every 30 s), never redraws,
 * so a log or a pipe gets a readable record. A queued operation says why it waits, once per reason.
 */
import { randomBytes } from 'node:crypto';
import { parseStringSync } from '../format/xml-read.js';
import type { OneClient } from './client.js';

export interface ProgressSample {
  readonly done: number;
  readonly total: number;
  /** Why it waits; undefined once it runs. */
  readonly queued?: string | undefined;
  /** After the bytes, e.g. `, 120 of 400 chunks`. */
  readonly extra?: string | undefined;
}

const STEP_PCT = 10;
const EVERY_MS = 30_000;

function size(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function duration(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export class ProgressReporter {
  readonly #object: string;
  readonly #verb: string;
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  #said = '';
  #drawn = false;
  #lastPct = Number.NEGATIVE_INFINITY;
  #lastAt = 0;
  #start: { at: number; done: number } | undefined;

  /** Lines read `<object>: <verb> 40 % (...)` and `<object>: queued: <reason>`. */
  constructor(
    object: string,
    verb: string,
    options: { tty?: boolean; write?: (text: string) => void; now?: () => number } = {},
  ) {
    this.#object = object;
    this.#verb = verb;
    this.#tty = options.tty ?? process.stderr.isTTY === true;
    this.#write = options.write ?? ((t) => process.stderr.write(t));
    this.#now = options.now ?? Date.now;
  }

  update(p: ProgressSample): void {
    const now = this.#now();
    if (p.queued !== undefined) {
      this.#say(`${this.#object}: queued: ${p.queued}`, true);
      return;
    }
    // Setting up: nothing to measure yet.
    if (p.total <= 0) return;
    this.#start ??= { at: now, done: p.done };
    const pct = p.total > 0 ? Math.min(100, Math.floor((100 * p.done) / p.total)) : 0;
    const seconds = (now - this.#start.at) / 1000;
    const rate = seconds >= 1 ? (p.done - this.#start.done) / seconds : 0;
    const left = rate > 0 ? `, ${duration((p.total - p.done) / rate)} left` : '';
    const line =
      `${this.#object}: ${this.#verb} ${pct} % (${size(p.done)} of ${size(p.total)}${p.extra ?? ''})` +
      `${rate > 0 ? `, ${size(rate)}/s` : ''}${left}`;
    const due = pct >= this.#lastPct + STEP_PCT || now - this.#lastAt >= EVERY_MS;
    if (this.#tty || due) {
      if (due) {
        this.#lastPct = pct - (pct % STEP_PCT);
        this.#lastAt = now;
      }
      this.#say(line, false);
    }
  }

  /** Ends the redrawn line (on a terminal) before the result is printed. */
  end(): void {
    if (this.#tty && this.#drawn) this.#write('\n');
    this.#drawn = false;
  }

  #say(line: string, once: boolean): void {
    if (once && line === this.#said) return;
    this.#said = line;
    if (this.#tty) {
      this.#write(`\r${line.padEnd(78)}`);
      this.#drawn = true;
    } else this.#write(`${line}\n`);
  }
}

/** A tag for `one.progress.info`, unique enough for one user's operations. */
export function progressTag(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Runs `call` (a restore or verify sent with `tag`), polling `one.progress.info` for it while it
 * is in flight; resolves to the call's result. Progress polls that fail are ignored (the
 * operation may not be registered yet, or just ended).
 */
export async function followTagged<T>(
  client: OneClient,
  tag: string,
  reporter: ProgressReporter,
  call: Promise<T>,
  kind: 'bytes' | 'chunks',
): Promise<T> {
  let finished = false;
  const settled = call.finally(() => {
    finished = true;
  });
  const poll = (async () => {
    for (let wait = 200; !finished; wait = 1000) {
      await Promise.race([settled.catch(() => undefined), new Promise((r) => setTimeout(r, wait))]);
      if (finished) break;
      const xml = await client.callString('one.progress.info', tag).catch(() => undefined);
      if (xml === undefined || finished) continue;
      const doc = parseStringSync(xml);
      const queued = doc.child('QUEUED') ? doc.text('QUEUED') : undefined;
      const chunks = `, ${doc.num('CHUNKS_DONE')} of ${doc.num('CHUNKS_TOTAL')} chunks`;
      if (kind === 'chunks') {
        // Verify: the share of chunks checked; the bytes are what was read from the datastore.
        const done = doc.num('CHUNKS_DONE');
        const total = doc.num('CHUNKS_TOTAL');
        const read = doc.num('BYTES_DONE');
        const estimate = done > 0 ? (read / done) * total : 0;
        reporter.update({ done: read, total: Math.max(read, estimate), queued, extra: chunks });
      } else reporter.update({ done: doc.num('BYTES_DONE'), total: doc.num('BYTES_TOTAL'), queued });
    }
  })();
  try {
    return await settled;
  } finally {
    await poll.catch(() => undefined);
    reporter.end();
  }
}
