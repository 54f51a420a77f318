/**
 * The daemon's Prometheus metrics (issue 5, DESIGN.md section 7): one prom-client Registry per
 * daemon (never the global one, so two daemons in one process or a test do not mix), the event
 * counters, the scrape-time state gauges, the worker pool utilisation, build info and
 * prom-client's process metrics.
 */

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { BackupObserver } from '../events.js';
import { ClusterMetrics, type ClusterState } from './cluster-metrics.js';
import { CopyMetrics } from './copy-metrics.js';
import { eventMetrics } from './event-metrics.js';
import type { DatastoreHealth } from './health.js';
import { IntegrityMetrics } from './integrity-metrics.js';
import { StateMetrics, type StateSources } from './state-metrics.js';

const GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface MetricsSources extends StateSources {
  readonly version: string;
  /** Share of the worker pool's capacity in use, 0-1 (piscina's utilization). */
  readonly poolUtilization: () => number;
  /** The last probe of each datastore's storage (never waited for at scrape time). */
  readonly datastoreAnswers?: () => readonly DatastoreHealth[];
  /** Each monitored host and whether it answered its last check. */
  readonly hostsReachable?: () => readonly { name: string; reachable: boolean }[];
  /** Bytes received from and sent to each SSH host's agent since the daemon started. */
  readonly hostTraffic?: () => readonly { host: string; received: number; sent: number }[];
  /** This daemon among those sharing the store. */
  readonly cluster?: () => Promise<ClusterState>;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  /** Feeds the counters and the duration histogram. */
  readonly observer: BackupObserver;
  readonly #state: StateMetrics;
  readonly #integrity: IntegrityMetrics;
  readonly #copies: CopyMetrics;
  readonly #cluster: ClusterMetrics | undefined;
  #scraping: Promise<string> | undefined;

  constructor(src: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client also sums its per-type gauges (nodejs_active_handles{type}, ...) as gauges
    // named *_total, which promtool rejects (a gauge must not end in _total): the sums go.
    for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(name);
    new Gauge({
      name: 'onebackup_build_info',
      help: 'Always 1; the label version is the onebackupd version.',
      labelNames: ['version'] as const,
      registers,
    }).set({ version: src.version }, 1);
    new Gauge({
      name: 'onebackup_worker_pool_utilization',
      help: 'Share (0-1) of the worker pool (hash, compress, encrypt threads) busy since the previous scrape (mean event loop utilisation of the worker threads).',
      registers,
      collect() {
        this.set(src.poolUtilization());
      },
    });
    new Gauge({
      name: 'onebackup_datastore_up',
      help: "1 when the datastore's storage answered its last probe within DATASTORE_TIMEOUT, 0 when it did not (nothing is read or written there until it does).",
      labelNames: ['datastore'] as const,
      registers,
      collect() {
        this.reset();
        for (const a of src.datastoreAnswers?.() ?? [])
          this.set({ datastore: String(a.id) }, a.answering ? 1 : 0);
      },
    });
    new Gauge({
      name: 'onebackup_host_up',
      help: '1 when the host answered its last monitoring check (over SSH, its agent; this machine always), 0 when it did not; no series before the first check.',
      labelNames: ['host'] as const,
      registers,
      collect() {
        this.reset();
        for (const h of src.hostsReachable?.() ?? []) this.set({ host: h.name }, h.reachable ? 1 : 0);
      },
    });
    new Counter({
      name: 'onebackup_host_agent_bytes_total',
      help: "Bytes that crossed the SSH connections to a host's agent (direction: received = disk reads and answers, sent = restored disk writes and calls), since the daemon started.",
      labelNames: ['host', 'direction'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of src.hostTraffic?.() ?? []) {
          this.inc({ host: t.host, direction: 'received' }, t.received);
          this.inc({ host: t.host, direction: 'sent' }, t.sent);
        }
      },
    });
    this.observer = eventMetrics(this.registry);
    this.#state = new StateMetrics(this.registry, src);
    this.#integrity = new IntegrityMetrics(this.registry, src.store);
    this.#copies = new CopyMetrics(this.registry, src.store);
    this.#cluster = src.cluster && new ClusterMetrics(this.registry, src.cluster);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. Concurrent scrapes share one store read. */
  scrape(): Promise<string> {
    this.#scraping ??= (async () => {
      try {
        await Promise.all([
          this.#state.refresh(),
          this.#integrity.refresh(),
          this.#copies.refresh(),
          this.#cluster?.refresh(),
        ]);
        return await this.registry.metrics();
      } finally {
        this.#scraping = undefined;
      }
    })();
    return this.#scraping;
  }
}
