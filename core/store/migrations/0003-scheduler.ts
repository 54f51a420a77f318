import type { Kysely } from 'kysely';

/**
 * The scheduler's state (issue 4): per-VM attempts and retry times, paused jobs, runs and their
 * tasks (accsyn's model), and the Freezer schedule kinds of SCHED_ACTION.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('job_vms')
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('job_vms')
    .addColumn('not_before', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('backup_jobs')
    .addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('sched_actions')
    .addColumn('interval', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('sched_actions')
    .addColumn('cron', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('sched_actions')
    .addColumn('anchor', 'integer', (c) => c.notNull().defaultTo(-1))
    .execute();
  await db.schema
    .createTable('job_runs')
    .addColumn('job_id', 'integer', (c) => c.notNull())
    .addColumn('run_id', 'integer', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('start_ms', 'integer', (c) => c.notNull())
    .addColumn('end_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('result', 'text', (c) => c.notNull().defaultTo(''))
    .addPrimaryKeyConstraint('job_runs_pk', ['job_id', 'run_id'])
    .execute();
  await db.schema
    .createTable('run_tasks')
    .addColumn('job_id', 'integer', (c) => c.notNull())
    .addColumn('run_id', 'integer', (c) => c.notNull())
    .addColumn('vm_id', 'integer', (c) => c.notNull())
    .addColumn('host_id', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('start_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('end_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('run_tasks_pk', ['job_id', 'run_id', 'vm_id'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0003-scheduler cannot be reverted');
}
