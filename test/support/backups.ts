/** Backups and restores through the real CLI, as the e2e tests check them: `--wait`, one disk restored into a temp dir. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cleanup, type RunningDaemon, runCli, tempDir } from './daemon.js';

export const sha256File = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');

/** `onevm backup --wait`, which must succeed; returns the image ID it reports. */
export async function backupVm(d: RunningDaemon, vm: number, ds: number): Promise<string> {
  const r = await runCli('onevm', ['backup', String(vm), '-d', String(ds), '--wait'], d);
  assert.equal(r.code, 0, r.stderr);
  const m = /backup done, image (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1] as string;
}

/** `oneimage restore --disk-id 0` into a temp dir: its exit code, stderr and the disk's SHA-256 when written. */
export async function restoreDisk0(
  d: RunningDaemon,
  image: string,
): Promise<{ code: number; stdout: string; stderr: string; sha?: string }> {
  const to = tempDir('onebackup-restore-');
  try {
    const r = await runCli('oneimage', ['restore', image, '--disk-id', '0', '--to', to], d);
    const file = /DISK 0: (\S+)/.exec(r.stdout)?.[1];
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, ...(file ? { sha: sha256File(file) } : {}) };
  } finally {
    cleanup(to);
  }
}

/** The image's BACKUP_COPY vector for a copy target, as `oneimage show -x` has it. */
export async function backupCopyOf(
  d: RunningDaemon,
  image: string,
  target: number,
): Promise<Record<string, string> | undefined> {
  const xml = (await runCli('oneimage', ['show', image, '-x'], d)).stdout;
  for (const m of xml.matchAll(/<BACKUP_COPY>([\s\S]*?)<\/BACKUP_COPY>/g)) {
    const fields = Object.fromEntries(
      [...(m[1] as string).matchAll(/<(\w+)>(?:<!\[CDATA\[)?([\s\S]*?)(?:\]\]>)?<\/\1>/g)].map((f) => [
        f[1] as string,
        f[2] as string,
      ]),
    );
    if (fields['DATASTORE_ID'] === String(target)) return fields;
  }
  return undefined;
}
