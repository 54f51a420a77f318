// The API benches' (api.mjs, api-cpu.mjs) daemon and client: startDaemon(dir) starts onebackupd
// on a state directory, listening on a free port (BENCH_DAEMON_NODE_ARGS go to its node, e.g.
// --cpu-prof); call() makes one XML-RPC call over a kept-alive http.Agent and resolves
// { ok, code, text }. A request sent on a kept-alive socket the daemon
// was closing as idle (keepAliveTimeout) is sent again on a new one, as Node's http
// documentation advises (`request.reusedSocket`); `staleSocketRetries` counts them.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

export const retries = { staleSocketRetries: 0 };

function xmlValue(v) {
  if (typeof v === 'number') return `<int>${v}</int>`;
  if (typeof v === 'boolean') return `<boolean>${v ? 1 : 0}</boolean>`;
  return `<string>${String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</string>`;
}

const body = (method, params) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params
    .map((p) => `<param><value>${xmlValue(p)}</value></param>`)
    .join('')}</params></methodCall>`;

export function call(target, agent, session, method, ...params) {
  const payload = body(method, [session, ...params]);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: '/RPC2',
        method: 'POST',
        agent,
        headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          const ok = /<array><data>\s*<value><boolean>1<\/boolean>/.test(text);
          const code = Number(/<i4>(\d+)<\/i4><\/value>\s*<\/data><\/array>/.exec(text)?.[1] ?? -1);
          resolve({ ok, code: ok ? 0 : code, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err) => {
      if (req.reusedSocket && err.code === 'ECONNRESET') {
        retries.staleSocketRetries++;
        call(target, agent, session, method, ...params).then(resolve, reject);
      } else reject(err);
    });
    req.end(payload);
  });
}

/** onebackupd on `dir` (LOG_LEVEL error); resolves { daemon, url } once it listens. */
export async function startDaemon(dir) {
  const conf = join(dir, 'onebackupd.conf');
  writeFileSync(conf, 'LOG_LEVEL = "error"\n');
  const daemon = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      join(DIST, 'cli/onebackupd.js'),
      '--config',
      conf,
      '--listen',
      '127.0.0.1:0',
      '--state-dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return { daemon, url: await listeningUrl(daemon) };
}

/**
 * The URL an onebackupd child prints on stdout once it listens; rejects if it exits first, with
 * `why()` (what it logged, say) after the exit code.
 */
export function listeningUrl(child, why = () => '') {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(new URL(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`onebackupd exited with ${code}${why()}`)));
  });
}
