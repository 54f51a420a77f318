import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BackupJobDoc, templateValue } from '../../../cli/format/backupjob-doc.js';
import {
  BackupJobXmlError,
  parseBackupJobPoolXml,
  parseBackupJobXml,
} from '../../../cli/format/backupjob-doc-pull.js';
import { job2Xml, POOL_XML, SCHED3_TIME, SCHED4_MESSAGE } from './fixtures.js';

const NO_PERMS = {
  ownerU: false,
  ownerM: false,
  ownerA: false,
  groupU: false,
  groupM: false,
  groupA: false,
  otherU: false,
  otherM: false,
  otherA: false,
};

describe('parseBackupJobXml', () => {
  it('reads every element of the compact document the daemon sends', () => {
    const doc = parseBackupJobXml(job2Xml());
    const expected: BackupJobDoc = {
      id: 2,
      uid: 0,
      gid: 0,
      uname: 'oneadmin',
      gname: 'oneadmin',
      name: 'Private Services',
      permissions: { ...NO_PERMS, ownerU: true, ownerM: true },
      priority: 50,
      lastBackupTime: 1767600000,
      lastBackupDuration: 19,
      schedActionIds: [3, 4],
      updatedVms: [158],
      outdatedVms: [162],
      backingUpVms: [159],
      errorVms: [],
      template: [
        { kind: 'single', name: 'BACKUP_VMS', value: '158,159,162' },
        { kind: 'single', name: 'BACKUP_VOLATILE', value: 'NO' },
        { kind: 'single', name: 'DATASTORE_ID', value: '100' },
        { kind: 'single', name: 'EXECUTION', value: 'SEQUENTIAL' },
        { kind: 'single', name: 'FS_FREEZE', value: 'NONE' },
        { kind: 'single', name: 'KEEP_LAST', value: '4' },
        { kind: 'single', name: 'MODE', value: 'FULL' },
      ],
      schedActions: [
        {
          id: 3,
          parentId: 2,
          type: 'BACKUPJOB',
          action: 'backup',
          args: '',
          time: SCHED3_TIME,
          repeat: 0,
          days: '1,5',
          endType: 0,
          endValue: -1,
          done: -1,
          message: '',
          warning: 0,
          interval: '',
          cron: '',
        },
        {
          id: 4,
          parentId: 2,
          type: 'BACKUPJOB',
          action: 'backup',
          args: '',
          time: 1767225600,
          repeat: 3,
          days: '12',
          endType: 1,
          endValue: 10,
          done: -1,
          message: SCHED4_MESSAGE,
          warning: 0,
          interval: '',
          cron: '',
        },
      ],
    };
    assert.deepEqual(doc, expected);
    assert.equal('lock' in doc, false);
    assert.equal(templateValue(doc, 'KEEP_LAST'), '4');
    assert.equal(templateValue(doc, 'NOPE'), undefined);
  });

  it('reads LOCK, vectors in document order, entities, blanks and the pretty-printed form', () => {
    const xml = `<?xml version="1.0"?>
<BACKUPJOB>
  <ID>9</ID>
  <UID>3</UID>
  <GID>1</GID>
  <UNAME>alice</UNAME>
  <GNAME>users</GNAME>
  <NAME>a &amp; b</NAME>
  <LOCK>
    <LOCKED>4</LOCKED>
    <OWNER>3</OWNER>
    <TIME>1767600000</TIME>
    <REQ_ID>77</REQ_ID>
  </LOCK>
  <PERMISSIONS>
    <OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>1</OWNER_A>
    <GROUP_U>1</GROUP_U><GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A>
    <OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>1</OTHER_A>
  </PERMISSIONS>
  <PRIORITY>10</PRIORITY>
  <LAST_BACKUP_TIME>0</LAST_BACKUP_TIME>
  <LAST_BACKUP_DURATION>0</LAST_BACKUP_DURATION>
  <SCHED_ACTIONS/>
  <UPDATED_VMS/>
  <OUTDATED_VMS>
    <ID>5</ID>
    <ID>40</ID>
  </OUTDATED_VMS>
  <BACKING_UP_VMS/>
  <ERROR_VMS/>
  <TEMPLATE>
    <DESCRIPTION><![CDATA[  two blanks, <b> & "quotes"  ]]></DESCRIPTION>
    <EMPTY><![CDATA[]]></EMPTY>
    <LABELS>
      <Z><![CDATA[last]]></Z>
      <A><![CDATA[first]]></A>
    </LABELS>
  </TEMPLATE>
</BACKUPJOB>`;
    const doc = parseBackupJobXml(xml);
    assert.equal(doc.name, 'a & b');
    assert.deepEqual(doc.lock, { locked: 4, owner: 3, time: 1767600000, reqId: 77 });
    assert.deepEqual(doc.permissions, {
      ...NO_PERMS,
      ownerU: true,
      ownerM: true,
      ownerA: true,
      groupU: true,
      otherA: true,
    });
    assert.deepEqual(doc.outdatedVms, [5, 40]);
    assert.deepEqual(doc.schedActionIds, []);
    assert.deepEqual(doc.template, [
      { kind: 'single', name: 'DESCRIPTION', value: '  two blanks, <b> & "quotes"  ' },
      { kind: 'single', name: 'EMPTY', value: '' },
      {
        kind: 'vector',
        name: 'LABELS',
        values: new Map([
          ['Z', 'last'],
          ['A', 'first'],
        ]),
      },
    ]);
    const vector = doc.template[2];
    assert.deepEqual(vector?.kind === 'vector' ? [...vector.values.keys()] : [], ['Z', 'A']);
    assert.deepEqual(doc.schedActions, []);
  });

  it('a missing TEMPLATE or set reads as empty', () => {
    const doc = parseBackupJobXml(
      job2Xml([])
        .replace(/<TEMPLATE>.*<\/TEMPLATE>/, '')
        .replace('<ERROR_VMS></ERROR_VMS>', ''),
    );
    assert.deepEqual(doc.template, []);
    assert.deepEqual(doc.errorVms, []);
  });

  it('names the element of a broken document', () => {
    const bad = (xml: string, message: string) =>
      assert.throws(
        () => parseBackupJobXml(xml),
        (e: unknown) => e instanceof BackupJobXmlError && e.message === message,
      );
    bad(
      job2Xml().replace('<PRIORITY>50<', '<PRIORITY>high<'),
      'backup job 2: <PRIORITY> is "high", not an integer',
    );
    bad(job2Xml().replace('<UNAME>oneadmin</UNAME>', ''), 'backup job 2: <BACKUPJOB> has no <UNAME>');
    bad(
      job2Xml().replace('<ID>158</ID>', '<ID>x</ID>'),
      'backup job 2: <UPDATED_VMS> holds the ID "x", not an integer',
    );
    bad(job2Xml().replace('<OWNER_A>0</OWNER_A>', ''), 'backup job 2: <PERMISSIONS> has no <OWNER_A>');
    bad(
      job2Xml().replace('<TIME>1767603600</TIME>', '<TIME>soon</TIME>'),
      'backup job 2: <TIME> is "soon", not an integer',
    );
    bad('<VM><ID>1</ID></VM>', 'backup job: expected <BACKUPJOB>, got <VM>');
    assert.throws(
      () => parseBackupJobXml('<BACKUPJOB><ID>1</ID>'),
      (e: unknown) =>
        e instanceof BackupJobXmlError &&
        e.message.startsWith("backup job: the daemon's answer is not XML ("),
    );
    assert.throws(() => parseBackupJobXml('not xml'), BackupJobXmlError);
    assert.throws(() => parseBackupJobXml(''), BackupJobXmlError);
  });
});

