#!/usr/bin/env node
// npm run demo (issue 5): a daemon on embedded defaults in a temporary directory, a host, three
// VMs with generated disk images, an encrypted datastore and two jobs; both jobs run, then
// `onebackupjob show`, a VM's backup log and a sample of /metrics are printed, one backup is
// restored and checked bit for bit (sha256), and everything is removed. Runs from dist/.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = (name) => join(REPO, 'dist', 'cli', `${name}.js`);
const MiB = 1024 * 1024;
const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'onebackup-demo-'));
const say = (text) => process.stdout.write(`\n== ${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

let daemon;
let env;

function cli(name, args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [CLI(name), ...args],
      { env, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${name} ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
    child.stdin.end(input ?? '');
  });
}

async function startDaemon() {
  const conf = join(dir, 'onebackupd.conf');
  // Embedded defaults, except the time zone (stable output) and the log level (a quiet demo).
  writeFileSync(conf, 'TIMEZONE = "UTC"\nLOG_LEVEL = "warn"\n');
  const child = spawn(
    process.execPath,
    [CLI('onebackupd'), '--config', conf, '--listen', '127.0.0.1:0', '--state-dir', dir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  const urls = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d.toString();
      const api = /listening on (\S+)/.exec(out)?.[1];
      const metrics = /metrics on (\S+)/.exec(out)?.[1];
      if (api && metrics) resolve({ api, metrics });
    });
    child.once('exit', (code) => reject(new Error(`onebackupd exited with ${code}`)));
  });
  return { child, ...urls };
}

/**
 * A disk image in 4 MiB blocks (the chunk size): random ones, a block repeated (deduplicated)
 * and holes (all-zero chunks), so the byte counters all have something to count.
 */
function makeDisk(path, mib) {
  const block = 4 * MiB;
  const fd = openSync(path, 'w');
  const repeated = randomBytes(block);
  for (let i = 0; i < mib / 4; i++) {
    if (i % 4 === 3) continue; // a hole: reads as zeros
    writeSync(fd, i % 4 === 2 ? repeated : randomBytes(block), 0, block, i * block);
  }
  closeSync(fd);
}

async function waitRunsEnded(job) {
  for (let i = 0; i < 1200; i++) {
    const runs = JSON.parse(await cli('onebackupjob', ['runs', String(job), '-j'])).RUNS;
    if (runs.length > 0 && runs.every((r) => r.END !== '0')) return runs[0];
    await sleep(100);
  }
  throw new Error(`job ${job}: the run did not end`);
}

async function main() {
  say(`onebackupd on embedded defaults, state in ${dir}`);
  daemon = await startDaemon();
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    TZ: 'UTC',
    ONE_XMLRPC: daemon.api,
    ONE_AUTH: join(dir, 'one_auth'),
    ONEBACKUP_STATE_DIR: dir,
  };
  console.log(`API ${daemon.api}\nmetrics ${daemon.metrics}`);

  say('a host, a datastore and three VMs with generated disks');
  await cli('onehost', ['create'], 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
  const ds = (
    await cli(
      'onedatastore',
      ['create'],
      'NAME = "backups"\nTYPE = "BACKUP_DS"\nCOMPRESSION = "zstd"\nENCRYPTION = "YES"\n',
    )
  ).trim();
  const dsId = /ID: (\d+)/.exec(ds)?.[1];
  mkdirSync(join(dir, 'vms'));
  const disks = new Map();
  for (const [i, name] of ['web-1', 'web-2', 'db-1'].entries()) {
    const disk = join(dir, 'vms', `${name}.raw`);
    makeDisk(disk, 24 + 8 * i);
    const id = /ID: (\d+)/.exec(
      await cli(
        'onevm',
        ['create'],
        `NAME = "${name}"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      ),
    )?.[1];
    disks.set(Number(id), disk);
  }
  console.log(await cli('onevm', ['list']));

  say('two backup jobs: "web" (INCREMENT, RPO 24h) and "db" (FULL, RPO 1h)');
  const web = /ID: (\d+)/.exec(
    await cli(
      'onebackupjob',
      ['create'],
      `NAME = "web"\nBACKUP_VMS = "0,1"\nDATASTORE_ID = ${dsId}\nMODE = "INCREMENT"\nEXECUTION = "PARALLEL"\nRPO = "24h"\n`,
    ),
  )?.[1];
  const db = /ID: (\d+)/.exec(
    await cli(
      'onebackupjob',
      ['create'],
      `NAME = "db"\nBACKUP_VMS = "2"\nDATASTORE_ID = ${dsId}\nPRIORITY = 40\nRPO = "1h"\n`,
    ),
  )?.[1];
  await cli('onebackupjob', ['backup', `${web},${db}`]);
  for (const job of [web, db]) {
    const run = await waitRunsEnded(job);
    if (run.RESULT !== 'done') throw new Error(`job ${job}: run ended ${run.RESULT}`);
  }
  console.log(await cli('onebackupjob', ['show', web]));
  console.log(await cli('onebackupjob', ['runs', web]));

  say('the backup log of VM 0 in job "web" (onebackupjob runs web --log 0)');
  console.log(await cli('onebackupjob', ['runs', web, '--log', '0']));

  say(`a sample of ${daemon.metrics}`);
  const text = await (await fetch(daemon.metrics)).text();
  const sample = text
    .split('\n')
    .filter((l) =>
      /^(onebackup_(job_vms|bytes_\w+_total|backup_duration_seconds_count|vm_rpo_\w+|job_last_\w+|slots_max|queue_depth|datastore_\w+_bytes)|opennebula_vm_backup_last_status)/.test(
        l,
      ),
    );
  console.log(sample.join('\n'));
  console.log(`(${text.split('\n').filter((l) => l && !l.startsWith('#')).length} samples in all)`);

  say('restore the newest backup of VM 2 and check it');
  const pool = await cli('oneimage', ['list', '-x']);
  const images = [...pool.matchAll(/<IMAGE>\s*<ID>(\d+)<\/ID>[\s\S]*?<NAME>([^<]*)<\/NAME>/g)].filter((m) =>
    m[2].startsWith('2 '),
  );
  const image = images.map((m) => Number(m[1])).sort((a, b) => b - a)[0];
  const restored = await cli('oneimage', ['restore', String(image)]);
  console.log(restored.trim());
  const file = /DISK 0: (\S+)/.exec(restored)?.[1];
  const want = sha(disks.get(2));
  const got = sha(file);
  console.log(`original sha256 ${want}\nrestored sha256 ${got}`);
  if (want !== got) throw new Error('restored disk differs from the original');
  say(`verified restore: identical. Demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function stop() {
  if (daemon && daemon.child.exitCode === null) {
    const exited = new Promise((r) => daemon.child.once('exit', r));
    daemon.child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  async () => {
    await stop();
    process.exit(0);
  },
  async (err) => {
    process.stderr.write(`demo failed: ${err.stack ?? err}\n`);
    await stop();
    process.exit(1);
  },
);
