/**
 * A raw `ws` client for fuzz and hostile-input tests: no SDK, so nothing is retried, every frame
 * the cloud sends is kept as text, and the close is recorded together with whether the test
 * itself asked for it (a close the test started is not the cloud's decision).
 */
import { WebSocket } from 'ws';

/** How a raw peer's socket ended. */
export interface RawPeerClose {
  code: number;
  reason: string;
  /** True when the test called {@link RawPeer.close} or {@link RawPeer.terminate} first. */
  byTest: boolean;
}

/** One raw client socket and what it saw. */
export interface RawPeer {
  readonly ws: WebSocket;
  /** Every text the cloud sent, in order, unparsed. */
  readonly texts: string[];
  /** {@link texts} parsed; a frame that is not a JSON object is kept as `{ type: undefined }`. */
  readonly frames: Array<Record<string, unknown>>;
  /** Set once the socket has closed. */
  readonly closed: RawPeerClose | undefined;
  /** Sends `data` as a text frame, or a binary frame when `binary` (ignored once closing). */
  send(data: string | Uint8Array, binary?: boolean): void;
  /** Closes with `code` (default 1000) and resolves once closed (or after 1000 ms, terminating). */
  close(code?: number): Promise<RawPeerClose>;
  /** Ends the TCP connection without a close frame (the cloud sees 1006); resolves once closed. */
  terminate(): Promise<RawPeerClose>;
}

/**
 * Opens a raw socket to `url` on 127.0.0.1 with the upgrade's `headers`; resolves once open,
 * rejects if the upgrade fails.
 *
 * @param url - ws:// URL of a cloud endpoint
 * @param headers - extra upgrade request headers (e.g. `Authorization`)
 */
export async function openRawPeer(url: string, headers: Record<string, string> = {}): Promise<RawPeer> {
  const ws = new WebSocket(url, { perMessageDeflate: false, headers });
  const texts: string[] = [];
  const frames: Array<Record<string, unknown>> = [];
  let closed: RawPeerClose | undefined;
  let byTest = false;
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    texts.push(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    frames.push(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { type: undefined });
  });
  // Writing into a socket the cloud is closing may end in EPIPE/ECONNRESET; the close says enough.
  ws.on('error', () => {});
  const whenClosed = new Promise<RawPeerClose>((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => {
      closed = { code, reason: reason.toString(), byTest };
      resolve(closed);
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const ending = async (end: () => void): Promise<RawPeerClose> => {
    if (!closed) {
      byTest = true;
      end();
    }
    const timer = setTimeout(() => ws.terminate(), 1000);
    try {
      return await whenClosed;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    ws,
    texts,
    frames,
    get closed() {
      return closed;
    },
    send(data, binary = false) {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary });
    },
    close: (code = 1000) => ending(() => ws.close(code)),
    terminate: () => ending(() => ws.terminate()),
  };
}
