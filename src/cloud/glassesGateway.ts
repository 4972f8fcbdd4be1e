/**
 * Accepts glasses sockets on `/glasses-ws`: authenticates the core token (from the upgrade's
 * `Authorization` header or `connection_init.coreToken`), registers the socket with a new
 * generation, hands it to the user's session, and then reads its frames — control messages
 * become actor events, stream events go to the router, binary frames (audio) to the audio relay. The handshake's timer and refusals, the
 * socket's liveness and every write are the link's (`link/`).
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { isGlassesStreamEvent, type GlassesToCloudMessage } from '../protocol/glassesToCloud.js';
import { DATA_STREAM_HEADROOM_BYTES, MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import { parseMessage } from '../protocol/parse.js';
import type { Logger } from '../logger.js';
import type { AppControl } from './appControl.js';
import type { AppSettings } from './appSettings.js';
import type { AppRequests } from './appRequests.js';
import type { AudioRelay } from './audioRelay.js';
import { tokenFromUpgrade, verifyCoreToken } from './glassesAuth.js';
import type { Acquisition, ClusterNode } from './cluster/clusterNode.js';
import { MAX_EARLY_FRAMES, startHandshake, type SocketLimits } from './link/handshake.js';
import { guardSocket } from './link/outboundFence.js';
import { registerSocket } from './link/socketAdapter.js';
import type { SocketEntry, SocketTable } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';
import type { CloudMetrics } from './metrics.js';
import type { Router } from './router.js';
import type { SessionRegistry } from './sessionRegistry.js';

/** What the gateway needs from the cloud. */
export interface GlassesGatewayDeps {
  jwtSecret: string;
  limits: SocketLimits;
  /** Longest core-token lifetime accepted, in ms (`maxTokenLifetimeMs`). */
  maxTokenLifetimeMs?: number;
  sessions: SessionRegistry;
  sockets: SocketTable;
  router: Router;
  metrics: CloudMetrics;
  logger: Logger;
  /** What of `runningApps`, `start_app` and `stop_app` reaches the session. */
  appControl: AppControl;
  /** App settings: the glasses' `update_app_setting` goes there. */
  appSettings: AppSettings;
  /** Answers to apps' requests (`appRequests.ts`); without it they are not routed. */
  requests?: Pick<AppRequests, 'fromGlasses'>;
  /** Where binary (audio) frames go. */
  audio: AudioRelay;
  /** On a node of a cluster: who owns the user's session, and whether this node may act for it. */
  cluster?: Pick<ClusterNode, 'acquire' | 'mayActFor'>;
}

