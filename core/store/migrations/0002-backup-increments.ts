import type { Kysely } from 'kysely';

/** Increments of backup images: one row per manifest (SPEC.md 6.1-6.4). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('image_increments')
    .addColumn('image_id', 'integer', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('inc_id', 'integer', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('size_mb', 'integer', (c) => c.notNull())
    .addColumn('date', 'integer', (c) => c.notNull())
    .addColumn('stats', 'text', (c) => c.notNull().defaultTo('{}'))
    .addPrimaryKeyConstraint('image_increments_pk', ['image_id', 'inc_id'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0002-backup-increments cannot be reverted');
}
