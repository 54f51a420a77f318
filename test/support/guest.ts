/**
 * A real QEMU guest that writes to its disk while it is backed up (../shared/LIVE-VMS.md): Debian's
 * kernel, an initramfs whose init is test/support/guest/writer.c (built here with gcc -static),
 * run under TCG with a QMP socket and a guest agent channel. The writer's records make the disk
 * after writes 1..M computable, so `checkInstant` can tell a disk of one instant from a mix.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './daemon.js';

export const BLOCK = 64 * 1024;
const MODULES: readonly [string, string][] = [
  ['virtio', 'virtio_ring'],
  ['virtio', 'virtio'],
  ['virtio', 'virtio_pci_modern_dev'],
  ['virtio', 'virtio_pci_legacy_dev'],
  ['virtio', 'virtio_pci'],
  ['block', 'virtio_blk'],
  ['char', 'virtio_console'],
];

/** Why live-VM tests cannot run here (tools missing), or undefined. */
export function guestUnavailable(): string | undefined {
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'gcc', 'cpio']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (.ci/run installs it)`;
    }
  }
  if (kernelVersion() === undefined) return 'no kernel in /boot (Debian package linux-image-amd64)';
  return undefined;
}

function kernelVersion(): string | undefined {
  const k = existsSync('/boot') ? readdirSync('/boot').find((f) => f.startsWith('vmlinuz-')) : undefined;
  return k?.slice('vmlinuz-'.length);
}

/** Builds (once per writer source and kernel) the guest's initramfs; returns kernel and initrd paths. */
export function buildGuest(): { kernel: string; initrd: string } {
  const version = kernelVersion();
  if (!version) throw new Error('no kernel in /boot');
  const source = join(REPO, 'test', 'support', 'guest', 'writer.c');
  const hash = createHash('sha256').update(readFileSync(source)).update(version).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `onebackup-guest-${hash}`);
  const initrd = join(dir, 'initrd.gz');
  const kernel = `/boot/vmlinuz-${version}`;
  if (existsSync(initrd)) return { kernel, initrd };
  const root = join(dir, `root-${process.pid}`);
  mkdirSync(join(root, 'modules'), { recursive: true });
  execFileSync('gcc', ['-static', '-O2', '-o', join(root, 'init'), source]);
  for (const [sub, name] of MODULES) {
    const ko = join('/lib/modules', version, 'kernel', 'drivers', sub, `${name}.ko`);
    if (existsSync(ko)) copyFileSync(ko, join(root, 'modules', `${name}.ko`));
    else if (existsSync(`${ko}.xz`)) {
      writeFileSync(join(root, 'modules', `${name}.ko`), execFileSync('xz', ['-dc', `${ko}.xz`]));
    } else throw new Error(`kernel module ${name} not found under /lib/modules/${version}`);
  }
  const partial = `${initrd}.${process.pid}`;
  execFileSync('sh', ['-c', `cd '${root}' && find . | cpio -o -H newc 2>/dev/null | gzip -1 > '${partial}'`]);
  renameSync(partial, initrd);
  return { kernel, initrd };
}

export interface GuestOptions {
  readonly dir: string;
  readonly disk: string;
  readonly format: 'raw' | 'qcow2';
  /** Blocks of 64 KiB the writer cycles over (from the start of the disk). */
  readonly blocks: number;
  readonly stride?: number;
  /** Pause between records, in microseconds (slows the writer so increments stay small). */
  readonly delayUs?: number;
  /** The guest agent answers a freeze this long after freezing. */
  readonly freezeDelayMs?: number;
  /** A second, raw disk attached as a second device (not written by the guest). */
  readonly extraDisk?: string;
}

export interface Guest {
  readonly qmpSocket: string;
  readonly agentSocket: string;
  readonly stride: number;
  /** The highest record number the guest printed so far (it prints every 100). */
  seq(): number;
  waitSeq(atLeast: number, timeoutMs?: number): Promise<void>;
  /** Lines the guest printed. */
  console(): string;
  stop(): Promise<void>;
}

/** Boots the writing guest; resolves once it has written its first records. */
export async function startGuest(o: GuestOptions): Promise<Guest> {
  const { kernel, initrd } = buildGuest();
  const stride = o.stride ?? 97;
  const qmpSocket = join(o.dir, 'qmp.sock');
  const agentSocket = join(o.dir, 'agent.sock');
  // no_timer_check: under TCG on a loaded machine the kernel's IO-APIC timer check can panic at boot.
  const append = `console=ttyS0 quiet no_timer_check writer.blocks=${o.blocks} writer.stride=${stride} writer.delay_us=${o.delayUs ?? 0} writer.freeze_delay_ms=${o.freezeDelayMs ?? 0}`;
  const child = spawn(
    'qemu-system-x86_64',
    [
      ...['-accel', 'tcg', '-m', '256', '-nodefaults', '-display', 'none', '-serial', 'stdio'],
      ...['-kernel', kernel, '-initrd', initrd, '-append', append],
      ...['-qmp', `unix:${qmpSocket},server=on,wait=off`],
      ...['-blockdev', `driver=file,filename=${o.disk},node-name=file0`],
      ...['-blockdev', `driver=${o.format},file=file0,node-name=disk0`],
      ...['-device', 'virtio-blk-pci,drive=disk0,id=vd0'],
      ...(o.extraDisk
        ? [
            ...['-blockdev', `driver=file,filename=${o.extraDisk},node-name=file1`],
            ...['-blockdev', 'driver=raw,file=file1,node-name=disk1'],
            // share-rw: tests write to it from outside through QMP (qemu-io).
            ...['-device', 'virtio-blk-pci,drive=disk1,id=vd1,share-rw=on'],
          ]
        : []),
      ...['-device', 'virtio-serial', '-chardev', `socket,path=${agentSocket},server=on,wait=off,id=qga0`],
      ...['-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let seq = 0;
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const m of out.matchAll(/writer: seq (\d+)/g)) seq = Math.max(seq, Number(m[1]));
    for (const w of waiters) w();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const guest: Guest = {
    qmpSocket,
    agentSocket,
    stride,
    seq: () => seq,
    console: () => out,
    async waitSeq(atLeast, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (seq < atLeast) {
        if (child.exitCode !== null) throw new Error(`the guest exited: ${out}`);
        if (Date.now() > deadline) throw new Error(`the guest wrote ${seq} records, not ${atLeast}: ${out}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(t);
            resolve();
          };
          const t = setTimeout(wake, 500);
          waiters.add(wake);
        });
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  try {
    await guest.waitSeq(100);
  } catch (err) {
    await guest.stop();
    throw err;
  }
  return guest;
}