/** Handles one glasses socket from upgrade to close. */
export function acceptGlassesSocket(ws: WebSocket, req: IncomingMessage, deps: GlassesGatewayDeps): void {
  const log = deps.logger.child({ side: 'glasses' });
  // The socket's generation is taken when it is accepted, not when its init is read: a client
  // that gave up on a slow handshake and opened another socket must not see the abandoned one,
  // authenticated later, replace the one it uses (it is older, and is refused as such).
  let gen = deps.sockets.nextGen();
  const headerToken = tokenFromUpgrade(req);
  const handshake = startHandshake(ws, {
    side: 'glasses',
    timeoutMs: deps.limits.handshakeTimeoutMs,
    metrics: deps.metrics,
    logger: deps.logger,
    socketLimits: deps.limits.socket,
    userBudgets: deps.limits.users,
    remoteAddress: req.socket.remoteAddress,
  });
  const parseOptions = { maxDepth: deps.limits.maxJsonDepth };
  let entry: SocketEntry | undefined;
  let authenticating = false;
  const early: Buffer[] = [];

  const authenticate = async (raw: Buffer) => {
    const parsed = parseMessage('glassesToCloud', raw, parseOptions);
    if (!parsed.ok) return handshake.refuse(parsed.error.code, parsed.error.message);
    if (parsed.message.type !== 'connection_init') {
      return handshake.refuse('BAD_REQUEST', 'the first frame must be connection_init');
    }
    authenticating = true;
    handshake.complete();
    const init = parsed.message;
    const verdict = await verifyCoreToken(headerToken ?? init.coreToken, deps.jwtSecret, { maxLifetimeMs: deps.maxTokenLifetimeMs });
    if (ws.readyState !== ws.OPEN) return;
    if (!verdict.ok) return handshake.refuse(verdict.code, verdict.message);
    if (deps.cluster) {
      if (!(await takeSession(deps.cluster, verdict.userId))) return;
      // The session, claimed from another node, brought that node's generations: this socket,
      // accepted before, takes one above them.
      if (deps.sockets.predatesRestore(gen)) gen = deps.sockets.nextGen();
    }
    // Filtered before the session sees them: no actor for a package the cloud does not know.
    const declared = init.runningApps ? await deps.appControl.admitRunningApps(init.runningApps) : undefined;
    const storedApps = await deps.sessions.storedRunningApps(verdict.userId);
    if (ws.readyState !== ws.OPEN) return;
    const socket: SocketEntry = {
      gen,
      kind: 'glasses',
      ws,
      userId: verdict.userId,
      extensions: new Set(),
      ownershipRelease: null,
      lastActivityAt: Date.now(),
      heardAt: performance.now(),
      link: undefined,
    };
    entry = socket;
    registerSocket(deps.sockets, socket);
    handshake.authenticated(socket.userId, { userId: socket.userId, gen: socket.gen });
    log.info({ userId: socket.userId, gen: socket.gen, runningApps: declared?.apps }, 'glasses connected');
    deps.sessions.glassesConnected(socket.userId, socket.gen, { storedApps, ...(declared ? { runningApps: declared.apps } : {}) });
    // After the ack the line above wrote, so a client reads it as a report, not a refusal.
    if (declared) deps.appControl.report(ws, declared.refusals, { side: 'glasses', userId: socket.userId, gen: socket.gen });
    try {
      for (const frame of early.splice(0)) handle(socket, frame);
    } catch (error) {
      handshake.fault(error);
    }
  };

  /**
   * A node of a cluster takes the session before the socket is handed to it: already here, or
   * claimed (free, or its owner dead: restored from the store). Refused with 1012 otherwise.
   */
  const takeSession = async (cluster: Pick<ClusterNode, 'acquire' | 'mayActFor'>, userId: string): Promise<boolean> => {
    let acquired: Acquisition;
    try {
      acquired = await cluster.acquire(userId);
    } catch (error) {
      handshake.refuse('NODE_UNAVAILABLE', 'This node could not take the session', { userId, err: error instanceof Error ? error.message : String(error) });
      return false;
    }
    // Restored before anything else: the session is this node's now, whether or not this socket
    // is still there to use it (its glasses may have given up and be on their way back).
    if (acquired.kind === 'claimed') deps.sessions.restoreClaimed(userId, acquired.snapshot);
    if (ws.readyState !== ws.OPEN) return false;
    if (acquired.kind === 'elsewhere') {
      handshake.refuse('NODE_UNAVAILABLE', 'Another node holds this session', { userId, owner: acquired.owner.nodeId });
      return false;
    }
    guardSocket(ws, () => cluster.mayActFor(userId));
    return true;
  };

  const handle = (socket: SocketEntry, raw: Buffer) => {
    socket.lastActivityAt = Date.now();
    const parsed = parseMessage('glassesToCloud', raw, parseOptions);
    if (!parsed.ok) return handshake.reportBadFrame(parsed.error.code, parsed.error.message, { type: parsed.error.type });
    dispatch(socket, parsed.message, raw.length);
  };

  const dispatch = (socket: SocketEntry, message: GlassesToCloudMessage, size: number) => {
    // An answer to an app's request goes to that app only, and only from the current socket.
    if (deps.requests && deps.sessions.isCurrentGlasses(socket.userId, socket.gen) && deps.requests.fromGlasses(socket, message)) return;
    if (isGlassesStreamEvent(message)) {
      if (size > MAX_MESSAGE_BYTES - DATA_STREAM_HEADROOM_BYTES) {
        handshake.reportBadFrame('MESSAGE_TOO_LARGE', 'Stream event too large to forward', { type: message.type });
        return;
      }
      // A replaced socket may still be draining: only the current one speaks for the user.
      if (deps.sessions.isCurrentGlasses(socket.userId, socket.gen)) deps.router.fromGlasses(socket.userId, message);
      return;
    }
    switch (message.type) {
      case 'start_app':
      case 'stop_app':
        void intent(socket, message.packageName, message.type === 'start_app');
        break;
      case 'heartbeat':
        writeFrame(ws, { type: 'heartbeat_ack' });
        break;
      case 'connection_init':
        log.debug({ userId: socket.userId }, 'repeated connection_init ignored');
        break;
      case 'update_app_setting':
        void deps.appSettings.fromGlasses(ws, socket.userId, message).catch((error: unknown) => {
          log.error({ userId: socket.userId, err: error instanceof Error ? error.message : String(error) }, 'app setting change failed');
        });
        break;
    }
  };

  // Every start and stop takes the same awaits, so they reach the session in the order sent.
  const intent = async (socket: SocketEntry, packageName: string, start: boolean) => {
    try {
      const refusal = await deps.appControl.admitIntent(socket.userId, packageName, start);
      if (refusal) return deps.appControl.report(ws, [refusal], { side: 'glasses', userId: socket.userId, gen: socket.gen });
      deps.sessions.get(socket.userId)?.send(start ? { type: 'app.startRequested', packageName } : { type: 'app.stopRequested', packageName });
    } catch (error) {
      log.error({ userId: socket.userId, err: error instanceof Error ? error.message : String(error) }, 'app control failed');
    }
  };

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!handshake.admit(data)) return;
    if (isBinary && (entry || authenticating)) {
      // Audio: the data plane's binary path (`audioRelay.ts`). Frames sent while the token is
      // still being checked have no session to go to yet and are dropped.
      if (entry) {
        entry.lastActivityAt = Date.now();
        try {
          deps.audio.relay(entry.userId, entry.gen, data);
        } catch (error) {
          handshake.fault(error);
        }
      }
      return;
    }
    if (entry) {
      try {
        handle(entry, data);
      } catch (error) {
        handshake.fault(error);
      }
    } else if (authenticating) {
      // Frames that arrive while the token is being checked wait; a peer that floods meanwhile is refused.
      if (early.length >= MAX_EARLY_FRAMES) handshake.refuse('RATE_LIMITED', 'Too many frames before authentication');
      else early.push(data);
    } else {
      void authenticate(data).catch((error: unknown) => handshake.fault(error));
    }
  });
}
