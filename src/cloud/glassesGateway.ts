/**
 * Accepts glasses sockets on `/glasses-ws`: authenticates the core token (from the upgrade's
 * `Authorization` header or `connection_init.coreToken`), registers the socket with a new
 * generation, hands it to the user's session, and then reads its frames — control messages
 * become actor events, stream events go to the router.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { CloseCode, closeReason } from '../protocol/closeCodes.js';
import { errorInfo, type ErrorCode } from '../protocol/errors.js';
import { isGlassesStreamEvent, type GlassesToCloudMessage } from '../protocol/glassesToCloud.js';
import { parseMessage } from '../protocol/parse.js';
import type { Logger } from '../logger.js';
import { tokenFromUpgrade, verifyCoreToken } from './glassesAuth.js';
import type { CloudMetrics } from './metrics.js';
import type { Router } from './router.js';
import type { SessionRegistry } from './sessionRegistry.js';
import { send } from './sessionSocket.js';
import type { SocketEntry, SocketTable } from './socketTable.js';

/** Time a new glasses socket has to send `connection_init`, in ms. */
export const GLASSES_INIT_TIMEOUT_MS = 10_000;

/** What the gateway needs from the cloud. */
export interface GlassesGatewayDeps {
  jwtSecret: string;
  sessions: SessionRegistry;
  sockets: SocketTable;
  router: Router;
  metrics: CloudMetrics;
  logger: Logger;
}

/** Handles one glasses socket from upgrade to close. */
export function acceptGlassesSocket(ws: WebSocket, req: IncomingMessage, deps: GlassesGatewayDeps): void {
  const log = deps.logger.child({ side: 'glasses' });
  const headerToken = tokenFromUpgrade(req);
  let entry: SocketEntry | undefined;
  let phase: 'awaitingInit' | 'authenticating' | 'open' | 'refused' = 'awaitingInit';
  const early: Buffer[] = [];

  const refuse = (code: ErrorCode, message: string) => {
    phase = 'refused';
    clearTimeout(initTimer);
    deps.metrics.badMessages.inc({ side: 'glasses', code });
    log.warn({ code }, 'glasses connection refused');
    send(ws, { type: 'connection_error', code, message });
    const category = errorInfo(code).category;
    ws.close(category === 'auth' ? CloseCode.AUTH_FAILED : CloseCode.POLICY_VIOLATION, closeReason(message));
  };

  const initTimer = setTimeout(() => refuse('INVALID_TOKEN', 'no connection_init before the timeout'), GLASSES_INIT_TIMEOUT_MS);

  const authenticate = async (raw: Buffer) => {
    const parsed = parseMessage('glassesToCloud', raw);
    if (!parsed.ok) return refuse(parsed.error.code, parsed.error.message);
    if (parsed.message.type !== 'connection_init') return refuse('BAD_REQUEST', 'the first frame must be connection_init');
    phase = 'authenticating';
    clearTimeout(initTimer);
    const init = parsed.message;
    const verdict = await verifyCoreToken(headerToken ?? init.coreToken, deps.jwtSecret);
    if (ws.readyState !== ws.OPEN) return;
    if (!verdict.ok) return refuse(verdict.code, verdict.message);
    entry = {
      gen: deps.sockets.nextGen(),
      kind: 'glasses',
      ws,
      userId: verdict.userId,
      extensions: new Set(),
      ownershipReleased: false,
      lastActivityAt: Date.now(),
    };
    deps.sockets.add(entry);
    phase = 'open';
    log.info({ userId: entry.userId, gen: entry.gen, runningApps: init.runningApps }, 'glasses connected');
    deps.sessions.glassesConnected(entry.userId, entry.gen, init.runningApps);
    for (const frame of early.splice(0)) handle(entry, frame);
  };

  const handle = (socket: SocketEntry, raw: Buffer) => {
    socket.lastActivityAt = Date.now();
    const parsed = parseMessage('glassesToCloud', raw);
    if (!parsed.ok) {
      deps.metrics.badMessages.inc({ side: 'glasses', code: parsed.error.code });
      log.warn({ userId: socket.userId, code: parsed.error.code, type: parsed.error.type }, 'bad glasses frame');
      send(ws, { type: 'connection_error', code: parsed.error.code, message: parsed.error.message });
      return;
    }
    dispatch(socket, parsed.message);
  };

  const dispatch = (socket: SocketEntry, message: GlassesToCloudMessage) => {
    if (isGlassesStreamEvent(message)) {
      // A replaced socket may still be draining: only the current one speaks for the user.
      if (deps.router.isCurrentGlasses(socket.userId, socket.gen)) deps.router.fromGlasses(socket.userId, message);
      return;
    }
    const user = deps.sessions.get(socket.userId);
    switch (message.type) {
      case 'start_app':
        user?.send({ type: 'app.startRequested', packageName: message.packageName });
        break;
      case 'stop_app':
        user?.send({ type: 'app.stopRequested', packageName: message.packageName });
        break;
      case 'heartbeat':
        send(ws, { type: 'heartbeat_ack' });
        break;
      case 'connection_init':
        log.debug({ userId: socket.userId }, 'repeated connection_init ignored');
        break;
    }
  };

  ws.on('message', (data: Buffer) => {
    if (phase === 'open' && entry) handle(entry, data);
    else if (phase === 'awaitingInit') void authenticate(data).catch((error) => log.error({ err: (error as Error).message }, 'glasses authentication failed'));
    else if (phase === 'authenticating') early.push(data);
  });
  ws.on('error', (error: Error & { code?: string }) => {
    const code: ErrorCode = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'MESSAGE_TOO_LARGE' : 'INVALID_FIELDS';
    deps.metrics.badMessages.inc({ side: 'glasses', code });
    log.warn({ userId: entry?.userId, code, err: error.message }, 'glasses socket error');
  });
  ws.on('close', () => clearTimeout(initTimer));
}
