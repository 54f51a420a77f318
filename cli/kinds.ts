/** The inventory object kinds as the CLIs list and show them. */

import { DEFAULT_SYNC_LEVEL } from '../core/model.js';
import { templateToString } from '../core/template/serialize.js';
import type { ObjectKind } from './common/object-commands.js';
import { POOLS } from './common/resolve.js';
import { templateAttributes } from './format/backupjob.js';
import { copiesSection } from './format/image-copies.js';
import { renderTable } from './format/table.js';
import { strftime } from './format/time.js';
import type { XmlElement } from './format/xml-read.js';

const owner = (numeric = false) => [
  {
    name: 'USER',
    describe: 'Username of the owner',
    size: 8,
    left: true,
    value: (d: XmlElement) => (numeric ? d.text('UID') : d.text('UNAME')),
  },
  {
    name: 'GROUP',
    describe: 'Group of the owner',
    size: 8,
    left: true,
    value: (d: XmlElement) => (numeric ? d.text('GID') : d.text('GNAME')),
  },
];
const id = (what: string) => ({
  name: 'ID',
  describe: `ONE identifier for the ${what}`,
  size: 4,
  adjust: true,
  value: (d: XmlElement) => d.text('ID'),
});
const name = (what: string, size = 15) => ({
  name: 'NAME',
  describe: `Name of the ${what}`,
  size,
  left: true,
  expand: true,
  value: (d: XmlElement) => d.text('NAME'),
});
const tmpl = (d: XmlElement, key: string) => d.child('TEMPLATE')?.text(key) ?? '';
const ids = (d: XmlElement, el: string) => (d.child(el)?.children('ID') ?? []).map((e) => e.text());

function vmState(d: XmlElement): string {
  return d.text('STATE') === '8' ? 'poff' : 'runn';
}

export const VM: ObjectKind = {
  prefix: 'one.vm',
  pool: POOLS.vm,
  label: 'VIRTUAL MACHINE',
  noun: 'VM',
  // The full VMs (with BACKUPS): the short ones of one.vmpool.info have no backup job.
  listMethod: 'one.vmpool.infoextended',
  poolArgs: [-2, -1, -1, -1],
  columns: [
    id('VM'),
    ...owner(),
    name('VM'),
    { name: 'STAT', describe: 'Actual status', size: 4, left: true, value: vmState },
    {
      name: 'HOST',
      describe: 'Host where the VM runs',
      size: 10,
      left: true,
      value: (d) => d.child('HISTORY_RECORDS')?.child('HISTORY')?.text('HOSTNAME') ?? '',
    },
    {
      name: 'DISKS',
      describe: 'Number of disks',
      size: 5,
      value: (d) => String(d.child('TEMPLATE')?.children('DISK').length ?? 0),
    },
    {
      name: 'JOB',
      describe: 'Backup job of the VM',
      size: 4,
      value: (d) => d.child('BACKUPS')?.child('BACKUP_CONFIG')?.text('BACKUP_JOB_ID') || '-',
    },
  ],
  showFields: (d) => [
    ['ID', d.text('ID')],
    ['NAME', d.text('NAME')],
    ['USER', d.text('UNAME')],
    ['GROUP', d.text('GNAME')],
    ['STATE', vmState(d) === 'poff' ? 'POWEROFF' : 'ACTIVE'],
    ['HOST', d.child('HISTORY_RECORDS')?.child('HISTORY')?.text('HOSTNAME') ?? ''],
    ['BACKUP JOB', d.child('BACKUPS')?.child('BACKUP_CONFIG')?.text('BACKUP_JOB_ID') || '-'],
    ['BACKUPS', ids(d.child('BACKUPS') as XmlElement, 'BACKUP_IDS').join(',')],
    ...(d.child('TEMPLATE')?.children('DISK') ?? []).map(
      (disk) =>
        [
          `DISK ${disk.text('DISK_ID')}`,
          `${disk.text('SOURCE')} (${disk.text('FORMAT')}, ${disk.text('SIZE')}M)`,
        ] as const,
    ),
  ],
  showExtra: (d) =>
    `\n${'USER TEMPLATE'.padEnd(80)}\n${templateToString(templateAttributes(d.child('USER_TEMPLATE')))}` +
    `\n${'BACKUP CONFIGURATION'.padEnd(80)}\n${templateToString(templateAttributes(d.child('BACKUPS')?.child('BACKUP_CONFIG')))}`,
};

/** A host's STATE as onehost shows it: init (not monitored yet), on, err (unreachable). */
const hostStat = (d: XmlElement): string => ({ 0: 'init', 2: 'on', 3: 'err' })[d.num('STATE')] ?? 'on';
const hostStateName = (d: XmlElement): string =>
  ({ 0: 'INIT', 2: 'MONITORED', 3: 'ERROR' })[d.num('STATE')] ?? 'MONITORED';
