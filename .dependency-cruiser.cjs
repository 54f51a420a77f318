/**
 * Who may import whom: the rooms of ../shared/LAYERS.md as dependency-cruiser rules, so a wrong
 * import fails with the rule's own words. Run with `npm run check:layers`.
 *
 * Rooms (paths from the repository root):
 *   cli/                                  OpenNebula-shaped commands
 *   core/daemon.ts, core/config.ts        composition root (may import everything)
 *   core/api/, core/docs/                 XML-RPC transport, method table, XML documents
 *   core/services/                        use cases
 *   core/scheduler/                       decides what runs when
 *   core/engine/                          moves bytes
 *   core/store/                           the only code that runs queries
 *   core/metrics/                         reads state for Prometheus
 *   drivers/                              hypervisor and datastore drivers
 *   core/template/, core/schedule/, core/xml/   pure languages
 *   core/*.ts (but daemon.ts, config.ts)  leaf modules (errors, clock, model, permissions, events...)
 *
 * TypeScript 7 has no JavaScript compiler API that dependency-cruiser can load, so sources are
 * parsed with swc (`parser: 'swc'`); type-only imports count like any other import.
 */
const API = '^core/(api|docs)/';
const SERVICES = '^core/services/';
const SCHEDULER = '^core/scheduler/';
const ENGINE = '^core/engine/';
const STORE = '^core/store/';
const METRICS = '^core/metrics/';
const DRIVERS = '^drivers/';
const ROOT = '^core/(daemon|config)[.]ts$';
const LANGUAGES = '^core/(template|schedule|xml)/';
const LEAF = '^core/[^/]+[.]ts$';
const CLI = '^cli/';
/** The store's row types: no code, imported as leaf types by the rooms that render rows. */
const ROW_TYPES = '^core/store/schema[.]ts$';
/** Folders that are both the parent of rooms and a room of their own files. */
const AGGREGATES = '^(core|drivers|cli)$';

