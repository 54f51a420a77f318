/**
 * Whether each datastore's storage answers, asked with a time limit (DATASTORE_TIMEOUT) from a
 * child process (`sh`: statfs and a listing of the directory, a byte of the identity document),
 * so a storage that hangs (an NFS server gone, a FIFO where a file belongs) blocks that process
 * and never a thread of the daemon. Before any backup, restore, verify, GC or start-up cleanup
 * opens a datastore (open-datastores.ts) it must have answered within the last FRESH_MS, or
 * answer now; one that does not is refused at once with a retryable error naming it. Every
 * MONITORING_INTERVAL_DATASTORE seconds every datastore is asked again; /health and the metrics
 * read the last answers. A probe that did not end (a process stuck in the kernel) is not
 * started again until it ends: at most one per datastore.
 * In memory only: a restart asks again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { DatastoreAttributes, DatastoreDriverFactory } from '../../drivers/datastore/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

/** A datastore as open-datastores.ts takes it. */
type DatastoreToOpen = DatastoreAttributes & { readonly dsMad: string };

/** The last answer of a datastore's storage. */
export interface DatastoreAnswer {
  readonly id: number;
  readonly answering: boolean;
  /** Epoch ms of the probe. */
  readonly checkedAt: number;
  readonly ms: number;
  readonly error?: string;
}

const FRESH_MS = 5_000;

const SCRIPT = `for p in "$@"; do
  if [ -d "$p" ]; then stat -f -c '%S %b %f %a' -- "$p" >/dev/null && ls -f -- "$p" >/dev/null || exit 1
  elif [ -e "$p" ]; then head -c 1 -- "$p" >/dev/null || exit 1
  fi
done`;

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export class DatastoreProbes {
  readonly #answers = new Map<number, DatastoreAnswer>();
  readonly #inFlight = new Map<number, Promise<DatastoreAnswer>>();
  /** Probes killed after their time limit whose process has not ended yet. */
  readonly #stuck = new Set<number>();
  #cancelTimer: (() => void) | undefined;
  readonly #children = new Set<ChildProcess>();

  constructor(
    private readonly deps: {
      readonly factories: ReadonlyMap<string, DatastoreDriverFactory>;
      readonly clock: Clock;
      readonly log: Logger;
      readonly timeoutMs: number;
    },
  ) {}

  /** The last answer of every datastore asked so far. */
  answers(): DatastoreAnswer[] {
    return [...this.#answers.values()].sort((a, b) => a.id - b.id);
  }

  /** False only when the datastore's last probe found it not answering. */
  answering(id: number): boolean {
    return this.#answers.get(id)?.answering ?? true;
  }

  /** Throws (retryable) unless the datastore answered lately or answers now. */
  async require(ds: DatastoreToOpen): Promise<void> {
    const last = this.#answers.get(ds.id);
    const a =
      last?.answering && this.deps.clock.now() - last.checkedAt < FRESH_MS ? last : await this.check(ds);
    if (!a.answering)
      throw new Error(
        `datastore ${ds.id} does not answer (${a.error}); nothing is read or written there until it does (see /health)`,
      );
  }

  /** Asks the datastore's storage now (joins a probe under way). */
  check(ds: DatastoreToOpen): Promise<DatastoreAnswer> {
    const running = this.#inFlight.get(ds.id);
    if (running) return running;
    const probe = this.#probe(ds).then((a) => {
      const was = this.#answers.get(ds.id);
      this.#answers.set(ds.id, a);
      if (!a.answering && was?.answering !== false)
        this.deps.log.warn('datastore does not answer', { datastore: ds.id, error: a.error });
      if (a.answering && was?.answering === false)
        this.deps.log.info('datastore answers again', { datastore: ds.id });
      return a;
    });
    this.#inFlight.set(ds.id, probe);
    void probe.finally(() => this.#inFlight.delete(ds.id));
    return probe;
  }

  /** Forgets a deleted datastore. */
  forget(id: number): void {
    this.#answers.delete(id);
  }

  /** Asks every datastore `list` gives now, then every `everyMs`. */
  monitor(list: () => Promise<readonly DatastoreToOpen[]>, everyMs: number): void {
    const pass = async () => {
      const all = await list().catch(() => []);
      await Promise.all(all.map((ds) => this.check(ds)));
      if (everyMs > 0) this.#cancelTimer = this.deps.clock.setTimeout(() => void pass(), everyMs);
    };
    void pass();
  }

  /** Stops the monitor and kills the probes under way. */
  stop(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    for (const child of this.#children) killGroup(child);
  }

  async #probe(ds: DatastoreToOpen): Promise<DatastoreAnswer> {
    const started = this.deps.clock.now();
    const answer = (error?: string): DatastoreAnswer => ({
      id: ds.id,
      answering: error === undefined,
      checkedAt: started,
      ms: this.deps.clock.now() - started,
      ...(error === undefined ? {} : { error }),
    });
    const factory = this.deps.factories.get(ds.dsMad);
    if (!factory?.probePaths) return answer();
    let paths: readonly string[];
    try {
      paths = factory.probePaths(factory.parseConfig(ds));
    } catch {
      return answer();
    }
    if (this.#stuck.has(ds.id)) return answer(`an earlier probe of ${paths[0]} has not returned yet`);
    const limitS = this.deps.timeoutMs / 1000;
    return new Promise((resolve) => {
      // Its own process group: a kill reaches the command blocked inside the shell too.
      const child = spawn('sh', ['-c', SCRIPT, 'probe', ...paths], {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      this.#children.add(child);
      let stderr = '';
      child.stderr?.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      const cancel = this.deps.clock.setTimeout(() => {
        this.#stuck.add(ds.id);
        killGroup(child);
        resolve(answer(`${paths[0]} gave no answer within ${limitS} s (DATASTORE_TIMEOUT)`));
      }, this.deps.timeoutMs);
      child.once('error', (err) => {
        cancel();
        resolve(answer(`cannot run the probe: ${err.message}`));
      });
      child.once('close', (code) => {
        this.#children.delete(child);
        this.#stuck.delete(ds.id);
        cancel();
        resolve(
          code === 0 ? answer() : answer(stderr.trim().split('\n').at(-1) || `probe exited with ${code}`),
        );
      });
    });
  }
}
