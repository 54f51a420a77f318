/** onevm backup / restore and oneimage restore: thin over one.vm.backup, one.vm.restore, one.image.restore. */
import { CliError } from '../cli-error.js';
import { parseStringSync } from '../format/xml-read.js';
import { type CommandSpec, clientFor, stdio } from './program.js';
import { followTagged, ProgressReporter, progressTag } from './progress.js';
import { POOLS, resolveId } from './resolve.js';

const s = (v: unknown) => String(v);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const vmBackupCommand: CommandSpec = {
  command: 'backup <vmid>',
  describe: 'Backs up a VM that is in no backup job (-d datastore); --wait follows it to the end',
  builder: (y) =>
    y
      .positional('vmid', { type: 'string', describe: 'VM ID or name' })
      .option('datastore', {
        alias: 'd',
        type: 'string',
        describe: 'Backup datastore ID or name',
        demandOption: true,
      })
      .option('reset', { type: 'boolean', describe: 'Start a new increment chain' })
      .option('wait', { type: 'boolean', describe: 'Wait for the backup, showing progress on stderr' }),
  run: async (argv) => {
    const client = clientFor(argv);
    const vm = await resolveId(client, POOLS.vm, s(argv['vmid']));
    const ds = await resolveId(client, POOLS.datastore, s(argv['datastore']));
    const before = backupState(parseStringSync(await client.callString('one.vm.info', vm, false)));
    await client.call('one.vm.backup', vm, ds, argv['reset'] === true);
    if (argv.verbose) stdio.out(`VM ${vm}: backup queued\n`);
    if (!argv['wait']) return;
    const progress = new ProgressReporter(`VM ${vm}`, 'backup');
    for (let idle = 0, first = true; ; first = false) {
      if (!first) await sleep(300);
      const doc = parseStringSync(await client.callString('one.vm.info', vm, false));
      const now = backupState(doc);
      const running = doc.child('BACKUPS')?.child('BACKUP_PROGRESS');
      if (running) {
        idle = 0;
        const queued = running.child('QUEUED') ? running.text('QUEUED') : undefined;
        progress.update({ done: running.num('BYTES_DONE'), total: running.num('BYTES_TOTAL'), queued });
        continue;
      }
      progress.end();
      // Done only on evidence: a new backup recorded, or a new error. Neither yet: keep
      // looking for a while (the backup may be between queue and start), then say so.
      if (now.error !== before.error && now.error !== '') throw new CliError(`VM ${vm}: ${now.error}`);
      if (now.recorded !== before.recorded) {
        const image =
          now.ids.find((i) => !before.ids.includes(i)) ?? now.incrementalImage ?? now.ids.at(-1) ?? '-';
        stdio.out(`VM ${vm}: backup done, image ${image}\n`);
        return;
      }
      idle += 1;
      if (idle >= 20)
        throw new CliError(
          `VM ${vm}: the backup ended without recording a backup or an error (was onebackupd restarted?); see onevm show ${vm}`,
        );
    }
  },
};

export const vmBackupCancelCommand: CommandSpec = {
  command: 'backup-cancel <vmid>',
  describe: "Cancels the VM's running or queued backup (onevm backup or its job); nothing of it is recorded",
  builder: (y) => y.positional('vmid', { type: 'string', describe: 'VM ID or name' }),
  run: async (argv) => {
    const client = clientFor(argv);
    const vm = await resolveId(client, POOLS.vm, s(argv['vmid']));
    await client.call('one.vm.backupcancel', vm);
    if (argv.verbose) stdio.out(`VM ${vm}: Canceling backup\n`);
  },
};

/** What tells one backup of a VM from the next: its backup IDs, chain position and last time. */
function backupState(doc: ReturnType<typeof parseStringSync>) {
  const backups = doc.child('BACKUPS');
  const config = backups?.child('BACKUP_CONFIG');
  const ids = (backups?.child('BACKUP_IDS')?.children('ID') ?? []).map((e) => e.text());
  const incremental = config?.text('INCREMENTAL_BACKUP_ID') ?? '';
  return {
    ids,
    incrementalImage: incremental !== '' && incremental !== '-1' ? incremental : undefined,
    recorded: [
      ids.join(','),
      config?.text('LAST_INCREMENT_ID') ?? '',
      config?.text('LAST_BACKUP_TIME') ?? '',
    ].join('/'),
    error: doc.child('USER_TEMPLATE')?.text('ERROR') ?? '',
  };
}

export const vmRestoreCommand: CommandSpec = {
  command: 'restore <vmid> <imageid>',
  describe: "Restores a backup image over the VM's own disks (the VM must be POWEROFF)",
  builder: (y) =>
    y
      .positional('vmid', { type: 'string' })
      .positional('imageid', { type: 'string' })
      .option('increment', { type: 'string', describe: 'Increment ID (default: the last)' })
      .option('disk-id', { type: 'string', describe: 'Restore only this disk' }),
  run: async (argv) => {
    const client = clientFor(argv);
    const vm = await resolveId(client, POOLS.vm, s(argv['vmid']));
    const image = await resolveId(client, POOLS.image, s(argv['imageid']));
    const num = (v: unknown) => (v === undefined ? -1 : Number(v));
    await client.call('one.vm.restore', vm, image, num(argv['increment']), num(argv['disk-id']));
    // one.vm.restore answers once the disks are durable (each file and its directory fsynced).
    stdio.out(
      `VM ${vm}: restored from image ${image}; DURABLE: the disks were flushed to stable storage before onebackupd answered\n`,
    );
  },
};