module.exports = {
  forbidden: [
    // "Never:" in LAYERS.md, one rule per line.
    {
      name: 'drivers-know-only-their-contract',
      comment:
        'drivers → services, engine, store: never (a driver knows only its contract). drivers/ may import ' +
        'their own contracts and leaf utilities only.',
      severity: 'error',
      from: { path: DRIVERS },
      to: { path: [SERVICES, ENGINE, STORE, SCHEDULER, API, METRICS, ROOT, CLI] },
    },
    {
      name: 'engine-returns-results',
      comment: 'engine → store, services: never (the engine returns results; its caller commits them).',
      severity: 'error',
      from: { path: ENGINE },
      to: { path: [STORE, SERVICES] },
    },
    {
      name: 'scheduler-calls-store-transitions',
      comment: 'scheduler → services, api: never (the scheduler calls store transitions).',
      severity: 'error',
      from: { path: SCHEDULER },
      to: { path: [SERVICES, API] },
    },
    {
      name: 'services-know-no-transport',
      comment: 'services → api: never (use cases know no transport).',
      severity: 'error',
      from: { path: SERVICES },
      to: { path: API },
    },
    {
      name: 'store-below-use-cases',
      comment: 'store → services, scheduler: never (the store is below use cases and decisions).',
      severity: 'error',
      from: { path: STORE },
      to: { path: [SERVICES, SCHEDULER] },
    },
    {
      name: 'metrics-read-through-store',
      comment: 'metrics → services: never (metrics read through the store).',
      severity: 'error',
      from: { path: METRICS },
      to: { path: SERVICES },
    },

    // "May import" in LAYERS.md: what each room may use, as what it may not.
    {
      name: 'engine-room',
      comment:
        'core/engine/ moves bytes: read, hash, compress, encrypt, write; returns what it did. ' +
        'It may import driver contracts and leaf modules.',
      severity: 'error',
      from: { path: ENGINE },
      to: { path: [SCHEDULER, API, METRICS, ROOT, CLI] },
    },
    {
      name: 'store-room',
      comment:
        'core/store/ is the only code that runs queries; it may import languages and leaf modules ' +
        '(never services, scheduler, engine, api, metrics, drivers).',
      severity: 'error',
      from: { path: STORE },
      to: { path: [ENGINE, API, METRICS, DRIVERS, ROOT, CLI] },
    },
    {
      name: 'services-room',
      comment:
        'core/services/ (use cases: permission checks, then store transitions) may import store, languages, leaf modules.',
      severity: 'error',
      from: { path: SERVICES },
      to: { path: [SCHEDULER, ENGINE, METRICS, DRIVERS, ROOT, CLI] },
    },
    {
      name: 'scheduler-room',
      comment:
        "core/scheduler/ decides what runs when; it may import store transitions, the engine's entry, leaf modules.",
      severity: 'error',
      from: { path: SCHEDULER },
      to: { path: [METRICS, DRIVERS, ROOT, CLI] },
    },
    {
      name: 'metrics-room',
      comment:
        'core/metrics/ reads state for Prometheus and writes nothing; it may import store reads and leaf modules.',
      severity: 'error',
      from: { path: METRICS },
      to: { path: [SCHEDULER, ENGINE, API, DRIVERS, ROOT, CLI] },
    },
    {
      name: 'api-room',
      comment:
        'core/api/, core/docs/ (XML-RPC transport, method table, XML documents) may import services, languages, leaf types.',
      severity: 'error',
      from: { path: API },
      // core/store/schema.ts is types only (the rows services hand out in their views): leaf types.
      to: { path: [SCHEDULER, ENGINE, STORE, METRICS, DRIVERS, ROOT, CLI], pathNot: ROW_TYPES },
    },
    {
      name: 'languages-are-pure',
      comment:
        "core/template/, core/schedule/, core/xml/ are pure languages: they may import each other's leaves and leaf modules.",
      severity: 'error',
      from: { path: LANGUAGES },
      to: { pathNot: [LANGUAGES, LEAF] },
    },
    {
      name: 'leaf-modules-import-nothing-above',
      comment:
        'leaf modules (errors, clock, model, permissions, events) hold shared types and values: nothing above them.',
      severity: 'error',
      from: { path: LEAF, pathNot: ROOT },
      to: { path: '^(core|drivers|cli)/', pathNot: LEAF },
    },
    {
      name: 'core-never-imports-cli',
      comment: 'core/ never imports cli/ (the commands are a client of the daemon).',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: CLI },
    },
    {
      name: 'cli-not-daemon-insides',
      comment:
        "cli/ may import the XML-RPC codec and the template/xml languages; never the daemon's insides " +
        '(cli/onebackupd.ts, the daemon entry, composes the daemon).',
      severity: 'error',
      from: { path: CLI, pathNot: '^cli/onebackupd[.]ts$' },
      to: { path: [SERVICES, SCHEDULER, ENGINE, STORE, METRICS, DRIVERS, ROOT] },
    },

    // Issue 9: no import cycles between directories.
    // The folders core, drivers and cli are left out as ends of an edge: dependency-cruiser counts
    // a folder's subfolders in it, so `core` (the leaf modules everyone imports, plus the engine
    // that imports drivers/) would be in a cycle with `drivers` by construction. The leaf rule
    // keeps core/*.ts at the bottom instead, and no-circular catches module cycles through them.
    {
      name: 'no-circular-directories',
      comment: 'No import cycles between directories: the rooms form a DAG.',
      severity: 'error',
      scope: 'folder',
      from: { pathNot: AGGREGATES },
      to: { circular: true, pathNot: AGGREGATES },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles between modules either.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    // The composition root may import everything, and it shares core/ with the leaf modules that
    // everything imports: its own imports are not followed, so core/ as a folder is not made part
    // of every cycle by it. Imports *of* the root are still checked (only the root and cli/onebackupd.ts may).
    doNotFollow: { path: ['node_modules', ROOT] },
    exclude: { path: ['^dist/', '^node_modules/'] },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
