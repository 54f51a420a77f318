/**
 * The permission matrix of the fault campaign (issue 10), generated from the XML-RPC method
 * table (core/api/methods.ts) so that a new method is covered or this test fails naming it: a
 * user without rights calls every method on an object of its kind that oneadmin owns (a host, a
 * datastore, a VM, a backup job, a backup image, another user, another group) and gets
 * AUTHORIZATION or NO_EXISTS, as OpenNebula answers, and nothing changes (the whole database and
 * the datastore's files are the same afterwards); methods without a target object are either
 * refused to a user (creating hosts, datastores, users, groups, importing) or act only on what is
 * hers (pools list none of oneadmin's objects); an unauthenticated call of any method answers
 * AUTHENTICATION.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { METHODS } from '../../core/api/methods.js';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { ErrorCode } from '../../core/errors.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcAs, rpcOk } from '../support/rpc.js';
import { stateRows } from '../support/state-rows.js';

let d: RunningDaemon;
let work: string;
const ALICE = 'alice:alice-password-1';
/** oneadmin's object of each kind, by the method name's kind. */
const target: Record<string, number> = {};
let aliceVm = -1;
let aliceUid = -1;

/** Methods with no target object: what a user without rights gets. */
const UNTARGETED: Readonly<Record<string, 'refused' | 'own' | 'pool' | 'open'>> = {
  'one.backupjob.allocate': 'own',
  'one.vm.allocate': 'own',
  'one.host.allocate': 'refused',
  'one.datastore.allocate': 'refused',
  'one.datastore.import': 'refused',
  'one.user.allocate': 'refused',
  'one.group.allocate': 'refused',
  'one.backupjobpool.info': 'pool',
  'one.vmpool.info': 'pool',
  'one.hostpool.info': 'pool',
  'one.datastorepool.info': 'pool',
  'one.imagepool.info': 'pool',
  'one.userpool.info': 'pool',
  'one.grouppool.info': 'pool',
  'one.vmpool.infoextended': 'pool',
  'one.clusterpool.info': 'open',
  'one.system.version': 'open',
  'one.system.config': 'open',
  // A restore or verify the caller tagged: only her own are found.
  'one.progress.info': 'open',
  // Any user may read the one cluster (OpenNebula's default ACLs let users USE clusters).
  'one.cluster.info': 'open',
  // A login token for a user named in the call: of a user that is not hers, refused.
  'one.user.login': 'refused',
};

const kindOf = (method: string) => method.split('.')[1] ?? '';

/** The arguments after the session: the target first, then a plausible value per parameter. */
function argsFor(method: string): XmlRpcValue[] {
  const def = METHODS[method];
  assert.ok(def);
  return def.params.map((p, i): XmlRpcValue => {
    if (i === 0 && p.name === 'id') return target[kindOf(method)] ?? 0;
    if (p.type === 'bool') return false;
    if (p.type === 'intArray') return [];
    if (p.type === 'int') {
      const ids: Record<string, number> = {
        datastore_id: target['datastore'] as number,
        image_id: target['image'] as number,
        vm_id: target['vm'] as number,
        uid: aliceUid,
        gid: 1,
        level: 1,
        priority: 10,
      };
      return ids[p.name] ?? (p.name.startsWith('owner_') || p.name.startsWith('other_') ? 1 : 0);
    }
    if (p.name === 'template' && method.includes('sched'))
      return 'SCHED_ACTION = [ REPEAT = "3", DAYS = "1", TIME = "1867236400", END_TYPE = "0" ]';
    if (p.name === 'template') return 'NAME = "taken"\nDESCRIPTION = "changed by alice"\n';
    if (p.name === 'username') return 'bob';
    return 'alice-was-here-1';
  });
}

