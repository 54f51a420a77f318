/**
 * `onevm update` (`one.vm.update`) and `onevm updateconf` (`one.vm.updateconf`), as oned has
 * them: (id, template, type) with type 0 replacing and 1 merging (same names replaced, others
 * kept). `update` changes the VM's user template, and on `fs` hosts its STATE (the fs driver
 * cannot know whether a VM is powered off; kvm hosts report it themselves); `updateconf` changes
 * BACKUP_CONFIG, where OpenNebula keeps it. Both need MANAGE on the VM, as oned's defaults
 * ("update" and "updateconf" are VM_MANAGE_OPERATIONS). The attributes that point the daemon at a
 * hypervisor's VM (DEPLOY_ID, QMP_SOCKET, GUEST_AGENT_SOCKET) are restricted: only admins change
 * them, and a replace that leaves them out keeps them.
 */
import type { BackupConfig } from '../backup-config.js';
import { ErrorCode, OneError } from '../errors.js';
import {
  BACKUP_MODES,
  type BackupMode,
  FS_FREEZE_MODES,
  type FsFreeze,
  isBackupMode,
  isFsFreeze,
  VM_STATES,
  type VmState,
} from '../model.js';
import type { Requester } from '../permissions.js';
import type { Tx } from '../store/db.js';
import { findVm, hostsById, setVmBackupConfig, updateVmTemplate, type VmRow } from '../store/vms.js';
import { decodeAttributes, type PlainAttribute } from '../template/attributes.js';
import { parseTemplate } from '../template/parser.js';
import type { Attribute } from '../template/types.js';
import type { ServiceDeps } from './context.js';
import { loadAuthorized, notFound } from './objects.js';
import { TemplateReader } from './template-reader.js';

/** What points onebackupd at a VM inside a hypervisor: admins only. */
const RESTRICTED = ['DEPLOY_ID', 'QMP_SOCKET', 'GUEST_AGENT_SOCKET'] as const;

/** OpenNebula's updateconf sections onebackup has no use for (it runs no VM). */
const UPDATECONF_IGNORED = ['OS', 'FEATURES', 'INPUT', 'GRAPHICS', 'VIDEO', 'RAW', 'CPU_MODEL', 'CONTEXT'];

function updateType(type: number): 'replace' | 'merge' {
  if (type === 0) return 'replace';
  if (type === 1) return 'merge';
  throw new OneError(ErrorCode.RPC_API, 'Wrong update type');
}

function plain(a: Attribute): PlainAttribute {
  return a.kind === 'single'
    ? { kind: 'single', name: a.name, value: a.value }
    : { kind: 'vector', name: a.name, values: a.values };
}

/** `old` with every attribute of `given` replacing those of the same name (OpenNebula's merge). */
function merged(old: readonly PlainAttribute[], given: readonly PlainAttribute[]): PlainAttribute[] {
  const names = new Set(given.map((a) => a.name));
  return [...old.filter((a) => !names.has(a.name)), ...given];
}

/**
 * What update and updateconf share: MANAGE on the VM, its row and the parsed template, in one
 * transaction that `edit` completes. Returns the VM's ID.
 */
async function editVm(
  deps: ServiceDeps,
  who: Requester,
  vmId: number,
  text: string,
  type: number,
  edit: (trx: Tx, row: VmRow, attrs: readonly Attribute[], mode: 'replace' | 'merge') => Promise<void>,
): Promise<number> {
  const mode = updateType(type);
  await deps.store.tx(async (trx) => {
    await loadAuthorized(trx, who, 'vms', vmId, 'MANAGE');
    const row = await findVm(trx, vmId);
    if (!row) throw notFound('VM', vmId);
    await edit(trx, row, parseTemplate(text).attributes, mode);
  });
  return vmId;
}

