/** The services' dependencies for tests on a real store: fs and local drivers, keys in `dir`, 1 MiB raw disks. */
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { datastoreAccess } from '../../core/engine/datastore-access.js';
import type { SchedulerPort } from '../../core/scheduler-port.js';
import { forwardingScheduler } from '../../core/scheduler-port.js';
import type { ServiceDeps } from '../../core/services/context.js';
import type { Store } from '../../core/store/db.js';
import { fileKeyStore } from '../../drivers/datastore/keys.js';
import { DATASTORE_DRIVERS } from '../../drivers/datastore/registry.js';
import { HYPERVISOR_DRIVERS, vmDiscovery } from '../../drivers/hypervisor/registry.js';
import { hypervisorHosts } from '../../drivers/remote/host-drivers.js';

export function testServiceDeps(
  store: Store,
  clock: Clock,
  dir: string,
  scheduler: () => SchedulerPort | undefined = () => undefined,
  overrides: Partial<ServiceDeps> = {},
): ServiceDeps {
  return {
    store,
    clock,
    timeZone: 'UTC',
    scheduler: forwardingScheduler(scheduler),
    inspectDisk: async () => ({ format: 'raw', virtualSize: 1 << 20 }),
    discovery: vmDiscovery(hypervisorHosts(HYPERVISOR_DRIVERS)),
    hypervisorDrivers: ['fs'],
    datastoreDrivers: ['local'],
    defaultDatastoreBase: join(dir, 'ds'),
    createDatastoreKey: async () => undefined,
    datastoreAccess: datastoreAccess(DATASTORE_DRIVERS, fileKeyStore(dir)),
    dropManifests: async () => undefined,
    ...overrides,
  };
}
