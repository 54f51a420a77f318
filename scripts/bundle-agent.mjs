// Bundles the host agent (drivers/remote/agent-main.ts, built by tsc into dist/) into one ES
// module, dist/agent/onebackup-agent.mjs, that the daemon sends to each SSH host. CommonJS
// dependencies (xml2js) get a real `require` through createRequire.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/drivers/remote/agent-main.js'],
  outfile: 'dist/agent/onebackup-agent.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __agentRequire } from 'node:module'; const require = __agentRequire(import.meta.url);",
  },
});
