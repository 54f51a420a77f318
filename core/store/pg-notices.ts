/**
 * Change notices between daemons on PostgreSQL: triggers send `pg_notify('onebackup', ...)` for
 * every row a transaction changes in the tables other daemons keep state from, delivered at
 * commit (never for a rollback), duplicates within a transaction folded by PostgreSQL. Each
 * payload ends with the sending connection's application_name, so a daemon skips its own.
 *   job_vms, backup_jobs  -> `job:<id>`    (sets, priority, pause, BACKUP_VMS...)
 *   backup_claims         -> `claims`      (a slot taken or freed, a cancel)
 *   sched_actions, verify_schedules, datastores -> `schedules`
 *   image_copies          -> `copies`
 * Installed after the migrations by every daemon (idempotent, under the write lock).
 */
import { sql } from 'kysely';
import type { Db } from './db.js';
import { NOTICE_CHANNEL } from './pg-coordination.js';

const NOTICES: readonly (readonly [table: string, notice: string])[] = [
  ['job_vms', `'job:' || (case when TG_OP = 'DELETE' then OLD.job_id else NEW.job_id end)`],
  ['backup_jobs', `'job:' || (case when TG_OP = 'DELETE' then OLD.id else NEW.id end)`],
  ['backup_claims', `'claims'`],
  ['sched_actions', `'schedules'`],
  ['verify_schedules', `'schedules'`],
  ['datastores', `'schedules'`],
  ['image_copies', `'copies'`],
];

export async function installNotices(db: Db, writeLock: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(writeLock)})`.execute(trx);
    for (const [table, notice] of NOTICES) {
      const fn = `onebackup_notice_${table}`;
      await sql
        .raw(
          `create or replace function ${fn}() returns trigger language plpgsql as $$
           begin
             perform pg_notify('${NOTICE_CHANNEL}', ${notice} || ' ' || current_setting('application_name'));
             return null;
           end $$`,
        )
        .execute(trx);
      await sql.raw(`drop trigger if exists ${fn} on ${table}`).execute(trx);
      await sql
        .raw(
          `create trigger ${fn} after insert or update or delete on ${table} for each row execute function ${fn}()`,
        )
        .execute(trx);
    }
  });
}
