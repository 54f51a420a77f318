import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { openSqliteStore, type Store } from '../../core/store/db.js';
import { cleanup, tempDir } from '../support/daemon.js';

async function withStore(fn: (store: Store, path: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const path = join(dir, 'state.db');
  const store = await openSqliteStore(path);
  try {
    await fn(store, path);
  } finally {
    await store.close();
    cleanup(dir);
  }
}

const groups = (store: Store) => store.db.selectFrom('groups').select(['id', 'name']).orderBy('id').execute();

describe('the state database in a worker thread', () => {
  it('commits a transaction durably in the worker, with synchronous=FULL', async () => {
    await withStore(async (store, path) => {
      // Pragmas of the writing connection: asked inside a transaction, which runs in the worker.
      const [sync, fk] = await store.tx(async (trx) => [
        await sql<{ synchronous: number }>`pragma synchronous`.execute(trx),
        await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(trx),
      ]);
      assert.equal(sync?.rows[0]?.synchronous, 2, 'synchronous=FULL');
      assert.equal(fk?.rows[0]?.foreign_keys, 1);
      const id = await store.tx(async (trx) => {
        const r = await trx
          .insertInto('groups')
          .values({ id: 7, name: 'g7', template: '[]' })
          .executeTakeFirst();
        return Number(r.insertId);
      });
      assert.equal(id, 7);
      // Another process-level connection sees it: it is committed, not only visible to us.
      const raw = new SQLite(path, { readonly: true });
      try {
        assert.deepEqual(raw.prepare('select name from groups').all(), [{ name: 'g7' }]);
      } finally {
        raw.close();
      }
    });
  });

  it('rolls back every write of a failed transaction', async () => {
    await withStore(async (store) => {
      await assert.rejects(
        store.tx(async (trx) => {
          await trx.insertInto('groups').values({ id: 1, name: 'a', template: '[]' }).execute();
          await trx.insertInto('groups').values({ id: 2, name: 'b', template: '[]' }).execute();
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await groups(store), []);
      // The connection is usable after the rollback.
      await store.tx((trx) =>
        trx.insertInto('groups').values({ id: 3, name: 'c', template: '[]' }).execute(),
      );
      assert.deepEqual(await groups(store), [{ id: 3, name: 'c' }]);
    });
  });

  it('serialises concurrent transactions: none interleaves with another', async () => {
    await withStore(async (store) => {
      await store.tx((trx) => trx.insertInto('pool_ids').values({ pool: 'n', last_id: 0 }).execute());
      // Read-modify-write with an await between: lost updates if two transactions interleaved.
      const bump = () =>
        store.tx(async (trx) => {
          const row = await trx
            .selectFrom('pool_ids')
            .select('last_id')
            .where('pool', '=', 'n')
            .executeTakeFirstOrThrow();
          await new Promise((r) => setImmediate(r));
          await trx
            .updateTable('pool_ids')
            .set({ last_id: row.last_id + 1 })
            .where('pool', '=', 'n')
            .execute();
        });
      await Promise.all(Array.from({ length: 50 }, bump));
      const row = await store.db
        .selectFrom('pool_ids')
        .select('last_id')
        .where('pool', '=', 'n')
        .executeTakeFirstOrThrow();
      assert.equal(row.last_id, 50);
    });
  });

  it('reads outside a transaction see what committed, not what a transaction has not committed yet', async () => {
    await withStore(async (store) => {
      let inside!: () => void;
      const reached = new Promise<void>((r) => {
        inside = r;
      });
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      const tx = store.tx(async (trx) => {
        await trx.insertInto('groups').values({ id: 1, name: 'pending', template: '[]' }).execute();
        inside();
        await held;
      });
      await reached;
      assert.deepEqual(await groups(store), [], 'uncommitted row not visible, and the read did not wait');
      release();
      await tx;
      assert.deepEqual(await groups(store), [{ id: 1, name: 'pending' }]);
    });
  });

  it('a read transaction sees one snapshot, does not wait for writers, and refuses to write', async () => {
    await withStore(async (store) => {
      await store.tx((trx) =>
        trx.insertInto('groups').values({ id: 1, name: 'a', template: '[]' }).execute(),
      );
      const seen = await store.read(async (trx) => {
        const before = await trx.selectFrom('groups').select('name').execute();
        // A transaction commits while this read transaction is open.
        await store.tx((w) => w.insertInto('groups').values({ id: 2, name: 'b', template: '[]' }).execute());
        const after = await trx.selectFrom('groups').select('name').execute();
        return { before, after };
      });
      assert.deepEqual(seen.before, [{ name: 'a' }]);
      assert.deepEqual(seen.after, [{ name: 'a' }], 'the snapshot of the read transaction');
      assert.equal((await groups(store)).length, 2, 'committed, and seen by the next read');
      await assert.rejects(
        store.read((trx) => trx.insertInto('groups').values({ id: 3, name: 'c', template: '[]' }).execute()),
        /a read transaction tried to write \(bug\)/,
      );
      assert.equal((await groups(store)).length, 2);
      // Many read transactions at once (more than the pool's connections) all complete.
      const many = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.read(async (trx) => {
            await new Promise((r) => setImmediate(r));
            return (await trx.selectFrom('groups').selectAll().execute()).length;
          }),
        ),
      );
      assert.deepEqual(new Set(many), new Set([2]));
    });
  });

  it("a transaction's reads before its first write see the last commit; after it, its own writes", async () => {
    await withStore(async (store) => {
      await store.tx((trx) =>
        trx.insertInto('groups').values({ id: 1, name: 'a', template: '[]' }).execute(),
      );
      const seen = await store.tx(async (trx) => {
        const before = await trx.selectFrom('groups').select('name').orderBy('id').execute();
        await trx.insertInto('groups').values({ id: 2, name: 'b', template: '[]' }).execute();
        const after = await trx.selectFrom('groups').select('name').orderBy('id').execute();
        return { before, after };
      });
      assert.deepEqual(seen.before, [{ name: 'a' }]);
      assert.deepEqual(seen.after, [{ name: 'a' }, { name: 'b' }], 'its own uncommitted write');
      // A transaction that only reads, then fails (a refusal after its checks), leaves nothing
      // open: the next transaction writes and commits, and a later one reads what it committed.
      await assert.rejects(
        store.tx(async (trx) => {
          await trx.selectFrom('groups').selectAll().execute();
          throw new Error('refused');
        }),
        /refused/,
      );
      await store.tx((trx) =>
        trx.insertInto('groups').values({ id: 3, name: 'c', template: '[]' }).execute(),
      );
      const names = await store.tx(async (trx) => trx.selectFrom('groups').select('name').execute());
      assert.deepEqual(names.map((r) => r.name).sort(), ['a', 'b', 'c']);
      assert.deepEqual((await groups(store)).length, 3);
    });
  });

  it('passes errors on with their SQLite codes', async () => {
    await withStore(async (store) => {
      await store.tx((trx) =>
        trx.insertInto('groups').values({ id: 1, name: 'a', template: '[]' }).execute(),
      );
      const err = await store
        .tx((trx) => trx.insertInto('groups').values({ id: 1, name: 'dup', template: '[]' }).execute())
        .then(
          () => assert.fail('a duplicate id was accepted'),
          (e: unknown) => e as Error & { code?: string },
        );
      assert.equal(err.name, 'SqliteError');
      assert.match(String(err.code), /^SQLITE_CONSTRAINT/);
      assert.match(err.message, /UNIQUE constraint failed: groups\.id/);
      const bad = await sql`select * from no_such_table`.execute(store.db).then(
        () => assert.fail('a missing table was accepted'),
        (e: unknown) => e as Error & { code?: string },
      );
      assert.equal(bad.name, 'SqliteError');
      assert.equal(bad.code, 'SQLITE_ERROR');
      assert.match(bad.message, /no such table: no_such_table/);
    });
  });

  it('closes: the worker stops, later queries fail clearly, closing twice is harmless', async () => {
    const dir = tempDir();
    try {
      const store = await openSqliteStore(join(dir, 'state.db'));
      await store.tx((trx) =>
        trx.insertInto('groups').values({ id: 1, name: 'a', template: '[]' }).execute(),
      );
      await store.close();
      await store.close();
      await assert.rejects(
        store.tx((trx) => trx.insertInto('groups').values({ id: 2, name: 'b', template: '[]' }).execute()),
        /closed|destroyed/,
      );
      const again = await openSqliteStore(join(dir, 'state.db'));
      try {
        assert.deepEqual(await groups(again), [{ id: 1, name: 'a' }]);
      } finally {
        await again.close();
      }
    } finally {
      cleanup(dir);
    }
  });

  it('refuses a path it cannot open, naming it', async () => {
    const dir = tempDir();
    try {
      await assert.rejects(openSqliteStore(dir), new RegExp(`state database ${dir}: cannot open`));
    } finally {
      cleanup(dir);
    }
  });
});
