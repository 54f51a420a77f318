/**
 * Where one operation's time goes: milliseconds per named phase, for a debug log line (a backup's
 * breakdown: point in time, block status, chunk checks, reads, encoding, writes, flush, manifest,
 * release, record). Phases that overlap (a pipeline's reads and encodes) are summed per phase, so
 * they may add up to more than the wall time; `wall` phases are measured once, end to end.
 */
export class PhaseTimes {
  readonly #ms = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  /** Runs `step`, adding its duration (also when it fails) to `phase`. */
  async time<T>(phase: string, step: () => Promise<T>): Promise<T> {
    const started = this.now();
    try {
      return await step();
    } finally {
      this.add(phase, this.now() - started);
    }
  }

  add(phase: string, ms: number): void {
    this.#ms.set(phase, (this.#ms.get(phase) ?? 0) + ms);
  }

  /** Each of `times` (a driver's own breakdown), prefixed. */
  addAll(prefix: string, times: Readonly<Record<string, number>> | undefined): void {
    for (const [phase, ms] of Object.entries(times ?? {})) this.add(`${prefix}${phase}`, ms);
  }

  /** The phases in the order they first ended, in whole milliseconds (log fields). */
  fields(): Record<string, number> {
    return Object.fromEntries([...this.#ms].map(([phase, ms]) => [phase, Math.round(ms)]));
  }
}
