import type { CreateTableBuilder, Kysely } from 'kysely';

// Portable DDL only (integer, text); no SQLite-only types, so a PostgreSQL dialect can run it.

function owned<T extends string>(t: CreateTableBuilder<T, never>) {
  return t
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('uid', 'integer', (c) => c.notNull())
    .addColumn('gid', 'integer', (c) => c.notNull())
    .addColumn('permissions', 'integer', (c) => c.notNull())
    .addColumn('lock_level', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lock_owner', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('lock_time', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lock_req_id', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('template', 'text', (c) => c.notNull().defaultTo('[]'));
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('pool_ids')
    .addColumn('pool', 'text', (c) => c.primaryKey())
    .addColumn('last_id', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('groups')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('template', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await db.schema
    .createTable('users')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('gid', 'integer', (c) => c.notNull().references('groups.id'))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('template', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await owned(db.schema.createTable('hosts'))
    .addColumn('vm_mad', 'text', (c) => c.notNull())
    .addUniqueConstraint('hosts_name', ['name'])
    .execute();
  await owned(db.schema.createTable('datastores'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('ds_mad', 'text', (c) => c.notNull())
    .addUniqueConstraint('datastores_name', ['name'])
    .execute();
  await owned(db.schema.createTable('vms'))
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('backup_job_id', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('stime', 'integer', (c) => c.notNull())
    .addColumn('backup_config', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema
    .createTable('vm_disks')
    .addColumn('vm_id', 'integer', (c) => c.notNull().references('vms.id').onDelete('cascade'))
    .addColumn('disk_id', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('vm_disks_pk', ['vm_id', 'disk_id'])
    .execute();
  await owned(db.schema.createTable('images'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('datastore_id', 'integer', (c) => c.notNull())
    .addColumn('vm_id', 'integer', (c) => c.notNull())
    .addColumn('backup_job_id', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('size_mb', 'integer', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('regtime', 'integer', (c) => c.notNull())
    .addColumn('state', 'integer', (c) => c.notNull())
    .execute();
  await owned(db.schema.createTable('backup_jobs'))
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('last_backup_time', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_backup_duration', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('outdated_since', 'integer', (c) => c.notNull().defaultTo(0))
    .addUniqueConstraint('backup_jobs_owner_name', ['uid', 'name'])
    .execute();
  await db.schema
    .createTable('job_vms')
    .addColumn('job_id', 'integer', (c) => c.notNull().references('backup_jobs.id').onDelete('cascade'))
    .addColumn('vm_id', 'integer', (c) => c.notNull())
    .addColumn('vm_set', 'text', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('changed', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('job_vms_pk', ['job_id', 'vm_id'])
    .execute();
  await db.schema.createIndex('job_vms_set').on('job_vms').columns(['vm_set', 'job_id']).execute();
  await db.schema
    .createTable('sched_actions')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('parent_id', 'integer', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('args', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('time', 'integer', (c) => c.notNull())
    .addColumn('repeat', 'integer', (c) => c.notNull())
    .addColumn('days', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('end_type', 'integer', (c) => c.notNull())
    .addColumn('end_value', 'integer', (c) => c.notNull())
    .addColumn('done', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('message', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('warning', 'integer')
    .execute();
  await db.schema
    .createIndex('sched_actions_parent')
    .on('sched_actions')
    .columns(['type', 'parent_id'])
    .execute();
  await db.schema
    .createTable('events')
    .addColumn('seq', 'integer', (c) => c.primaryKey())
    .addColumn('time', 'integer', (c) => c.notNull())
    .addColumn('object', 'text', (c) => c.notNull())
    .addColumn('object_id', 'integer', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0001-initial cannot be reverted');
}
