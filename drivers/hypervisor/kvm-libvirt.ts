/**
 * A libvirt domain's point in time (OpenNebula's DEPLOY_ID): libvirt's own pull-mode backup API
 * (`virsh backup-begin` with a checkpoint), which fleeces the disks and exports them over NBD on
 * a Unix socket; an increment names the previous backup's checkpoint and reads the
 * `qemu:dirty-bitmap:backup-<target>` context. The socket and scratch files live in a directory
 * of the daemon's scratch space owned by the QEMU user (libvirt runs QEMU as `libvirt-qemu`).
 * Everything is named `onebackup-*`, so `recoverLibvirt` finds what a crash left.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseStringPromise } from 'xml2js';
import { execFileOffThread } from './exec-thread.js';
import { type Freezer, thawLeftover, withFreeze } from './kvm-freeze.js';
import { dirtyExtents, type LiveDisk, PREFIX } from './kvm-qmp.js';
import { NbdClient } from './nbd-client.js';
import {
  type ChangedBlocks,
  type Consistency,
  PermanentDriverError,
  type PointInTime,
  type PrepareOptions,
  type VmSpec,
} from './types.js';

const DEFAULT_URI = 'qemu:///system';
const RUN_DIR = '/run/onebackup';

export interface LibvirtPointInTime extends PointInTime {
  readonly kind: 'libvirt';
  readonly uri: string;
  readonly domain: string;
  readonly live: readonly LiveDisk[];
  readonly dir: string;
  /** Undefined when a disk cannot keep a checkpoint (not qcow2). */
  readonly checkpoint: string | undefined;
  readonly base: string | undefined;
  readonly changes: ReadonlyMap<number, ChangedBlocks>;
  readonly consistency: Consistency;
}

/** A disk of a domain, from its XML. */
export interface DomainDisk {
  readonly target: string;
  readonly source: string;
  readonly format: string;
}

export function uriOf(vm: VmSpec): string {
  return vm.location?.libvirtUri ?? DEFAULT_URI;
}

