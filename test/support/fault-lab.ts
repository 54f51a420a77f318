/**
 * A fault lab: a real onebackupd on its own state directory, VMs with real raw and qcow2 disks
 * of known content, a plain and an encrypted datastore (and, when the kernel lets us mount one,
 * a small tmpfs datastore for ENOSPC), the ledger of what each backup holds, and the faults that
 * need the daemon: kill -9 during backups and restores, a deleted key (and its re-import from the
 * export made at setup), a filled filesystem. Shared by test/e2e/fault-campaign.test.ts and
 * `npm run faults` (scripts/faults.mjs).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStringSync } from '../../cli/format/xml-read.js';
import { cleanup, type RunningDaemon, startDaemon, tempDir } from './daemon.js';
import {
  type DiskFormat,
  guestSha,
  type KnownDisk,
  MiB,
  makeKnownDisk,
  pick,
  prng,
  scribble,
} from './disks.js';
import { type Expected, Ledger, listBackups } from './ledger.js';
import { rpc, rpcOk } from './rpc.js';

export const PASSPHRASE = 'fault-campaign-passphrase';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LabDatastore {
  readonly id: number;
  readonly name: string;
  readonly base: string;
  readonly encrypted: boolean;
  /** The key exported at setup (encrypted datastores), to install again after a deleted key. */
  readonly wrappedKey?: string;
  /** The tmpfs mount point holding `base`, for ENOSPC. */
  readonly mount?: string;
}

export interface LabOptions {
  readonly seed: number;
  readonly vmCount: number;
  /** Size of each disk; the raw one gets `dataMiB` of random data, the qcow2 one patterns. */
  readonly diskMiB: number;
  readonly dataMiB: number;
  /** Size of the tmpfs datastore; 0 or absent: none. */
  readonly tmpfsMiB?: number;
}

const CONF = 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 3\nWORKERS = 1\nSHUTDOWN_GRACE = 0\n';

export class FaultLab {
  d!: RunningDaemon;
  readonly random: () => number;
  readonly ledger = new Ledger();
  readonly vms = new Map<number, KnownDisk[]>();
  readonly datastores: LabDatastore[] = [];
  /** Why the tmpfs datastore is missing, when it is. */
  tmpfsRefused = '';
  private mounted = '';
  private readonly shas = new Map<number, Expected['disks']>();

  private constructor(
    readonly dir: string,
    readonly work: string,
    readonly seed: number,
  ) {
    this.random = prng(seed);
  }

  static async open(o: LabOptions): Promise<FaultLab> {
    const lab = new FaultLab(tempDir('onebackup-faults-state-'), tempDir('onebackup-faults-'), o.seed);
    try {
      await lab.setUp(o);
    } catch (err) {
      await lab.close();
      throw err;
    }
    return lab;
  }

