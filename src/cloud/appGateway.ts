/**
 * Accepts app sockets on `/app-ws` (and `/tpa-ws`): the first frame must be
 * `tpa_connection_init` with a valid key for a session this cloud started for that package and
 * user (ARCHITECTURE.md, "Compatibility"). The socket is then handed to that `appSession`;
 * later frames are subscriptions (to the machine), displays (to the router) or ignored.
 * Credentials are refused with `tpa_connection_error` and then the registry's close code (1008
 * for app credentials) — `@mentra/sdk` never closes the socket itself and would retry a 4xxx
 * close. The handshake's timer and refusals, liveness and writes are the link's (`link/`).
 */
import type { WebSocket } from 'ws';
import { normalizeSubscriptions, type AppToCloudMessage, type TpaConnectionInit } from '../protocol/appToCloud.js';
import { parseMessage } from '../protocol/parse.js';
import type { Logger } from '../logger.js';
import { verifyApiKey } from './apiKeys.js';
import { appSocketGenOf, userIdOfAppSession, type AppSessionSnapshot } from '../../machines/sessionApi.js';
import { MAX_EARLY_FRAMES, startHandshake, type SocketLimits } from './link/handshake.js';
import { guardSocket } from './link/outboundFence.js';
import type { RelayEnd } from './cluster/appRelay.js';
import type { OwnerRecord } from './cluster/ownership.js';
import { CloseCode, CloseReason } from '../protocol/closeCodes.js';
import { closeSocket } from '../util/closeSocket.js';
import { probeLiveness } from './link/livenessProbe.js';
import { registerSocket } from './link/socketAdapter.js';
import type { SocketEntry, SocketTable } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';
import type { AppRequests } from './appRequests.js';
import type { AppSettings } from './appSettings.js';
import type { CloudMetrics } from './metrics.js';
import type { Router } from './router.js';
import type { SessionRegistry } from './sessionRegistry.js';
import type { Store } from './store.js';

/** What the gateway needs from the cloud. */
export interface AppGatewayDeps {
  store: Store;
  /** Where the settings of the socket's ack come from. */
  settings: Pick<AppSettings, 'settingsFor'>;
  limits: SocketLimits;
  sessions: SessionRegistry;
  sockets: SocketTable;
  router: Router;
  metrics: CloudMetrics;
  logger: Logger;
  /** The peer's address (the upgrade request's), for the socket's log lines. */
  remoteAddress?: string | undefined;
  /** Requests to the glasses and messages between apps (`appRequests.ts`); without it they are ignored. */
  requests?: Pick<AppRequests, 'fromApp' | 'subscribed'>;
  /** On a node of a cluster: where the socket's session is, and the relay to it. */
  cluster?: AppGatewayCluster;
}

/** What the app gateway needs of a cluster node. */
export interface AppGatewayCluster {
  /** Whether this node owns the user's session and may act for it now. */
  mayActFor(userId: string): boolean;
  /** The live node owning the user's session, if any (this one included). */
  liveOwnerOf(userId: string): Promise<OwnerRecord | undefined>;
  readonly nodeId: string;
  /** How long an app whose session is on no live node waits for one to claim it, in ms. */
  readonly parkMs: number;
  /** Relays a socket whose session another node owns (`cluster/appRelay.ts`). */
  relay(ws: WebSocket, takeFrames: () => readonly Buffer[], owner: OwnerRecord, remoteAddress: string | undefined): Promise<RelayEnd | undefined>;
}

/** How often a parked app's session is looked for here (a claim by returning glasses takes a few ms). */
const PARK_POLL_MS = 25;
/** How often a parked app's session is looked for on the other nodes. */
const OWNER_LOOKUP_MS = 200;

/**
 * How long a held stock-SDK socket has to answer a ping before a second socket of its session
 * may replace it (`link/livenessProbe.ts`); well under the SDK's 5 s connect timeout.
 */
const STOCK_PROBE_MS = 1000;

