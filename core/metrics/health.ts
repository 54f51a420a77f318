/**
 * GET /health (issue 5): whether the store takes writes (a real write in a transaction that is
 * then rolled back, so a read-only file, a full lock or a broken database shows) and whether the
 * scheduler loop is alive (its timer heartbeat is recent). 200 when both hold, else 503, with
 * the details as JSON for a person or a probe. A datastore whose storage does not answer its
 * probe (core/engine/datastore-probes.ts) makes it `degraded` (still 200: the daemon serves the
 * others), naming the datastore and why.
 */
import type { Clock } from '../clock.js';
import type { Store } from '../store/db.js';
import { writeHealthProbe } from '../store/outcomes.js';
import type { ClusterState } from './cluster-metrics.js';

export interface SchedulerLiveness {
  /** Epoch ms of the scheduler's last timer tick (0 before it started or after it stopped). */
  readonly heartbeatAt: number;
  /** Epoch ms of the last dispatch pass (passes are event-driven: may be old when idle). */
  readonly lastPassAt: number;
  readonly running: number;
}

export interface HealthDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly scheduler: () => SchedulerLiveness | undefined;
  /** A heartbeat older than this means the loop is stuck or stopped. */
  readonly maxHeartbeatAgeMs: number;
  /** The store check gives up after this (a transaction holding the database for longer). */
  readonly storeTimeoutMs: number;
  /** The last probe of each datastore (read, never waited for). */
  readonly datastores?: () => readonly DatastoreHealth[];
  /** This daemon among those sharing the store. */
  readonly cluster?: () => Promise<ClusterState>;
}

export interface DatastoreHealth {
  readonly id: number;
  readonly answering: boolean;
  readonly checkedAt: number;
  readonly error?: string;
}

export interface HealthReport {
  readonly status: 'ok' | 'degraded' | 'unhealthy';
  readonly store: { readonly writable: boolean; readonly error?: string };
  readonly scheduler: {
    readonly alive: boolean;
    readonly heartbeat_age_s: number | null;
    readonly last_pass_age_s: number | null;
    readonly running: number;
  };
  /** Datastores whose storage did not answer their last probe. */
  readonly datastores_not_answering: readonly { id: number; error: string; checked_age_s: number | null }[];
  /**
   * The daemons sharing the store: this one (whether it leads, whether it dispatches and why
   * not), the leader's name and how many are alive. A daemon that does not dispatch is unhealthy.
   */
  readonly daemons?: {
    readonly self: string;
    readonly leading: boolean;
    readonly dispatching: boolean;
    readonly reason?: string;
    readonly leader: string | null;
    readonly alive: number;
    readonly lease_s: number;
    readonly members: readonly { name: string; leader: boolean; heartbeat_age_s: number; alive: boolean }[];
  };
}

class RollBack extends Error {}

async function storeWritable(deps: HealthDeps): Promise<{ writable: boolean; error?: string }> {
  const probe = deps.store
    .tx(async (trx) => {
      await writeHealthProbe(trx, deps.clock.now());
      throw new RollBack('health probe');
    })
    .then(
      () => ({ writable: false, error: 'probe transaction did not roll back' }),
      (err: unknown) =>
        err instanceof RollBack
          ? { writable: true }
          : { writable: false, error: err instanceof Error ? err.message : String(err) },
    );
  let cancel: (() => void) | undefined;
  const timeout = new Promise<{ writable: boolean; error: string }>((resolve) => {
    cancel = deps.clock.setTimeout(
      () => resolve({ writable: false, error: `no write lock within ${deps.storeTimeoutMs} ms` }),
      deps.storeTimeoutMs,
    );
  });
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    cancel?.();
  }
}

export async function checkHealth(deps: HealthDeps): Promise<HealthReport> {
  const now = deps.clock.now();
  const store = await storeWritable(deps);
  const s = deps.scheduler();
  const age = (t: number | undefined) => (t !== undefined && t > 0 ? Math.round((now - t) / 100) / 10 : null);
  const heartbeatAge = age(s?.heartbeatAt);
  const alive = heartbeatAge !== null && heartbeatAge * 1000 <= deps.maxHeartbeatAgeMs;
  const cluster = deps.cluster && (await deps.cluster());
  const down = (deps.datastores?.() ?? [])
    .filter((d) => !d.answering)
    .map((d) => ({ id: d.id, error: d.error ?? 'no answer', checked_age_s: age(d.checkedAt) }));
  const dispatching = cluster?.fenced === undefined;
  return {
    status: !store.writable || !alive || !dispatching ? 'unhealthy' : down.length > 0 ? 'degraded' : 'ok',
    store,
    scheduler: {
      alive,
      heartbeat_age_s: heartbeatAge,
      last_pass_age_s: age(s?.lastPassAt),
      running: s?.running ?? 0,
    },
    datastores_not_answering: down,
    ...(cluster
      ? {
          daemons: {
            self: cluster.self,
            leading: cluster.leading,
            dispatching,
            ...(cluster.fenced !== undefined ? { reason: cluster.fenced } : {}),
            leader: cluster.daemons.find((d) => d.leader && d.alive)?.name ?? null,
            alive: cluster.daemons.filter((d) => d.alive).length,
            lease_s: cluster.leaseS,
            members: cluster.daemons.map((d) => ({
              name: d.name,
              leader: d.leader,
              heartbeat_age_s: d.heartbeatAgeS,
              alive: d.alive,
            })),
          },
        }
      : {}),
  };
}
