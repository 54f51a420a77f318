/** Listening and closing for the daemon's HTTP servers (API and metrics), the same for both. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on address:port; rejects with the socket error (EADDRINUSE...) instead of crashing. */
export function listenOn(server: Server, address: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
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
