/**
 * The bounded fault campaign (issue 10): a real onebackupd, VMs with real raw and qcow2 disks of
 * known content, a plain, an encrypted and (when tmpfs can be mounted) a 24 MiB datastore. Faults:
 * kill -9 during backups and during restores, ENOSPC, corrupted and deleted chunks and manifests,
 * a deleted encryption key. After each one the ledger's invariant must hold: every backup the
 * daemon lists restores bit-exact, or verify reports it broken when the fault destroyed its data;
 * never a listed backup that restores wrong. The long version is `npm run faults`.
 *
 * Reproduce a failure with the seed it prints: FAULT_SEED=<n> node test/run.mjs fault-campaign
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  chunkFiles,
  chunksOf,
  corruptChunk,
  corruptManifest,
  deleteChunk,
  deleteManifest,
  type ManifestDamage,
  manifestFiles,
  tmpFiles,
} from '../support/datastore-faults.js';
import { FaultLab } from '../support/fault-lab.js';
import type { CheckReport } from '../support/ledger.js';
import { rpc, rpcOk } from '../support/rpc.js';

const seed = Number(process.env['FAULT_SEED'] ?? Date.now() % 1_000_000);
let lab: FaultLab;
let vms: number[];
const story: string[] = [`seed ${seed}`];
/** Chunk files the backup that met ENOSPC left in the small datastore (no manifest names them). */
let orphansAfterEnospc: string[] | undefined;

/** The invariant; returns the report for more specific checks. */
async function holds(where: string): Promise<CheckReport> {
  const r = await lab.ledger.check(lab.d, lab.scratch);
  assert.deepEqual(r.losses, [], `${where}: ${story.join('; ')}`);
  assert.ok(r.checked > 0, where);
  return r;
}

/** A backup of every VM into a datastore, waited for. */
async function backupAll(ds: number, reset = false): Promise<void> {
  const answers = await lab.backup(vms, ds, reset);
  assert.ok(
    answers.every((a) => a.endsWith('queued')),
    answers.join('\n'),
  );
  await lab.settle();
}

async function vmError(vm: number): Promise<string> {
  const xml = String(await rpcOk(lab.d, 'one.vm.info', vm, false));
  return /<ERROR><!\[CDATA\[(.*?)\]\]><\/ERROR>/s.exec(xml)?.[1] ?? '';
}

before(async () => {
  lab = await FaultLab.open({ seed, vmCount: 2, diskMiB: 12, dataMiB: 6, tmpfsMiB: 20 });
  vms = [...lab.vms.keys()];
  await backupAll(lab.datastore('plain').id);
  await backupAll(lab.datastore('secret').id);
  await holds('first backups');
});

after(async () => {
  await lab?.close();
  console.log(`fault-campaign: ${story.join('; ')}`);
});