/** A disk image's guest bytes (qcow2 converted with qemu-img). */
export function rawBytes(path: string, format: 'raw' | 'qcow2', scratch: string): Buffer {
  if (format === 'raw') return readFileSync(path);
  const raw = join(scratch, `converted-${process.pid}-${Date.now()}.raw`);
  execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', path, raw]);
  return readFileSync(raw);
}

/**
 * Checks that `disk` is the guest's disk after writes 1..M for one M (the highest record in it),
 * starting from `initial` (the disk before the guest booted). Returns M; throws with the first
 * block that shows a different instant.
 */
export function checkInstant(disk: Buffer, initial: Buffer, blocks: number, stride: number): number {
  if (disk.length !== initial.length) throw new Error(`disk is ${disk.length} bytes, not ${initial.length}`);
  let m = 0;
  for (let b = 0; b < blocks; b++) {
    const at = b * BLOCK;
    if (disk.toString('latin1', at, at + 4) === 'OBKW') m = Math.max(m, Number(disk.readBigUInt64LE(at + 8)));
  }
  const expected = Buffer.from(initial);
  const record = Buffer.alloc(BLOCK);
  for (let k = Math.max(1, m - blocks + 1); k <= m; k++) {
    const block = (k * stride) % blocks;
    for (let i = 0; i < BLOCK; i += 16) {
      record.write('OBKW', i, 'latin1');
      record.writeUInt32LE(block, i + 4);
      record.writeBigUInt64LE(BigInt(k), i + 8);
    }
    record.copy(expected, block * BLOCK);
  }
  if (!disk.equals(expected)) {
    let at = 0;
    while (disk[at] === expected[at]) at++;
    const block = Math.floor(at / BLOCK);
    const found =
      disk.toString('latin1', block * BLOCK, block * BLOCK + 4) === 'OBKW'
        ? `record ${disk.readBigUInt64LE(block * BLOCK + 8)}`
        : 'other data';
    throw new Error(
      `disk differs from the disk after writes 1..${m} at byte ${at} (block ${block}: ${found}): not one instant`,
    );
  }
  return m;
}

