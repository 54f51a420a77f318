// npm run faults [-- --faults 200 --seed N --vms 3]
// The long fault campaign (issue 10), from dist/: a real onebackupd with VMs on real raw and
// qcow2 disks, a plain, an encrypted and (when tmpfs can be mounted) a 32 MiB datastore. Between
// backups of changed disks (some with --reset) it injects `--faults` faults at random moments:
// kill -9 during backups or restores (then restart and run again), ENOSPC, corrupted or deleted
// chunks, tampered or deleted manifests, a deleted key (re-imported from its export afterwards).
// After each fault it restores a sample of the listed backups, every 20 faults and at the end all
// of them, and checks the ledger's invariant: every listed backup restores bit-exact (SHA-256 of
// its disks when it ran) or verify reports it broken. Prints what it tried and what was lost;
// exits 1 on any loss. The bounded version runs in npm test (test/e2e/fault-campaign.test.ts).
import { parseArgs } from 'node:util';

const dist = new URL('../dist/test/support/', import.meta.url);
const { FaultLab } = await import(new URL('fault-lab.js', dist).href);
const F = await import(new URL('datastore-faults.js', dist).href);
const { listBackups } = await import(new URL('ledger.js', dist).href);
const { rpc } = await import(new URL('rpc.js', dist).href);

const { values: flags } = parseArgs({
  options: {
    faults: { type: 'string', default: '200' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    vms: { type: 'string', default: '3' },
  },
});
const total = Number(flags.faults);
const seed = Number(flags.seed);
const started = Date.now();
const lab = await FaultLab.open({ seed, vmCount: Number(flags.vms), diskMiB: 12, dataMiB: 6, tmpfsMiB: 32 });
const random = lab.random;
const pick = (items) => items[Math.floor(random() * items.length)];
const vms = [...lab.vms.keys()];
const losses = new Map();
const tried = new Map();
let restoresChecked = 0;
let reportedBroken = 0;

console.log(
  `faults: seed ${seed}, ${total} faults, VMs ${vms.join(',')}, datastores ${lab.datastores.map((s) => `${s.id} ${s.name}`).join(', ')}`,
);
if (lab.tmpfsRefused) console.log(`no ENOSPC faults: tmpfs cannot be mounted (${lab.tmpfsRefused})`);

async function backupRound() {
  for (const vm of vms) if (random() < 0.6) lab.changeDisks(vm);
  const ds = pick(lab.datastores);
  await lab.backup(vms, ds.id, random() < 0.2);
  await lab.settle();
  return ds;
}

/** At most three images per VM: the oldest ones are deleted on purpose and leave the ledger. */
async function prune() {
  const images = new Map();
  for (const b of await listBackups(lab.d)) {
    const list = images.get(b.vmId) ?? new Set();
    list.add(b.imageId);
    images.set(b.vmId, list);
  }
  for (const ids of images.values()) {
    for (const id of [...ids].sort((a, b) => a - b).slice(0, -3)) {
      const [ok] = await rpc(lab.d, 'one.image.delete', id, false);
      if (ok === true) lab.ledger.forgetImage(id);
    }
  }
}

async function check(label, which) {
  const r = await lab.ledger.check(lab.d, lab.scratch, which);
  restoresChecked += r.checked;
  reportedBroken += r.reportedBroken;
  for (const l of r.losses) if (!losses.has(l)) losses.set(l, label);
  return `checked ${r.checked}, good ${r.good}, reported broken ${r.reportedBroken}, losses ${r.losses.length}`;
}

const kinds = [
  'kill-backup',
  'kill-restore',
  'corrupt-chunk',
  'delete-chunk',
  'corrupt-manifest',
  'delete-manifest',
  'delete-key',
];
if (!lab.tmpfsRefused) kinds.push('enospc');

try {
  for (const vm of vms) lab.changeDisks(vm);
  for (const ds of lab.datastores) {
    await lab.backup(vms, ds.id);
    await lab.settle();
  }
  for (let n = 1; n <= total; n++) {
    const kind = pick(kinds);
    tried.set(kind, (tried.get(kind) ?? 0) + 1);
    let what = '';
    let after;
    const ds =
      kind === 'delete-key'
        ? lab.datastore('secret')
        : kind === 'enospc'
          ? lab.datastore('small')
          : pick(lab.datastores);
    if (kind === 'kill-backup') {
      for (const vm of vms) lab.changeDisks(vm);
      await lab.backup(vms, ds.id, random() < 0.2);
      const until = Date.now() + Math.floor(random() * 1500);
      while (Date.now() < until && (await lab.backupProgress()).running > 0);
      await lab.restart();
      await lab.settle();
      what = `kill -9 during backups into ${ds.name}`;
    } else if (kind === 'kill-restore') {
      what = await lab.killDuringRestores(1 + Math.floor(random() * 2), Math.floor(random() * 400));
    } else if (kind === 'enospc') {
      what = lab.fill(ds, Math.floor(random() * 10));
      await lab.backup(vms, ds.id);
      await lab.settle();
      lab.unfill(ds);
    } else if (kind === 'delete-key') {
      what = lab.deleteKey(ds);
      after = async () => lab.reimportKey(ds);
    } else {
      const fault = {
        'corrupt-chunk': F.corruptChunk,
        'delete-chunk': F.deleteChunk,
        'corrupt-manifest': F.corruptManifest,
        'delete-manifest': F.deleteManifest,
      }[kind];
      what = fault(ds.base, random) ?? `nothing to hit in ${ds.name}`;
    }
    const sample = Math.min(1, 6 / Math.max(1, lab.ledger.size));
    const full = n % 20 === 0 || n === total;
    const result = await check(
      `#${n} ${kind}`,
      full ? undefined : (b) => b.datastoreId === ds.id || random() < sample,
    );
    console.log(`#${n} ${kind}: ${what} -> ${full ? 'all: ' : ''}${result}`);
    if (after) await after();
    await backupRound();
    await prune();
  }
  console.log(`final: ${await check('final')}`);
} finally {
  await lab.close();
}
const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(
  `\n${total} faults in ${minutes} min (${[...tried].map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
    `${restoresChecked} backups restored and compared, ${reportedBroken} times a broken one was reported by verify; ` +
    `${lab.ledger.size} backups in the ledger at the end`,
);
if (losses.size === 0) console.log('lost: nothing');
else {
  console.log(`LOST: ${losses.size}`);
  for (const [l, where] of losses) console.log(`  ${l} (first seen after ${where})`);
  process.exit(1);
}