describe('parseBackupJobPoolXml', () => {
  it('reads the jobs in pool order (newest first), without schedules', () => {
    const jobs = parseBackupJobPoolXml(POOL_XML);
    assert.deepEqual(
      jobs.map((j) => [j.id, j.name, j.priority, j.lastBackupTime, templateValue(j, 'BACKUP_VMS')]),
      [
        [2, 'Private Services', 50, 1767600000, '158,159,162'],
        [1, 'Production A very long name', 7, 0, '160,157,156,155,154'],
      ],
    );
    assert.deepEqual(jobs[0]?.schedActionIds, [3, 4]);
    assert.deepEqual(jobs[0]?.schedActions, []);
  });

  it('an empty pool is an empty list, in either form', () => {
    assert.deepEqual(parseBackupJobPoolXml('<BACKUPJOB_POOL></BACKUPJOB_POOL>'), []);
    assert.deepEqual(parseBackupJobPoolXml('<BACKUPJOB_POOL/>'), []);
  });

  it('names the entry of a broken job and refuses another root', () => {
    assert.throws(() => parseBackupJobPoolXml(POOL_XML.replace('<GID>0</GID>', '')), {
      message: 'backup job 2: <BACKUPJOB> has no <GID>',
    });
    assert.throws(() => parseBackupJobPoolXml('<VM_POOL></VM_POOL>'), {
      message: 'backup job pool: expected <BACKUPJOB_POOL>, got <VM_POOL>',
    });
    assert.throws(
      () => parseBackupJobPoolXml('<BACKUPJOB_POOL><BACKUPJOB><UID>0</UID></BACKUPJOB></BACKUPJOB_POOL>'),
      {
        message: 'backup job pool, entry 1: <BACKUPJOB> has no <ID>',
      },
    );
  });
});
