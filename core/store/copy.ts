/**
 * Copies a daemon's whole state from one store to another (`onebackupd db-copy`: SQLite to
 * PostgreSQL for an install that outgrew one file, or any other pair): every table, read on one
 * snapshot of the source and written in one transaction of the target, which commits only when
 * each table's row count in the target equals the source's. Both stores are at the latest schema
 * (opening one migrates it). A target that already holds rows is refused unless `replace`, which
 * empties its tables in the same transaction.
 */
import { sql } from 'kysely';
import { ErrorCode, OneError } from '../errors.js';
import type { Queryable, Store, Tx } from './db.js';
import type { Database } from './schema.js';

type Table = keyof Database;

/** Every table of the state, parents before the tables whose foreign keys name them. */
export const STATE_TABLES: readonly Table[] = [
  'pool_ids',
  'groups',
  'users',
  'login_tokens',
  'hosts',
  'datastores',
  'vms',
  'vm_disks',
  'images',
  'image_increments',
  'image_copies',
  'backup_jobs',
  'job_vms',
  'sched_actions',
  'job_runs',
  'run_tasks',
  'events',
  'task_logs',
  'last_outcomes',
  'verify_schedules',
];

/** The running daemons, their claims and host monitoring: live state, not copied. */
export const LIVE_TABLES: ReadonlySet<string> = new Set(['daemons', 'backup_claims', 'host_health']);

/** Tables whose key the database numbers (PostgreSQL: a sequence to move past the copied rows). */
const SERIAL_KEYS: readonly (readonly [Table, string])[] = [['task_logs', 'seq']];

/** Rows written per INSERT (well under either database's limit on bound parameters). */
const BATCH = 500;

export interface TableCount {
  readonly table: Table;
  readonly source: number;
  readonly target: number;
}

async function count(db: Queryable, table: Table): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Row counts of every state table. */
export async function stateCounts(db: Queryable): Promise<Map<Table, number>> {
  const counts = new Map<Table, number>();
  for (const table of STATE_TABLES) counts.set(table, await count(db, table));
  return counts;
}

/** Tables the store has that this copy does not know: a migration added one (bug). */
async function unknownTables(db: Queryable): Promise<string[]> {
  const known = new Set<string>(STATE_TABLES);
  return (await db.introspection.getTables())
    .map((t) => t.name)
    .filter((name) => !known.has(name) && !LIVE_TABLES.has(name) && !name.startsWith('onebackup_migration'));
}

async function copyTable(src: Tx, dst: Tx, table: Table): Promise<void> {
  const rows = (await src.selectFrom(table).selectAll().execute()) as Record<string, unknown>[];
  for (let i = 0; i < rows.length; i += BATCH) {
    await dst
      .insertInto(table)
      .values(rows.slice(i, i + BATCH) as never)
      .execute();
  }
}

async function resetSequences(dst: Tx): Promise<void> {
  for (const [table, column] of SERIAL_KEYS) {
    await sql`select setval(pg_get_serial_sequence(${table}, ${column}), coalesce(max(${sql.ref(column)}), 0) + 1, false) from ${sql.table(table)}`.execute(
      dst,
    );
  }
}

/**
 * Copies every table of `from` into `to` and returns each table's counts (equal, or nothing was
 * committed). `replace`: a target holding rows is emptied first instead of refused.
 */
export async function copyState(
  from: Store,
  to: Store,
  options: { replace?: boolean } = {},
): Promise<TableCount[]> {
  for (const store of [from, to]) {
    const extra = await unknownTables(store.db);
    if (extra.length > 0)
      throw new OneError(
        ErrorCode.INTERNAL,
        `state database ${store.where} has tables db-copy does not know (${extra.join(', ')}) (bug)`,
      );
  }
  return from.read((src) =>
    to.tx(async (dst) => {
      const held = [...(await stateCounts(dst))].filter(([, n]) => n > 0);
      if (held.length > 0 && !options.replace) {
        throw new OneError(
          ErrorCode.ACTION,
          `target ${to.where} already holds state (${held.map(([t, n]) => `${t}: ${n}`).join(', ')}); ` +
            'copy into an empty database, or pass --replace to delete what it holds first',
        );
      }
      for (const table of [...STATE_TABLES].reverse()) await dst.deleteFrom(table).execute();
      const counts: TableCount[] = [];
      for (const table of STATE_TABLES) {
        await copyTable(src, dst, table);
        counts.push({ table, source: await count(src, table), target: await count(dst, table) });
      }
      if (to.backend === 'postgresql') await resetSequences(dst);
      const wrong = counts.filter((c) => c.source !== c.target);
      if (wrong.length > 0) {
        throw new OneError(
          ErrorCode.INTERNAL,
          `copy to ${to.where} does not match its source: ${wrong.map((c) => `${c.table} ${c.target}/${c.source}`).join(', ')}; nothing was committed`,
        );
      }
      return counts;
    }),
  );
}