/** Every row of every table, and every file of the state directory (names, sizes, times). */
async function snapshot(): Promise<string> {
  const h = createHash('sha256');
  // The daemon's heartbeat and host monitoring move on their own, not by any call.
  h.update(await stateRows(d.stateDir, ['daemons', 'host_health']));
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (/^onebackup\.db/.test(name)) continue;
      const st = statSync(path);
      h.update(`${path} ${st.size} ${st.mtimeMs}\n`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(join(d.stateDir, 'datastores'));
  return h.digest('hex');
}

before(async () => {
  work = tempDir('onebackup-perm-');
  d = await startDaemon();
  target['host'] = Number(await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n'));
  target['datastore'] = Number(await rpcOk(d, 'one.datastore.allocate', 'NAME="admins"\n'));
  const disk = join(work, 'vm.qcow2');
  makeDisk(disk, 'qcow2', '8M');
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -q -P 9 0 1M', disk]);
  target['vm'] = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="adminvm"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    ),
  );
  const r = await runCli(
    'onevm',
    ['backup', String(target['vm']), '-d', String(target['datastore']), '--wait'],
    d,
  );
  assert.equal(r.code, 0, r.stderr);
  target['image'] = Number(/image (\d+)/.exec(r.stdout)?.[1]);
  target['backupjob'] = Number(
    await rpcOk(
      d,
      'one.backupjob.allocate',
      `NAME="adminjob"\nBACKUP_VMS="${target['vm']}"\nDATASTORE_ID=${target['datastore']}\n`,
    ),
  );
  await rpcOk(
    d,
    'one.backupjob.schedadd',
    target['backupjob'],
    'SCHED_ACTION = [ REPEAT = "3", DAYS = "1", TIME = "1867236400", END_TYPE = "0" ]',
  );
  target['group'] = Number(await rpcOk(d, 'one.group.allocate', 'admins-only'));
  target['user'] = Number(await rpcOk(d, 'one.user.allocate', 'bob', 'bob-password-1', 'core', []));
  aliceUid = Number(await rpcOk(d, 'one.user.allocate', 'alice', 'alice-password-1', 'core', []));
  // Users may not create VMs on oneadmin's host: oneadmin gives her one.
  aliceVm = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="alicevm"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    ),
  );
  await rpcOk(d, 'one.vm.chown', aliceVm, aliceUid, 1);
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

describe('permission matrix', () => {
  it('every method is covered: it names a target object of a known kind, or is listed as untargeted', () => {
    const uncovered = Object.entries(METHODS)
      .filter(
        ([name, def]) =>
          UNTARGETED[name] === undefined &&
          (def.params[0]?.name !== 'id' || target[kindOf(name)] === undefined),
      )
      .map(([name]) => name);
    assert.deepEqual(
      uncovered,
      [],
      'not covered by the permission matrix: add them to test/e2e/permission-matrix.test.ts',
    );
  });

  it("a user without rights gets AUTHORIZATION or NO_EXISTS for every method on oneadmin's objects, and nothing changes", async () => {
    const before = await snapshot();
    const wrong: string[] = [];
    for (const name of Object.keys(METHODS)) {
      const targeted = METHODS[name]?.params[0]?.name === 'id';
      const expect = UNTARGETED[name] ?? (targeted ? 'refused' : undefined);
      if (expect !== 'refused') continue;
      const [ok, body, code] = await rpcAs(d, ALICE, name, ...argsFor(name));
      if (ok !== false || (code !== ErrorCode.AUTHORIZATION && code !== ErrorCode.NO_EXISTS))
        wrong.push(
          `${name}(${JSON.stringify(argsFor(name))}): ${String(ok)} ${String(code)} ${String(body).slice(0, 160)}`,
        );
    }
    assert.deepEqual(wrong, []);
    assert.equal(await snapshot(), before, 'a refused call changed the database or the datastore');
  });

  it("her own VM cannot reach oneadmin's datastore or image", async () => {
    const before = await snapshot();
    for (const [name, args] of [
      ['one.vm.backup', [aliceVm, target['datastore'] as number, false]],
      ['one.vm.restore', [aliceVm, target['image'] as number, -1, -1]],
    ] as const) {
      const [ok, body, code] = await rpcAs(d, ALICE, name, ...args);
      assert.equal(ok, false, `${name}: ${String(body)}`);
      assert.ok(
        code === ErrorCode.AUTHORIZATION || code === ErrorCode.NO_EXISTS,
        `${name}: ${code} ${String(body)}`,
      );
    }
    assert.equal(await snapshot(), before);
  });

  it("pools list none of oneadmin's VMs, images, jobs, datastores or groups to her", async () => {
    for (const [name, kind, tag] of [
      ['one.vmpool.info', 'vm', 'VM'],
      ['one.imagepool.info', 'image', 'IMAGE'],
      ['one.backupjobpool.info', 'backupjob', 'BACKUPJOB'],
    ] as const) {
      const [ok, body] = await rpcAs(d, ALICE, name, -2, -1, -1, ...(kind === 'vm' ? [-1] : []));
      assert.equal(ok, true, String(body));
      assert.doesNotMatch(String(body), new RegExp(`<${tag}>\\s*<ID>${target[kind]}</ID>`), name);
    }
  });

  it('an unauthenticated call of any method answers AUTHENTICATION', async () => {
    const before = await snapshot();
    const wrong: string[] = [];
    for (const [i, name] of Object.keys(METHODS).entries()) {
      const [ok, body, code] = await rpcAs(d, `ghost${i}:no-such-password`, name, ...argsFor(name));
      if (ok !== false || code !== ErrorCode.AUTHENTICATION)
        wrong.push(`${name}: ${String(code)} ${String(body)}`);
    }
    assert.deepEqual(wrong, []);
    assert.equal(await snapshot(), before);
  });
});
