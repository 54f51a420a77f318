// Builds core/engine/native/aes-gcm.c into dist/core/engine/native/aes-gcm.node: AES-256-GCM
// into the caller's buffers through the OpenSSL inside the running Node binary (no library of
// our own is linked). Needs gcc and Node's headers (node_api.h, openssl/evp.h: NodeSource and
// the official tarballs ship them in <prefix>/include/node). When either is missing it says so
// and exits 0: the chunk codec then uses node:crypto: the same bytes, full backups ~15 % slower.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const source = 'core/engine/native/aes-gcm.c';
const target = 'dist/core/engine/native/aes-gcm.node';

const candidates = [
  process.env.ONEBACKUP_NODE_HEADERS,
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const headers = candidates.find(
  (dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'openssl', 'evp.h')),
);

function skip(why) {
  rmSync(target, { force: true });
  console.warn(`build-native: ${why}; chunks are encrypted with node:crypto instead (slower).`);
}

if (!headers) skip(`Node's headers (node_api.h, openssl/evp.h) not found in ${candidates.join(', ')}`);
else {
  mkdirSync(dirname(target), { recursive: true });
  try {
    // -I Node's headers first: <openssl/evp.h> must be the OpenSSL Node was built with.
    execFileSync(
      process.env.CC ?? 'gcc',
      ['-shared', '-fPIC', '-O2', '-Wall', `-I${resolve(headers)}`, source, '-o', target],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  } catch (err) {
    skip(
      `cannot compile ${source} (${err.code === 'ENOENT' ? 'no C compiler: apt-get install gcc' : err.message})`,
    );
  }
}
