import { epochSeconds } from '../clock.js';
import type { ChmodArgs, Requester } from '../permissions.js';
import type { ServiceDeps } from './context.js';
import {
  chmodObject,
  chownObject,
  lockObject,
  type OwnedTable,
  renameObject,
  unlockObject,
} from './objects.js';

export interface OwnedCalls {
  chmod(who: Requester, table: OwnedTable, id: number, args: ChmodArgs): Promise<void>;
  chown(who: Requester, table: OwnedTable, id: number, uid: number, gid: number): Promise<void>;
  rename(who: Requester, table: OwnedTable, id: number, name: string): Promise<void>;
  lock(who: Requester, table: OwnedTable, id: number, level: number, test: boolean): Promise<void>;
  unlock(who: Requester, table: OwnedTable, id: number): Promise<void>;
}

/** chmod, chown, rename, lock and unlock for every owned object kind, each one transaction. */
export function ownedCalls(deps: ServiceDeps): OwnedCalls {
  return {
    chmod: (who, table, id, args) => deps.store.tx((trx) => chmodObject(trx, who, table, id, args)),
    chown: (who, table, id, uid, gid) => deps.store.tx((trx) => chownObject(trx, who, table, id, uid, gid)),
    lock: (who, table, id, level, test) =>
      deps.store.tx((trx) => lockObject(trx, who, table, id, level, test, epochSeconds(deps.clock))),
    unlock: (who, table, id) => deps.store.tx((trx) => unlockObject(trx, who, table, id)),
    rename: (who, table: OwnedTable, id, name) =>
      deps.store.tx((trx) =>
        renameObject(trx, who, table, id, name, async (t, row, newName) => {
          // Backup job and VM names are unique per owner; host and datastore names everywhere.
          let q = t
            .selectFrom(table as 'hosts')
            .select('id')
            .where('name', '=', newName)
            .where('id', '!=', row.id);
          if (table === 'backup_jobs' || table === 'vms' || table === 'images')
            q = q.where('uid', '=', row.uid);
          return (await q.executeTakeFirst())?.id;
        }),
      ),
  };
}
