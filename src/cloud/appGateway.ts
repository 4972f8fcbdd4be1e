/**
 * Accepts app sockets on `/app-ws` (and `/tpa-ws`): the first frame must be
 * `tpa_connection_init` with a valid key for a session this cloud started for that package and
 * user (ARCHITECTURE.md, "Compatibility"). The socket is then handed to that `appSession`;
 * later frames are subscriptions (to the machine), displays (to the router) or ignored.
 * Credentials are refused with `tpa_connection_error` and then a 1008 close — `@mentra/sdk`
 * never closes the socket itself and would retry a 4xxx close.
 */
import type { WebSocket } from 'ws';
import { CloseCode, closeReason } from '../protocol/closeCodes.js';
import type { ErrorCode } from '../protocol/errors.js';
import { normalizeSubscriptions, type AppToCloudMessage, type TpaConnectionInit } from '../protocol/appToCloud.js';
import { parseMessage } from '../protocol/parse.js';
import type { Logger } from '../logger.js';
import { verifyApiKey } from './apiKeys.js';
import type { CloudMetrics } from './metrics.js';
import type { Router } from './router.js';
import type { SessionRegistry } from './sessionRegistry.js';
import { send } from './sessionSocket.js';
import type { SocketEntry, SocketTable } from './socketTable.js';
import type { Store } from './store.js';

/** Time a new app socket has to send `tpa_connection_init`, in ms. */
export const APP_INIT_TIMEOUT_MS = 10_000;

/** What the gateway needs from the cloud. */
export interface AppGatewayDeps {
  store: Store;
  sessions: SessionRegistry;
  sockets: SocketTable;
  router: Router;
  metrics: CloudMetrics;
  logger: Logger;
}

/** `${userId}-${packageName}` → userId, or undefined when the id is not of that package. */
export function userIdOfSession(sessionId: string, packageName: string): string | undefined {
  const suffix = `-${packageName}`;
  if (!sessionId.endsWith(suffix) || sessionId.length === suffix.length) return undefined;
  return sessionId.slice(0, -suffix.length);
}

/** Handles one app socket from upgrade to close. */
export function acceptAppSocket(ws: WebSocket, deps: AppGatewayDeps): void {
  const log = deps.logger.child({ side: 'app' });
  let entry: SocketEntry | undefined;
  let refused = false;

  const refuse = (code: ErrorCode, message: string, bindings: object = {}) => {
    refused = true;
    clearTimeout(initTimer);
    deps.metrics.badMessages.inc({ side: 'app', code });
    log.warn({ code, ...bindings }, 'app connection refused');
    send(ws, { type: 'tpa_connection_error', code, message });
    ws.close(CloseCode.POLICY_VIOLATION, closeReason(message));
  };

  const initTimer = setTimeout(() => refuse('BAD_REQUEST', 'no tpa_connection_init before the timeout'), APP_INIT_TIMEOUT_MS);

  const authenticate = (init: TpaConnectionInit) => {
    const { packageName, sessionId } = init;
    const app = deps.store.getApp(packageName);
    if (!app) return refuse('UNKNOWN_PACKAGE', 'Unknown package', { packageName });
    if (!verifyApiKey(init.apiKey, app.apiKeyHash)) return refuse('INVALID_API_KEY', 'Invalid API key', { packageName });
    const userId = userIdOfSession(sessionId, packageName);
    const appSession = userId ? deps.sessions.appSession(userId, sessionId) : undefined;
    if (!userId || !appSession) return refuse('SESSION_NOT_FOUND', 'No such session for this package', { packageName, sessionId });
    clearTimeout(initTimer);
    const extensions = init.extensions ?? [];
    entry = {
      gen: deps.sockets.nextGen(),
      kind: 'app',
      ws,
      userId,
      packageName,
      sessionId,
      extensions: new Set(extensions),
      ...(init.lastSeq !== undefined ? { lastSeq: init.lastSeq } : {}),
      ownershipReleased: false,
    };
    deps.sockets.add(entry);
    log.info({ userId, packageName, sessionId, gen: entry.gen }, 'app connected');
    appSession.send({ type: 'app.connected', gen: entry.gen, extensions });
  };

  const isAdopted = (socket: SocketEntry): boolean => {
    const app = socket.sessionId ? deps.sessions.appSession(socket.userId, socket.sessionId)?.getSnapshot() : undefined;
    return app?.hasTag('canSend') === true && app.context.gen === socket.gen;
  };

  const dispatch = (socket: SocketEntry, message: AppToCloudMessage) => {
    switch (message.type) {
      case 'subscription_update':
        socket.report?.({ type: 'subscriptions.updated', gen: socket.gen, subscriptions: normalizeSubscriptions(message.subscriptions) });
        break;
      case 'display_event':
        // `@mentra/sdk` sends `sessionId: ""`: the socket says whose display this is. Only the
        // socket its session adopted may draw: a refused one (an app stopping) never does.
        if (isAdopted(socket)) deps.router.toGlasses(socket.userId, { ...message, packageName: socket.packageName, sessionId: socket.sessionId });
        break;
      case 'ownership_release':
        socket.ownershipReleased = true;
        break;
      case 'heartbeat':
        send(ws, { type: 'heartbeat_ack' });
        break;
      case 'tpa_connection_init':
        log.debug({ sessionId: socket.sessionId }, 'repeated tpa_connection_init ignored');
        break;
      default:
        log.debug({ sessionId: socket.sessionId, type: message.type }, 'app message not handled by this cloud');
    }
  };

  ws.on('message', (data: Buffer) => {
    if (refused) return;
    const parsed = parseMessage('appToCloud', data);
    if (!parsed.ok) {
      if (!entry) return refuse(parsed.error.code, parsed.error.message);
      deps.metrics.badMessages.inc({ side: 'app', code: parsed.error.code });
      log.warn({ sessionId: entry.sessionId, code: parsed.error.code, type: parsed.error.type }, 'bad app frame');
      send(ws, { type: 'tpa_connection_error', code: parsed.error.code, message: parsed.error.message });
      return;
    }
    if (entry) dispatch(entry, parsed.message);
    else if (parsed.message.type === 'tpa_connection_init') authenticate(parsed.message);
    else refuse('BAD_REQUEST', 'the first frame must be tpa_connection_init');
  });
  ws.on('error', (error: Error & { code?: string }) => {
    const code: ErrorCode = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'MESSAGE_TOO_LARGE' : 'INVALID_FIELDS';
    deps.metrics.badMessages.inc({ side: 'app', code });
    log.warn({ sessionId: entry?.sessionId, code, err: error.message }, 'app socket error');
  });
  ws.on('close', () => clearTimeout(initTimer));
}