const hostDisk = (d: XmlElement, name: string): number =>
  d.child('HOST_SHARE')?.child('DATASTORES')?.num(name) ?? 0;

/** HOST_SHARE/RUNNING_VMS: the host's VMs in state RUNNING. */
const runningVms = (d: XmlElement): string => d.child('HOST_SHARE')?.text('RUNNING_VMS') || '0';

/** Megabytes as OpenNebula's CLI shows sizes: 512M, 1.5G, 2.3T. */
function mbToStr(mb: number): string {
  if (mb < 1024) return `${mb}M`;
  if (mb < 1024 * 1024) return `${(mb / 1024).toFixed(1)}G`;
  return `${(mb / 1024 / 1024).toFixed(1)}T`;
}

export const HOST: ObjectKind = {
  createEpilog: [
    'Template attributes:',
    '  NAME             the SSH address the daemon reaches the host at (as in OpenNebula)',
    '  VM_MAD           fs (disks are files) or kvm (QEMU through libvirt or QMP); default fs',
    '  TRANSPORT        "local": the daemon\'s own machine, no SSH (also a host named localhost)',
    "  SSH_USER, SSH_PORT, SSH_KEY (a private key file on the daemon's machine), SSH_KNOWN_HOSTS",
    "                   override the daemon user's ~/.ssh/config; host keys are never accepted",
    "                   unchecked. The host needs Node.js 20 or later for onebackup's agent.",
    '  LIBVIRT_URI      kvm with libvirt (default qemu:///system, on the host)',
    '  IMPORT_VMS       "YES": host monitoring imports new libvirt domains as VMs',
  ].join('\n'),
  prefix: 'one.host',
  pool: POOLS.host,
  label: 'HOST',
  noun: 'Host',
  poolArgs: [],
  columns: [
    id('Host'),
    name('Host'),
    {
      name: 'CLUSTER',
      describe: 'Cluster of the host',
      size: 8,
      left: true,
      value: (d) => d.text('CLUSTER'),
    },
    { name: 'VM_MAD', describe: 'Hypervisor driver', size: 6, left: true, value: (d) => d.text('VM_MAD') },
    { name: 'RVM', describe: 'Number of running VMs', size: 3, value: runningVms },
    {
      name: 'VMS',
      describe: 'Number of VMs registered on the host',
      size: 3,
      value: (d) => String(ids(d, 'VMS').length),
    },
    {
      name: 'BKUP',
      describe: 'Backups of its VMs in progress',
      size: 4,
      value: (d) => tmpl(d, 'RUNNING_BACKUPS') || '0',
    },
    {
      name: 'FREE',
      describe: 'Free space where its VMs disks live',
      size: 6,
      value: (d) => mbToStr(hostDisk(d, 'FREE_DISK')),
    },
    {
      name: 'STAT',
      describe: 'Host status: on, err (unreachable), init (not monitored yet)',
      size: 4,
      left: true,
      value: hostStat,
    },
  ],
  showFields: (d) => [
    ['ID', d.text('ID')],
    ['NAME', d.text('NAME')],
    ['CLUSTER', d.text('CLUSTER')],
    ['STATE', hostStateName(d)],
    ['VM_MAD', d.text('VM_MAD')],
    [
      'LAST MONITORING TIME',
      d.child('MONITORING')?.num('TIMESTAMP')
        ? strftime(d.child('MONITORING')?.num('TIMESTAMP') ?? 0, '%m/%d/%y %H:%M:%S')
        : '-',
    ],
    ['AGENT VERSION', tmpl(d, 'AGENT_VERSION') || '-'],
    ['FREE DISK', `${mbToStr(hostDisk(d, 'FREE_DISK'))} of ${mbToStr(hostDisk(d, 'MAX_DISK'))}`],
    ...(tmpl(d, 'ERROR') ? [['ERROR', tmpl(d, 'ERROR')] as const] : []),
    ['VMS', ids(d, 'VMS').join(',')],
    ['RUNNING VMS', runningVms(d)],
    ['RUNNING BACKUPS', tmpl(d, 'RUNNING_BACKUPS') || '0'],
  ],
};

