/**
 * App sockets that landed on a node other than their session's owner (ARCHITECTURE.md "Many
 * nodes", landing anywhere). `@mentra/sdk` 2.1 names its session only in its first frame, so a
 * balancer cannot always route it to the owner; the node it reached keeps the real socket and
 * relays its frames to the owner over NATS subjects, and the owner runs its ordinary app gateway
 * on a `RelaySocket`:
 *
 * - `tether.relay.<owner>.open` — a request: `{ id, gateway, remoteAddress }`, answered once the
 *   owner holds the relay's end; the socket's frames follow;
 * - `tether.relay.<owner>.up.<id>` — the app's frames, its pongs and its close;
 * - `tether.relay.<gateway>.down.<id>` — frames to the app, pings and the owner's close.
 *
 * One publisher per direction, so NATS keeps each direction in order. The gateway checks the
 * owners it relays to once per lease third: a relay to a node whose lease is gone is closed with
 * 1012, and the app comes back through the balancer to wherever its session is now. A relay is
 * never relayed again: a relayed socket that reaches a node which does not own its session is
 * refused with 1012.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { WebSocket } from 'ws';
import type { Logger } from '../../logger.js';
import { CloseCode, CloseReason } from '../../protocol/closeCodes.js';
import type { OwnerRecord } from './ownership.js';
import { parseClose, RelayFrame, relayFrame, RelaySocket } from './relaySocket.js';

/** Options of an {@link AppRelay}. */
export interface AppRelayOptions {
  readonly nc: NatsConnection;
  readonly nodeId: string;
  /** Owner side: runs the app gateway on a relayed socket. */
  readonly accept: (socket: RelaySocket, remoteAddress: string | undefined) => void;
  /** Gateway side: whether that incarnation of a node holds its lease (relays to a dead owner are closed). */
  readonly isAlive: (owner: OwnerRecord) => Promise<boolean>;
  /** How often the gateway checks the owners it relays to, in ms. */
  readonly checkEveryMs: number;
  readonly logger: Logger;
}

/** The gateway's end of an open relay: where the real socket's frames go. */
export interface RelayEnd {
  /** Relays one frame of the app (after the gateway's own rate limits admitted it). */
  forward(data: Buffer, isBinary: boolean): void;
}

/** How long a gateway waits for an owner to take a relay, in ms. */
const OPEN_TIMEOUT_MS = 2000;

interface GatewayEnd {
  readonly ws: WebSocket;
  readonly owner: OwnerRecord;
  readonly up: string;
}

/** Both ends of the relays of one node. */
export class AppRelay {
  /** Relays whose real socket is here, by id. */
  private readonly gateways = new Map<string, GatewayEnd>();
  /** Relays whose session is here, by id. */
  private readonly owned = new Map<string, RelaySocket>();
  private readonly subscriptions: Subscription[] = [];
  private counter = 0;
  private checker: NodeJS.Timeout | undefined;

  constructor(private readonly options: AppRelayOptions) {}

  /** Relayed sockets held here (gateway) and served here (owner). */
  get counts(): { gateway: number; owner: number } {
    return { gateway: this.gateways.size, owner: this.owned.size };
  }

  /** Subscribes this node's relay subjects. */
  start(): void {
    const { nc, nodeId } = this.options;
    this.subscriptions.push(
      nc.subscribe(`tether.relay.${nodeId}.open`, {
        callback: (error, msg) => {
          if (!error) this.onOpen(msg);
        },
      }),
      nc.subscribe(`tether.relay.${nodeId}.up.*`, {
        callback: (error, msg) => {
          if (!error) this.owned.get(lastToken(msg.subject))?.deliver(msg.data);
        },
      }),
      nc.subscribe(`tether.relay.${nodeId}.down.*`, {
        callback: (error, msg) => {
          if (!error) this.onDown(lastToken(msg.subject), msg.data);
        },
      }),
    );
    this.checker = setInterval(() => void this.checkOwners(), this.options.checkEveryMs);
    this.checker.unref();
  }

