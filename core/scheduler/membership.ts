/**
 * This daemon among the daemons sharing one store (issue 15, items 3-4): its row and heartbeat,
 * leadership, the requeue of daemons that stopped answering, and the fence when it cannot reach
 * the database itself.
 *
 * Every lease/3 it beats (the database's clock) and tries the leader lock. The leader requeues
 * the claims of daemons whose heartbeat is older than the lease (their backups go back to
 * OUTDATED, as after a crash). A daemon that cannot reach the database (its coordination
 * connection broke, so its locks are gone; or no heartbeat for half the lease) is fenced: it
 * stops dispatching and aborts its backups before anyone can requeue them, so a backup never
 * runs on two daemons at once. When the database answers again it is unfenced (and registers
 * again if it was given up for dead).
 * On SQLite the state directory's lock means no other daemon runs: rows left by earlier runs are
 * given up at start, and this daemon always leads.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import {
  beat,
  type DaemonRow,
  databaseNowMs,
  expiredDaemons,
  listDaemons,
  markLeader,
  otherDaemons,
  registerDaemon,
  releaseClaimsOf,
} from '../store/daemons.js';
import type { Store, Tx } from '../store/db.js';
import { requeueInterrupted } from '../store/job-vms.js';
import { answerWithin } from './bounded-wait.js';
import { failureMessage } from './failure.js';

/** What a backup left running by a stop (or a crash, found at the next start) ends with. */
const STOPPED = 'interrupted: onebackupd stopped during the backup';

export interface MembershipDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  /** DB/LEASE in ms: after that long without a heartbeat a daemon's backups are requeued. */
  readonly leaseMs: number;
  /** `onebackupd PID on HOST`. */
  readonly name: string;
  /** `HOST:STATE_DIR`, whose lock this daemon holds: an earlier row with it is dead. */
  readonly home: string;
  readonly ctime: (epochS: number) => string;
  /** Leadership changed: schedules, verify schedules and copies run on the leader only. */
  readonly onLeading: (leading: boolean) => void;
  /** Fenced (cannot reach the database: stop dispatching, abort backups) or not any more. */
  readonly onFenced: (fenced: boolean, reason: string) => void;
  /** The leader requeued the backups of daemons that stopped answering. */
  readonly onRequeued: (vmIds: readonly number[]) => void;
  /** Every beat: a chance to catch up with what notices may have missed. */
  readonly onBeat?: () => void;
}

export class Membership {
  readonly #deps: MembershipDeps;
  /** This run of the daemon (a new one on every start). */
  readonly id = randomUUID();
  #leading = false;
  #fenced: string | undefined;
  #lastBeatAt = 0;
  #cancelTimer: (() => void) | undefined;
  #stopped = false;
  #tick: Promise<void> | undefined;

  constructor(deps: MembershipDeps) {
    this.#deps = deps;
    deps.store.coordination.onConnection((up) => {
      if (!up) this.#fence('the connection to the state database broke (its locks are gone)');
    });
  }

  get name(): string {
    return this.#deps.name;
  }

  get leading(): boolean {
    return this.#leading && this.#fenced === undefined;
  }

  /** Why this daemon does not dispatch now; undefined when it does. */
  get fenced(): string | undefined {
    return this.#fenced;
  }

  /** Epoch ms (this daemon's clock) of the last heartbeat that reached the database. */
  get lastBeatAt(): number {
    return this.#lastBeatAt;
  }

  get leaseMs(): number {
    return this.#deps.leaseMs;
  }

