/** Listening and closing for the daemon's HTTP servers (API and metrics), the same for both. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, OneError } from './errors.js';

const WHY: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is in use (another onebackupd, or another program, listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
};

/**
 * Listens on address:port; rejects with an error that says what and why (EADDRINUSE...) and how
 * to choose another, instead of crashing with a stack trace.
 */
export function listenOn(server: Server, address: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const why = err.code ? WHY[err.code] : undefined;
      reject(
        why
          ? new OneError(
              ErrorCode.ACTION,
              `cannot listen on ${address}:${port}: ${why}; choose another with --listen HOST:PORT or PORT in onebackupd.conf`,
            )
          : err,
      );
    };
    server.once('error', failed);
    server.listen(port, address, () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting and drops idle keep-alive connections, so close() does not hang. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
