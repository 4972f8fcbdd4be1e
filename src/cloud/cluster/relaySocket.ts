/**
 * An app socket held by another node, as the owner of its session sees it (ARCHITECTURE.md "Many
 * nodes", landing anywhere): the part of `ws`'s WebSocket the cloud uses, over NATS subjects to
 * the gateway node that holds the real socket (`appRelay.ts`). The owner runs its ordinary app
 * gateway on it: authentication, the session's socket link with its heartbeat (pings go to the
 * real socket and its pongs come back), replay, backpressure.
 *
 * `bufferedAmount` is always 0 here: the bytes wait on the gateway, which applies the same
 * write limits to the real socket.
 */
import { EventEmitter } from 'node:events';

/** Frames of one relay, the first byte says which (the rest is the frame or its JSON). */
export const RelayFrame = {
  /** A text frame. */
  text: 0x74,
  /** A binary frame (audio to apps). */
  binary: 0x62,
  /** A ping to the real socket (owner → gateway). */
  ping: 0x70,
  /** The real socket's pong (gateway → owner). */
  pong: 0x6f,
  /** A close, `{ code, reason }` (either way). */
  close: 0x63,
} as const;

/** Encodes one relay frame: its kind, then its bytes. */
export function relayFrame(kind: number, body: string | Uint8Array = ''): Uint8Array {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const frame = new Uint8Array(bytes.length + 1);
  frame[0] = kind;
  frame.set(bytes, 1);
  return frame;
}

/** The owner's end of a relayed app socket. */
export class RelaySocket extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState: number = 1;
  /** While paused (a drain), the app's frames are not taken. */
  isPaused = false;
  readonly bufferedAmount = 0;
  /** Marks it for the app gateway: a relayed socket is never relayed again. */
  readonly relayed = true;

  constructor(private readonly publish: (frame: Uint8Array) => void) {
    super();
  }

  send(data: string | Buffer | Uint8Array, options?: { binary?: boolean }): void {
    if (this.readyState !== this.OPEN) return;
    const binary = typeof data !== 'string' && options?.binary !== false;
    this.publish(relayFrame(binary ? RelayFrame.binary : RelayFrame.text, typeof data === 'string' ? data : new Uint8Array(data)));
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
  }

  ping(): void {
    if (this.readyState === this.OPEN) this.publish(relayFrame(RelayFrame.ping));
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState !== this.OPEN) return;
    this.publish(relayFrame(RelayFrame.close, JSON.stringify({ code, reason })));
    this.closed(code, reason);
  }

  /** Cut without a close frame: the gateway drops the real socket (the app sees 1006). */
  terminate(): void {
    if (this.readyState === this.CLOSED) return;
    this.publish(relayFrame(RelayFrame.close, JSON.stringify({ code: 1006, reason: '' })));
    this.closed(1006, '');
  }

  /** A frame from the gateway. */
  deliver(frame: Uint8Array): void {
    if (this.readyState === this.CLOSED || frame.length === 0) return;
    const body = Buffer.from(frame.buffer, frame.byteOffset + 1, frame.length - 1);
    switch (frame[0]) {
      case RelayFrame.text:
        if (!this.isPaused) this.emit('message', body, false);
        break;
      case RelayFrame.pong:
        this.emit('pong', body);
        break;
      case RelayFrame.close: {
        const { code, reason } = parseClose(body);
        this.closed(code, reason);
        break;
      }
    }
  }

  private closed(code: number, reason: string): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.emit('close', code, Buffer.from(reason));
  }
}

/** The `{ code, reason }` of a close frame; a frame that does not parse is an abnormal close. */
export function parseClose(body: Buffer): { code: number; reason: string } {
  try {
    const parsed = JSON.parse(body.toString()) as { code?: unknown; reason?: unknown };
    return { code: typeof parsed.code === 'number' ? parsed.code : 1006, reason: typeof parsed.reason === 'string' ? parsed.reason : '' };
  } catch {
    return { code: 1006, reason: '' };
  }
}