export const imageRestoreCommand: CommandSpec = {
  command: 'restore <imageid>',
  describe: 'Restores a backup image to new disk files and a new VM (powered off)',
  builder: (y) =>
    y
      .positional('imageid', { type: 'string' })
      .option('increment', { type: 'string', describe: 'Increment ID (default: the last)' })
      .option('disk-id', { type: 'string', describe: 'Restore only this disk (no VM is created)' })
      .option('name', { type: 'string', describe: 'Name of the new VM' })
      .option('to', {
        type: 'string',
        describe: 'Directory for the disk files (admins; default: the state directory)',
      })
      .option('resume', {
        type: 'boolean',
        describe: 'Continue your interrupted restore of this backup (kept 24 h), skipping what it wrote',
      })
      .option('datastore', {
        type: 'string',
        describe:
          "Read the backup from this datastore: the image's own or the one holding its copy (COPY_DATASTORE_ID); by default the image's own, falling back to a copy when it fails",
      })
      .option('define-domain', {
        type: 'boolean',
        describe:
          'Also define a new libvirt domain like the backed-up one (kvm hosts), on the restored disks; use --to a directory QEMU can read',
      }),
  run: async (argv) => {
    const client = clientFor(argv);
    const image = await resolveId(client, POOLS.image, s(argv['imageid']));
    const lines: string[] = [];
    const q = (v: unknown) => JSON.stringify(s(v));
    if (argv['increment'] !== undefined) lines.push(`INCREMENT_ID = ${q(argv['increment'])}`);
    if (argv['disk-id'] !== undefined) lines.push(`DISK_ID = ${q(argv['disk-id'])}`);
    if (argv['name'] !== undefined) lines.push(`NAME = ${q(argv['name'])}`);
    if (argv['to'] !== undefined) lines.push(`TO = ${q(argv['to'])}`);
    if (argv['resume'] === true) lines.push('RESUME = "YES"');
    if (argv['datastore'] !== undefined)
      lines.push(`BACKUP_DATASTORE_ID = ${await resolveId(client, POOLS.datastore, s(argv['datastore']))}`);
    if (argv['define-domain'] === true) lines.push('DEFINE = "YES"');
    const tag = progressTag();
    lines.push(`PROGRESS_TAG = ${q(tag)}`);
    const result = await followTagged(
      client,
      tag,
      new ProgressReporter(`image ${image}`, 'restore'),
      client.callString('one.image.restore', image, -1, lines.join('\n')),
      'bytes',
    );
    stdio.out(`${result}\n`);
  },
};

function verifyCommand(kind: 'image' | 'datastore'): CommandSpec {
  return {
    command: `verify <${kind}id>`,
    describe:
      kind === 'image'
        ? 'Reads every chunk of a backup image (or one --increment) and checks digests and GCM tags'
        : 'Reads every chunk of every backup in the datastore and names each backup a bad chunk breaks',
    builder: (y) =>
      kind === 'image'
        ? y
            .positional('imageid', { type: 'string' })
            .option('increment', { type: 'string', describe: 'Only this increment' })
        : y.positional('datastoreid', { type: 'string' }),
    run: async (argv, status) => {
      const client = clientFor(argv);
      const tag = progressTag();
      const id =
        kind === 'image'
          ? await resolveId(client, POOLS.image, s(argv['imageid']))
          : await resolveId(client, POOLS.datastore, s(argv['datastoreid']));
      const call =
        kind === 'image'
          ? client.callString(
              'one.image.verify',
              id,
              argv['increment'] === undefined ? -1 : Number(argv['increment']),
              tag,
            )
          : client.callString('one.datastore.verify', id, tag);
      const reporter = new ProgressReporter(`${kind} ${id}`, 'verify');
      const report = await followTagged(client, tag, reporter, call, 'chunks');
      if (report.startsWith('OK')) stdio.out(`${report}\n`);
      else {
        process.stderr.write(`${report}\n`);
        status.code = 255;
      }
    },
  };
}

export const imageVerifyCommand = verifyCommand('image');
export const datastoreVerifyCommand = verifyCommand('datastore');

export const datastoreGcCommand: CommandSpec = {
  command: 'gc <datastoreid>',
  describe: 'Removes chunks and manifests no backup references any more',
  builder: (y) => y.positional('datastoreid', { type: 'string' }),
  run: async (argv) => {
    const client = clientFor(argv);
    stdio.out(
      `${await client.callString('one.datastore.gc', await resolveId(client, POOLS.datastore, s(argv['datastoreid'])))}\n`,
    );
  },
};
