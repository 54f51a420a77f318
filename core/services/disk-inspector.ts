// The types live in the leaf core/disk-facts.ts (drivers use them too); kept here for the services' imports.
export type { DiskFacts, DiskInspector } from '../disk-facts.js';
