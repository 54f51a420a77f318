/**
 * User and group documents as oned writes them (User::to_xml_extended, Group::to_xml_extended,
 * UserPool::dump, GroupPool::dump): info documents carry the (empty) quota sets and the default
 * quotas; pool documents list each object's short form followed by its QUOTAS. onebackup has no
 * quotas, so every quota set is empty (no limit). Password hashes are never written: PASSWORD is
 * empty, and a login token is shown by the SHA-256 of its text, which is all the daemon keeps.
 */
import type { GroupView, UserView } from '../services/users.js';
import { decodeAttributes } from '../template/attributes.js';
import { el, render, type XmlNode } from '../xml/build.js';
import { emptyQuotaEls, idsEl, num, templateEl } from './common.js';

function userEl(v: UserView, extended: boolean): XmlNode {
  const u = v.user;
  return el(
    'USER',
    num('ID', u.id),
    num('GID', u.gid),
    idsEl('GROUPS', [u.gid]),
    el('GNAME', v.gname),
    el('NAME', u.name),
    el('PASSWORD', ''),
    el('AUTH_DRIVER', 'core'),
    num('ENABLED', u.enabled),
    ...v.tokens.map((t) =>
      el('LOGIN_TOKEN', el('TOKEN', t.tokenHash), num('EXPIRATION_TIME', t.expiration), num('EGID', t.egid)),
    ),
    templateEl(decodeAttributes(u.template)),
    ...(extended ? [...emptyQuotaEls(), el('DEFAULT_USER_QUOTAS', ...emptyQuotaEls())] : []),
  );
}

const quotasEl = (id: number): XmlNode => el('QUOTAS', num('ID', id), ...emptyQuotaEls());

export const userXml = (v: UserView): string => render(userEl(v, true));
export const userPoolXml = (vs: readonly UserView[]): string =>
  render(
    el(
      'USER_POOL',
      ...vs.flatMap((v) => [userEl(v, false), quotasEl(v.user.id)]),
      el('DEFAULT_USER_QUOTAS', ...emptyQuotaEls()),
    ),
  );

function groupEl(v: GroupView, extended: boolean): XmlNode {
  const g = v.group;
  return el(
    'GROUP',
    num('ID', g.id),
    el('NAME', g.name),
    templateEl(decodeAttributes(g.template)),
    idsEl('USERS', v.members),
    el('ADMINS'),
    ...(extended
      ? [...emptyQuotaEls(), vlanRulesEl(g.id), el('DEFAULT_GROUP_QUOTAS', ...emptyQuotaEls())]
      : []),
  );
}

/** No VLAN rules: onebackup has no virtual networks. */
const vlanRulesEl = (id: number): XmlNode => el('VLAN_RULES', num('ID', id));

export const groupXml = (v: GroupView): string => render(groupEl(v, true));
export const groupPoolXml = (vs: readonly GroupView[]): string =>
  render(
    el(
      'GROUP_POOL',
      ...vs.flatMap((v) => [groupEl(v, false), quotasEl(v.group.id), vlanRulesEl(v.group.id)]),
      el('DEFAULT_GROUP_QUOTAS', ...emptyQuotaEls()),
    ),
  );
