import type { Kysely } from 'kysely';

/**
 * Observability (issue 5): the log lines of each VM task of a run (`onebackupjob runs <job>
 * --log <vm>`), and the outcome of the last backup/restore of each VM and the last GC/verify of
 * each datastore, so the OpenNebula-compatible status gauges survive a restart.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('task_logs')
    .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('job_id', 'integer', (c) => c.notNull())
    .addColumn('run_id', 'integer', (c) => c.notNull())
    .addColumn('vm_id', 'integer', (c) => c.notNull())
    .addColumn('time_ms', 'integer', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('task_logs_task')
    .on('task_logs')
    .columns(['job_id', 'run_id', 'vm_id', 'seq'])
    .execute();
  await db.schema
    .createTable('last_outcomes')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('object_id', 'integer', (c) => c.notNull())
    .addColumn('ok', 'integer', (c) => c.notNull())
    .addColumn('time_ms', 'integer', (c) => c.notNull())
    .addColumn('last_ok_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('last_outcomes_pk', ['kind', 'object_id'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0004-observability cannot be reverted');
}
