/** A free TCP port on 127.0.0.1, for a server that cannot be told to pick its own (`-p 0`). */
import { createServer } from 'node:net';

/**
 * Asks the kernel for an ephemeral port and releases it. Another process may take it before the
 * caller binds it: callers retry a start that fails on an address in use.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
