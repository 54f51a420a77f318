import type { Operation } from './model.js';

/** owner/group/other x use/manage/admin, OpenNebula's nine permission flags. */
export interface Permissions {
  readonly ownerU: boolean;
  readonly ownerM: boolean;
  readonly ownerA: boolean;
  readonly groupU: boolean;
  readonly groupM: boolean;
  readonly groupA: boolean;
  readonly otherU: boolean;
  readonly otherM: boolean;
  readonly otherA: boolean;
}

export const PERMISSION_KEYS = [
  'ownerU',
  'ownerM',
  'ownerA',
  'groupU',
  'groupM',
  'groupA',
  'otherU',
  'otherM',
  'otherA',
] as const satisfies readonly (keyof Permissions)[];

/** The XML element names, in document order. */
export const PERMISSION_ELEMENTS = [
  'OWNER_U',
  'OWNER_M',
  'OWNER_A',
  'GROUP_U',
  'GROUP_M',
  'GROUP_A',
  'OTHER_U',
  'OTHER_M',
  'OTHER_A',
] as const;

/** Stored as a 9-bit integer: bit 8 = OWNER_U ... bit 0 = OTHER_A. */
export function permissionsToBits(p: Permissions): number {
  return PERMISSION_KEYS.reduce((bits, key) => (bits << 1) | (p[key] ? 1 : 0), 0);
}

/** The 512 possible sets, made once: every pool call asks for one per row. */
const PERMISSIONS_BY_BITS: readonly Permissions[] = Array.from({ length: 512 }, (_, bits) => {
  const entries = PERMISSION_KEYS.map((key, i) => [key, ((bits >> (8 - i)) & 1) === 1] as const);
  return Object.freeze(Object.fromEntries(entries)) as unknown as Permissions;
});

/** The flags of a stored 9-bit value (frozen and shared: copy to change). */
export function permissionsFromBits(bits: number): Permissions {
  const known = Number.isInteger(bits) && bits >= 0 && bits < 512 ? PERMISSIONS_BY_BITS[bits] : undefined;
  if (known) return known;
  const entries = PERMISSION_KEYS.map((key, i) => [key, ((bits >> (8 - i)) & 1) === 1] as const);
  return Object.fromEntries(entries) as unknown as Permissions;
}

/** OpenNebula's default umask 177 leaves OWNER um-, GROUP ---, OTHER ---. */
export const DEFAULT_PERMISSION_BITS = permissionsToBits({
  ownerU: true,
  ownerM: true,
  ownerA: false,
  groupU: false,
  groupM: false,
  groupA: false,
  otherU: false,
  otherM: false,
  otherA: false,
});

/** `um-` style triplet for owner, group or other. */
export function triplet(p: Permissions, who: 'owner' | 'group' | 'other'): string {
  return (p[`${who}U`] ? 'u' : '-') + (p[`${who}M`] ? 'm' : '-') + (p[`${who}A`] ? 'a' : '-');
}

/** The octal form OpenNebula's CLI accepts and prints: 600 = OWNER um-. */
export function permissionsToOctal(p: Permissions): string {
  const digit = (u: boolean, m: boolean, a: boolean) => String((u ? 4 : 0) + (m ? 2 : 0) + (a ? 1 : 0));
  return (
    digit(p.ownerU, p.ownerM, p.ownerA) +
    digit(p.groupU, p.groupM, p.groupA) +
    digit(p.otherU, p.otherM, p.otherA)
  );
}

/** The nine chmod arguments of the API: 1 set, 0 clear, -1 keep. */
export type ChmodArgs = readonly [number, number, number, number, number, number, number, number, number];

export function applyChmod(current: Permissions, args: ChmodArgs): Permissions {
  const next: Record<string, boolean> = { ...current };
  PERMISSION_KEYS.forEach((key, i) => {
    const v = args[i];
    if (v === 1) next[key] = true;
    else if (v === 0) next[key] = false;
  });
  return next as unknown as Permissions;
}

/** Who is asking: a user, their primary group, and whether they are an administrator. */
export interface Requester {
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** oneadmin itself or any member of the oneadmin group. */
  readonly isAdmin: boolean;
}

export interface Owned {
  readonly uid: number;
  readonly gid: number;
  readonly permissions: Permissions;
}

/** OpenNebula's authorization for one operation on one object (AuthManager, without ACLs). */
export function isAuthorized(who: Requester, obj: Owned, op: Operation): boolean {
  if (who.isAdmin) return true;
  const p = obj.permissions;
  const bit = op === 'USE' ? 'U' : op === 'MANAGE' ? 'M' : 'A';
  if (who.uid === obj.uid && p[`owner${bit}`]) return true;
  if (who.gid === obj.gid && p[`group${bit}`]) return true;
  return p[`other${bit}`];
}

/**
 * Whether a lock blocks an operation (OpenNebula's AclManager: blocked when level <= op bit,
 * with USE=1, MANAGE=2, ADMIN=4). Level 1 (use) and 4 (all) block use, manage and admin
 * actions; 2 (manage) blocks manage and admin; 3 (admin) blocks admin. Reading an object
 * (INFO) and lock/unlock themselves are never blocked. Level 0 means unlocked.
 */
export function isBlockedByLock(level: number, op: Operation | 'INFO'): boolean {
  if (level <= 0 || op === 'INFO') return false;
  const effective = level >= 4 ? 1 : level;
  const opBit = op === 'USE' ? 1 : op === 'MANAGE' ? 2 : 4;
  return effective <= opBit;
}
