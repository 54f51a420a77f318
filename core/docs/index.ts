export { groupPoolXml, groupXml, userPoolXml, userXml } from './accounts.js';
export { backupJobPoolXml, backupJobXml, schedActionEl } from './backupjob.js';
export {
  datastorePoolXml,
  datastoreXml,
  hostPool,
  hostPoolXml,
  hostXml,
  imagePool,
  imagePoolXml,
  imageXml,
} from './inventory.js';
export { runsXml } from './runs.js';
export { clusterPoolXml, clusterXml, progressXml, systemConfigXml } from './system.js';
export { vmPool, vmPoolExtendedXml, vmPoolXml, vmStateCode, vmXml } from './vm.js';
