import type { Kysely } from 'kysely';

/**
 * Several onebackupd on one store (issue 15, item 3): a row per running daemon with its
 * heartbeat (the database's clock, epoch ms), a claim per VM backup running anywhere (which
 * daemon, which host and job: MAX_BACKUPS and MAX_BACKUPS_HOST count these rows), and which
 * daemon ran each task. Daemons and claims are the live state of the processes, not copied by
 * `onebackupd db-copy`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('daemons')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('started_ms', 'integer', (c) => c.notNull())
    .addColumn('heartbeat_ms', 'integer', (c) => c.notNull())
    .addColumn('leader', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('url', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .createTable('backup_claims')
    .addColumn('vm_id', 'integer', (c) => c.primaryKey())
    .addColumn('daemon_id', 'text', (c) => c.notNull())
    .addColumn('host_id', 'integer', (c) => c.notNull())
    .addColumn('job_id', 'integer', (c) => c.notNull())
    .addColumn('claimed_ms', 'integer', (c) => c.notNull())
    .addColumn('cancelled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('backup_claims_daemon').on('backup_claims').column('daemon_id').execute();
  await db.schema
    .alterTable('run_tasks')
    .addColumn('daemon', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0010-daemons cannot be reverted');
}
