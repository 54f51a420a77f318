import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { decodeMethodResponse } from '../../core/api/xmlrpc.js';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { cleanup, oneadminSession, type RunningDaemon, startDaemon } from '../support/daemon.js';
import { rpcRaw } from '../support/rpc.js';

/** A call whose parameters are given whole (the session among them). */
async function rpc(d: RunningDaemon, method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue[]> {
  const decoded = await rpcRaw(d, method, params);
  if ('fault' in decoded) throw new Error(`fault ${decoded.fault.code}: ${decoded.fault.message}`);
  return decoded.value as XmlRpcValue[];
}

describe('onebackupd as a child process', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d.stop();
    cleanup(d.stateDir);
  });

  it('writes oneadmin credentials with mode 0600', () => {
    assert.equal(statSync(d.authFile).mode & 0o777, 0o600);
    assert.match(oneadminSession(d), /^oneadmin:[0-9a-f]{32}$/);
  });

  it('answers one.system.version to oneadmin', async () => {
    const [ok, version, code] = await rpc(d, 'one.system.version', oneadminSession(d));
    assert.equal(ok, true);
    assert.equal(typeof version, 'string');
    assert.equal(code, 0);
  });

  it('rejects a wrong password with AUTHENTICATION (0x0100)', async () => {
    const [ok, message, code] = await rpc(d, 'one.backupjobpool.info', 'oneadmin:wrong', -2, -1, -1);
    assert.equal(ok, false);
    assert.equal(code, 0x0100);
    assert.equal(message, "[one.backupjobpool.info] User couldn't be authenticated, aborting call.");
  });

  it('answers an unknown method with the fault oned answers (-506)', async () => {
    const r = await rpcRaw(d, 'one.nothing.here', [oneadminSession(d)]);
    assert.ok('fault' in r, JSON.stringify(r));
    assert.equal(r.fault.code, -506);
    assert.match(r.fault.message, /^Method 'one\.nothing\.here' not defined/);
  });

  it('answers wrong argument types with the fault oned answers (-501), naming the argument', async () => {
    const r = await rpcRaw(d, 'one.backupjob.info', [oneadminSession(d), 'seven']);
    assert.deepEqual(r, {
      fault: {
        code: -501,
        message:
          'Parameter that is supposed to be integer is not: argument 2 (id) of one.backupjob.info must be an int, got the string "seven"',
      },
    });
  });

  it('answers malformed XML and oversized bodies with a fault, and keeps serving', async () => {
    const bad = await fetch(d.url, { method: 'POST', body: '<methodCall><methodName>x' });
    const badDecoded = decodeMethodResponse(await bad.text());
    assert.ok('fault' in badDecoded);
    const big = await fetch(d.url, { method: 'POST', body: 'x'.repeat(17 * 1024 * 1024) }).catch(
      (e: unknown) => e,
    );
    if (big instanceof Response) {
      const decoded = decodeMethodResponse(await big.text());
      assert.ok('fault' in decoded && /MAX_REQUEST_BYTES/.test(decoded.fault.message));
    }
    const [ok] = await rpc(d, 'one.system.version', oneadminSession(d));
    assert.equal(ok, true);
  });

  it('stops cleanly on SIGTERM with exit status 0', async () => {
    const other = await startDaemon();
    try {
      assert.equal(await other.stop('SIGTERM'), 0);
      assert.match(other.logs(), /stopped/);
    } finally {
      cleanup(other.stateDir);
    }
  });
});
