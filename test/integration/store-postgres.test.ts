/**
 * The PostgreSQL store on a real cluster (test/support/postgres.ts): the migrations' integer
 * columns are 64-bit there, reopening and a newer schema behave as on SQLite, a failed transaction
 * leaves nothing, write transactions of two stores on one database never interleave (the
 * read-then-write of next IDs stays unique), a read transaction is one snapshot, and SQLite's
 * empty IN lists mean the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Secret } from '../../core/secret.js';
import { nextId, type Store } from '../../core/store/db.js';
import { openPostgresStore, type PostgresOptions } from '../../core/store/postgres.js';
import { createDatabase, pgClient, type RunningPg, startPostgres } from '../support/postgres.js';
import { checkRollbackAndEmptyLists } from '../support/store.js';

describe('the PostgreSQL store', () => {
  let pg: RunningPg;
  const options = async (): Promise<PostgresOptions> => ({
    server: pg.host,
    port: pg.port,
    user: pg.user,
    password: new Secret(pg.password),
    database: await createDatabase(pg, 'store'),
    connections: 4,
    leaseSeconds: 30,
  });
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.stop();
  });

  it('migrates with 64-bit integers and a sequence for task log lines; reopens; refuses a newer schema', async () => {
    const o = await options();
    await (await openPostgresStore(o)).close();
    const again = await openPostgresStore(o);
    try {
      const columns = await sql<{
        table_name: string;
        column_name: string;
        data_type: string;
        column_default: string | null;
      }>`
        select table_name, column_name, data_type, column_default from information_schema.columns
         where table_schema = 'public' and table_name in ('run_tasks', 'task_logs', 'vm_disks')`.execute(
        again.db,
      );
      const type = (t: string, c: string) =>
        columns.rows.find((r) => r.table_name === t && r.column_name === c);
      assert.equal(type('run_tasks', 'bytes_done')?.data_type, 'bigint');
      assert.equal(type('vm_disks', 'size_bytes')?.data_type, 'bigint');
      assert.match(type('task_logs', 'seq')?.column_default ?? '', /^nextval\(/);
      assert.ok(!columns.rows.some((r) => r.data_type === 'integer'), 'no 32-bit column left');
      await again.tx((trx) =>
        trx
          .insertInto('onebackup_migration' as never)
          .values({ name: '0099-future', timestamp: '2030-01-01' } as never)
          .execute(),
      );
    } finally {
      await again.close();
    }
    await assert.rejects(
      openPostgresStore(o),
      new RegExp(
        `state database postgresql://onebackup@127\\.0\\.0\\.1:${pg.port}/${o.database}: schema version 0099-future is newer`,
      ),
    );
  });

  it('a failed transaction leaves nothing behind; empty IN lists match nothing', async () => {
    const store = await openPostgresStore(await options());
    try {
      await checkRollbackAndEmptyLists(store);
    } finally {
      await store.close();
    }
  });

  it('two stores on one database: write transactions never interleave, so next IDs stay unique', async () => {
    const o = await options();
    const stores: Store[] = [await openPostgresStore(o), await openPostgresStore(o)];
    try {
      const ids = await Promise.all(
        stores.flatMap((s) => Array.from({ length: 40 }, () => s.tx((trx) => nextId(trx, 'vm')))),
      );
      assert.deepEqual(
        [...ids].sort((a, b) => a - b),
        Array.from({ length: 80 }, (_, i) => i),
      );
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('a read transaction sees one snapshot', async () => {
    const o = await options();
    const store = await openPostgresStore(o);
    const other = pgClient(pg, o.database);
    await other.connect();
    try {
      const seen = await store.read(async (trx) => {
        const first = await trx.selectFrom('groups').select('id').execute();
        await other.query(`insert into groups (id, name, template) values (9, 'late', '[]')`);
        const second = await trx.selectFrom('groups').select('id').execute();
        return [first.length, second.length];
      });
      assert.deepEqual(seen, [0, 0]);
      assert.equal((await store.db.selectFrom('groups').select('id').execute()).length, 1);
    } finally {
      await other.end();
      await store.close();
    }
  });
});