const VIRSH = ['-q', '-c', 'qemu:///system'];

/** Why libvirt tests cannot run here, or undefined; starts virtlogd and libvirtd when root and idle. */
export async function libvirtUnavailable(): Promise<string | undefined> {
  const missing = guestUnavailable();
  if (missing) return missing;
  try {
    execFileSync('sh', ['-c', 'command -v virsh && command -v libvirtd'], { stdio: 'ignore' });
  } catch {
    return 'libvirt is not installed (.ci/run installs libvirt-daemon-system)';
  }
  const up = () => {
    try {
      execFileSync('virsh', [...VIRSH, 'version'], { stdio: 'ignore', timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  };
  if (up()) return undefined;
  if (process.getuid?.() !== 0) return 'libvirtd is not running and the tests are not root';
  // In a container nothing starts them (../shared/LIVE-VMS.md).
  execFileSync('sh', [
    '-c',
    'pgrep -x virtlogd >/dev/null || virtlogd -d; pgrep -x libvirtd >/dev/null || libvirtd -d',
  ]);
  for (let i = 0; i < 50 && !up(); i++) await new Promise((r) => setTimeout(r, 200));
  return up() ? undefined : 'libvirtd did not start';
}

export interface LibvirtGuest extends Guest {
  readonly domain: string;
}

/**
 * The writing guest as a libvirt domain (type qemu: TCG), its console in a file, a guest agent
 * channel libvirt manages. `dir` and the disk must be reachable by the QEMU user (mode 0755).
 */
export async function startLibvirtGuest(
  o: GuestOptions & { readonly domain: string },
): Promise<LibvirtGuest> {
  const { kernel, initrd } = buildGuest();
  const stride = o.stride ?? 97;
  const consoleLog = join(o.dir, `${o.domain}.console.log`);
  const cmdline = `console=ttyS0 quiet no_timer_check writer.blocks=${o.blocks} writer.stride=${stride} writer.delay_us=${o.delayUs ?? 0} writer.freeze_delay_ms=${o.freezeDelayMs ?? 0}`;
  const disk = (path: string, format: string, dev: string) =>
    `<disk type='file' device='disk'><driver name='qemu' type='${format}'/><source file='${path}'/><target dev='${dev}' bus='virtio'/></disk>`;
  const xml = `<domain type='qemu'><name>${o.domain}</name><memory unit='MiB'>256</memory>
<os><type arch='x86_64'>hvm</type><kernel>${kernel}</kernel><initrd>${initrd}</initrd><cmdline>${cmdline}</cmdline></os>
<devices>${disk(o.disk, o.format, 'vda')}${o.extraDisk ? disk(o.extraDisk, 'raw', 'vdb') : ''}
<serial type='file'><source path='${consoleLog}'/><target port='0'/></serial>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices></domain>`;
  const xmlPath = join(o.dir, `${o.domain}.xml`);
  writeFileSync(xmlPath, xml);
  execFileSync('virsh', [...VIRSH, 'define', xmlPath]);
  try {
    execFileSync('virsh', [...VIRSH, 'start', o.domain]);
  } catch (err) {
    execFileSync('virsh', [...VIRSH, 'undefine', o.domain], { stdio: 'ignore' });
    throw err;
  }
  const read = () => (existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : '');
  const seq = () => Math.max(0, ...[...read().matchAll(/writer: seq (\d+)/g)].map((m) => Number(m[1])));
  const guest: LibvirtGuest = {
    domain: o.domain,
    qmpSocket: '',
    agentSocket: '',
    stride,
    seq,
    console: read,
    async waitSeq(atLeast, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (seq() < atLeast) {
        if (Date.now() > deadline)
          throw new Error(`the guest wrote ${seq()} records, not ${atLeast}: ${read()}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    async stop() {
      for (const args of [
        ['destroy', o.domain],
        ['undefine', o.domain, '--checkpoints-metadata'],
      ]) {
        try {
          execFileSync('virsh', [...VIRSH, ...args], { stdio: 'ignore' });
        } catch {
          /* already gone */
        }
      }
    },
  };
  try {
    await guest.waitSeq(100);
  } catch (err) {
    await guest.stop();
    throw err;
  }
  return guest;
}
