import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyChmod,
  DEFAULT_PERMISSION_BITS,
  isAuthorized,
  isBlockedByLock,
  permissionsFromBits,
  permissionsToBits,
  permissionsToOctal,
  type Requester,
  triplet,
} from '../../../core/permissions.js';

const owner: Requester = { uid: 5, gid: 100, uname: 'alice', gname: 'team', isAdmin: false };
const teammate: Requester = { uid: 6, gid: 100, uname: 'bob', gname: 'team', isAdmin: false };
const stranger: Requester = { uid: 7, gid: 1, uname: 'carol', gname: 'users', isAdmin: false };
const admin: Requester = { uid: 0, gid: 0, uname: 'oneadmin', gname: 'oneadmin', isAdmin: true };

describe('permissions', () => {
  it('default umask 177 gives OWNER um-, GROUP ---, OTHER ---', () => {
    const p = permissionsFromBits(DEFAULT_PERMISSION_BITS);
    assert.equal(triplet(p, 'owner'), 'um-');
    assert.equal(triplet(p, 'group'), '---');
    assert.equal(triplet(p, 'other'), '---');
    assert.equal(permissionsToOctal(p), '600');
  });

  it('bits round-trip for every value', () => {
    for (let bits = 0; bits < 512; bits++) assert.equal(permissionsToBits(permissionsFromBits(bits)), bits);
  });

  it('chmod sets, clears and keeps (-1)', () => {
    const p = applyChmod(permissionsFromBits(DEFAULT_PERMISSION_BITS), [-1, 0, 1, 1, -1, -1, -1, -1, -1]);
    assert.equal(triplet(p, 'owner'), 'u-a');
    assert.equal(triplet(p, 'group'), 'u--');
  });

  it('authorizes owner, group and other by their bits; admins always', () => {
    const obj = { uid: 5, gid: 100, permissions: permissionsFromBits(0o640) };
    // 640 in ONE's octal: OWNER u m -, GROUP u - -, OTHER - - -
    assert.equal(isAuthorized(owner, obj, 'MANAGE'), true);
    assert.equal(isAuthorized(owner, obj, 'ADMIN'), false);
    assert.equal(isAuthorized(teammate, obj, 'USE'), true);
    assert.equal(isAuthorized(teammate, obj, 'MANAGE'), false);
    assert.equal(isAuthorized(stranger, obj, 'USE'), false);
    assert.equal(isAuthorized(admin, obj, 'ADMIN'), true);
  });

  it('locks block like OpenNebula: 1/4 use+, 2 manage+, 3 admin; never INFO', () => {
    const table: [number, boolean, boolean, boolean][] = [
      [0, false, false, false],
      [1, true, true, true],
      [2, false, true, true],
      [3, false, false, true],
      [4, true, true, true],
    ];
    for (const [level, use, manage, adminOp] of table) {
      assert.equal(isBlockedByLock(level, 'USE'), use, `level ${level} USE`);
      assert.equal(isBlockedByLock(level, 'MANAGE'), manage, `level ${level} MANAGE`);
      assert.equal(isBlockedByLock(level, 'ADMIN'), adminOp, `level ${level} ADMIN`);
      assert.equal(isBlockedByLock(level, 'INFO'), false);
    }
  });
});
