/** Groups of users. IDs come from the `groups` pool: oneadmin 0, users 1, new groups from 100. */
import { nextId, type Queryable, type Tx } from './db.js';
import type { GroupTable } from './schema.js';

export async function findGroup(db: Queryable, id: number): Promise<GroupTable | undefined> {
  return db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findGroupByName(db: Queryable, name: string): Promise<GroupTable | undefined> {
  return db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
}

/** Every group by ID, or only group `onlyId` when given. */
export async function listGroups(db: Queryable, onlyId?: number): Promise<GroupTable[]> {
  let q = db.selectFrom('groups').selectAll().orderBy('id');
  if (onlyId !== undefined) q = q.where('id', '=', onlyId);
  return q.execute();
}

/** A new group with the next ID of the pool (100 first); returns that ID. */
export async function insertGroup(trx: Tx, name: string): Promise<number> {
  const id = await nextId(trx, 'groups', 100);
  await trx.insertInto('groups').values({ id, name, template: '[]' }).execute();
  return id;
}
