/**
 * `createCloud(config)`: the whole cloud runtime from explicit configuration — one HTTP server
 * carrying express (health, metrics, admin API) and two `ws` servers in `noServer` mode
 * (`/glasses-ws`, `/app-ws` with its alias `/tpa-ws`), the session registry, the router and the
 * store. Nothing listens at import time; `close()` shuts down in order.
 */
import { requestUrl } from '../util/requestUrl.js';
import type { IncomingMessage, Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { InspectionEvent } from 'xstate';
import type { SessionConfig } from '../../machines/policy/sessionConfig.js';
import { forEachAppSession, topStateOf } from '../../machines/sessionApi.js';
import { CloseCode, CloseReason } from '../protocol/closeCodes.js';
import { createLogger, type Logger } from '../logger.js';
import { closeSocket } from '../util/closeSocket.js';
import { AppControl } from './appControl.js';
import { AppSettings, MENTRAOS_SETTINGS } from './appSettings.js';
import { acceptAppSocket, type AppGatewayCluster, type AppGatewayDeps } from './appGateway.js';
import { AppRequests } from './appRequests.js';
import { DISCOVER_USERS_PATH } from './appRooms.js';
import { AppSender } from './appSend.js';
import { createAppWebhook } from './appWebhook.js';
import { AudioRelay } from './audioRelay.js';
import { DeliveryLog } from './deliveryLog.js';
import { effectivePublicUrl, resolveCloudConfig, sessionConfigOf, type CloudConfig, type CloudSettings } from './config.js';
import { acceptGlassesSocket } from './glassesGateway.js';
import { createCoreToken } from './glassesAuth.js';
import { createHttpApi, registerApp, type NewAppRequest } from './httpApi.js';
import { createPermissionsRouter } from './permissions.js';
import { createSimpleStorageRouter } from './simpleStorage.js';
import { createCloudServer, loadTlsFiles } from './tls.js';
import { createTtsRouter, isCloudTtsUrl } from './tts.js';
import { PHOTO_UPLOAD_PATH, PhotoForwarder, photoUploadRoute } from './photoUpload.js';
import { createCloudMetrics, type CloudMetrics } from './metrics.js';
import { AppRecovery, RecoveryCalls } from './recovery.js';
import { REGISTER_PATHS, RegistrationService, registrationHandler } from './registration.js';
import { flushHeldDisplays, Router } from './router.js';
import { ScreenMemory } from './screenMemory.js';
import { createScreenRestore } from './screenRestore.js';
import { ScreenWriter } from './screenWriter.js';
import { SessionRegistry } from './sessionRegistry.js';
import { WriteGate } from './link/backpressure.js';
import { UserBudgets } from './link/frameBudget.js';
import type { SocketLimits } from './link/handshake.js';
import { Admission, serverOptionsOf } from './link/admission.js';
import { createSocketLinkLogic } from './link/socketAdapter.js';
import { SocketTable } from './link/socketTable.js';
import { combineInspectors, createStateLog } from './stateLog.js';
import { createIngestInspector, createInspectorHub, createInspectorServer, INSPECTOR_PATHS, nodeSource, type InspectorHub } from '../../inspector/index.js';
import { AppRelay } from './cluster/appRelay.js';
import { startClusterNode, type ClusterNode } from './cluster/clusterNode.js';
import { openStore } from './openStore.js';
import type { Store } from './store.js';
import { createWebhookClient } from './webhookClient.js';
import { circuitKeyOf, WebhookCircuits } from './webhookCircuits.js';
import { classifyAddress } from './outboundPolicy.js';

/** Whether `host` is a loopback interface (`127.x.x.x`, `::1`, `localhost`): nothing off the machine reaches it. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || classifyAddress(host) === 'loopback';
}

/**
 * Longest wait of an app whose session is not on the node it reached (its glasses may be
 * reconnecting to this node after another died); then it is refused with 1012 and retries.
 */
const APP_PARK_MAX_MS = 10_000;

/** Paths of the WebSocket endpoints. */
export const WS_PATHS = { glasses: '/glasses-ws', app: '/app-ws', appLegacy: '/tpa-ws' } as const;

/** Options of {@link createCloud}. */
export interface CreateCloudOptions {
  /** A resolved configuration; when absent it is resolved from `env` and `overrides`. */
  config?: CloudConfig;
  overrides?: Partial<CloudSettings>;
  env?: Readonly<Record<string, string | undefined>>;
  /** Interface to listen on (default: the `host` setting, 127.0.0.1). */
  host?: string;
  logger?: Logger;
  /** Extra inspection observer for every actor (the inspector's hub). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * The inspector's hub, fed by every actor and served at `/inspector` when the inspector is
   * enabled (`TETHER_INSPECTOR_TOKEN` set, or development on a loopback host). By default the cloud
   * creates one when enabled; `false` turns the inspector off.
   */
  inspector?: InspectorHub | false;
  /** Session timing beyond what the configuration names (webhook retries, app connect timeout). */
  session?: Partial<SessionConfig>;
  /**
   * Restore the sessions a previous process left in the store (default true); `false` deletes
   * them and starts afresh.
   */
  restore?: boolean;
  /**
   * Write every user session through to the store as it changes (default true), so a crash loses
   * nothing. `false` saves them only at shutdown, which a crash loses: only for measuring what
   * write-through costs (`bench/persistence.ts`).
   */
  writeThrough?: boolean;
  /** Clock and randomness for the machines (tests). */
  now?: () => number;
  random?: () => number;
}

/** A running cloud. */
export interface Cloud {
  /** HTTP base URL, e.g. `http://127.0.0.1:8002` (`https://` with TLS). */
  readonly url: string;
  readonly port: number;
  /** `ws://…/glasses-ws` on the bound address (`wss://` with TLS). */
  readonly glassesUrl: string;
  /** The app WebSocket URL handed out in webhooks (from `TETHER_PUBLIC_URL`). */
  readonly appUrl: string;
  readonly config: CloudConfig;
  readonly store: Store;
  readonly sessions: SessionRegistry;
  readonly sockets: SocketTable;
  readonly metrics: CloudMetrics;
  readonly logger: Logger;
  /** The inspector's hub, when the inspector is on. */
  readonly inspector: InspectorHub | undefined;
  /** `http://…/inspector/` when the inspector is served (its token is not in it). */
  readonly inspectorUrl: string | undefined;
  /** Replay buffers of the app sessions (seq numbering, resume, state export for restarts). */
  readonly deliveries: DeliveryLog;
  /** Registers an app (with its settings definitions and permissions, if given) and returns its API key (shown once). */
  registerApp(app: NewAppRequest): Promise<{ packageName: string; apiKey: string }>;
  /** Mints a core token for simulated glasses. */
  createGlassesToken(userId: string, expiresInSeconds?: number): Promise<string>;
  /**
   * Graceful shutdown, idempotent. The sessions are in the store already (written through); by
   * default the pending changes are flushed for the next process (synchronously, before anything
   * else happens) and both glasses and apps are closed with 1012 (service restart: come back);
   * with `{ persist: false }` the stored sessions are deleted and the glasses are closed with
   * 1001 (going away). Then the actors are stopped, the HTTP server and the store closed.
   */
  close(options?: { persist?: boolean }): Promise<void>;
  /** How many persisted sessions this cloud restored at start. */
  readonly restoredSessions: number;
  /** This process's membership of a cluster (`TETHER_NATS_URL`); undefined on one node. */
  readonly cluster: ClusterNode | undefined;
  /** Apps' requests waiting for an answer from glasses (photo, audio, LED, location). */
  readonly pendingRequests: number;
}

/** Starts a cloud and resolves once it listens. */
export async function createCloud(options: CreateCloudOptions = {}): Promise<Cloud> {
  const config =
    options.config ??
    resolveCloudConfig({
      ...(options.env ? { env: options.env } : {}),
      ...(options.overrides ? { overrides: options.overrides } : {}),
    });
  const tlsFiles = loadTlsFiles(config);
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'tether-cloud' });
  for (const warning of config.warnings) logger.warn(warning);

  const store = await openStore(config.dbPath, logger);
  // A node of a cluster (TETHER_NATS_URL): sessions are owned per node and move between nodes.
  // Evictions reach the registry once it exists; none can come before a session was claimed.
  let evict: (userIds: readonly string[]) => void = () => {};
  const cluster = config.natsUrl
    ? await startClusterNode({
        natsUrl: config.natsUrl,
        nodeId: config.nodeId ?? `${hostname()}-${config.port === 0 ? randomUUID().slice(0, 8) : config.port}`,
        leaseMs: config.leaseMs,
        store,
        logger,
        onLost: (userIds) => evict(userIds),
      }).catch(async (error: unknown) => {
        await store.close();
        throw error;
      })
    : undefined;
  const metrics = createCloudMetrics();
  const sockets = new SocketTable();
  const webhookClient = createWebhookClient({ timeoutMs: config.webhookTimeoutMs, logger, metrics, outboundPolicy: config.outboundPolicy });
  const recoveryCalls = new RecoveryCalls();
  // Set once the recovery dispatcher exists; a circuit can only close after sessions were created.
  let releaseHost: (host: string) => void = () => {};
  const circuits = new WebhookCircuits({
    probe: { baseDelayMs: 1000, maxDelayMs: config.circuitProbeMaxDelayMs },
    logger,
    ...(options.random ? { random: options.random } : {}),
    onClosed: (host) => releaseHost(host),
  });
  let appUrl = '';
  const deliveries = new DeliveryLog({
    limits: { maxMessages: config.replayMaxMessages, maxAgeMs: config.replayWindowMs, maxBytes: config.replayMaxBytes },
    budgetBytes: config.replayBudgetBytes,
    metrics,
    ...(options.now ? { now: options.now } : {}),
    logger,
  });

  const sessionConfig: SessionConfig = { ...sessionConfigOf(config), ...options.session };

  // Screen restore (issue 11 §3): each app's last display per view, written through to the store.
  const screenWriter = new ScreenWriter({ store, logger });
  const screens = new ScreenMemory({
    maxBytesPerUser: config.screenMemoryMaxBytes,
    budgetBytes: config.screenMemoryBudgetBytes,
    sink: screenWriter,
    ...(options.now ? { now: options.now } : {}),
  });

  // The inspector is served behind its token; without one only in development on loopback.
  const host = options.host ?? config.host;
  const inspectorServed =
    options.inspector !== false && (config.inspectorToken !== undefined || (!config.production && isLoopbackHost(host)));
  const ownInspectorHub = inspectorServed && !options.inspector;
  const ownSource = cluster ? nodeSource(cluster.nodeId) : undefined;
  const inspectorHub = options.inspector || (inspectorServed ? createInspectorHub(ownSource ? { source: ownSource } : {}) : undefined);
  // Another cloud's inspector shows this one's actors too (a cluster seen from one node).
  const forwardedInspector = config.inspectorForwardUrl
    ? createIngestInspector({
        url: `${config.inspectorForwardUrl}${INSPECTOR_PATHS.ingest}`,
        source: ownSource ?? nodeSource(`${hostname()}-${config.port}`),
        ...(config.inspectorToken ? { token: config.inspectorToken } : {}),
      })
    : undefined;

  // Write backpressure: a congested socket's data waits (replay buffer, latest display per view)
  // and goes out when it drains.
  const gate = new WriteGate({
    highWaterBytes: config.socketHighWaterBytes,
    onCongested: (entry) => metrics.socketCongestion.inc({ side: entry.kind, event: 'congested' }),
    onDrained: (entry) => {
      metrics.socketCongestion.inc({ side: entry.kind, event: 'drained' });
      if (entry.kind === 'app') deliveries.flush(entry, sessions.appSessionOfSocket(entry), gate.canWrite);
      else flushHeldDisplays(entry, gate);
    },
  });

  // `appRequests` is built after the registry it reads; events before that concern no request.
  let observeRequests: (event: InspectionEvent) => void = () => {};
  const sessions = new SessionRegistry({
    resumeState: deliveries,
    ...(options.writeThrough === undefined ? {} : { writeThrough: options.writeThrough }),
    config: sessionConfig,
    store,
    ...(cluster ? { cluster } : {}),
    sockets,
    metrics,
    logger,
    inspect: combineInspectors(createStateLog(logger), deliveries.observe, screens.observe, (event) => observeRequests(event), options.inspect, inspectorHub?.inspect, forwardedInspector?.inspect),
    ...(options.now ? { now: options.now } : {}),
    ...(options.random ? { random: options.random } : {}),
    actors: {
      socketLink: createSocketLinkLogic({
        sockets,
        kinds: {
          glasses: {
            ack: (entry) => ({ type: 'connection_ack', sessionId: entry.userId, userId: entry.userId }),
            afterAck: (entry) => restoreScreens(entry),
          },
          app: {
            ack: (entry) => ({
              type: 'tpa_connection_ack',
              sessionId: entry.sessionId,
              settings: entry.ackSettings ?? [],
              mentraosSettings: MENTRAOS_SETTINGS,
              capabilities: null,
            }),
            // Missed frames go out after the ack and before any live one.
            afterAck: (entry) => void deliveries.resume(entry, sessions.appSessionOfSocket(entry), gate.canWrite),
          },
        },
        congestionLimitMs: config.congestionLimitMs,
        onHeartbeatTimeout: (side) => metrics.heartbeatTimeouts.inc({ side }),
        onCongestionClose: (side) => metrics.socketCongestion.inc({ side, event: 'closed' }),
        // A socket heard from within a heartbeat interval was alive when a newer one took its
        // place: normal for a network switch, worth a line for an app (which does not switch networks).
        onReplaced: (entry, code, heardAgoMs) => {
          const fields = { side: entry.kind, userId: entry.userId, sessionId: entry.sessionId, gen: entry.gen, code, heardAgoMs: Math.round(heardAgoMs) };
          if (entry.kind === 'app' && heardAgoMs < config.heartbeatIntervalMs) logger.warn(fields, 'live app socket replaced by a newer one');
          else logger.debug(fields, 'socket replaced');
        },
      }),
      appWebhook: createAppWebhook({
        store,
        client: webhookClient,
        // The owner hint a balancer can route on (README "Many nodes"); one node ignores it.
        appWebsocketUrl: () => (cluster ? `${appUrl}?tether_node=${cluster.nodeId}` : appUrl),
        onRecoveryCall: (correlationId) => recoveryCalls.begin(correlationId),
        circuits,
        ...(cluster ? { cluster } : {}),
      }),
    },
  });
  cluster?.serveHandovers((userId) => sessions.handOver(userId));
  evict = (userIds) => {
    logger.warn({ sessions: userIds.length }, 'sessions lost to another node: their sockets closed with 1012');
    for (const userId of userIds) sessions.evict(userId);
  };
  const router = new Router(sessions, sockets, deliveries, gate, screens);
  const appSettings: AppSettings = new AppSettings({ store, sessions, sockets, logger, ...(cluster ? { peers: cluster } : {}) });
  cluster?.serveAppSessionQueries((sessionId, packageName) => sessions.findAppSession(sessionId, packageName) !== undefined);
  const outbound = { policy: config.outboundPolicy };
  // Requests to the glasses and messages between apps (issue 12 §3–§5).
  let httpBase = '';
  const photos = new PhotoForwarder({ store, outbound, logger, timeoutMs: config.webhookTimeoutMs });
  const appRequests = new AppRequests({
    sessions,
    sender: new AppSender(sessions, sockets, gate),
    router,
    photos,
    logger,
    timeoutsMs: {
      photo: config.photoRequestTimeoutMs,
      audio: config.audioRequestTimeoutMs,
      led: config.glassesRequestTimeoutMs,
      location: config.glassesRequestTimeoutMs,
    },
    maxPendingPerSession: config.maxPendingRequestsPerSession,
    photoUploadUrl: () => `${httpBase}${PHOTO_UPLOAD_PATH}`,
    isOwnTtsUrl: (audioUrl) => isCloudTtsUrl(audioUrl, appUrl),
  });
  observeRequests = appRequests.observe;
  const audio = new AudioRelay({ sessions, sockets, gate, metrics, logger });
  const restoreScreens = createScreenRestore({ sessions, screens, router });
  const recovery = new AppRecovery({ sessions, sockets, calls: recoveryCalls, metrics, logger, concurrency: config.recoveryConcurrency });
  // A host that answers again releases the sessions of every app it serves, paced like a restart recovery.
  let hostReturns = 0;
  releaseHost = (host) => {
    hostReturns += 1;
    const round = `host-${hostReturns}`;
    void store.listApps().then(
      (apps) => {
        for (const app of apps) {
          if (circuitKeyOf(app.webhookUrl) !== host) continue;
          void recovery.run(recovery.plan(app.packageName, round, 'appServer.reachable'));
        }
      },
      (error: unknown) => logger.error({ host, err: error instanceof Error ? error.message : String(error) }, 'apps of a returning host not read'),
    );
  };
  const registration = new RegistrationService({ store, recovery, logger, outbound, ...(options.now ? { now: options.now } : {}) });
  const appControl = new AppControl({ store, metrics, logger, maxRunningApps: config.maxRunningApps, appControlPerMinute: config.appControlPerMinute });

  // Counted at scrape time, so the data plane never pays for this gauge.
  metrics.sessions.collect((gauge) => {
    for (const user of sessions.values()) {
      const snapshot = user.getSnapshot();
      gauge.inc({ kind: 'user', state: topStateOf(snapshot) });
      forEachAppSession(snapshot, (app) => gauge.inc({ kind: 'app', state: topStateOf(app.getSnapshot()) }));
    }
  });

  // Walked once per scrape each: scrape time only, never the data plane.
  metrics.sockets.collect((gauge) => {
    const { open } = sockets.census();
    for (const kind of ['glasses', 'app'] as const) gauge.set({ kind }, open[kind]);
  });
  metrics.duplicateSockets.collect((gauge) => {
    const { duplicates } = sockets.census();
    for (const kind of ['glasses', 'app'] as const) gauge.set({ kind }, duplicates[kind]);
  });

  const http = createHttpApi({
    adminToken: config.adminToken,
    store,
    metrics,
    logger,
    outbound,
    health: () => ({ users: sessions.size, restoring: sessions.restoring, sockets: sockets.size }),
    registration: { paths: REGISTER_PATHS, handler: registrationHandler(registration, { recovery, logger }) },
    appEndpoints: [
      createSimpleStorageRouter({ store, sessions, logger, limits: config }),
      appSettings.router(),
      createPermissionsRouter({ store, logger }),
      createTtsRouter({ logger }),
    ],
    posts: [
      { path: PHOTO_UPLOAD_PATH, handler: photoUploadRoute({ pending: appRequests.pending, forwarder: photos, logger }) },
      { path: DISCOVER_USERS_PATH, handler: appRequests.rooms.discoverRoute(store) },
    ],
  });
  const limits: SocketLimits = {
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    maxJsonDepth: config.maxJsonDepth,
    socket: { messagesPerSecond: config.socketMessagesPerSecond, bytesPerSecond: config.socketBytesPerSecond },
    users: new UserBudgets({ messagesPerSecond: config.userMessagesPerSecond, bytesPerSecond: config.userBytesPerSecond }),
  };
  const glassesWss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes });
  const appWss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes });
  const inspectorEndpoints =
    inspectorServed && inspectorHub ? createInspectorServer({ hub: inspectorHub, token: config.inspectorToken, logger }) : undefined;
  const server: Server = createCloudServer(tlsFiles, serverOptionsOf(config), inspectorEndpoints ? inspectorEndpoints.wrap(http) : http);
  const admission = new Admission({ settings: config, metrics, logger });
  let accepting = true;

  // App sockets whose session another node owns are relayed there; this node serves those relayed here.
  const appRelay = cluster
    ? new AppRelay({
        nc: cluster.nc,
        nodeId: cluster.nodeId,
        accept: (relayed, remoteAddress) => acceptAppSocket(relayed as unknown as WebSocket, appGatewayDeps(remoteAddress)),
        isAlive: (owner) => cluster.isAlive(owner),
        checkEveryMs: config.leaseMs / 3,
        logger,
      })
    : undefined;
  appRelay?.start();
  const gatewayCluster: AppGatewayCluster | undefined =
    cluster && appRelay
      ? {
          nodeId: cluster.nodeId,
          parkMs: Math.min(config.gracePeriodMs, APP_PARK_MAX_MS),
          mayActFor: (userId) => cluster.mayActFor(userId),
          liveOwnerOf: (userId) => cluster.liveOwnerOf(userId),
          relay: (ws, takeFrames, owner, remoteAddress) => appRelay.open(ws, takeFrames, owner, remoteAddress),
        }
      : undefined;
  const appGatewayDeps = (remoteAddress: string | undefined): AppGatewayDeps => ({
    store,
    settings: appSettings,
    limits,
    sessions,
    sockets,
    router,
    metrics,
    logger,
    remoteAddress,
    requests: appRequests,
    ...(gatewayCluster ? { cluster: gatewayCluster } : {}),
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = requestUrl(req.url).pathname;
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!accepting) return refuse('503 Service Unavailable');
    const glasses = path === WS_PATHS.glasses;
    if (glasses || path === WS_PATHS.app || path === WS_PATHS.appLegacy) {
      // Refused upgrades are answered by the admission; a failure there ends only this socket.
      admission.admit(req, socket).then((pending) => {
        if (!pending) return;
        if (!accepting) return refuse('503 Service Unavailable');
        if (glasses) {
          glassesWss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
            pending.upgraded(ws);
            acceptGlassesSocket(ws, req, {
              jwtSecret: config.jwtSecret,
              maxTokenLifetimeMs: config.maxTokenLifetimeMs,
              limits,
              sessions,
              sockets,
              router,
              metrics,
              logger,
              appControl,
              appSettings,
              requests: appRequests,
              audio,
              ...(cluster ? { cluster } : {}),
            });
          });
        } else {
          const remoteAddress = req.socket.remoteAddress;
          appWss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
            pending.upgraded(ws);
            acceptAppSocket(ws, appGatewayDeps(remoteAddress));
          });
        }
      }, () => socket.destroy());
    } else if (inspectorEndpoints?.handles(path)) {
      inspectorEndpoints.handleUpgrade(req, socket, head);
    } else refuse('404 Not Found');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  admission.guard(server);
  const port = (server.address() as AddressInfo).port;
  const base = effectivePublicUrl(config, port);
  appUrl = `${base}${WS_PATHS.app}`;
  httpBase = base.replace(/^ws/, 'http');
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  // A node of a cluster restores nothing at start: the store holds every node's sessions, and each
  // comes back on the node its glasses return to (`restoreClaimed`).
  const restoredSessions = cluster ? 0 : await sessions.restoreAll({ fresh: options.restore === false });
  // The screens of sessions that came back; the rest are deleted (their sessions are gone).
  // Without a restore they stay in the store as they are, for a later start that restores.
  const restoredScreens =
    options.restore === false || cluster
      ? 0
      : screens.load(await store.loadScreens(), (userId, sessionId) => sessions.appSession(userId, sessionId) !== undefined);
  logger.info({ host, port, appUrl, restoredSessions, restoredScreens }, 'cloud listening');

  /**
   * A node of a cluster leaving (SIGTERM, a rolling deploy). No new socket reaches it (the
   * balancer sends them to the others). The glasses are told to go first (1012): until each one
   * has answered, what it sent is still read and delivered, so nothing it sent before it saw the
   * close is lost. Then no frame is read any more, so nothing is numbered after the rows are
   * written; every session is written with its exact positions and the frames its buffers keep;
   * then the lease is given up, so whichever node a user's glasses reach next takes the session
   * at once; the apps are told to go last (1012, below) and resume there.
   */
  const drain = async () => {
    const started = performance.now();
    server.close();
    await Promise.all([...sockets.values()].filter((entry) => entry.kind === 'glasses').map((entry) => closeSocket(entry.ws, CloseCode.SERVICE_RESTART, CloseReason.SERVER_RESTART)));
    for (const ws of [...glassesWss.clients, ...appWss.clients]) ws.pause();
    appRelay?.pause();
    const handed = await sessions.persistAll('handover').catch((error: unknown) => {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'drain: sessions not all written');
      return 0;
    });
    await cluster?.leave();
    logger.info({ sessions: handed, ms: Math.round(performance.now() - started) }, 'drained: sessions written with their buffers, lease given up');
  };

  let closing: Promise<void> | undefined;
  const close = ({ persist = true }: { persist?: boolean } = {}) =>
    (closing ??= (async () => {
      accepting = false;
      if (cluster && persist) await drain();
      // Handed to the store before any socket closes, so the rows hold the live state (the
      // embedded store writes them at once: a second signal, or a kill, after this line finds the
      // store complete); awaited before the store closes.
      const persisted = persist ? sessions.persistAll() : sessions.discardPersisted().then(() => 0);
      for (const ws of [...glassesWss.clients, ...appWss.clients]) if (ws.isPaused) ws.resume();
      // Relayed sockets first, with 1012 (come back): they are in no socket table here, and the
      // 1001 below would tell their sessions' owners that the apps ended them.
      appRelay?.close();
      const closes: Array<Promise<void>> = [];
      for (const entry of [...sockets.values()]) {
        const code = entry.kind === 'glasses' && !persist ? CloseCode.GOING_AWAY : CloseCode.SERVICE_RESTART;
        closes.push(closeSocket(entry.ws, code, CloseReason.SERVER_RESTART));
      }
      const registered = new Set([...sockets.values()].map((e) => e.ws));
      // Sockets still authenticating are not in the table yet.
      for (const ws of [...glassesWss.clients, ...appWss.clients]) {
        if (!registered.has(ws)) closes.push(closeSocket(ws, CloseCode.GOING_AWAY, CloseReason.SERVER_RESTART));
      }
      // Saved for the next process; stopping the actors below must not delete them.
      const screensSaved = screenWriter.close();
      // Stopped in the same tick as the closes began: no actor reacts to its socket closing.
      recovery.stop();
      circuits.clear();
      appRequests.close();
      sessions.stopAll();
      if (inspectorEndpoints) closes.push(inspectorEndpoints.close());
      await Promise.all(closes);
      if (ownInspectorHub) inspectorHub?.close();
      await forwardedInspector?.close();
      glassesWss.close();
      appWss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      const kept = await persisted;
      await screensSaved;
      // The lease goes last: until the rows are written, no peer may take the sessions.
      await cluster?.close();
      await store.close();
      metrics.close();
      logger.info({ persisted: kept }, 'cloud closed');
      logger.flush?.();
    })());

  const tls = tlsFiles !== undefined;
  return {
    url: `${tls ? 'https' : 'http'}://${shownHost}:${port}`,
    port,
    glassesUrl: `${tls ? 'wss' : 'ws'}://${shownHost}:${port}${WS_PATHS.glasses}`,
    get appUrl() {
      return appUrl;
    },
    config,
    store,
    sessions,
    sockets,
    metrics,
    logger,
    inspector: inspectorHub,
    inspectorUrl: inspectorEndpoints ? `${tls ? 'https' : 'http'}://${shownHost}:${port}${INSPECTOR_PATHS.page}/` : undefined,
    deliveries,
    registerApp: (app) => registerApp(store, app),
    restoredSessions,
    cluster,
    get pendingRequests() {
      return appRequests.pending.size;
    },
    createGlassesToken: (userId, expiresInSeconds) =>
      createCoreToken(userId, config.jwtSecret, expiresInSeconds ? { expiresInSeconds } : {}),
    close,
  };
}

