/**
 * Backups and restores of live VMs through the real CLIs, as the kvm e2e tests check them:
 * `onevm backup --wait`, one disk of one increment restored into a fresh directory, an image's
 * increments as `oneimage show -x` gives them, and a live-VM world (host kvm1, datastore 100).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type RunningDaemon, runCli, startDaemon } from './daemon.js';
import { checkInstant, rawBytes } from './guest.js';
import { rpcOk } from './rpc.js';

/** `onevm backup --wait` into datastore 100, which must succeed; the image ID it reports. */
export async function backupLive(d: RunningDaemon, vm: number): Promise<string> {
  // A whole read of a live VM's disks takes tens of seconds on a loaded machine.
  const r = await runCli('onevm', ['backup', String(vm), '-d', '100', '--wait'], d, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${d.logs().slice(-3000)}`);
  const m = /backup done, image (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1] as string;
}

/** `oneimage restore` of one disk (of one increment, default the last) into a new directory under `work`. */
export async function restoreLive(
  d: RunningDaemon,
  work: string,
  image: string,
  options: { readonly increment?: number; readonly disk?: number } = {},
): Promise<string> {
  const disk = options.disk ?? 0;
  const to = join(work, `restore-${image}-${randomBytes(3).toString('hex')}`);
  const increment = options.increment === undefined ? [] : ['--increment', String(options.increment)];
  const r = await runCli(
    'oneimage',
    ['restore', image, ...increment, '--disk-id', String(disk), '--to', to],
    d,
  );
  assert.equal(r.code, 0, r.stderr);
  const file = new RegExp(`DISK ${disk}: (\\S+)`).exec(r.stdout)?.[1];
  assert.ok(file, r.stdout);
  return file;
}

/** The INCREMENT elements of an image, as `oneimage show -x` gives them. */
export async function incrementsOf(d: RunningDaemon, image: string): Promise<string[]> {
  const r = await runCli('oneimage', ['show', image, '-x'], d);
  assert.equal(r.code, 0, r.stderr);
  return [...r.stdout.matchAll(/<INCREMENT>([\s\S]*?)<\/INCREMENT>/g)].map((m) => m[1] as string);
}

/** The text of the first `<name>` element in an XML fragment (CDATA or not). */
export const xmlField = (xml: string, name: string): string | undefined =>
  new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([^<\\]]*)`).exec(xml)?.[1];

/** A daemon with host kvm1 (VM_MAD kvm) and datastore 100, monitoring hosts every 2 s. */
export async function startLiveWorld(
  stateDir?: string,
  options: { readonly encrypted?: boolean } = {},
): Promise<RunningDaemon> {
  const conf = 'LOG_LEVEL = "debug"\nTIMEZONE = "UTC"\nMONITORING_INTERVAL_HOST = 2\n';
  const d = await startDaemon(stateDir === undefined ? { conf } : { stateDir, conf });
  await rpcOk(d, 'one.host.allocate', 'NAME="kvm1"\nTRANSPORT="local"\nVM_MAD="kvm"\n');
  await rpcOk(
    d,
    'one.datastore.allocate',
    `NAME="backups"\n${options.encrypted ? 'ENCRYPTION="YES"\n' : ''}`,
  );
  return d;
}

/**
 * Restores each of an image's first `count` increments (disk 0, qcow2) and checks it is the
 * guest's disk at one instant (checkInstant); the instants, in increment order.
 */
export async function restoredInstants(
  d: RunningDaemon,
  work: string,
  image: string,
  count: number,
  guest: { readonly initial: Buffer; readonly blocks: number; readonly stride: number },
): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++)
    seen.push(
      checkInstant(
        rawBytes(await restoreLive(d, work, image, { increment: i }), 'qcow2', work),
        guest.initial,
        guest.blocks,
        guest.stride,
      ),
    );
  return seen;
}
