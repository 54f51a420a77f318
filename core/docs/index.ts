export { backupJobPoolXml, backupJobXml, schedActionEl } from './backupjob.js';
export {
  datastorePoolXml,
  datastoreXml,
  groupPoolXml,
  groupXml,
  hostPoolXml,
  hostXml,
  imagePoolXml,
  imageXml,
  userPoolXml,
  userXml,
  vmPoolXml,
  vmXml,
} from './inventory.js';
export { runsXml } from './runs.js';