/** `one.vm.update`: the user template (and STATE on `fs` hosts). Returns the VM's ID. */
export async function updateVm(
  deps: ServiceDeps,
  who: Requester,
  vmId: number,
  text: string,
  type: number,
): Promise<number> {
  return editVm(deps, who, vmId, text, type, async (trx, row, attrs, mode) => {
    const r = new TemplateReader(attrs, ['STATE'], []);
    const elsewhere: Record<string, string> = {
      NAME: `onevm rename ${vmId} <name>`,
      BACKUP_CONFIG: `onevm updateconf ${vmId}`,
      HOST: 'onevm create (a VM keeps the host it was registered on)',
      DISK: 'onevm create (a kvm VM gets its disks from onehost sync)',
    };
    for (const a of attrs) {
      const fix = elsewhere[a.name];
      if (fix) r.fail(a, a.name, `${a.name} is not changed with onevm update; use ${fix}`);
    }
    let state: VmState | undefined;
    if (r.get('STATE') !== undefined) {
      const vmMad = (await hostsById(trx)).get(row.host_id)?.vmMad ?? 'fs';
      if (vmMad !== 'fs')
        r.fail(
          r.at('STATE'),
          'STATE',
          `STATE of VM ${vmId} is what its ${vmMad} host reports (onehost sync ${row.host_id}); it is set only on fs hosts`,
        );
      else state = r.oneOf('STATE', VM_STATES, row.state);
    }
    r.throwIfProblems();
    const given = attrs.filter((a) => a.name !== 'STATE').map(plain);
    const old = decodeAttributes(row.template);
    if (!who.isAdmin) {
      for (const name of RESTRICTED) {
        const before = old.find((a) => a.name === name);
        const after = given.find((a) => a.name === name);
        if (after && JSON.stringify(after) !== JSON.stringify(before))
          throw new OneError(
            ErrorCode.AUTHORIZATION,
            `Cannot update template. Tried to change restricted attribute: ${name} (only admins point onebackupd at a VM)`,
          );
      }
    }
    let template: PlainAttribute[];
    if (mode === 'merge') template = merged(old, given);
    else {
      // A replace keeps what locates the VM in its hypervisor unless it is given.
      const kept = old.filter(
        (a) => (RESTRICTED as readonly string[]).includes(a.name) && !given.some((g) => g.name === a.name),
      );
      template = [...kept, ...given];
    }
    await updateVmTemplate(trx, vmId, template, state);
  });
}

/** `one.vm.updateconf`: BACKUP_CONFIG (the increment chain it points to is kept). Returns the VM's ID. */
export async function updateVmConf(
  deps: ServiceDeps,
  who: Requester,
  vmId: number,
  text: string,
  type: number,
): Promise<number> {
  return editVm(deps, who, vmId, text, type, async (trx, row, attrs, mode) => {
    const r = new TemplateReader(attrs, [], ['BACKUP_CONFIG']);
    for (const a of attrs.filter((x) => x.name !== 'BACKUP_CONFIG')) {
      const why = UPDATECONF_IGNORED.includes(a.name)
        ? 'onebackup runs no VM, so it keeps no such configuration'
        : `user attributes are changed with onevm update ${vmId}`;
      r.fail(a, a.name, `${a.name}: ${why}; updateconf takes BACKUP_CONFIG = [ ... ]`);
    }
    const given = readBackupConfig(r);
    r.throwIfProblems();
    if (r.vectors('BACKUP_CONFIG').length === 0) return;
    const { mode: _m, keepLast: _k, fsFreeze: _f, incrementMode: _i, ...chain } = row.backupConfig;
    const config: BackupConfig =
      mode === 'merge' ? { ...row.backupConfig, ...given } : { ...chain, ...given };
    await setVmBackupConfig(trx, vmId, config);
  });
}

/** BACKUP_CONFIG = [ MODE, KEEP_LAST, FS_FREEZE ]: how `onevm backup` backs this VM up. */
export function readBackupConfig(r: TemplateReader): BackupConfig {
  const [vector, ...more] = r.vectors('BACKUP_CONFIG');
  for (const extra of more) r.fail(extra, 'BACKUP_CONFIG', 'BACKUP_CONFIG is given twice; keep one');
  if (!vector) return {};
  const out: { mode?: BackupMode; keepLast?: number; fsFreeze?: FsFreeze } = {};
  const at = (k: string) => vector.positions.get(k) ?? vector;
  for (const [key, raw] of vector.values) {
    const v = raw.toUpperCase();
    if (key === 'MODE') {
      if (isBackupMode(v)) out.mode = v;
      else r.fail(at(key), 'BACKUP_CONFIG/MODE', `MODE="${raw}" is not one of ${BACKUP_MODES.join(', ')}`);
    } else if (key === 'FS_FREEZE') {
      if (isFsFreeze(v)) out.fsFreeze = v;
      else
        r.fail(
          at(key),
          'BACKUP_CONFIG/FS_FREEZE',
          `FS_FREEZE="${raw}" is not one of ${FS_FREEZE_MODES.join(', ')}`,
        );
    } else if (key === 'KEEP_LAST') {
      if (/^\d+$/.test(raw)) out.keepLast = Number(raw);
      else
        r.fail(
          at(key),
          'BACKUP_CONFIG/KEEP_LAST',
          `KEEP_LAST="${raw}" is not a whole number >= 0 (0 keeps every backup)`,
        );
    } else
      r.fail(
        at(key),
        `BACKUP_CONFIG/${key}`,
        `${key} is not a BACKUP_CONFIG setting (MODE, KEEP_LAST, FS_FREEZE)`,
      );
  }
  return out;
}