export const DATASTORE: ObjectKind = {
  prefix: 'one.datastore',
  pool: POOLS.datastore,
  label: 'DATASTORE',
  noun: 'Datastore',
  poolArgs: [],
  columns: [
    id('Datastore'),
    ...owner(),
    name('Datastore'),
    { name: 'DS_MAD', describe: 'Datastore driver', size: 6, left: true, value: (d) => d.text('DS_MAD') },
    { name: 'COMP', describe: 'Compression', size: 6, left: true, value: (d) => `${tmpl(d, 'COMPRESSION')}` },
    { name: 'ENC', describe: 'Encrypted', size: 3, left: true, value: (d) => tmpl(d, 'ENCRYPTION') },
    { name: 'SIZE', describe: 'Size of its filesystem', size: 6, value: (d) => mbToStr(d.num('TOTAL_MB')) },
    { name: 'AVA', describe: 'Free space left there', size: 6, value: (d) => mbToStr(d.num('FREE_MB')) },
    {
      name: 'IMAGES',
      describe: 'Number of backup images',
      size: 6,
      value: (d) => String(ids(d, 'IMAGES').length),
    },
  ],
  showFields: (d) => [
    ['ID', d.text('ID')],
    ['NAME', d.text('NAME')],
    ['USER', d.text('UNAME')],
    ['GROUP', d.text('GNAME')],
    ['TYPE', tmpl(d, 'TYPE')],
    ['DS_MAD', d.text('DS_MAD')],
    ['BASE PATH', d.text('BASE_PATH')],
    ['CLUSTERS', ids(d, 'CLUSTERS').join(',')],
    ['TOTAL', mbToStr(d.num('TOTAL_MB'))],
    ['FREE', mbToStr(d.num('FREE_MB'))],
    ['USED', mbToStr(d.num('USED_MB'))],
    // Datastores made before SYNC_LEVEL existed have none: they run at the default.
    ['SYNC LEVEL', tmpl(d, 'SYNC_LEVEL') || DEFAULT_SYNC_LEVEL],
    ['IMAGES', ids(d, 'IMAGES').join(',')],
  ],
};

/** What the image's backups wrote to the datastore: the sum of its increments' stored bytes. */
function storedBytes(d: XmlElement): number {
  return (d.child('BACKUP_INCREMENTS')?.children('INCREMENT') ?? []).reduce(
    (s, i) => s + i.num('BYTES_STORED'),
    0,
  );
}

/** OpenNebula's short image states: READY (1) rdy, ERROR (5) err. */
function imageStat(d: XmlElement): string {
  return d.num('STATE') === 5 ? 'err' : 'rdy';
}

/** How a live backup's instant was taken (kvm), one increment: consistency, freeze, what was read. */
function captureLines(i: XmlElement): string {
  const consistency = i.text('CONSISTENCY');
  if (!consistency) return '';
  const id = i.text('ID');
  const frozen = i.num('FROZEN_MS');
  const lines = [
    `INCREMENT ${id}: ${consistency}-consistent${frozen > 0 ? `, guest frozen ${frozen} ms` : ''}${
      i.text('CHANGES_SINCE')
        ? `, read ${(i.num('CHANGED_BYTES') / 1048576).toFixed(1)}M changed since the previous backup`
        : ''
    }`,
    ...i.children('FULL_READ').map((f) => `INCREMENT ${id}: read whole: ${f.text()}`),
    ...i.children('WARNING').map((w) => `INCREMENT ${id}: WARNING: ${w.text()}`),
  ];
  return lines.map((l) => `${l}\n`).join('');
}

