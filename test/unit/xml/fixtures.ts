/** The BackupJob of SPEC.md 2.4 as the daemon writes it, and what `show -x` / `show -j` print for it. */

const PERMISSIONS =
  '<PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A><GROUP_U>0</GROUP_U>' +
  '<GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A><OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A>' +
  '</PERMISSIONS>';

/** Compact, as OpenNebula writes it: empty sets `<X></X>`, template values in CDATA. */
export const JOB_XML =
  '<BACKUPJOB><ID>2</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>' +
  '<NAME>Private Services &amp; más</NAME>' +
  PERMISSIONS +
  '<PRIORITY>50</PRIORITY><LAST_BACKUP_TIME>1767600000</LAST_BACKUP_TIME>' +
  '<LAST_BACKUP_DURATION>19</LAST_BACKUP_DURATION><SCHED_ACTIONS><ID>3</ID><ID>4</ID></SCHED_ACTIONS>' +
  '<UPDATED_VMS><ID>158</ID></UPDATED_VMS><OUTDATED_VMS><ID>162</ID></OUTDATED_VMS>' +
  '<BACKING_UP_VMS><ID>159</ID></BACKING_UP_VMS><ERROR_VMS></ERROR_VMS>' +
  '<TEMPLATE>' +
  '<BACKUP_VMS><![CDATA[158,159,162]]></BACKUP_VMS>' +
  '<DATASTORE_ID><![CDATA[100]]></DATASTORE_ID>' +
  '<DESCRIPTION><![CDATA[line one\n  <b>two</b> & "three"\n]]]]><![CDATA[> four]]></DESCRIPTION>' +
  '<DISK_IDS><![CDATA[]]></DISK_IDS>' +
  '<FS_FREEZE><![CDATA[NONE]]></FS_FREEZE>' +
  '<KEEP_LAST><![CDATA[4]]></KEEP_LAST>' +
  '<MODE><![CDATA[INCREMENT]]></MODE>' +
  '<SCHED_ACTION><ID>3</ID><PARENT_ID>2</PARENT_ID><TYPE>BACKUPJOB</TYPE><ACTION>backup</ACTION>' +
  '<ARGS></ARGS><TIME>1767603600</TIME><REPEAT>0</REPEAT><DAYS>1,5</DAYS><END_TYPE>0</END_TYPE>' +
  '<END_VALUE>-1</END_VALUE><DONE>-1</DONE><MESSAGE></MESSAGE><WARNING>0</WARNING></SCHED_ACTION>' +
  '<SCHED_ACTION><ID>4</ID><PARENT_ID>2</PARENT_ID><TYPE>BACKUPJOB</TYPE><ACTION>backup</ACTION>' +
  '<ARGS></ARGS><TIME>1767225600</TIME><REPEAT>3</REPEAT><DAYS>12</DAYS><END_TYPE>1</END_TYPE>' +
  '<END_VALUE>10</END_VALUE><DONE>-1</DONE>' +
  '<MESSAGE>Thu Jan  1 00:00:15 2026 : Unable to execute Backup Job, pending backups in progress</MESSAGE>' +
  '<WARNING>0</WARNING></SCHED_ACTION>' +
  '</TEMPLATE></BACKUPJOB>';

