/**
 * The ledger of a fault campaign: what each backup the daemon recorded should contain (the
 * SHA-256 of each disk's guest-visible bytes when that backup ran), and the check of the one
 * promise that matters: every backup the daemon lists restores bit-exact, or verify reports it
 * broken (when a fault destroyed its data). A listed backup that restores wrong, or fails to
 * restore while verify calls it good, or a recorded backup that vanished, is a loss.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseStringSync } from '../../cli/format/xml-read.js';
import type { RunningDaemon } from './daemon.js';
import { type DiskFormat, guestSha } from './disks.js';
import { rpc } from './rpc.js';

export interface ListedBackup {
  readonly imageId: number;
  readonly incId: number;
  readonly vmId: number;
  readonly datastoreId: number;
}

export interface Expected {
  readonly vmId: number;
  readonly datastoreId: number;
  readonly disks: readonly { readonly format: DiskFormat; readonly sha: string }[];
}

export interface CheckReport {
  checked: number;
  good: number;
  /** Restore failed and verify said so: data a fault destroyed, reported, not silent. */
  reportedBroken: number;
  losses: string[];
}

export const keyOf = (b: { imageId: number; incId: number }) => `${b.imageId}/${b.incId}`;

/** Every backup increment of every image, as oneadmin sees them (`oneimage list`). */
export async function listBackups(d: RunningDaemon): Promise<ListedBackup[]> {
  const [ok, body] = await rpc(d, 'one.imagepool.info', -2, -1, -1);
  if (ok !== true) throw new Error(`one.imagepool.info: ${String(body)}`);
  const out: ListedBackup[] = [];
  for (const image of parseStringSync(String(body)).children('IMAGE')) {
    const imageId = image.num('ID');
    const vmId = Number(image.child('VMS')?.text('ID') ?? -1);
    const datastoreId = image.num('DATASTORE_ID');
    for (const inc of image.child('BACKUP_INCREMENTS')?.children('INCREMENT') ?? [])
      out.push({ imageId, incId: inc.num('ID'), vmId, datastoreId });
  }
  return out;
}

export class Ledger {
  private readonly expected = new Map<string, Expected>();

  get size(): number {
    return this.expected.size;
  }

  /**
   * Records every listed backup the ledger does not know yet with what its VM's disks hold now
   * (callers change disks only while no backup runs, so that is what the backup read).
   * Returns the new ones.
   */
  adopt(listed: readonly ListedBackup[], current: (vmId: number) => Expected['disks']): ListedBackup[] {
    const fresh = listed.filter((b) => !this.expected.has(keyOf(b)));
    for (const b of fresh)
      this.expected.set(keyOf(b), { vmId: b.vmId, datastoreId: b.datastoreId, disks: current(b.vmId) });
    return fresh;
  }

  /** Drops an image's backups (deleted on purpose by the caller). */
  forgetImage(imageId: number): void {
    for (const key of [...this.expected.keys()]) if (key.startsWith(`${imageId}/`)) this.expected.delete(key);
  }

  /**
   * Restores each backup of `which` (default: every listed one) disk by disk into a scratch
   * directory and compares; when a restore fails, asks verify. Also reports ledger entries the
   * daemon no longer lists.
   */
  async check(
    d: RunningDaemon,
    scratchParent: string,
    which?: (b: ListedBackup) => boolean,
  ): Promise<CheckReport> {
    const report: CheckReport = { checked: 0, good: 0, reportedBroken: 0, losses: [] };
    const listed = await listBackups(d);
    const listedKeys = new Set(listed.map(keyOf));
    for (const key of this.expected.keys())
      if (!listedKeys.has(key)) report.losses.push(`backup ${key} (image/increment) is no longer listed`);
    for (const b of listed) {
      if (which && !which(b)) continue;
      const want = this.expected.get(keyOf(b));
      if (!want) {
        report.losses.push(`backup ${keyOf(b)} is listed but the ledger never saw it recorded`);
        continue;
      }
      report.checked++;
      const outcome = await checkOne(d, scratchParent, b, want);
      if (outcome === 'good') report.good++;
      else if (outcome === 'reported') report.reportedBroken++;
      else report.losses.push(outcome);
    }
    return report;
  }
}

/** 'good', 'reported' (restore failed, verify says broken), or the description of a loss. */
async function checkOne(
  d: RunningDaemon,
  scratchParent: string,
  b: ListedBackup,
  want: Expected,
): Promise<string> {
  const scratch = mkdtempSync(join(scratchParent, 'check-'));
  try {
    let failure = '';
    for (const [diskId, disk] of want.disks.entries()) {
      const [ok, body] = await rpc(
        d,
        'one.image.restore',
        b.imageId,
        -1,
        `INCREMENT_ID="${b.incId}"\nDISK_ID="${diskId}"\nTO="${scratch}"\n`,
      );
      if (ok !== true) {
        failure = `disk ${diskId}: ${String(body)}`;
        break;
      }
      const file = /DISK \d+: (\S+)/.exec(String(body))?.[1];
      if (!file) return `backup ${keyOf(b)} disk ${diskId}: restore answered ${String(body)}`;
      const got = guestSha(file, disk.format, scratch);
      rmSync(file, { force: true });
      if (got !== disk.sha)
        return `backup ${keyOf(b)} of VM ${b.vmId} disk ${diskId} restores WRONG data (sha ${got.slice(0, 12)}, want ${disk.sha.slice(0, 12)})`;
    }
    if (failure === '') return 'good';
    const [vok, verdict] = await rpc(d, 'one.image.verify', b.imageId, b.incId);
    if (vok === true && String(verdict).startsWith('OK'))
      return `backup ${keyOf(b)} of VM ${b.vmId} does not restore (${failure}) but verify says ${String(verdict)}`;
    return 'reported';
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
