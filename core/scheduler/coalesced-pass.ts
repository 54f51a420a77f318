/**
 * A pass that never overlaps itself: run() starts it now, or once more after the one in progress
 * (however many times it was asked meanwhile). Errors are logged, never thrown: one failed pass
 * must not stop the timers that call it.
 */
import type { Logger } from '../log.js';
import { failureMessage } from './failure.js';

export class CoalescedPass {
  #pass: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly log: Logger,
    /** The log line when a pass fails. */
    private readonly failed: string,
    /** Passes run only while this holds (the leader's work among several daemons). */
    private readonly gate: () => boolean = () => true,
  ) {}

  run(): void {
    if (this.#stopped || !this.gate()) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    this.#pass = this.pass()
      .catch((err: unknown) => this.log.error(this.failed, { error: failureMessage(err) }))
      .finally(() => {
        this.#pass = undefined;
        if (this.#again) {
          this.#again = false;
          this.run();
        }
      });
  }

  /** No pass starts any more; resolves when the one in progress (if any) ends. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#pass;
  }

  /** Resolves when the pass in progress (if any) ends. */
  async settled(): Promise<void> {
    await this.#pass;
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}
