import type { Kysely } from 'kysely';

/**
 * Scheduled verify (issue 10): per datastore with VERIFY_INTERVAL, when the next scheduled verify
 * is due and where the last one stopped on its budget (image, increment, chunk entry), so the
 * next run resumes there (and whether the image it stopped in was already found broken). Goes
 * with its datastore.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('verify_schedules')
    .addColumn('datastore_id', 'integer', (c) =>
      c.primaryKey().references('datastores.id').onDelete('cascade'),
    )
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('next_at', 'integer', (c) => c.notNull())
    .addColumn('image_id', 'integer')
    .addColumn('inc_id', 'integer')
    .addColumn('chunk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('carry_broken', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_run_at', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cycle_done_at', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0006-verify-schedule cannot be reverted');
}
