import { type Kysely, type Migration, Migrator, sql } from 'kysely';
import { ErrorCode, OneError } from '../errors.js';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-backup-increments.js';
import * as m0003 from './migrations/0003-scheduler.js';
import * as m0004 from './migrations/0004-observability.js';
import * as m0005 from './migrations/0005-verify-results.js';
import * as m0006 from './migrations/0006-verify-schedule.js';
import * as m0007 from './migrations/0007-login-tokens.js';
import * as m0008 from './migrations/0008-host-transport.js';
import * as m0009 from './migrations/0009-image-copies.js';
import * as m0010 from './migrations/0010-daemons.js';
import * as m0011 from './migrations/0011-host-health.js';
import * as m0012 from './migrations/0012-daemon-home.js';

/** Every migration the code knows, in order. Add new ones at the end; never rename. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-initial': m0001,
  '0002-backup-increments': m0002,
  '0003-scheduler': m0003,
  '0004-observability': m0004,
  '0005-verify-results': m0005,
  '0006-verify-schedule': m0006,
  '0007-login-tokens': m0007,
  '0008-host-transport': m0008,
  '0009-image-copies': m0009,
  '0010-daemons': m0010,
  '0011-host-health': m0011,
  '0012-daemon-home': m0012,
});

const TABLE = 'onebackup_migration';

async function appliedMigrations(db: Kysely<unknown>): Promise<string[]> {
  const tables = await db.introspection.getTables();
  if (!tables.some((t) => t.name === TABLE)) return [];
  const rows = await sql<{ name: string }>`select name from ${sql.table(TABLE)} order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/**
 * Brings the schema to the latest version. Refuses a database that a newer onebackupd has
 * migrated: running old code on a newer schema could lose what the newer code stored.
 */
export async function migrateToLatest(db: Kysely<unknown>, where: string): Promise<void> {
  const known = new Set(Object.keys(MIGRATIONS));
  const unknown = (await appliedMigrations(db)).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new OneError(
      ErrorCode.INTERNAL,
      `state database ${where}: schema version ${unknown.join(', ')} is newer than this onebackupd ` +
        `(knows up to ${[...known].at(-1)}); run the newer onebackupd or restore a matching backup of the database`,
    );
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: TABLE,
    migrationLockTableName: `${TABLE}_lock`,
  });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    throw new OneError(ErrorCode.INTERNAL, `state database ${where}: migration failed: ${String(error)}`, {
      cause: error,
    });
  }
}
