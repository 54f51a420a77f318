// npm run bench:hosts [-- SIZE_MIB]   (default 768)
// A backup of a VM on a host reached over SSH into an rsync datastore on another SSH server,
// against the same backup all local (host TRANSPORT = "local", local datastore), in one run:
// both sshd are real (Debian's openssh-server) on loopback addresses, so the ratio prices the
// SSH transport and the agent (encryption of the connection, framing, copies), not a network.
// The disk: half random, a quarter repeated text, a quarter zeros (sparse). Each run backs up
// into a fresh datastore, so nothing is deduplicated against a previous run. Then an increment
// after rewriting 5% of the 4 MiB blocks: the bytes that crossed the host's SSH connection
// (onebackup_host_agent_bytes_total) and the datastore's against the bytes that changed.
// Then the same on an ENCRYPTED local datastore, RUNS times: a full (host digests recorded by the
// daemon's workers), 5% rewritten, an increment (the agent hashes every chunk with the disk's
// host digest key): bytes crossed and read against the bytes changed, and the increment's
// `digests` phase, what asking the agent for every chunk's digest costs (what a full would add
// if it asked the agent instead of hashing in the daemon).
// Durations are the engine's own (DURATION_MS of the increment). Medians of 3 runs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const { tempDir, cleanup, startDaemon, runCli } = await import(join(DIST, 'test/support/daemon.js'));
const { startSshd } = await import(join(DIST, 'test/support/sshd.js'));

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const SIZE_MIB = Number(process.argv[2] ?? 768);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const root = tempDir('onebackup-bench-hosts-');
const hostDir = join(root, 'host');
const serverDir = join(root, 'server');
mkdirSync(hostDir);
mkdirSync(serverDir);

/** The disk: random, repeated text, then a sparse quarter. */
function writeDisk(path) {
  const fd = openSync(path, 'w');
  const text = Buffer.alloc(
    CHUNK,
    'The quick brown fox jumps over the lazy dog; onebackup bench line 0123456789.\n',
  );
  const chunks = SIZE_MIB / 4;
  for (let i = 0; i < chunks; i++) {
    if (i < chunks / 2) writeSync(fd, randomBytes(CHUNK), 0, CHUNK, i * CHUNK);
    else if (i < (chunks * 3) / 4) writeSync(fd, text, 0, CHUNK, i * CHUNK);
  }
  closeSync(fd);
  execFileSync('truncate', ['-s', `${SIZE_MIB}M`, path]);
}

/** Rewrites 5% of the 4 MiB blocks with new random bytes; returns the bytes changed. */
function change5(path) {
  const fd = openSync(path, 'r+');
  const chunks = SIZE_MIB / 4;
  let changed = 0;
  for (let i = 0; i < chunks; i += 20) {
    writeSync(fd, randomBytes(CHUNK), 0, CHUNK, i * CHUNK);
    changed += CHUNK;
  }
  closeSync(fd);
  return changed;
}

