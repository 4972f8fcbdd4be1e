/**
 * The cloud's listening server: plain HTTP, or HTTPS when `TETHER_TLS_CERT` and `TETHER_TLS_KEY`
 * are set. With TLS the one port answers HTTPS and WSS (the upgrade handlers are the same), which
 * is what `@mentra/sdk` needs: it derives `https://<host>:<port>` from the app WebSocket URL for
 * its permission check and TTS URLs whatever the scheme (MENTRA-SDK-WIRE.md §7.1), and
 * `https://` for settings and storage when that URL is `wss://`.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { TetherError } from '../protocol/errors.js';
import type { CloudConfig } from './config.js';

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TetherError('INVALID_CONFIG', `${setting}: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, { path });
  }
}

/** The certificate and key of a TLS port, read once at start-up. */
export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads the PEM files of `TETHER_TLS_CERT` and `TETHER_TLS_KEY`; undefined when TLS is off. Called
 * before anything else starts, so a bad file stops the cloud with nothing to clean up.
 *
 * @throws TetherError `INVALID_CONFIG` naming the variable when a file cannot be read.
 */
export function loadTlsFiles(config: Pick<CloudConfig, 'tlsCert' | 'tlsKey'>): TlsFiles | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  return { cert: readPem(config.tlsCert, 'TETHER_TLS_CERT'), key: readPem(config.tlsKey, 'TETHER_TLS_KEY') };
}

/**
 * Creates (does not start) the server of the cloud's port: HTTPS with `tls`, else HTTP.
 *
 * @throws TetherError `INVALID_CONFIG` when the certificate and key do not form a usable pair.
 */
export function createCloudServer(tls: TlsFiles | undefined, options: ServerOptions, listener: RequestListener): Server {
  if (!tls) return createHttpServer(options, listener);
  try {
    // An https.Server is an http.Server (same events, same upgrade handling).
    return createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, listener);
  } catch (error) {
    throw new TetherError('INVALID_CONFIG', `TETHER_TLS_CERT / TETHER_TLS_KEY: ${error instanceof Error ? error.message : String(error)}`);
  }
}