export async function virsh(uri: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileOffThread('virsh', ['-q', '-c', uri, ...args], { maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { code?: string | number; stderr?: string };
    if (e.code === 'ENOENT')
      throw new PermanentDriverError('virsh is not installed (Debian package libvirt-clients)');
    throw new Error(`virsh ${args[0] ?? ''}: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** RUNNING for any domain with a QEMU process (running, paused, ...), POWEROFF when shut off. */
export async function domainState(uri: string, domain: string): Promise<'RUNNING' | 'POWEROFF'> {
  const state = (await virsh(uri, ['domstate', domain])).trim();
  return state === 'shut off' || state === 'crashed' ? 'POWEROFF' : 'RUNNING';
}

interface DiskXml {
  $?: { device?: string; type?: string };
  driver?: { $?: { type?: string } }[];
  source?: { $?: { file?: string; dev?: string } }[];
  target?: { $?: { dev?: string } }[];
}

/** The file-backed disks of a domain (device="disk"), from `virsh dumpxml`. */
export async function domainDisks(uri: string, domain: string): Promise<DomainDisk[]> {
  const xml = await virsh(uri, ['dumpxml', domain]);
  const parsed = (await parseStringPromise(xml)) as {
    domain?: { devices?: { disk?: DiskXml[] }[] };
  };
  const out: DomainDisk[] = [];
  for (const d of parsed.domain?.devices?.[0]?.disk ?? []) {
    if ((d.$?.device ?? 'disk') !== 'disk') continue;
    const source = d.source?.[0]?.$?.file ?? d.source?.[0]?.$?.dev;
    const target = d.target?.[0]?.$?.dev;
    if (!source || !target) continue;
    out.push({ target, source, format: d.driver?.[0]?.$?.type ?? 'raw' });
  }
  return out;
}

async function checkpoints(uri: string, domain: string): Promise<string[]> {
  return (await virsh(uri, ['checkpoint-list', domain, '--name']))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

function libvirtFreezer(uri: string, domain: string): Freezer {
  return {
    freeze: async (kind) => {
      await virsh(uri, kind === 'AGENT' ? ['domfsfreeze', domain] : ['suspend', domain]);
    },
    thaw: async (kind) => {
      await virsh(uri, kind === 'AGENT' ? ['domfsthaw', domain] : ['resume', domain]);
    },
  };
}

/** The uid and gid libvirt runs QEMU as (qemu.conf's default user), if this system has it. */
async function qemuUser(): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const name of ['libvirt-qemu', 'qemu']) {
    const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
    const f = line?.split(':');
    if (f && f.length > 3) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/**
 * Where libvirt's QEMU puts a backup's NBD socket and scratch files: QEMU runs as its own user,
 * which cannot enter the daemon's state directory (mode 0700). As root: a directory under
 * /run/onebackup (mode 0711: enterable, not listable) per daemon state directory, and in it one
 * per VM, owned by the QEMU user, mode 0700. Otherwise: the scratch directory itself (then the
 * daemon's user must be the one QEMU runs as).
 */
function exportDirOf(scratchDir: string, vmId: number): string {
  if (process.getuid?.() !== 0) return join(scratchDir, `vm${vmId}-libvirt`);
  const daemon = createHash('sha256').update(scratchDir).digest('hex').slice(0, 12);
  return join(RUN_DIR, daemon, `vm${vmId}`);
}

async function exportDir(scratchDir: string, vmId: number): Promise<string> {
  const dir = exportDirOf(scratchDir, vmId);
  await rm(dir, { recursive: true, force: true });
  if (process.getuid?.() === 0) {
    await mkdir(join(dir, '..'), { recursive: true, mode: 0o711 });
    await chmod(RUN_DIR, 0o711);
    await chmod(join(dir, '..'), 0o711);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const user = process.getuid?.() === 0 ? await qemuUser() : undefined;
  if (user) await chown(dir, user.uid, user.gid);
  return dir;
}

async function ignoring(p: Promise<unknown>): Promise<void> {
  await p.catch(() => undefined);
}

/** Whether a backup job runs on the domain (ours, if it is one a crash left). */
async function backupJobRunning(uri: string, domain: string): Promise<boolean> {
  const info = await virsh(uri, ['domjobinfo', domain]).catch(() => '');
  return /Operation:\s+Backup/.test(info);
}

/** Takes the point in time of a running domain. */
export async function takeLibvirtView(vm: VmSpec, options: PrepareOptions): Promise<LibvirtPointInTime> {
  const uri = uriOf(vm);
  const domain = vm.location?.deployId as string;
  await mkdir(options.scratchDir, { recursive: true, mode: 0o700 });
  await recoverLibvirt(vm, options.scratchDir, options.changesSince);
  const disks = await domainDisks(uri, domain);
  const targets = new Map<number, DomainDisk>();
  for (const spec of vm.disks) {
    const d = disks.find((x) => x.source === spec.source);
    if (!d)
      throw new PermanentDriverError(
        `VM ${vm.id} disk ${spec.diskId}: ${spec.source} is not a disk of libvirt domain ${domain} (it has ${disks.map((x) => x.source).join(', ') || 'no file disks'}); run onehost sync`,
      );
    targets.set(spec.diskId, d);
  }
  const changes = new Map<number, ChangedBlocks>();
  let base = options.changesSince;
  // libvirt keeps checkpoints (persistent bitmaps) only in qcow2 images.
  const rawDisk = vm.disks.find((spec) => (targets.get(spec.diskId) as DomainDisk).format !== 'qcow2');
  const tracked = rawDisk === undefined;
  if (!tracked) {
    for (const spec of vm.disks)
      changes.set(spec.diskId, {
        kind: 'full',
        reason: `disk ${rawDisk?.diskId} is not qcow2: libvirt keeps checkpoints only in qcow2 disks`,
      });
    base = undefined;
  } else if (base !== undefined && !(await checkpoints(uri, domain)).includes(base)) {
    for (const spec of vm.disks)
      changes.set(spec.diskId, {
        kind: 'full',
        reason: `checkpoint ${base} does not exist in libvirt (deleted, or the domain was redefined)`,
      });
    base = undefined;
  }
  const tag = `${PREFIX}${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const dir = await exportDir(options.scratchDir, vm.id);
  const socket = join(dir, 'nbd.sock');
  const ours = new Set([...targets.values()].map((d) => d.target));
  const diskXml = disks
    .map((d) =>
      ours.has(d.target)
        ? `<disk name='${d.target}' backup='yes' type='file'><scratch file='${join(dir, `${d.target}.scratch`)}'/></disk>`
        : `<disk name='${d.target}' backup='no'/>`,
    )
    .join('');
  const backupXml = `<domainbackup mode='pull'>${base ? `<incremental>${base}</incremental>` : ''}<server transport='unix' socket='${socket}'/><disks>${diskXml}</disks></domainbackup>`;
  const checkpointXml = `<domaincheckpoint><name>${tag}</name><disks>${disks
    .map((d) => `<disk name='${d.target}' checkpoint='${ours.has(d.target) ? 'bitmap' : 'no'}'/>`)
    .join('')}</disks></domaincheckpoint>`;
  await Promise.all([
    writeXml(join(dir, 'backup.xml'), backupXml),
    writeXml(join(dir, 'checkpoint.xml'), checkpointXml),
  ]);
  const live: LiveDisk[] = [];
  let started = false;
  try {
    options.signal?.throwIfAborted();
    const consistency = await withFreeze(libvirtFreezer(uri, domain), options, vm.id, async () => {
      await virsh(uri, [
        'backup-begin',
        domain,
        join(dir, 'backup.xml'),
        ...(tracked ? [join(dir, 'checkpoint.xml')] : []),
      ]);
    });
    started = true;
    for (const spec of vm.disks) {
      const { target } = targets.get(spec.diskId) as DomainDisk;
      const context = `qemu:dirty-bitmap:backup-${target}`;
      const client = await NbdClient.connect(socket, {
        exportName: target,
        metaContexts: base ? ['base:allocation', context] : ['base:allocation'],
      });
      const disk: LiveDisk = {
        spec: { ...spec, virtualSize: client.size },
        node: target,
        fleeceNode: target,
        fleeceFile: join(dir, `${target}.scratch`),
        jobId: domain,
        exportId: target,
        client,
        base,
      };
      live.push(disk);
      if (base)
        changes.set(spec.diskId, {
          kind: 'extents',
          extents: await dirtyExtents(client, `backup-${target}`),
        });
    }
    return {
      kind: 'libvirt',
      vmId: vm.id,
      disks: live.map((d) => d.spec),
      uri,
      domain,
      live,
      dir,
      checkpoint: tracked ? tag : undefined,
      base,
      changes,
      consistency,
    };
  } catch (err) {
    await Promise.all(live.map((d) => ignoring(d.client.close())));
    if (started) await ignoring(virsh(uri, ['domjobabort', domain]));
    await ignoring(virsh(uri, ['checkpoint-delete', domain, tag]));
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function writeXml(path: string, xml: string): Promise<void> {
  await writeFile(path, xml, { mode: 0o644 });
}

/** Ends the backup job; success keeps only the new checkpoint, failure drops it. */
export async function releaseLibvirtView(pit: LibvirtPointInTime, succeeded: boolean): Promise<void> {
  await Promise.all(pit.live.map((d) => ignoring(d.client.close())));
  await ignoring(virsh(pit.uri, ['domjobabort', pit.domain]));
  if (succeeded) {
    if (pit.base) await ignoring(virsh(pit.uri, ['checkpoint-delete', pit.domain, pit.base]));
  } else if (pit.checkpoint)
    await ignoring(virsh(pit.uri, ['checkpoint-delete', pit.domain, pit.checkpoint]));
  await rm(pit.dir, { recursive: true, force: true });
}

/**
 * Ends a backup job a crash left, thaws a freeze a crash left, and deletes `onebackup-*`
 * checkpoints but `keep` (undefined at start: only the newest is kept, since any of the last two
 * may be the next increment's base). Returns what it did.
 */
export async function recoverLibvirt(
  vm: VmSpec,
  scratchDir: string,
  keep: string | undefined,
  atStart = false,
): Promise<string[]> {
  const uri = uriOf(vm);
  const domain = vm.location?.deployId as string;
  const done: string[] = [];
  if (await thawLeftover(libvirtFreezer(uri, domain), scratchDir, vm.id))
    done.push('thawed a freeze left by a crash');
  if ((await domainState(uri, domain)) === 'RUNNING' && (await backupJobRunning(uri, domain))) {
    await ignoring(virsh(uri, ['domjobabort', domain]));
    done.push('ended a backup job');
  }
  // Our names begin with the time in base 36: sorted by name, the newest come last. At start
  // keep the two newest (one of them is the next increment's base).
  const ours = (await checkpoints(uri, domain).catch(() => [] as string[]))
    .filter((c) => c.startsWith(PREFIX))
    .sort();
  const kept = atStart ? new Set(ours.slice(-2)) : new Set(keep ? [keep] : []);
  for (const c of ours) {
    if (kept.has(c)) continue;
    await ignoring(virsh(uri, ['checkpoint-delete', domain, c]));
    done.push(`checkpoint ${c}`);
  }
  await rm(exportDirOf(scratchDir, vm.id), { recursive: true, force: true });
  return done;
}

function xmlAttr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

/**
 * Defines a new domain like `from` (its inactive XML) named `name`, without its UUID and MAC
 * addresses (libvirt makes new ones), with each file disk's source replaced; refuses when a file
 * disk of `from` has no replacement (two domains must never share a disk by accident).
 */
export async function defineLike(
  uri: string,
  from: string,
  name: string,
  sources: ReadonlyMap<string, string>,
  scratchDir: string,
): Promise<string> {
  let xml = await virsh(uri, ['dumpxml', '--inactive', from]);
  for (const d of await domainDisks(uri, from)) {
    const to = sources.get(d.source);
    if (to === undefined)
      throw new PermanentDriverError(
        `domain ${from}: disk ${d.target} (${d.source}) is not in the backup; restore every disk to define a new domain`,
      );
    xml = xml.split(`file='${xmlAttr(d.source)}'`).join(`file='${xmlAttr(to)}'`);
  }
  xml = xml
    .replace(/<name>[^<]*<\/name>/, `<name>${xmlAttr(name)}</name>`)
    .replace(/\s*<uuid>[^<]*<\/uuid>/, '')
    .replace(/\s*<mac address=[^>]*\/>/g, '');
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const file = join(scratchDir, `define-${randomBytes(4).toString('hex')}.xml`);
  await writeFile(file, xml, { mode: 0o600 });
  try {
    await virsh(uri, ['define', file]);
  } finally {
    await rm(file, { force: true });
  }
  return name;
}
