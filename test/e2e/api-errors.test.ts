/**
 * What the real daemon answers when a call cannot be served: method names that exist only on
 * Object.prototype are unknown methods (no login needed, no stack trace in the log); a corrupt
 * chunk or a missing key answers ACTION, not INTERNAL; a job template listing 50,000 VMs is
 * refused at once naming BACKUP_VMS and the limit, without holding other clients.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../../core/errors.js';
import { MAX_BACKUP_VMS } from '../../core/services/backupjob-template.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpc, rpcOk, rpcRaw } from '../support/rpc.js';

let d: RunningDaemon;
let work: string;

before(async () => {
  work = tempDir('onebackup-api-');
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="secret"\nENCRYPTION="YES"\n');
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

function assertNoInternalError(): void {
  assert.doesNotMatch(d.logs(), /internal error|TypeError| {4}at /);
}

describe('method lookup', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    it(`${name} is an unknown method (fault -506), answered before any login`, async () => {
      assert.deepEqual(await rpcRaw(d, name, ['nobody:nothing', 1]), {
        fault: { code: -506, message: `Method '${name}' not defined; see the OpenNebula XML-RPC reference` },
      });
      assertNoInternalError();
    });
  }
});

describe('BACKUP_VMS bound', () => {
  it('a job listing 50,000 VMs is refused at once, naming BACKUP_VMS and the limit; other calls go on', async () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => i).join(',');
    const start = performance.now();
    const [[ok, message, code], info] = await Promise.all([
      rpc(d, 'one.backupjob.allocate', `NAME="huge"\nBACKUP_VMS="${ids}"\nDATASTORE_ID=100\n`),
      rpc(d, 'one.hostpool.info'),
    ]);
    const took = performance.now() - start;
    assert.equal(ok, false);
    assert.equal(code, ErrorCode.ACTION);
    assert.match(
      String(message),
      new RegExp(
        `\\(BACKUP_VMS\\): BACKUP_VMS lists 50000 VMs; a backup job may list at most ${MAX_BACKUP_VMS}; split them over several backup jobs`,
      ),
    );
    assert.ok(String(message).length < 300, 'the message does not echo the list');
    assert.equal(info[0], true);
    assert.ok(took < 2000, `took ${Math.round(took)} ms`);
  });
});

describe('data errors answer ACTION', () => {
  let image = '';

  before(async () => {
    const disk = join(work, 'vm.raw');
    makeDisk(disk, 'raw', '4M');
    writeFileSync(disk, Buffer.alloc(1024 * 1024, 7), { flag: 'r+' });
    const vm = await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="v"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    );
    const r = await runCli('onevm', ['backup', String(vm), '-d', '100', '--wait'], d);
    assert.equal(r.code, 0, r.stderr);
    const m = /backup done, image (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    image = m[1] as string;
  });

  it('a restore that meets a corrupt chunk', async () => {
    const chunks = join(d.stateDir, 'datastores', '100', 'chunks');
    for (const sub of readdirSync(chunks)) {
      for (const name of readdirSync(join(chunks, sub))) {
        const path = join(chunks, sub, name);
        const bytes = readFileSync(path);
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
        writeFileSync(path, bytes);
      }
    }
    const [ok, message, code] = await rpc(d, 'one.image.restore', Number(image));
    assert.equal(ok, false, String(message));
    assert.equal(code, ErrorCode.ACTION, String(message));
    assert.match(String(message), /chunk/);
    assertNoInternalError();
  });

  it('a restore whose datastore key is missing', async () => {
    rmSync(join(d.stateDir, 'keys', 'datastore-100.key'));
    const [ok, message, code] = await rpc(d, 'one.image.restore', Number(image));
    assert.equal(ok, false, String(message));
    assert.equal(code, ErrorCode.ACTION, String(message));
    assert.match(String(message), /key/);
    assertNoInternalError();
  });
});
