/**
 * Recovery point objectives (issue 5): the job attribute RPO ("24h", "90m", "7d", "1d12h", or
 * plain seconds) and the prediction behind `onebackup_vm_rpo_breach_predicted`. Pure functions:
 * the metrics module feeds them what the store and the scheduler know.
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const MAX_RPO_S = 366 * 86_400;

/** Seconds of an RPO text, or a message saying what is wrong with it. */
export function parseRpo(text: string): { seconds: number } | { problem: string } {
  const t = text.trim().toLowerCase();
  const example = 'write a duration such as "24h", "90m", "7d" or "1d12h" (units s, m, h, d, w)';
  if (/^\d+$/.test(t)) {
    const seconds = Number(t);
    return seconds > 0 && seconds <= MAX_RPO_S
      ? { seconds }
      : { problem: `RPO="${text}" must be more than 0 and at most 366 days; ${example}` };
  }
  if (!/^(\d+[smhdw])+$/.test(t)) return { problem: `RPO="${text}" is not a duration; ${example}` };
  let seconds = 0;
  for (const m of t.matchAll(/(\d+)([smhdw])/g))
    seconds += Number(m[1]) * (UNIT_SECONDS[m[2] as string] ?? 0);
  if (seconds <= 0 || seconds > MAX_RPO_S)
    return { problem: `RPO="${text}" must be more than 0 and at most 366 days; ${example}` };
  return { seconds };
}

/** Where a VM of a job stands, for the prediction. Times are epoch seconds. */
export type RpoVmState =
  /** Backing up since `startedS`. */
  | { readonly kind: 'running'; readonly startedS: number }
  /**
   * Waiting in the queue: `rank` is its 1-based place among all waiting VMs (JobScheduler.waiting),
   * `notBeforeS` a retry time if any.
   */
  | { readonly kind: 'queued'; readonly rank: number; readonly notBeforeS: number }
  /** Not in a run: the next success comes with the job's next schedule, if any. */
  | { readonly kind: 'idle'; readonly nextScheduleS: number | undefined };

export interface RpoInput {
  readonly nowS: number;
  readonly rpoS: number;
  /** Epoch seconds of the VM's newest backup; undefined when it has none. */
  readonly lastSuccessS: number | undefined;
  readonly state: RpoVmState;
  /** Backups running now, in all, and MAX_BACKUPS (0 = unlimited). */
  readonly running: number;
  readonly maxBackups: number;
  /** Mean duration of this VM's recent backups, and of all recent backups (seconds; 0 if none). */
  readonly vmDurationS: number;
  readonly meanDurationS: number;
}

/**
 * When the VM's next backup should end (epoch seconds): a running one ends after its usual
 * duration; a queued one starts after the slots ahead of it free up (waves of MAX_BACKUPS backups
 * of the mean duration); an idle one ends its usual duration after the next schedule. A VM with no
 * schedule is judged as if it started now, so only a breach that is already certain is predicted.
 */
export function predictedNextSuccessS(i: RpoInput): number {
  const own = i.vmDurationS > 0 ? i.vmDurationS : i.meanDurationS;
  switch (i.state.kind) {
    case 'running':
      return Math.max(i.nowS, i.state.startedS + own);
    case 'queued': {
      const ahead = i.state.rank - 1 + i.running;
      const waves = i.maxBackups > 0 ? Math.floor(ahead / i.maxBackups) : 0;
      const start = Math.max(i.nowS + waves * i.meanDurationS, i.state.notBeforeS);
      return start + own;
    }
    case 'idle':
      return (i.state.nextScheduleS ?? i.nowS) + own;
  }
}

/** True when the next success will come after the last one plus the RPO (or there is none yet). */
export function rpoBreachPredicted(i: RpoInput): boolean {
  if (i.lastSuccessS === undefined) return true;
  return predictedNextSuccessS(i) > i.lastSuccessS + i.rpoS;
}
