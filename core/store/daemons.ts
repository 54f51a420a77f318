/**
 * Several onebackupd on one store (issue 15, item 3): membership, and the claims that make a VM
 * backup run on exactly one daemon within MAX_BACKUPS and MAX_BACKUPS_HOST counted over all.
 *
 * Times here are the database's clock (databaseNowMs), so daemons on machines whose clocks
 * differ agree on who is alive. A daemon is alive while its heartbeat is within the lease; the
 * leader requeues the claims of one past it (requeueClaimsOf), in one transaction, like the
 * requeue of a crash at start.
 */
import { sql } from 'kysely';
import type { Queryable, Store, Tx } from './db.js';
import type { BackupClaimTable, DaemonTable } from './schema.js';
import { setVmError } from './vms.js';

/** The database's clock in epoch milliseconds (one round trip). */
export async function databaseNowMs(db: Queryable, backend: Store['backend']): Promise<number> {
  const query =
    backend === 'postgresql'
      ? sql<{ ms: number }>`select (extract(epoch from clock_timestamp()) * 1000)::bigint as ms`
      : sql<{ ms: number }>`select cast((julianday('now') - 2440587.5) * 86400000.0 as integer) as ms`;
  const row = (await query.execute(db)).rows[0];
  if (!row) throw new Error('state database: no clock reading (bug)');
  return Number(row.ms);
}

export interface DaemonRow {
  readonly id: string;
  readonly name: string;
  readonly startedMs: number;
  readonly heartbeatMs: number;
  readonly leader: boolean;
  readonly url: string;
  readonly home: string;
}

function daemonRow(
  r: Pick<DaemonTable, 'id' | 'name' | 'started_ms' | 'heartbeat_ms'> & {
    leader: number;
    url: string;
    home: string;
  },
): DaemonRow {
  return {
    id: r.id,
    name: r.name,
    startedMs: r.started_ms,
    heartbeatMs: r.heartbeat_ms,
    leader: r.leader === 1,
    url: r.url,
    home: r.home,
  };
}

export async function registerDaemon(
  trx: Tx,
  d: { id: string; name: string; url: string; home: string; nowMs: number },
): Promise<void> {
  await trx
    .insertInto('daemons')
    .values({
      id: d.id,
      name: d.name,
      url: d.url,
      home: d.home,
      started_ms: d.nowMs,
      heartbeat_ms: d.nowMs,
      leader: 0,
    })
    .execute();
}

/** The daemon's heartbeat; false when its row is gone (its lease ran out and its claims were requeued). */
export async function beat(trx: Tx, id: string, nowMs: number, leader: boolean): Promise<boolean> {
  const r = await trx
    .updateTable('daemons')
    .set({ heartbeat_ms: nowMs, leader: leader ? 1 : 0 })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Makes `id` the one leader row (the others lost the leader lock). */
export async function markLeader(trx: Tx, id: string): Promise<void> {
  await trx.updateTable('daemons').set({ leader: 0 }).where('id', '!=', id).where('leader', '=', 1).execute();
  await trx.updateTable('daemons').set({ leader: 1 }).where('id', '=', id).execute();
}

export async function removeDaemon(trx: Tx, id: string): Promise<void> {
  await trx.deleteFrom('backup_claims').where('daemon_id', '=', id).execute();
  await trx.deleteFrom('daemons').where('id', '=', id).execute();
}

export async function listDaemons(db: Queryable): Promise<DaemonRow[]> {
  const rows = await db
    .selectFrom('daemons')
    .select(['id', 'name', 'started_ms', 'heartbeat_ms', 'leader', 'url', 'home'])
    .orderBy('started_ms')
    .execute();
  return rows.map(daemonRow);
}

/** Daemons other than `self` whose heartbeat is older than the lease. */
export async function expiredDaemons(
  db: Queryable,
  self: string,
  nowMs: number,
  leaseMs: number,
): Promise<DaemonRow[]> {
  return (await listDaemons(db)).filter((d) => d.id !== self && d.heartbeatMs < nowMs - leaseMs);
}

/** Every daemon row but `self` (SQLite: the state directory's lock says none of them runs). */
export async function otherDaemons(db: Queryable, self: string): Promise<DaemonRow[]> {
  return (await listDaemons(db)).filter((d) => d.id !== self);
}

export interface Claim {
  readonly vmId: number;
  readonly daemonId: string;
  readonly hostId: number;
  /** -1: `onevm backup` of a VM in no job. */
  readonly jobId: number;
  readonly claimedMs: number;
  readonly cancelled: boolean;
}

function claimOf(r: BackupClaimTable & { cancelled: number }): Claim {
  return {
    vmId: r.vm_id,
    daemonId: r.daemon_id,
    hostId: r.host_id,
    jobId: r.job_id,
    claimedMs: r.claimed_ms,
    cancelled: r.cancelled === 1,
  };
}

export async function listClaims(db: Queryable): Promise<Claim[]> {
  const rows = await db.selectFrom('backup_claims').selectAll().execute();
  return rows.map(claimOf);
}

export type ClaimOutcome =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly reason: string; readonly full: boolean };

