/**
 * This daemon among the daemons sharing the store (issue 15, item 4), for /health and metrics:
 * whether it leads, whether it dispatches (not when it cannot reach the database), and how many
 * daemons are alive (a heartbeat within DB/LEASE, by the database's clock).
 */
import { Gauge, type Registry } from 'prom-client';

export interface ClusterState {
  /** This daemon's name (`onebackupd PID on HOST`). */
  readonly self: string;
  readonly leading: boolean;
  /** Why it does not dispatch; undefined when it does. */
  readonly fenced: string | undefined;
  readonly leaseS: number;
  /** Every daemon row, alive or past its lease; empty when the store did not answer. */
  readonly daemons: readonly {
    readonly name: string;
    readonly leader: boolean;
    readonly heartbeatAgeS: number;
    readonly alive: boolean;
  }[];
}

export class ClusterMetrics {
  readonly #read: () => Promise<ClusterState>;
  #last: ClusterState | undefined;

  constructor(registry: Registry, read: () => Promise<ClusterState>) {
    this.#read = read;
    const registers = [registry];
    const last = () => this.#last;
    new Gauge({
      name: 'onebackup_daemon_leader',
      help: '1 when this daemon holds the leader lock (it fires scheduled actions, verify schedules and copies, and requeues the backups of daemons past their lease).',
      registers,
      collect() {
        this.set(last()?.leading ? 1 : 0);
      },
    });
    new Gauge({
      name: 'onebackup_daemon_dispatching',
      help: '1 when this daemon starts backups; 0 when it cannot reach the state database (its backups were aborted and go to the other daemons).',
      registers,
      collect() {
        this.set(last()?.fenced === undefined ? 1 : 0);
      },
    });
    new Gauge({
      name: 'onebackup_daemons_alive',
      help: "Daemons sharing the state database whose heartbeat is within DB/LEASE (the database's clock), as this daemon read them at the scrape.",
      registers,
      collect() {
        this.set(last()?.daemons.filter((d) => d.alive).length ?? 0);
      },
    });
  }

  async refresh(): Promise<void> {
    this.#last = await this.#read();
  }
}
