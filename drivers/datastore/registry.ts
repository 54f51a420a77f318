/** Datastore drivers by DS_MAD name. `local`: a directory on this host. */
export const DATASTORE_DRIVER_NAMES: readonly string[] = Object.freeze(['local']);