/**
 * Claims a VM backup for `daemonId` when the slots counted over every daemon's claims allow it
 * (0 = unlimited); refused when the VM is claimed already or a limit is full.
 */
export async function claimBackup(
  trx: Tx,
  c: { vmId: number; daemonId: string; hostId: number; jobId: number; nowMs: number },
  limits: { maxBackups: number; maxBackupsHost: number },
): Promise<ClaimOutcome> {
  const taken = await trx
    .selectFrom('backup_claims')
    .leftJoin('daemons', 'daemons.id', 'backup_claims.daemon_id')
    .select(['backup_claims.daemon_id', 'daemons.name'])
    .where('backup_claims.vm_id', '=', c.vmId)
    .executeTakeFirst();
  if (taken)
    return {
      claimed: false,
      full: false,
      reason: `a backup of it runs on ${taken.name ?? 'another daemon'}`,
    };
  if (limits.maxBackups > 0) {
    const all = await trx
      .selectFrom('backup_claims')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(all.n) >= limits.maxBackups)
      return { claimed: false, full: true, reason: `global slots ${all.n}/${limits.maxBackups}` };
  }
  if (limits.maxBackupsHost > 0) {
    const onHost = await trx
      .selectFrom('backup_claims')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('host_id', '=', c.hostId)
      .executeTakeFirstOrThrow();
    if (Number(onHost.n) >= limits.maxBackupsHost)
      return { claimed: false, full: true, reason: `host slots ${onHost.n}/${limits.maxBackupsHost}` };
  }
  await trx
    .insertInto('backup_claims')
    .values({
      vm_id: c.vmId,
      daemon_id: c.daemonId,
      host_id: c.hostId,
      job_id: c.jobId,
      claimed_ms: c.nowMs,
      cancelled: 0,
    })
    .execute();
  return { claimed: true };
}

/** SQLite at start: no other daemon runs (the state directory's lock), so no claim is live. */
export async function dropAllClaims(trx: Tx): Promise<void> {
  await trx.deleteFrom('backup_claims').execute();
}

/** Frees the daemon's claim of the VM; false when it no longer held it (its lease ran out). */
export async function releaseClaim(trx: Tx, vmId: number, daemonId: string): Promise<boolean> {
  const r = await trx
    .deleteFrom('backup_claims')
    .where('vm_id', '=', vmId)
    .where('daemon_id', '=', daemonId)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Whether the daemon still holds its claim of the VM (checked where a backup is recorded). */
export async function holdsClaim(db: Queryable, vmId: number, daemonId: string): Promise<boolean> {
  const row = await db
    .selectFrom('backup_claims')
    .select('vm_id')
    .where('vm_id', '=', vmId)
    .where('daemon_id', '=', daemonId)
    .executeTakeFirst();
  return row !== undefined;
}

/** A cancel on any daemon: the daemon holding each claim aborts that backup when it sees the mark. */
export async function cancelClaims(trx: Tx, vmIds: readonly number[]): Promise<number> {
  if (vmIds.length === 0) return 0;
  const r = await trx
    .updateTable('backup_claims')
    .set({ cancelled: 1 })
    .where('vm_id', 'in', [...vmIds])
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * The claims of daemons that are gone: backups of jobs go back to OUTDATED as after a crash
 * (requeueOngoing), a VM in no job gets an ERROR saying its backup was interrupted; the claims
 * and the daemons' rows are deleted. Returns the VMs of the claims.
 */
export async function releaseClaimsOf(
  trx: Tx,
  daemons: readonly DaemonRow[],
  requeueOngoing: (
    trx: Tx,
    vms: readonly { jobId: number; vmId: number }[],
    message: string,
  ) => Promise<void>,
  ctime: string,
  message?: string,
): Promise<number[]> {
  const vms: number[] = [];
  for (const d of daemons) {
    const claims = (
      await trx.selectFrom('backup_claims').selectAll().where('daemon_id', '=', d.id).execute()
    ).map(claimOf);
    const text = message ?? `interrupted: ${d.name} stopped answering during the backup`;
    await requeueOngoing(
      trx,
      claims.filter((c) => c.jobId >= 0).map((c) => ({ jobId: c.jobId, vmId: c.vmId })),
      text,
    );
    for (const c of claims.filter((c) => c.jobId < 0))
      await setVmError(trx, c.vmId, `${ctime} : [backup] ${text}`);
    vms.push(...claims.map((c) => c.vmId));
    await removeDaemon(trx, d.id);
  }
  return vms;
}
