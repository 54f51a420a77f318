/**
 * Every row of every table of a test daemon's state database, read past the daemon (its SQLite
 * file read-only, or its PostgreSQL database with a client of its own): to check that a refused
 * call changed nothing, or that a secret is stored nowhere. Rows of a table are sorted, so two
 * dumps of the same state compare equal on either store.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pgClient, testCluster } from './postgres.js';

/** The PostgreSQL database of the daemon on `stateDir` (test/support/postgres.ts), if it has one. */
export function testPgDatabase(stateDir: string): string | undefined {
  try {
    return readFileSync(join(stateDir, 'test-pg-database'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `table\n[rows as JSON, sorted]` for each table but those in `skip`, tables by name. */
export async function stateRows(stateDir: string, skip: readonly string[] = []): Promise<string> {
  const tables = new Map<string, unknown[]>();
  const pgDatabase = testPgDatabase(stateDir);
  if (pgDatabase) {
    const client = pgClient(await testCluster(), pgDatabase);
    await client.connect();
    try {
      const names = await client.query<{ name: string }>(
        "select table_name as name from information_schema.tables where table_schema = 'public'",
      );
      for (const { name } of names.rows)
        tables.set(name, (await client.query(`select * from "${name}"`)).rows);
    } finally {
      await client.end();
    }
  } else {
    const db = new Database(join(stateDir, 'onebackup.db'), { readonly: true, fileMustExist: true });
    try {
      const names = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .pluck()
        .all() as string[];
      for (const name of names) tables.set(name, db.prepare(`SELECT * FROM "${name}"`).all());
    } finally {
      db.close();
    }
  }
  return [...tables]
    .filter(([name]) => !skip.includes(name))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, rows]) => `${name}\n${JSON.stringify(rows.map((r) => JSON.stringify(r)).sort())}\n`)
    .join('');
}

/**
 * What the store holds, as bytes to search for a secret: the SQLite file itself (free pages too),
 * or every row of the PostgreSQL database.
 */
export async function storedBytes(stateDir: string): Promise<Buffer> {
  return testPgDatabase(stateDir)
    ? Buffer.from(await stateRows(stateDir))
    : readFileSync(join(stateDir, 'onebackup.db'));
}
