/**
 * The store tests open: a real SQLite file at `path`, or with ONEBACKUP_TEST_DB=postgresql a new
 * database in the run's PostgreSQL cluster (test/support/postgres.ts), reached over TCP with its
 * password as a daemon would. Either way the caller closes it.
 */

import assert from 'node:assert/strict';
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

/**
 * Checks a store's transactions on either backend: one that throws leaves nothing behind, and
 * empty IN / NOT IN lists match nothing / everything. Expects the `groups` table empty.
 */
export async function checkRollbackAndEmptyLists(store: Store): Promise<void> {
  await assert.rejects(
    store.tx(async (trx) => {
      await trx.insertInto('groups').values({ id: 5, name: 'g', template: '[]' }).execute();
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal((await store.db.selectFrom('groups').selectAll().execute()).length, 0);
  await store.tx((trx) => trx.insertInto('groups').values({ id: 1, name: 'g', template: '[]' }).execute());
  assert.deepEqual(await store.db.selectFrom('groups').select('id').where('id', 'in', []).execute(), []);
  assert.deepEqual(await store.db.selectFrom('groups').select('id').where('id', 'not in', []).execute(), [
    { id: 1 },
  ]);
}
