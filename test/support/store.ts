/**
 * The store tests open: a real SQLite file at `path`, or with ONEBACKUP_TEST_DB=postgresql a new
 * database in the run's PostgreSQL cluster (test/support/postgres.ts), reached over TCP with its
 * password as a daemon would. Either way the caller closes it.
 */

import { Secret } from '../../core/secret.js';
import type { Store } from '../../core/store/db.js';
import { openStore } from '../../core/store/open.js';
import { createDatabase, testCluster, testsOnPostgres } from './postgres.js';

export async function openTestStore(path: string): Promise<Store> {
  if (!testsOnPostgres()) return openStore({ backend: 'sqlite', path });
  const cluster = await testCluster();
  return openStore({
    backend: 'postgresql',
    server: cluster.host,
    port: cluster.port,
    user: cluster.user,
    password: new Secret(cluster.password),
    database: await createDatabase(cluster),
    connections: 4,
    leaseSeconds: 30,
  });
}
