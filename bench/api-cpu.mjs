// node bench/api-cpu.mjs [--vms 150 --calls 300 --rounds 1]  (after npm run build)
// The daemon's CPU per API call, one client calling in a loop: far less sensitive to the machine's
// load than bench:api's p99s. Starts a real onebackupd on a temporary state directory with 4
// hosts, `--vms` VMs (one shared 16 MiB raw disk) and a datastore, backs 40 of them up twice
// (images for imagepool.info), then per call kind sends `--calls` calls one after the other and
// reads the daemon's CPU time from /proc: the main thread's (the event loop, where documents are
// built) and the whole process's. Wrong passwords are sent last (throttled after a few).
// BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the daemon.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { call, startDaemon } from './xmlrpc-call.mjs';

const { values: flags } = parseArgs({
  options: {
    vms: { type: 'string', default: '150' },
    calls: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '1' },
  },
});
const VMS = Number(flags.vms);
const CALLS = Number(flags.calls);
const ROUNDS = Number(flags.rounds);
const BACKED_UP = Math.min(40, VMS);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** utime + stime in ms of /proc/<path>/stat (USER_HZ = 100). */
function cpuMs(path) {
  const fields = readFileSync(`/proc/${path}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'onebackup-bench-api-cpu-'));
  const { daemon, url: target } = await startDaemon(dir);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const session = readFileSync(join(dir, 'one_auth'), 'utf8').trim();
    const ok = async (method, ...params) => {
      const r = await call(target, agent, session, method, ...params);
      if (!r.ok) throw new Error(`${method}: ${r.text}`);
      return Number(/<i4>(\d+)<\/i4>/.exec(r.text)?.[1] ?? Number.NaN);
    };
    for (let h = 0; h < 4; h++) await ok('one.host.allocate', `NAME="node${h}"\nTRANSPORT="local"\n`);
    await ok('one.datastore.allocate', 'NAME="bench"\nTYPE="BACKUP_DS"\n');
    const disk = join(dir, 'vm.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '16M']);
    writeFileSync(disk, randomBytes(2 * 1024 * 1024), { flag: 'r+' });
    const vms = [];
    for (let i = 0; i < VMS; i++)
      vms.push(
        await ok(
          'one.vm.allocate',
          `NAME="vm${i}"\nHOST="node${i % 4}"\nSTATE="POWEROFF"\nLABELS="bench,x<y"\nBACKUP_CONFIG=[KEEP_LAST="2"]\nDISK=[SOURCE="${disk}"]\n`,
        ),
      );
    const job = await ok(
      'one.backupjob.allocate',
      `NAME="job"\nBACKUP_VMS="${vms.slice(0, BACKED_UP).join(',')}"\nDATASTORE_ID=100\nKEEP_LAST=2\n`,
    );
    for (let round = 0; round < 2; round++) {
      await ok('one.backupjob.backup', job);
      for (;;) {
        await sleep(500);
        const r = await call(target, agent, session, 'one.backupjob.info', job);
        if (
          !/OUTDATED_VMS>[^<]*<ID>|BACKING_UP_VMS>[^<]*<ID>/.test(
            r.text.replace(/&lt;/g, '<').replace(/&gt;/g, '>'),
          )
        )
          break;
      }
    }
    const kinds = [
      ['vmpool.info', () => ['one.vmpool.info', -2, -1, -1, -1]],
      ['imagepool.info', () => ['one.imagepool.info', -2, -1, -1]],
      ['hostpool.info', () => ['one.hostpool.info']],
      ['backupjobpool.info', () => ['one.backupjobpool.info', -2, -1, -1]],
      ['vm.info', (i) => ['one.vm.info', vms[i % vms.length]]],
    ];
    const main = `${daemon.pid}/task/${daemon.pid}`;
    const results = new Map();
    /** Each measured loop as [kind, start, end] in µs of the monotonic clock (a V8 CPU profile's). */
    const windows = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, args] of kinds) {
        let bytes = 0;
        for (let i = 0; i < 30; i++) await call(target, agent, session, ...args(i));
        const m0 = cpuMs(main);
        const p0 = cpuMs(String(daemon.pid));
        const t0 = performance.now();
        const h0 = process.hrtime.bigint();
        for (let i = 0; i < CALLS; i++) {
          const r = await call(target, agent, session, ...args(i));
          if (!r.ok) throw new Error(`${name}: ${r.text.slice(0, 300)}`);
          bytes = r.text.length;
        }
        const wall = performance.now() - t0;
        windows.push([name, Number(h0 / 1000n), Number(process.hrtime.bigint() / 1000n)]);
        const rec = results.get(name) ?? { main: [], proc: [], wall: [], bytes };
        rec.main.push((cpuMs(main) - m0) / CALLS);
        rec.proc.push((cpuMs(String(daemon.pid)) - p0) / CALLS);
        rec.wall.push(wall / CALLS);
        results.set(name, rec);
      }
      // Wrong passwords: after a few failures the throttle refuses them before any password check.
      const m0 = cpuMs(main);
      const p0 = cpuMs(String(daemon.pid));
      const t0 = performance.now();
      let throttled = 0;
      for (let i = 0; i < CALLS; i++) {
        const r = await call(target, agent, `oneadmin:wrong${i}`, 'one.vm.info', vms[0]);
        if (r.ok) throw new Error('a wrong password was accepted');
        if (/Too many failed logins/.test(r.text)) throttled++;
      }
      const rec = results.get('wrong password') ?? { main: [], proc: [], wall: [], bytes: 0, throttled };
      rec.main.push((cpuMs(main) - m0) / CALLS);
      rec.proc.push((cpuMs(String(daemon.pid)) - p0) / CALLS);
      rec.wall.push((performance.now() - t0) / CALLS);
      results.set('wrong password', rec);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `onebackupd, ${VMS} VMs, ${CALLS} calls per kind, one client, ${ROUNDS} round(s), medians; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    console.log('call                  bytes   main ms/call  process ms/call  wall ms/call');
    for (const [name, r] of results)
      console.log(
        `${name.padEnd(20)} ${String(r.bytes).padStart(7)} ${median(r.main).toFixed(2).padStart(13)} ${median(r.proc).toFixed(2).padStart(16)} ${median(r.wall).toFixed(2).padStart(13)}`,
      );
    // With BENCH_WINDOWS=<file>, the loops' intervals are written there (to cut a daemon's profile).
    if (process.env.BENCH_WINDOWS) writeFileSync(process.env.BENCH_WINDOWS, JSON.stringify(windows));
  } finally {
    agent.destroy();
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