/** `onebackupjob show -x 2`, without the newline `puts` adds. */
export const JOB_PRETTY = `<BACKUPJOB>
  <ID>2</ID>
  <UID>0</UID>
  <GID>0</GID>
  <UNAME>oneadmin</UNAME>
  <GNAME>oneadmin</GNAME>
  <NAME>Private Services &amp; m&#xE1;s</NAME>
  <PERMISSIONS>
    <OWNER_U>1</OWNER_U>
    <OWNER_M>1</OWNER_M>
    <OWNER_A>0</OWNER_A>
    <GROUP_U>0</GROUP_U>
    <GROUP_M>0</GROUP_M>
    <GROUP_A>0</GROUP_A>
    <OTHER_U>0</OTHER_U>
    <OTHER_M>0</OTHER_M>
    <OTHER_A>0</OTHER_A>
  </PERMISSIONS>
  <PRIORITY>50</PRIORITY>
  <LAST_BACKUP_TIME>1767600000</LAST_BACKUP_TIME>
  <LAST_BACKUP_DURATION>19</LAST_BACKUP_DURATION>
  <SCHED_ACTIONS>
    <ID>3</ID>
    <ID>4</ID>
  </SCHED_ACTIONS>
  <UPDATED_VMS>
    <ID>158</ID>
  </UPDATED_VMS>
  <OUTDATED_VMS>
    <ID>162</ID>
  </OUTDATED_VMS>
  <BACKING_UP_VMS>
    <ID>159</ID>
  </BACKING_UP_VMS>
  <ERROR_VMS/>
  <TEMPLATE>
    <BACKUP_VMS><![CDATA[158,159,162]]></BACKUP_VMS>
    <DATASTORE_ID><![CDATA[100]]></DATASTORE_ID>
    <DESCRIPTION><![CDATA[line one
  <b>two</b> & "three"
]]]]><![CDATA[> four]]></DESCRIPTION>
    <DISK_IDS><![CDATA[]]></DISK_IDS>
    <FS_FREEZE><![CDATA[NONE]]></FS_FREEZE>
    <KEEP_LAST><![CDATA[4]]></KEEP_LAST>
    <MODE><![CDATA[INCREMENT]]></MODE>
    <SCHED_ACTION>
      <ID>3</ID>
      <PARENT_ID>2</PARENT_ID>
      <TYPE>BACKUPJOB</TYPE>
      <ACTION>backup</ACTION>
      <ARGS/>
      <TIME>1767603600</TIME>
      <REPEAT>0</REPEAT>
      <DAYS>1,5</DAYS>
      <END_TYPE>0</END_TYPE>
      <END_VALUE>-1</END_VALUE>
      <DONE>-1</DONE>
      <MESSAGE/>
      <WARNING>0</WARNING>
    </SCHED_ACTION>
    <SCHED_ACTION>
      <ID>4</ID>
      <PARENT_ID>2</PARENT_ID>
      <TYPE>BACKUPJOB</TYPE>
      <ACTION>backup</ACTION>
      <ARGS/>
      <TIME>1767225600</TIME>
      <REPEAT>3</REPEAT>
      <DAYS>12</DAYS>
      <END_TYPE>1</END_TYPE>
      <END_VALUE>10</END_VALUE>
      <DONE>-1</DONE>
      <MESSAGE>Thu Jan  1 00:00:15 2026 : Unable to execute Backup Job, pending backups in progress</MESSAGE>
      <WARNING>0</WARNING>
    </SCHED_ACTION>
  </TEMPLATE>
</BACKUPJOB>`;

const sched = (
  id: string,
  time: string,
  repeat: string,
  days: string,
  endType: string,
  endValue: string,
) => ({
  ID: id,
  PARENT_ID: '2',
  TYPE: 'BACKUPJOB',
  ACTION: 'backup',
  ARGS: {},
  TIME: time,
  REPEAT: repeat,
  DAYS: days,
  END_TYPE: endType,
  END_VALUE: endValue,
  DONE: '-1',
});

/** `onebackupjob show -j 2` as data. */
export const JOB_JSON = {
  BACKUPJOB: {
    ID: '2',
    UID: '0',
    GID: '0',
    UNAME: 'oneadmin',
    GNAME: 'oneadmin',
    NAME: 'Private Services & más',
    PERMISSIONS: {
      OWNER_U: '1',
      OWNER_M: '1',
      OWNER_A: '0',
      GROUP_U: '0',
      GROUP_M: '0',
      GROUP_A: '0',
      OTHER_U: '0',
      OTHER_M: '0',
      OTHER_A: '0',
    },
    PRIORITY: '50',
    LAST_BACKUP_TIME: '1767600000',
    LAST_BACKUP_DURATION: '19',
    SCHED_ACTIONS: { ID: ['3', '4'] },
    UPDATED_VMS: { ID: '158' },
    OUTDATED_VMS: { ID: '162' },
    BACKING_UP_VMS: { ID: '159' },
    ERROR_VMS: {},
    TEMPLATE: {
      BACKUP_VMS: '158,159,162',
      DATASTORE_ID: '100',
      DESCRIPTION: 'line one\n  <b>two</b> & "three"\n]]> four',
      DISK_IDS: '',
      FS_FREEZE: 'NONE',
      KEEP_LAST: '4',
      MODE: 'INCREMENT',
      SCHED_ACTION: [
        { ...sched('3', '1767603600', '0', '1,5', '0', '-1'), MESSAGE: {}, WARNING: '0' },
        {
          ...sched('4', '1767225600', '3', '12', '1', '10'),
          MESSAGE: 'Thu Jan  1 00:00:15 2026 : Unable to execute Backup Job, pending backups in progress',
          WARNING: '0',
        },
      ],
    },
  },
};