export const IMAGE: ObjectKind = {
  prefix: 'one.image',
  pool: POOLS.image,
  label: 'IMAGE',
  noun: 'Image',
  poolArgs: [-2, -1, -1],
  columns: [
    id('Image'),
    ...owner(),
    name('Image', 20),
    {
      name: 'DATASTORE',
      describe: 'Datastore of the image',
      size: 10,
      left: true,
      value: (d) => d.text('DATASTORE'),
    },
    { name: 'SIZE', describe: 'Size in MB', size: 6, value: (d) => `${d.text('SIZE')}M` },
    {
      name: 'STORED',
      describe: 'Bytes its backups wrote to the datastore (new chunks, after compression), in MB',
      size: 7,
      value: (d) => `${Math.ceil(storedBytes(d) / 1048576)}M`,
    },
    { name: 'TYPE', describe: 'Image type', size: 6, left: true, value: () => 'BK' },
    { name: 'STAT', describe: 'rdy, or err when a verify found it broken', size: 4, value: imageStat },
    { name: 'VM', describe: 'VM backed up', size: 4, value: (d) => ids(d, 'VMS').join(',') },
  ],
  showFields: (d) => [
    ['ID', d.text('ID')],
    ['NAME', d.text('NAME')],
    ['USER', d.text('UNAME')],
    ['GROUP', d.text('GNAME')],
    ['DATASTORE', d.text('DATASTORE')],
    ['TYPE', 'BACKUP'],
    ['REGISTER TIME', d.num('REGTIME') ? strftime(d.num('REGTIME'), '%m/%d/%y %H:%M:%S') : '-'],
    ['SIZE', `${d.text('SIZE')}M`],
    ['STORED', `${(storedBytes(d) / 1048576).toFixed(1)}M`],
    ['STATE', imageStat(d)],
    ...(d.child('TEMPLATE')?.text('ERROR')
      ? [['ERROR', d.child('TEMPLATE')?.text('ERROR') ?? ''] as [string, string]]
      : []),
    ['FORMAT', d.text('FORMAT')],
    ['SOURCE', d.text('SOURCE')],
    [
      'VM',
      `${ids(d, 'VMS').join(',')}${d.child('TEMPLATE')?.text('VM_STATE') === 'GONE' ? ' (gone: not in this onebackupd)' : ''}`,
    ],
  ],
  showExtra: (d) => {
    const incs = d.child('BACKUP_INCREMENTS')?.children('INCREMENT') ?? [];
    if (incs.length === 0) return copiesSection(d);
    const mb = (n: number) => `${(n / 1048576).toFixed(1)}M`;
    return `\n${'BACKUP INCREMENTS'.padEnd(80)}\n${renderTable(
      [
        { name: 'ID', describe: '', size: 3, adjust: true, value: (i) => i.text('ID') },
        { name: 'PID', describe: '', size: 3, adjust: true, value: (i) => i.text('PARENT_ID') },
        {
          name: 'T',
          describe: '',
          size: 1,
          left: true,
          value: (i) => (i.text('TYPE') === 'FULL' ? 'F' : 'I'),
        },
        {
          name: 'DATE',
          describe: '',
          size: 17,
          adjust: true,
          value: (i) => strftime(i.num('DATE'), '%m/%d/%y %H:%M:%S'),
        },
        { name: 'READ', describe: '', size: 8, adjust: true, value: (i) => mb(i.num('BYTES_READ')) },
        { name: 'STORED', describe: '', size: 8, adjust: true, value: (i) => mb(i.num('BYTES_STORED')) },
        { name: 'DEDUP', describe: '', size: 8, adjust: true, value: (i) => mb(i.num('BYTES_DEDUPLICATED')) },
        { name: 'ZERO', describe: '', size: 8, adjust: true, value: (i) => mb(i.num('BYTES_ZERO')) },
        {
          name: 'TIME',
          describe: '',
          size: 6,
          adjust: true,
          value: (i) => `${(i.num('DURATION_MS') / 1000).toFixed(1)}s`,
        },
        {
          name: 'COMPRESS',
          describe: '',
          size: 8,
          left: true,
          adjust: true,
          value: (i) => i.text('COMPRESSION'),
        },
        {
          name: 'ENCRYPTION',
          describe: '',
          size: 10,
          left: true,
          adjust: true,
          value: (i) => i.text('ENCRYPTION'),
        },
      ],
      incs,
    )}${incs
      .flatMap((i) =>
        (i.child('DISK_DIGESTS')?.children('DISK') ?? []).map(
          (disk) => `INCREMENT ${i.text('ID')} DISK ${disk.text('ID')} SHA256: ${disk.text('SHA256')}\n`,
        ),
      )
      .join('')}${incs.map(captureLines).join('')}${copiesSection(d)}`;
  },
};

export const USER: ObjectKind = {
  prefix: 'one.user',
  pool: POOLS.user,
  label: 'USER',
  noun: 'User',
  poolArgs: [],
  columns: [
    id('User'),
    name('User'),
    { name: 'GROUP', describe: 'Primary group', size: 10, left: true, value: (d) => d.text('GNAME') },
    { name: 'AUTH', describe: 'Auth driver', size: 8, left: true, value: (d) => d.text('AUTH_DRIVER') },
    {
      name: 'ENABLED',
      describe: 'Whether the user may log in',
      size: 7,
      left: true,
      value: (d) => (d.text('ENABLED') === '1' ? 'yes' : 'no'),
    },
  ],
  showFields: (d) => [
    ['ID', d.text('ID')],
    ['NAME', d.text('NAME')],
    ['GROUP', d.text('GNAME')],
    ['AUTH_DRIVER', d.text('AUTH_DRIVER')],
    ['ENABLED', d.text('ENABLED') === '1' ? 'Yes' : 'No'],
    ['LOGIN TOKENS', String(d.children('LOGIN_TOKEN').length)],
  ],
};

export const GROUP: ObjectKind = {
  prefix: 'one.group',
  pool: POOLS.group,
  label: 'GROUP',
  noun: 'Group',
  poolArgs: [],
  columns: [
    id('Group'),
    name('Group'),
    { name: 'USERS', describe: 'Number of users', size: 5, value: (d) => String(ids(d, 'USERS').length) },
  ],
  showFields: (d) => [
    ['ID', d.text('ID')],
    ['NAME', d.text('NAME')],
    ['USERS', ids(d, 'USERS').join(',')],
  ],
};