  /**
   * Gateway side: relays `ws` to `owner`. `takeFrames` is called once the owner holds the
   * relay, for the frames that go first (the init, and any the app sent meanwhile); later ones
   * go through the returned end. Resolves undefined when the owner did not take it (the caller
   * closes the socket).
   */
  async open(ws: WebSocket, takeFrames: () => readonly Buffer[], owner: OwnerRecord, remoteAddress: string | undefined): Promise<RelayEnd | undefined> {
    const { nc, nodeId } = this.options;
    const id = `${nodeId}:${++this.counter}`;
    try {
      const reply = await nc.request(`tether.relay.${owner.nodeId}.open`, JSON.stringify({ id, gateway: nodeId, remoteAddress }), { timeout: OPEN_TIMEOUT_MS });
      if ((reply.json<{ ok?: boolean }>()).ok !== true) return undefined;
    } catch (error) {
      this.options.logger.warn({ owner: owner.nodeId, err: error instanceof Error ? error.message : String(error) }, 'relay not opened');
      return undefined;
    }
    const up = `tether.relay.${owner.nodeId}.up.${id}`;
    if (ws.readyState !== ws.OPEN) {
      this.publish(up, relayFrame(RelayFrame.close, JSON.stringify({ code: 1006, reason: '' })));
      return undefined;
    }
    const end: GatewayEnd = { ws, owner, up };
    this.gateways.set(id, end);
    for (const frame of takeFrames()) this.publish(up, relayFrame(RelayFrame.text, frame));
    ws.on('pong', (data: Buffer) => this.publish(end.up, relayFrame(RelayFrame.pong, data)));
    ws.once('close', (code: number, reason: Buffer) => {
      this.gateways.delete(id);
      this.publish(end.up, relayFrame(RelayFrame.close, JSON.stringify({ code, reason: reason.toString() })));
    });
    this.options.logger.info({ relay: id, owner: owner.nodeId }, 'app socket relayed to its session’s owner');
    return { forward: (data, isBinary) => this.publish(up, relayFrame(isBinary ? RelayFrame.binary : RelayFrame.text, data)) };
  }

  /** Stops taking frames on every relay (a drain): nothing more reaches the sessions here. */
  pause(): void {
    for (const end of this.gateways.values()) end.ws.pause();
    for (const socket of this.owned.values()) socket.pause();
  }

  /** Ends every relay (shutdown): real sockets closed with 1012, owners' ends closed. */
  close(): void {
    clearInterval(this.checker);
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    for (const end of [...this.gateways.values()]) end.ws.close(CloseCode.SERVICE_RESTART, CloseReason.SERVER_RESTART);
    for (const socket of [...this.owned.values()]) socket.close(CloseCode.SERVICE_RESTART, CloseReason.SERVER_RESTART);
  }

  /** Publishes unless the connection is closed (a node leaving): then the frame has nowhere to go. */
  private publish(subject: string, frame: Uint8Array): void {
    try {
      this.options.nc.publish(subject, frame);
    } catch {
      // Closed or draining: the relay ends with the connection.
    }
  }

  private onOpen(msg: Msg): void {
    let request: { id?: unknown; gateway?: unknown; remoteAddress?: unknown };
    try {
      request = msg.json();
    } catch {
      return void msg.respond(JSON.stringify({ ok: false }));
    }
    const { id, gateway } = request;
    if (typeof id !== 'string' || typeof gateway !== 'string' || /[.*>\s]/.test(gateway) || this.owned.has(id)) {
      return void msg.respond(JSON.stringify({ ok: false }));
    }
    const down = `tether.relay.${gateway}.down.${id}`;
    const socket = new RelaySocket((frame) => this.publish(down, frame));
    this.owned.set(id, socket);
    socket.once('close', () => this.owned.delete(id));
    msg.respond(JSON.stringify({ ok: true }));
    this.options.accept(socket, typeof request.remoteAddress === 'string' ? request.remoteAddress : undefined);
  }

  private onDown(id: string, frame: Uint8Array): void {
    const end = this.gateways.get(id);
    if (!end || frame.length === 0) return;
    const { ws } = end;
    const body = Buffer.from(frame.buffer, frame.byteOffset + 1, frame.length - 1);
    switch (frame[0]) {
      case RelayFrame.text:
        if (ws.readyState === ws.OPEN) ws.send(body.toString());
        break;
      case RelayFrame.binary:
        if (ws.readyState === ws.OPEN) ws.send(body, { binary: true });
        break;
      case RelayFrame.ping:
        if (ws.readyState === ws.OPEN) ws.ping();
        break;
      case RelayFrame.close: {
        this.gateways.delete(id);
        const { code, reason } = parseClose(body);
        if (code === 1006 || code === 1005) ws.terminate();
        else ws.close(code, reason);
        break;
      }
    }
  }

  /** Closes, with 1012, the relays to owners whose lease is gone. */
  private async checkOwners(): Promise<void> {
    const owners = new Map([...this.gateways.values()].map((end) => [`${end.owner.nodeId}/${end.owner.incarnation}`, end.owner]));
    for (const [key, owner] of owners) {
      // A lookup that fails (NATS unreachable) proves nothing: the relay stays until one succeeds.
      const alive = await this.options.isAlive(owner).catch(() => true);
      if (alive) continue;
      for (const [id, end] of [...this.gateways]) {
        if (`${end.owner.nodeId}/${end.owner.incarnation}` !== key) continue;
        this.gateways.delete(id);
        end.ws.close(CloseCode.SERVICE_RESTART, CloseReason.SERVER_RESTART);
      }
      this.options.logger.warn({ owner: owner.nodeId }, 'owner of relayed app sockets is gone: closed with 1012');
    }
  }
}

function lastToken(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}
