/**
 * `onedatastore import`: backup images rebuilt from the manifests a datastore's storage holds,
 * in one transaction with the datastore's row (a new datastore) or alone (manifests adopted into
 * a datastore already attached). One image per chain: manifests name the FULL backup that began
 * their chain (`chain`), so a FULL and its increments become one image, increments oldest first
 * (the first FULL, the others INCREMENT with the previous as parent; every manifest lists all its
 * chunks, so each restores on its own). Manifests written before chains were recorded (no
 * `chain`) make one image per VM, as they always did. An image whose VM is not in this store carries
 * VM_STATE="GONE" in its template; it keeps VM_ID.
 * Crash story: nothing is written until the transaction commits; an import that died is run again.
 */
import type { FoundManifest } from '../datastore-access.js';
import { encodeAttributes, type PlainAttribute, single } from '../template/attributes.js';
import { nextId, type Queryable, type Tx } from './db.js';
import { newObjectOwnership } from './owned.js';

const MB = 1024 * 1024;

/**
 * A chain's manifests in backup order: by their parent links where they have them (two backups in
 * one second have the same createdAt), else by time.
 */
function chainOrder(list: FoundManifest[]): FoundManifest[] {
  const byTime = [...list].sort((a, b) => a.createdAt - b.createdAt || (a.path < b.path ? -1 : 1));
  const paths = new Set(list.map((m) => m.path));
  const children = new Map<string, FoundManifest>();
  for (const m of list) if (m.parent !== null && paths.has(m.parent)) children.set(m.parent, m);
  const ordered: FoundManifest[] = [];
  const placed = new Set<string>();
  // Heads: the first of the chain, or the oldest left once retention dropped the ones before.
  for (const head of byTime.filter((m) => m.parent === null || !paths.has(m.parent)))
    for (let m: FoundManifest | undefined = head; m && !placed.has(m.path); m = children.get(m.path)) {
      ordered.push(m);
      placed.add(m.path);
    }
  return [...ordered, ...byTime.filter((m) => !placed.has(m.path))];
}

/** The manifest paths the images of a datastore reference. */
export async function referencedManifests(db: Queryable, datastoreId: number): Promise<Set<string>> {
  const rows = await db
    .selectFrom('image_increments')
    .innerJoin('images', 'images.id', 'image_increments.image_id')
    .select('image_increments.source')
    .where('images.datastore_id', '=', datastoreId)
    .execute();
  return new Set(rows.map((r) => r.source));
}

export interface ImportedImage {
  readonly imageId: number;
  readonly vmId: number;
  readonly increments: number;
  readonly vmGone: boolean;
}

/**
 * Records `manifests` (none of them referenced yet) as images of datastore `datastoreId` owned
 * by `owner`; `nameOf` names an image after its VM and first backup time.
 */
export async function recordImportedBackups(
  trx: Tx,
  datastoreId: number,
  owner: { readonly uid: number; readonly gid: number },
  manifests: readonly FoundManifest[],
  nowS: number,
  nameOf: (vmId: number, epochS: number) => string,
): Promise<ImportedImage[]> {
  const byChain = new Map<string, FoundManifest[]>();
  for (const m of manifests) {
    const key = `${m.vmId}\n${m.chain ?? ''}`;
    byChain.set(key, [...(byChain.get(key) ?? []), m]);
  }
  const chains = [...byChain.values()].map(chainOrder);
  // Images in the order their VMs and chains began.
  chains.sort(
    (a, b) =>
      (a[0] as FoundManifest).vmId - (b[0] as FoundManifest).vmId ||
      (a[0] as FoundManifest).createdAt - (b[0] as FoundManifest).createdAt,
  );
  const out: ImportedImage[] = [];
  for (const list of chains) {
    const first = list[0] as FoundManifest;
    const vmId = first.vmId;
    const last = list.at(-1) as FoundManifest;
    const vm = await trx.selectFrom('vms').select('id').where('id', '=', vmId).executeTakeFirst();
    const template: PlainAttribute[] = [single('IMPORTED', 'YES')];
    if (!vm) template.push(single('VM_STATE', 'GONE'));
    const imageId = await nextId(trx, 'images');
    await trx
      .insertInto('images')
      .values({
        id: imageId,
        name: nameOf(vmId, first.createdAt),
        ...newObjectOwnership(owner),
        template: encodeAttributes(template),
        type: 'BACKUP',
        datastore_id: datastoreId,
        vm_id: vmId,
        backup_job_id: -1,
        source: `${vmId}/`,
        size_mb: Math.ceil(last.sizeBytes / MB),
        format: list.every((m) => m.format === 'raw') ? 'raw' : 'qcow2',
        regtime: nowS,
        state: 1,
        verified_at: 0,
      })
      .execute();
    await trx
      .insertInto('image_increments')
      .values(
        list.map((m, i) => ({
          image_id: imageId,
          inc_id: i,
          type: i === 0 ? ('FULL' as const) : ('INCREMENT' as const),
          parent_id: i - 1,
          source: m.path,
          size_mb: Math.ceil(m.sizeBytes / MB),
          date: m.createdAt,
          stats: m.stats,
        })),
      )
      .execute();
    out.push({ imageId, vmId, increments: list.length, vmGone: !vm });
  }
  return out;
}