/** Handles one app socket from upgrade to close. */
export function acceptAppSocket(ws: WebSocket, deps: AppGatewayDeps): void {
  const log = deps.logger.child({ side: 'app' });
  // The socket's generation is taken when it is accepted, not when its init is read: a client
  // that gave up on a slow handshake and opened another socket must not see the abandoned one,
  // authenticated later, replace the one it uses (it is older, and is refused as such).
  let gen = deps.sockets.nextGen();
  const handshake = startHandshake(ws, {
    side: 'app',
    timeoutMs: deps.limits.handshakeTimeoutMs,
    metrics: deps.metrics,
    logger: deps.logger,
    socketLimits: deps.limits.socket,
    userBudgets: deps.limits.users,
    remoteAddress: deps.remoteAddress,
  });
  const parseOptions = { maxDepth: deps.limits.maxJsonDepth };
  let entry: SocketEntry | undefined;
  let authenticating = false;
  const early: Buffer[] = [];
  /** Set when the socket is relayed to its session's owner: frames go there (`cluster/appRelay.ts`). */
  let relayed: { end: RelayEnd | undefined } | undefined;

  const authenticate = async (init: TpaConnectionInit, raw: Buffer) => {
    const { packageName, sessionId } = init;
    authenticating = true;
    const app = await deps.store.getApp(packageName);
    // The handshake may have timed out, or the peer left, while the store answered.
    if (ws.readyState !== ws.OPEN) return;
    if (!app) return handshake.refuse('UNKNOWN_PACKAGE', 'Unknown package', { packageName });
    if (!verifyApiKey(init.apiKey, app.apiKeyHash)) return handshake.refuse('INVALID_API_KEY', 'Invalid API key', { packageName });
    if (deps.cluster) {
      const placement = await place(deps.cluster, sessionId, packageName);
      if (placement === undefined) return;
      if (placement !== 'here') return relay(deps.cluster, placement, raw, sessionId, packageName);
      // A session claimed here from another node since this socket was accepted brought that
      // node's generations, which do not compare with this one's: the socket takes a new one.
      if (deps.sockets.predatesRestore(gen)) gen = deps.sockets.nextGen();
    }
    const known = deps.sessions.findAppSession(sessionId, packageName);
    if (!known) return handshake.refuse('SESSION_NOT_FOUND', 'No such session for this package', { packageName, sessionId });
    const ackSettings = await deps.settings.settingsFor(known.userId, packageName);
    if (ws.readyState !== ws.OPEN) return;
    // Looked up again: the session may have ended while the store answered.
    const found = deps.sessions.findAppSession(sessionId, packageName);
    if (!found) return handshake.refuse('SESSION_NOT_FOUND', 'No such session for this package', { packageName, sessionId });
    handshake.complete();
    const extensions = init.extensions ?? [];
    const socket: SocketEntry = {
      gen,
      kind: 'app',
      ws,
      userId: found.userId,
      packageName,
      sessionId,
      ackSettings,
      extensions: new Set(extensions),
      ...(init.lastSeq !== undefined ? { lastSeq: init.lastSeq } : {}),
      ownershipRelease: null,
      heardAt: performance.now(),
      link: undefined,
    };
    entry = socket;
    registerSocket(deps.sockets, socket);
    handshake.authenticated(found.userId, { userId: found.userId, packageName, sessionId, gen: socket.gen });
    log.info({ userId: found.userId, packageName, sessionId, gen: socket.gen }, 'app connected');
    const held = extensions.length === 0 ? heldStockSocket(found.app.getSnapshot()) : undefined;
    if (!held) {
      found.app.send({ type: 'app.connected', gen: socket.gen, extensions });
      for (const frame of early.splice(0)) receive(frame);
      return;
    }
    for (const frame of early.splice(0)) receive(frame);
    // A second stock socket while the session holds a confirmed one: the session keeps the held
    // one if it still answers (the newcomer is an orphan's), and takes the newcomer if not.
    void probeLiveness(held.ws, STOCK_PROBE_MS).then((heldAlive) => {
      if (ws.readyState !== ws.OPEN) return;
      log.info({ sessionId, gen: socket.gen, heldGen: held.gen, heldAlive }, 'second stock socket: held one probed');
      found.app.send({ type: 'app.connected', gen: socket.gen, extensions, heldAlive });
    });
  };

  /**
   * On a node of a cluster: `here` when this node owns the socket's session, the owner when a
   * live node does (the socket is relayed there); while no live node does (its owner died and
   * its glasses are reconnecting) the app waits, parked, for a node to claim it. Refused with
   * 1012, never 1008, when none does in time, or when a relayed socket reaches a non-owner: the
   * session exists, and the app must come back.
   */
  const place = async (cluster: AppGatewayCluster, sessionId: string, packageName: string): Promise<'here' | OwnerRecord | undefined> => {
    const userId = userIdOfAppSession(sessionId, packageName);
    const alreadyRelayed = (ws as unknown as { relayed?: boolean }).relayed === true;
    const until = performance.now() + cluster.parkMs;
    let lookupAt = 0;
    while (userId !== undefined && ws.readyState === ws.OPEN && performance.now() < until) {
      if (cluster.mayActFor(userId)) {
        guardSocket(ws, () => cluster.mayActFor(userId));
        return 'here';
      }
      if (!alreadyRelayed && performance.now() >= lookupAt) {
        const owner = await cluster.liveOwnerOf(userId).catch(() => undefined);
        if (owner && owner.nodeId !== cluster.nodeId) return owner;
        lookupAt = performance.now() + OWNER_LOOKUP_MS;
      }
      await new Promise((resolve) => setTimeout(resolve, PARK_POLL_MS));
    }
    if (ws.readyState === ws.OPEN) handshake.refuse('NODE_UNAVAILABLE', 'This session is not on this node', { packageName, sessionId });
    return undefined;
  };

  /** Hands the socket to the relay: its frames go to `owner`, which answers the app. */
  const relay = async (cluster: AppGatewayCluster, owner: OwnerRecord, raw: Buffer, sessionId: string, packageName: string) => {
    const userId = userIdOfAppSession(sessionId, packageName)!;
    handshake.complete();
    handshake.authenticated(userId, { userId, packageName, sessionId, relayedTo: owner.nodeId });
    const state: { end: RelayEnd | undefined } = { end: undefined };
    relayed = state;
    state.end = await cluster.relay(ws, () => [raw, ...early.splice(0)], owner, deps.remoteAddress);
    if (!state.end && ws.readyState === ws.OPEN) void closeSocket(ws, CloseCode.SERVICE_RESTART, CloseReason.SERVER_RESTART);
  };

  /** The stock socket a session holds and has confirmed as its app's own, if any. */
  const heldStockSocket = (app: AppSessionSnapshot): SocketEntry | undefined => {
    const heldGen = appSocketGenOf(app);
    if (heldGen === undefined || !app.context.confirmed || app.context.extensions.length > 0) return undefined;
    return deps.sockets.get(heldGen);
  };

  const dispatch = (socket: SocketEntry, message: AppToCloudMessage, size: number) => {
    switch (message.type) {
      case 'subscription_update': {
        const subscriptions = normalizeSubscriptions(message.subscriptions);
        deps.sessions.appSessionOfSocket(socket)?.send({ type: 'subscriptions.updated', gen: socket.gen, subscriptions });
        deps.requests?.subscribed(socket, subscriptions);
        break;
      }
      case 'display_event':
        // `@mentra/sdk` sends `sessionId: ""`: the socket says whose display this is. Only the
        // socket its session adopted may draw: a refused one (an app stopping) never does.
        if (socket.sessionId !== undefined && socket.packageName !== undefined && deps.sessions.isAdoptedAppSocket(socket)) {
          deps.router.toGlasses(socket.userId, { ...message, packageName: socket.packageName, sessionId: socket.sessionId }, size);
        }
        break;
      case 'ownership_release':
        socket.ownershipRelease = message.reason;
        break;
      case 'heartbeat':
        writeFrame(ws, { type: 'heartbeat_ack' });
        break;
      case 'tpa_connection_init':
        log.debug({ sessionId: socket.sessionId }, 'repeated tpa_connection_init ignored');
        break;
      default:
        if (deps.requests) deps.requests.fromApp(socket, message, size);
        else log.debug({ sessionId: socket.sessionId, type: message.type }, 'app message not handled by this cloud');
    }
  };

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!handshake.admit(data)) return;
    if (relayed) {
      // Until the owner took the relay, frames wait with the init.
      if (relayed.end) relayed.end.forward(data, isBinary);
      else if (early.length >= MAX_EARLY_FRAMES) handshake.refuse('RATE_LIMITED', 'Too many frames before the relay opened');
      else early.push(data);
      return;
    }
    if (!entry && authenticating) {
      // Frames that arrive while the app is being looked up wait; a peer that floods meanwhile is refused.
      if (early.length >= MAX_EARLY_FRAMES) handshake.refuse('RATE_LIMITED', 'Too many frames before authentication');
      else early.push(data);
      return;
    }
    try {
      receive(data);
    } catch (error) {
      handshake.fault(error);
    }
  });

  const receive = (data: Buffer) => {
    const parsed = parseMessage('appToCloud', data, parseOptions);
    if (!parsed.ok) {
      if (!entry) return handshake.refuse(parsed.error.code, parsed.error.message);
      return handshake.reportBadFrame(parsed.error.code, parsed.error.message, { type: parsed.error.type });
    }
    if (entry) dispatch(entry, parsed.message, data.length);
    else if (parsed.message.type === 'tpa_connection_init') void authenticate(parsed.message, data).catch((error: unknown) => handshake.fault(error));
    else handshake.refuse('BAD_REQUEST', 'the first frame must be tpa_connection_init');
  };
}