  private async setUp(o: LabOptions): Promise<void> {
    this.d = await startDaemon({ stateDir: this.dir, conf: CONF });
    await rpcOk(this.d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
    await this.addDatastore('plain', join(this.work, 'plain'), false);
    await this.addDatastore('secret', join(this.work, 'secret'), true);
    if (o.tmpfsMiB) {
      const mount = join(this.work, 'tmpfs');
      mkdirSync(mount);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${o.tmpfsMiB}M`, 'tmpfs', mount], {
          stdio: 'pipe',
        });
        this.mounted = mount;
        await this.addDatastore('small', join(mount, 'ds'), false, mount);
      } catch (err) {
        this.tmpfsRefused = String((err as { stderr?: Buffer }).stderr ?? err).trim();
      }
    }
    mkdirSync(join(this.work, 'vms'));
    mkdirSync(join(this.work, 'scratch'));
    for (let i = 0; i < o.vmCount; i++) {
      const base = join(this.work, 'vms', `vm${i}`);
      const disks = [
        makeKnownDisk(`${base}.raw`, 'raw', o.diskMiB, o.dataMiB, this.random),
        makeKnownDisk(`${base}.qcow2`, 'qcow2', o.diskMiB, Math.min(2, o.dataMiB), this.random),
      ];
      const id = Number(
        await rpcOk(
          this.d,
          'one.vm.allocate',
          `NAME="fvm${i}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disks[0]?.path}"]\n` +
            `DISK=[SOURCE="${disks[1]?.path}", FORMAT="qcow2"]\n`,
        ),
      );
      this.vms.set(id, disks);
      this.hashDisks(id);
    }
  }

  private async addDatastore(name: string, base: string, encrypted: boolean, mount?: string): Promise<void> {
    const id = Number(
      await rpcOk(
        this.d,
        'one.datastore.allocate',
        `NAME="${name}"\nBASE_PATH="${base}"\n${encrypted ? 'ENCRYPTION="YES"\n' : ''}`,
      ),
    );
    const wrappedKey = encrypted
      ? String(await rpcOk(this.d, 'one.datastore.keyexport', id, PASSPHRASE))
      : undefined;
    this.datastores.push({
      id,
      name,
      base,
      encrypted,
      ...(wrappedKey ? { wrappedKey } : {}),
      ...(mount ? { mount } : {}),
    });
  }

  get scratch(): string {
    return join(this.work, 'scratch');
  }

  datastore(name: string): LabDatastore {
    const ds = this.datastores.find((s) => s.name === name);
    if (!ds) throw new Error(`no datastore ${name} in this lab (${this.tmpfsRefused})`);
    return ds;
  }

  private hashDisks(vm: number): void {
    const disks = this.vms.get(vm) ?? [];
    this.shas.set(
      vm,
      disks.map((k) => ({ format: k.format as DiskFormat, sha: guestSha(k.path, k.format, this.scratch) })),
    );
  }

  /** New data in some disks of `vm` (call only while no backup of it runs). */
  changeDisks(vm: number): void {
    for (const disk of this.vms.get(vm) ?? []) if (this.random() < 0.7) scribble(disk, this.random);
    this.hashDisks(vm);
  }

  /** Asks for a backup of each VM into `ds`; returns what the daemon answered per VM. */
  async backup(vms: readonly number[], ds: number, reset = false): Promise<string[]> {
    const answers: string[] = [];
    for (const vm of vms) {
      const [ok, body] = await rpc(this.d, 'one.vm.backup', vm, ds, reset);
      answers.push(ok === true ? `VM ${vm}: queued` : `VM ${vm}: ${String(body)}`);
    }
    return answers;
  }

  /** Bytes done of the backups running now. */
  async backupProgress(): Promise<{ running: number; halfway: boolean }> {
    let running = 0;
    let halfway = false;
    for (const vm of this.vms.keys()) {
      const doc = parseStringSync(String(await rpcOk(this.d, 'one.vm.info', vm, false)));
      const p = doc.child('BACKUPS')?.child('BACKUP_PROGRESS');
      if (!p) continue;
      running++;
      const done = p.num('BYTES_DONE');
      if (done > 0 && done < p.num('BYTES_TOTAL')) halfway = true;
    }
    return { running, halfway };
  }

  /** Waits until no VM has a backup queued or running (after a restart too), then records new backups. */
  async settle(deadlineMs = 90_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    for (let idle = 0; idle < 2; ) {
      idle = (await this.backupProgress()).running === 0 ? idle + 1 : 0;
      if (Date.now() > deadline) throw new Error(`backups still running after ${deadlineMs} ms`);
      await sleep(100);
    }
    this.ledger.adopt(await listBackups(this.d), (vm) => this.shas.get(vm) ?? []);
  }

  /** kill -9 now and start again on the same state directory. */
  async restart(): Promise<void> {
    await this.d.stop('SIGKILL');
    this.d = await startDaemon({ stateDir: this.dir, conf: CONF });
  }

  /** Starts restores of random listed backups and kills the daemon `delayMs` later; restarts it. */
  async killDuringRestores(count: number, delayMs: number): Promise<string> {
    const listed = await listBackups(this.d);
    if (listed.length === 0) return 'no backup to restore';
    const to = join(this.work, `restore-${Date.now()}`);
    mkdirSync(to);
    const calls = Array.from({ length: count }, () => {
      const b = pick(this.random, listed);
      return rpc(this.d, 'one.image.restore', b.imageId, -1, `INCREMENT_ID="${b.incId}"\nTO="${to}"\n`).then(
        ([ok]) => (ok === true ? 'finished' : 'failed'),
        () => 'cut',
      );
    });
    await sleep(delayMs);
    await this.restart();
    const outcomes = await Promise.all(calls);
    rmSync(to, { recursive: true, force: true });
    return `${count} restores, kill -9 after ${delayMs} ms: ${outcomes.join(', ')}`;
  }

  /** Deletes a datastore's key file. */
  deleteKey(ds: LabDatastore): string {
    rmSync(join(this.dir, 'keys', `datastore-${ds.id}.key`), { force: true });
    return `deleted the key of datastore ${ds.id}`;
  }

  /** Installs the key exported at setup again (the documented way back). */
  async reimportKey(ds: LabDatastore): Promise<void> {
    await rpcOk(this.d, 'one.datastore.keyimport', ds.id, ds.wrappedKey ?? '', PASSPHRASE);
  }

  /** Fills a tmpfs datastore's filesystem, leaving about `leaveMiB` free. */
  fill(ds: LabDatastore, leaveMiB: number): string {
    if (!ds.mount) throw new Error(`datastore ${ds.id} is not on a tmpfs`);
    const free = statfsSync(ds.mount).bavail * statfsSync(ds.mount).bsize;
    const size = Math.max(0, free - leaveMiB * MiB);
    writeFileSync(join(ds.mount, 'filler'), Buffer.alloc(size, 1));
    return `filled datastore ${ds.id}'s filesystem to ${leaveMiB} MiB free`;
  }

  unfill(ds: LabDatastore): void {
    if (ds.mount) rmSync(join(ds.mount, 'filler'), { force: true });
  }

  async close(): Promise<void> {
    await this.d?.stop('SIGKILL');
    if (this.mounted) execFileSync('umount', ['-l', this.mounted], { stdio: 'ignore' });
    cleanup(this.dir);
    cleanup(this.work);
  }
}
