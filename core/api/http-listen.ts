// Moved to the leaf core/http-listen.ts (metrics must not import the API). Kept only for
// core/metrics/http.ts until it imports '../http-listen.js'; delete this file then.
export { closeServer, listenOn } from '../http-listen.js';
