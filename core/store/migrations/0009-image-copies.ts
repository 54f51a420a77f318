import type { Kysely } from 'kysely';

/**
 * A second copy of every backup (issue 12, item 4): per backup increment and copy target (the
 * primary datastore's COPY_DATASTORE_ID when the backup was recorded), whether it is copied,
 * pending or failed (with the reason, the time and when it is tried again), and rows whose
 * increment retention or `oneimage delete` dropped, until the copy's manifest is deleted from
 * the target. No foreign keys to the increment: a DROPPED row outlives it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('image_copies')
    .addColumn('image_id', 'integer', (c) => c.notNull())
    .addColumn('inc_id', 'integer', (c) => c.notNull())
    .addColumn('datastore_id', 'integer', (c) => c.notNull())
    .addColumn('vm_id', 'integer', (c) => c.notNull())
    .addColumn('source_datastore_id', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('queued_at', 'integer', (c) => c.notNull())
    .addColumn('time', 'integer', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_at', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('chunks_written', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_written', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('image_copies_pk', ['image_id', 'inc_id', 'datastore_id'])
    .execute();
  await db.schema
    .createIndex('image_copies_state')
    .on('image_copies')
    .columns(['state', 'next_at'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0008-image-copies cannot be reverted');
}