describe('fault campaign (bounded)', () => {
  it('kill -9 during backups: restarted and run again, every backup restores bit-exact', async () => {
    for (let round = 0; round < 2; round++) {
      for (const vm of vms) lab.changeDisks(vm);
      const ds = lab.datastores[round % 2] as (typeof lab.datastores)[number];
      const before = lab.ledger.size;
      await lab.backup(vms, ds.id, round === 1);
      // Halfway through a backup, or when every backup already ended.
      for (;;) {
        const p = await lab.backupProgress();
        if (p.halfway || p.running === 0) break;
      }
      await lab.restart();
      story.push(`kill -9 during backups into ${ds.name}`);
      assert.deepEqual(tmpFiles(ds.base), [], 'writes in progress are removed at start');
      await lab.settle();
      await backupAll(ds.id);
      assert.ok(lab.ledger.size > before, 'the backups ran again');
      const r = await holds(`after kill ${round + 1}`);
      assert.equal(r.reportedBroken, 0);
    }
  });

  it('kill -9 during restores: the backups stay whole and restore again', async () => {
    for (const delay of [30, 150]) story.push(await lab.killDuringRestores(2, delay));
    for (const ds of lab.datastores) assert.deepEqual(tmpFiles(ds.base), []);
    const r = await holds('after killed restores');
    assert.equal(r.reportedBroken, 0);
  });

  it('ENOSPC on a small datastore: the backup fails clearly, leaves nothing, and the next one succeeds', async (t) => {
    if (lab.tmpfsRefused) return t.skip(`tmpfs cannot be mounted here: ${lab.tmpfsRefused}`);
    const small = lab.datastore('small');
    story.push(lab.fill(small, 3));
    const before = lab.ledger.size;
    const asked = await lab.backup([vms[0] as number], small.id);
    await lab.settle();
    assert.equal(lab.ledger.size, before, `no backup recorded: ${asked} ${await vmError(vms[0] as number)}`);
    // Refused before reading when the free space cannot hold it, or ENOSPC halfway: both say why.
    assert.match(
      await vmError(vms[0] as number),
      /no space left|ENOSPC|MiB free and this backup of VM \d+ may write/,
    );
    assert.deepEqual(manifestFiles(small.base), []);
    orphansAfterEnospc = chunkFiles(small.base);
    await holds('after ENOSPC');
    lab.unfill(small);
    const again = await lab.backup([vms[0] as number], small.id);
    await lab.settle();
    assert.equal(lab.ledger.size, before + 1, `${again} ${await vmError(vms[0] as number)}`);
    await holds('after space came back');
  });

  it('a corrupted or deleted chunk: reported broken, never restored wrong, written again by the next backup', async () => {
    const plain = lab.datastore('plain');
    for (const fault of [corruptChunk, deleteChunk]) {
      // A chunk of data the disks still hold, so that the next backup can write it again.
      for (const vm of vms) lab.changeDisks(vm);
      const known = new Set(manifestFiles(plain.base));
      await backupAll(plain.id);
      const newest = manifestFiles(plain.base).filter((m) => !known.has(m));
      story.push(fault(plain.base, lab.random, chunksOf(plain.base, newest)) ?? 'no chunk');
      const [ok, verdict] = await rpc(lab.d, 'one.datastore.verify', plain.id);
      assert.equal(ok, true);
      assert.match(String(verdict), /^FAILED: /, 'verify finds it');
      const hurt = await holds(`after ${fault.name}`);
      assert.ok(hurt.reportedBroken > 0, 'some backup was broken and said so');
      await backupAll(plain.id);
      const healed = await holds(`after ${fault.name} and a new backup`);
      assert.equal(healed.reportedBroken, 0, 'the new backup wrote the chunk again');
    }
  });

  it('a tampered or deleted manifest: its backup is reported broken, never restored wrong', async () => {
    const plain = lab.datastore('plain');
    let brokenBefore = (await holds('before manifest damage')).reportedBroken;
    for (const damage of ['flip', 'truncate', 'swap', 'delete'] as const) {
      for (const vm of vms) lab.changeDisks(vm);
      // One of this round's manifests: an earlier round's damage may have left its victim parsing.
      const known = new Set(manifestFiles(plain.base));
      await backupAll(plain.id);
      const fresh = manifestFiles(plain.base).filter((m) => !known.has(m));
      const what =
        damage === 'delete'
          ? deleteManifest(plain.base, lab.random, fresh)
          : corruptManifest(plain.base, lab.random, damage as ManifestDamage, fresh);
      assert.ok(what, damage);
      story.push(what);
      const r = await holds(`after manifest damage "${damage}"`);
      assert.ok(r.reportedBroken > brokenBefore, `${damage}: ${what}`);
      brokenBefore = r.reportedBroken;
    }
  });

  it('a deleted key: backups of that datastore reported broken, backups refused clearly; key-import heals', async () => {
    const secret = lab.datastore('secret');
    const before = lab.ledger.size;
    story.push(lab.deleteKey(secret));
    const r = await holds('after the key was deleted');
    assert.ok(r.reportedBroken > 0);
    await lab.backup([vms[0] as number], secret.id);
    await lab.settle();
    assert.equal(lab.ledger.size, before, 'no backup without the key');
    assert.match(await vmError(vms[0] as number), /encryption key .* key-import/);
    await lab.reimportKey(secret);
    await backupAll(secret.id);
    const healed = await lab.ledger.check(lab.d, lab.scratch, (b) => b.datastoreId === secret.id);
    assert.deepEqual(healed.losses, []);
    assert.equal(healed.reportedBroken, 0, 'every backup of the datastore restores again');
  });

  it('a backup that met ENOSPC removes the chunks it had written', (t) => {
    if (orphansAfterEnospc === undefined) return t.skip('no tmpfs datastore');
    assert.deepEqual(orphansAfterEnospc, []);
  });

  it('a manifest whose disk virtualSize was changed is refused, not restored to a disk of another size', async () => {
    const plain = lab.datastore('plain');
    story.push(corruptManifest(plain.base, lab.random, 'size') ?? 'no manifest');
    const r = await lab.ledger.check(lab.d, lab.scratch);
    assert.deepEqual(r.losses, [], story.join('; '));
  });
});
