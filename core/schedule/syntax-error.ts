/**
 * An INTERVAL or CRON value that cannot be read. The message says what is wrong and why; the
 * SCHED_ACTION validator adds where (line, column, `SCHED_ACTION/<KEY>`).
 */
export class ScheduleSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleSyntaxError';
  }
}