const host = await startSshd(hostDir, '127.0.0.2');
const server = await startSshd(serverDir, '127.0.0.5');
// Debug: the `backup phases (ms)` line of each backup (a few lines per backup).
const d = await startDaemon({
  conf: 'LOG_LEVEL = "debug"\nTIMEZONE = "UTC"\nMONITORING_INTERVAL_HOST = 0\n',
});
/** A phase of the last `backup phases (ms)` debug line, ms. */
const lastPhase = (name) => {
  const line = d
    .logs()
    .split('\n')
    .findLast((l) => l.includes('msg="backup phases (ms)"'));
  return Number(new RegExp(` ${name}=(\\d+)`).exec(line ?? '')?.[1] ?? Number.NaN);
};
const cli = async (name, args, input) => {
  const r = await runCli(name, args, d, input === undefined ? {} : { input });
  if (r.code !== 0)
    throw new Error(`${name} ${args.join(' ')}: ${r.stdout}\n${r.stderr}\n${d.logs().slice(-3000)}`);
  return r.stdout;
};
const metricsUrl = d.url.replace(/\/RPC2$/, '/metrics');
async function agentBytes() {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const m of text.matchAll(/^onebackup_host_agent_bytes_total\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
  return sum;
}
const field = (xml, name) => Number(new RegExp(`<${name}>(\\d+)</${name}>`).exec(xml)?.[1] ?? 0);
const lastIncrement = (xml) => [...xml.matchAll(/<INCREMENT>([\s\S]*?)<\/INCREMENT>/g)].at(-1)?.[1] ?? '';

try {
  await cli('onehost', ['create'], 'NAME = "local"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
  await cli('onehost', ['create'], host.hostTemplate('fs'));
  const disk = join(hostDir, 'disk.raw');
  writeDisk(disk);
  const vm = async (name, where) =>
    Number(
      /ID: (\d+)/.exec(
        await cli(
          'onevm',
          ['create'],
          `NAME = "${name}"\nHOST = "${where}"\nSTATE = "POWEROFF"\nBACKUP_CONFIG = [ MODE = "INCREMENT" ]\nDISK = [ SOURCE = "${disk}" ]\n`,
        ),
      )?.[1],
    );
  const localVm = await vm('local-vm', 'local');
  const remoteVm = await vm('remote-vm', host.host);
  let dsCount = 0;
  const datastore = async (remote, encrypted = false) => {
    dsCount++;
    const base = join(remote ? serverDir : root, `ds${dsCount}`);
    const attrs = `${remote ? server.attributes(base) : `BASE_PATH = "${base}"`}${encrypted ? '\nENCRYPTION = "YES"' : ''}`;
    return Number(
      /ID: (\d+)/.exec(
        await cli('onedatastore', ['create'], `NAME = "ds${dsCount}"\nTYPE = "BACKUP_DS"\n${attrs}\n`),
      )?.[1],
    );
  };
  const backup = async (vmId, ds) => {
    const out = await cli('onevm', ['backup', String(vmId), '-d', String(ds), '--wait']);
    const image = /backup done, image (\d+)/.exec(out)?.[1];
    return lastIncrement(await cli('oneimage', ['show', image, '-x']));
  };
  // Every combination, so the cost of each SSH leg shows: host (agent) and datastore (SFTP).
  const combos = [
    ['local host -> local datastore', localVm, false],
    ['SSH host -> local datastore', remoteVm, false],
    ['local host -> rsync datastore', localVm, true],
    ['SSH host -> rsync datastore', remoteVm, true],
  ];
  const full = new Map(combos.map(([name]) => [name, []]));
  let lastRemoteDs;
  for (let r = 0; r < RUNS; r++)
    for (const [name, vmId, remoteDs] of r % 2 === 0 ? combos : [...combos].reverse()) {
      const ds = await datastore(remoteDs);
      if (vmId === remoteVm && remoteDs) lastRemoteDs = ds;
      full.get(name).push(field(await backup(vmId, ds), 'DURATION_MS'));
    }
  // The increment: the remote VM's last datastore holds its full backup.
  const changed = change5(disk);
  const before = await agentBytes();
  const inc = await backup(remoteVm, lastRemoteDs);
  const crossed = (await agentBytes()) - before;
  const stored = field(inc, 'BYTES_STORED');
  console.log(
    `disk ${SIZE_MIB} MiB (half random, a quarter text, a quarter sparse); load ${loadavg()[0].toFixed(2)}`,
  );
  const reference = median(full.get(combos[0][0]));
  for (const [name] of combos) {
    const ms = median(full.get(name));
    console.log(
      `full backup, ${name.padEnd(30)} ${String(ms).padStart(6)} ms, throughput ratio to all local ${(reference / ms).toFixed(2)} (runs ${full.get(name).join(', ')})`,
    );
  }
  console.log('goal: SSH host -> rsync datastore at 0.8 of all local or better');
  // The SSH ceiling on this machine: the disk's bytes through one connection, nothing else.
  const sshCat = [];
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    execFileSync(
      'ssh',
      [
        ...['-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${host.knownHosts}`, '-i', host.clientKey],
        ...['-o', 'Ciphers=^aes128-gcm@openssh.com', '-p', String(host.port), host.host, `cat ${disk}`],
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 0 },
    );
    sshCat.push(Math.round(performance.now() - t));
  }
  const sshHostLocal = median(full.get(combos[1][0]));
  console.log(
    `ssh host 'cat disk' > /dev/null (every byte of the ${SIZE_MIB} MiB file): ${median(sshCat)} ms; SSH host -> local datastore against it: ${(median(sshCat) / sshHostLocal).toFixed(2)}`,
  );
  console.log(
    `increment after 5% changed (${(changed / MiB).toFixed(0)} MiB): host -> daemon ${(crossed / MiB).toFixed(1)} MiB (${(crossed / changed).toFixed(2)}x the changed bytes), daemon -> datastore ${(stored / MiB).toFixed(1)} MiB (${(stored / changed).toFixed(2)}x)`,
  );
  // Encrypted datastore: a full, 5% rewritten, an increment; RUNS times, each in a fresh datastore.
  const sealed = { full: [], inc: [], digests: [], crossed: [], read: [], changed: [] };
  for (let r = 0; r < RUNS; r++) {
    const ds = await datastore(false, true);
    sealed.full.push(field(await backup(remoteVm, ds), 'DURATION_MS'));
    sealed.changed.push(change5(disk));
    const at = await agentBytes();
    const xml = await backup(remoteVm, ds);
    sealed.crossed.push((await agentBytes()) - at);
    sealed.inc.push(field(xml, 'DURATION_MS'));
    sealed.read.push(field(xml, 'BYTES_READ'));
    sealed.digests.push(lastPhase('digests'));
  }
  const sealedChanged = median(sealed.changed);
  console.log(
    `encrypted local datastore, SSH host: full ${median(sealed.full)} ms (runs ${sealed.full.join(', ')}; unencrypted ${sshHostLocal} ms, ratio ${(median(sealed.full) / sshHostLocal).toFixed(2)})`,
  );
  console.log(
    `encrypted, increment after 5% changed (${(sealedChanged / MiB).toFixed(0)} MiB): ${median(sealed.inc)} ms; host -> daemon ${(median(sealed.crossed) / MiB).toFixed(1)} MiB (${(median(sealed.crossed) / sealedChanged).toFixed(2)}x the changed bytes; runs ${sealed.crossed.map((c) => (c / sealedChanged).toFixed(2)).join(', ')}), read ${(median(sealed.read) / MiB).toFixed(1)} MiB; asking the agent for every chunk's digest (digests phase) ${median(sealed.digests)} ms (runs ${sealed.digests.join(', ')})`,
  );
} finally {
  await d.stop();
  await host.stop();
  await server.stop();
  cleanup(root);
}
