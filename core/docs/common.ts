/** Pieces shared by every object document: owner block, permissions, lock, TEMPLATE. */
import { PERMISSION_ELEMENTS, PERMISSION_KEYS, permissionsFromBits } from '../permissions.js';
import type { OwnedColumns } from '../store/schema.js';
import type { PlainAttribute } from '../template/attributes.js';
import { cdata, el, type XmlNode } from '../xml/build.js';

export function num(name: string, value: number): XmlNode {
  return el(name, String(value));
}

/** `<PERMISSIONS>` by stored bits: nodes are immutable, and a pool repeats a few values. */
const PERMISSIONS_ELS = new Map<number, XmlNode>();

export function permissionsEl(bits: number): XmlNode {
  let node = PERMISSIONS_ELS.get(bits);
  if (!node) {
    const p = permissionsFromBits(bits);
    node = el(
      'PERMISSIONS',
      ...PERMISSION_KEYS.map((key, i) => el(PERMISSION_ELEMENTS[i] as string, p[key] ? '1' : '0')),
    );
    if (PERMISSIONS_ELS.size < 512) PERMISSIONS_ELS.set(bits, node);
  }
  return node;
}

/** `<LOCK>` only when locked, as OpenNebula writes it. */
export function lockEls(row: OwnedColumns): XmlNode[] {
  if (row.lock_level <= 0) return [];
  return [
    el(
      'LOCK',
      num('LOCKED', row.lock_level),
      num('OWNER', row.lock_owner),
      num('TIME', row.lock_time),
      num('REQ_ID', row.lock_req_id),
    ),
  ];
}

/** ID, UID, GID, UNAME, GNAME, NAME, [LOCK], PERMISSIONS: the head of most documents. */
export function ownedHead(row: OwnedColumns, uname: string, gname: string, withLock: boolean): XmlNode[] {
  return [
    num('ID', row.id),
    num('UID', row.uid),
    num('GID', row.gid),
    el('UNAME', uname),
    el('GNAME', gname),
    el('NAME', row.name),
    ...(withLock ? lockEls(row) : []),
    permissionsEl(row.permissions),
  ];
}

function byName(a: PlainAttribute, b: PlainAttribute): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** TEMPLATE children sorted by name (stable), values in CDATA; vector sub-keys sorted. */
export function templateEl(
  attrs: readonly PlainAttribute[],
  extra: readonly XmlNode[] = [],
  elementName = 'TEMPLATE',
): XmlNode {
  const children = [...attrs]
    .sort(byName)
    .map((a) =>
      a.kind === 'single'
        ? el(a.name, cdata(a.value))
        : el(
            a.name,
            ...[...a.values.entries()]
              .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
              .map(([k, v]) => el(k, cdata(v))),
          ),
    );
  return el(elementName, ...children, ...extra);
}

/** An IDS element (shared.xsd): `<NAME><ID>1</ID>...</NAME>`. */
export function idsEl(name: string, ids: readonly number[]): XmlNode {
  return el(name, ...ids.map((id) => num('ID', id)));
}

/** The four quota sets of users and groups, empty: onebackup has no quotas (no limit is set). */
export function emptyQuotaEls(): XmlNode[] {
  return ['DATASTORE_QUOTA', 'NETWORK_QUOTA', 'VM_QUOTA', 'IMAGE_QUOTA'].map((name) => el(name));
}