  /** Registers, gives up what daemons gone for good left, and tries to lead, before the scheduler starts. */
  async start(url: string): Promise<void> {
    const { store } = this.#deps;
    await store.tx(async (trx) => {
      const nowMs = await databaseNowMs(trx, store.backend);
      // The state directory's lock says no earlier daemon of this home runs (SQLite: no other at all).
      const others = await otherDaemons(trx, this.id);
      const mine = store.coordination.shared ? others.filter((d) => d.home === this.#deps.home) : others;
      await this.#giveUp(trx, mine, STOPPED);
      if (store.coordination.shared)
        await this.#giveUp(trx, await expiredDaemons(trx, this.id, nowMs, this.#deps.leaseMs));
      await registerDaemon(trx, { id: this.id, name: this.#deps.name, url, home: this.#deps.home, nowMs });
    });
    this.#lastBeatAt = this.#deps.clock.now();
    await this.#beat();
    this.#arm();
  }

  /** Leaves the daemons: what it still claims goes back to the queue for the others. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    await this.#tick;
    const { store } = this.#deps;
    await store
      .tx(async (trx) => {
        const me = (await listDaemons(trx)).filter((d) => d.id === this.id);
        await this.#giveUp(trx, me, STOPPED);
      })
      .catch((err: unknown) =>
        this.#deps.log.warn(
          'cannot leave the daemons cleanly; the others requeue what it ran after the lease',
          {
            error: failureMessage(err),
          },
        ),
      );
    this.#leading = false;
  }

  /** Daemons in the store, for /health and metrics: alive ones have a heartbeat within the lease. */
  async daemons(): Promise<{ nowMs: number; daemons: DaemonRow[] }> {
    const { store } = this.#deps;
    return store.read(async (trx) => ({
      nowMs: await databaseNowMs(trx, store.backend),
      daemons: await listDaemons(trx),
    }));
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#cancelTimer = this.#deps.clock.setTimeout(
      () => {
        this.#tick = this.#beat().finally(() => {
          this.#tick = undefined;
          this.#arm();
        });
      },
      Math.max(500, Math.floor(this.#deps.leaseMs / 3)),
    );
  }

  async #beat(): Promise<void> {
    const { store, clock, log, leaseMs } = this.#deps;
    try {
      const leading = await answerWithin(clock, store.coordination.lead(), leaseMs / 3, 'leader lock');
      const alive = await answerWithin(
        clock,
        store.tx(async (trx) => {
          const nowMs = await databaseNowMs(trx, store.backend);
          if (!(await beat(trx, this.id, nowMs, leading))) return false;
          if (!leading) return true;
          if (!this.#leading) await markLeader(trx, this.id);
          const requeued = await this.#giveUp(trx, await expiredDaemons(trx, this.id, nowMs, leaseMs));
          if (requeued.length > 0) queueMicrotask(() => this.#deps.onRequeued(requeued));
          return true;
        }),
        leaseMs / 3,
        'heartbeat',
      );
      if (!alive) {
        // Given up for dead by the leader (its heartbeats were late): its backups were requeued.
        this.#fence(
          'this daemon missed its heartbeats for longer than DB/LEASE; the others requeued its backups',
        );
        await store.tx(async (trx) =>
          registerDaemon(trx, {
            id: this.id,
            name: this.#deps.name,
            url: '',
            home: this.#deps.home,
            nowMs: await databaseNowMs(trx, store.backend),
          }),
        );
      }
      this.#lastBeatAt = clock.now();
      this.#setLeading(leading);
      if (this.#fenced !== undefined && store.coordination.connected) {
        log.warn('the state database answers again: dispatching again', { was: this.#fenced });
        this.#fenced = undefined;
        this.#deps.onFenced(false, '');
      }
      this.#deps.onBeat?.();
    } catch (err) {
      const silentFor = clock.now() - this.#lastBeatAt;
      if (!store.coordination.connected || silentFor >= leaseMs / 2)
        this.#fence(`the state database does not answer: ${failureMessage(err)}`);
      else log.warn('heartbeat failed; trying again', { error: failureMessage(err) });
    }
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#deps.log.info(
      leading ? 'leading: scheduled actions, verify schedules and copies run here' : 'no longer leading',
    );
    this.#deps.onLeading(leading);
  }

  #fence(reason: string): void {
    this.#setLeading(false);
    if (this.#fenced !== undefined) return;
    this.#fenced = reason;
    this.#deps.log.error('stopped dispatching: cannot reach the state database', { reason });
    this.#deps.onFenced(true, reason);
  }

  async #giveUp(trx: Tx, daemons: readonly DaemonRow[], message?: string): Promise<number[]> {
    if (daemons.length === 0) return [];
    const nowMs = this.#deps.clock.now();
    const vms = await releaseClaimsOf(
      trx,
      daemons,
      (t, only, message) =>
        requeueInterrupted(t, nowMs, this.#deps.ctime(Math.floor(nowMs / 1000)), only, message).then(
          () => undefined,
        ),
      this.#deps.ctime(Math.floor(nowMs / 1000)),
      message,
    );
    if (message === STOPPED) {
      if (vms.length > 0)
        this.#deps.log.warn('backups interrupted by a stop were requeued', { vms: vms.length });
    } else
      for (const d of daemons)
        this.#deps.log.warn('requeued the backups of a daemon that stopped answering', {
          daemon: d.name,
          vms,
        });
    return vms;
  }
}
