/**
 * The composition root of onebackupd: state directory, store, services, API server.
 * start() opens and reconciles in dependency order; stop() closes in reverse. Both are
 * idempotent. Signals are handled by the caller (cli/onebackupd.ts), not here.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Services } from './api/methods.js';
import { ApiServer } from './api/server.js';
import type { Clock } from './clock.js';
import type { DaemonConfig } from './config.js';
import type { Logger } from './log.js';
import { BackupJobService } from './services/backupjobs.js';
import type { ServiceDeps } from './services/context.js';
import { DatastoreService } from './services/datastores.js';
import type { DiskInspector } from './services/disk-inspector.js';
import { HostService } from './services/hosts.js';
import { ImageService } from './services/images.js';
import { ownedCalls } from './services/owned-calls.js';
import { UserService } from './services/users.js';
import { VmService } from './services/vms.js';
import { openSqliteStore, type Store } from './store/db.js';
import { VERSION } from './version.js';

export interface DaemonDeps {
  readonly config: DaemonConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly inspectDisk: DiskInspector;
  readonly hypervisorDrivers: readonly string[];
  readonly datastoreDrivers: readonly string[];
}

export class Daemon {
  #store: Store | undefined;
  #server: ApiServer | undefined;
  #url: string | undefined;
  #starting: Promise<string> | undefined;

  constructor(private readonly deps: DaemonDeps) {}

  get authFile(): string {
    return join(this.deps.config.stateDir, 'one_auth');
  }

  /** Opens everything and listens; resolves to the XML-RPC URL. */
  start(): Promise<string> {
    this.#starting ??= this.doStart();
    return this.#starting;
  }

  private async doStart(): Promise<string> {
    const { config, log } = this.deps;
    mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
    this.#store = await openSqliteStore(config.db.path);
    const serviceDeps: ServiceDeps = {
      store: this.#store,
      clock: this.deps.clock,
      inspectDisk: this.deps.inspectDisk,
      hypervisorDrivers: this.deps.hypervisorDrivers,
      datastoreDrivers: this.deps.datastoreDrivers,
      defaultDatastoreBase: join(config.stateDir, 'datastores'),
    };
    const users = new UserService(serviceDeps);
    const password = await users.bootstrap();
    if (password !== undefined) {
      writeFileSync(this.authFile, `oneadmin:${password}\n`, { mode: 0o600 });
      chmodSync(this.authFile, 0o600);
      log.info('created user oneadmin', { credentials_file: this.authFile });
    }
    const services: Services = {
      users,
      hosts: new HostService(serviceDeps),
      datastores: new DatastoreService(serviceDeps),
      vms: new VmService(serviceDeps),
      images: new ImageService(serviceDeps),
      jobs: new BackupJobService(serviceDeps),
      owned: ownedCalls(serviceDeps),
      version: VERSION.opennebula,
    };
    this.#server = new ApiServer({ services, log, maxRequestBytes: config.maxRequestBytes });
    const address = await this.#server.listen(config.listenAddress, config.port);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `http://${host}:${address.port}/RPC2`;
    log.info('started', { version: VERSION.onebackup, state_dir: config.stateDir, db: config.db.path });
    return this.#url;
  }

  async stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const server = this.#server;
    const store = this.#store;
    this.#server = undefined;
    this.#store = undefined;
    await server?.close();
    await store?.close();
  }
}
