/**
 * The SDK's `appConnection` and the cloud's `appSession` composed over a network that can
 * delay, reorder, cut and duplicate, as one system of pure steps over serialized global
 * states, for the model checker of test/machines/jointModel.test.ts.
 *
 * A global state: both actors' persisted snapshots (with their children: the SDK's socket,
 * the cloud's socket links and webhook calls; see jointActors.ts), every socket's two ends
 * and the frames in flight each way, and the budgets of the bound.
 *
 * Time: the clock never moves. Every `after` timer armed in a state is one possible step,
 * taken by sending its `xstate.after.*` event — persisted snapshots keep no timers, and a
 * timer may fire before or after anything else in flight, so every interleaving of timeouts
 * and deliveries is explored. Pings and pongs are not modelled: a heartbeat tick that finds
 * the peer alive changes nothing, and one that finds it silent is possible at any time, since
 * the network may delay a pong past the timeout. So the SDK's ping tick and the link's
 * ping are left out; the link's "silent" tick and the SDK's heartbeat timeout are steps.
 *
 * The network, as `ws` over TCP shows it: a socket keeps its frames in order each way, so
 * reordering happens between sockets and against timers and webhooks; a cut loses what is in
 * flight one way and everything written after it (a half-open socket: neither end learns of
 * it until a liveness timeout); a bounded number of frames may be duplicated. Closing follows
 * the WebSocket handshake: a close frame is echoed, a terminated socket reaches the peer as a
 * TCP end (1006) unless that way is cut, and a close that gets no answer ends after ws's
 * close timeout (a step). A dial connects or fails; once the bound's number of sockets have
 * connected every dial fails (the network is down from then on), which keeps the graph
 * finite and closed.
 *
 * Around the actors stand the runtime's other parts, as they behave: the cloud's gateway
 * (`src/cloud/appGateway.ts`: a generation from one counter as each connection is accepted,
 * before its init is read, so that a socket is as new as its connection and not as its
 * authentication; `SESSION_NOT_FOUND` then 1008 once the session is gone; a handshake
 * timeout), its socket adapter's orphan rule (a socket whose link was stopped with no
 * successor is terminated), and the Tether SDK's app server (`src/sdk/appServer.ts`: a
 * session_request waits for a session's first connect to settle, is answered at once for a
 * healthy session, and otherwise closes the unhealthy one and creates a new one; a
 * stop_request disconnects it with "App stopped"). A webhook's outcome is the explorer's
 * choice — it reached the app server, it answered, it failed, it was refused for good — never
 * a count of attempts, so the model holds whatever retry policy the machine has.
 *
 * States that can only behave alike are made one (`canonicalize`, `forgettable`, and the
 * fields jointActors.ts resets): frames an end will ignore are dropped, sockets nothing can
 * come of are forgotten, and generations are renamed to small numbers in their order.
 */
import { CloseCode } from '../../machines/policy/closePolicy.js';
import type { appConnectionMachine } from '../../machines/appConnection.js';
import type { appSessionMachine } from '../../machines/appSession.js';
import type { AppSocketFact } from '../../machines/ports.js';
import type { AppWebhookInput } from '../../machines/sessionPorts.js';
import { isRetiringLinkId, retiringLinkId } from '../../machines/sessionIds.js';
import { errorInfo } from '../../src/protocol/errors.js';
import { SDK_EXTENSIONS } from '../../src/sdk/appSession.js';
import {
  cloudActor,
  outcomeOf,
  readActor,
  sdkActor,
  withCloudGens,
  withSdkGen,
  type ActorState,
  type ClientEnd,
  type CloudInput,
  type Frame,
  type ParsedActor,
  type ServerEnd,
} from './jointActors.js';

/** Which way a frame travels. */
export type Direction = 'toCloud' | 'toSdk';

/** One WebSocket: the SDK's end, the cloud's end, and what is in flight between them. */
interface SocketState extends ClientEnd {
  /** 1, 2, … by age among the sockets still in the state. */
  id: number;
  /**
   * The generation the SDK gave it, while the SDK listens to it (`attached`); a socket the SDK
   * listens to is always the current SDK session's, since a session releases its socket as
   * it ends.
   */
  sdkGen: number;
  /** `pending` once connected and waiting for the init; `open` once authenticated. */
  server: 'none' | 'pending' | ServerEnd['server'];
  /**
   * The generation the cloud gave it when it accepted the connection, before any of its
   * frames; null before that, and once nothing can be told of it any more (the gateway
   * refused it, or its cloud end is closed).
   */
  cloudGen: number | null;
  holder: string | null;
  toCloud: Frame[];
  toSdk: Frame[];
  /** The way is cut: everything written into it is lost. */
  cut: Record<Direction, boolean>;
}

/** The whole system between two steps. */
interface JointState {
  /** The current SDK session's `appConnection`, or null before the first session_request. */
  sdk: ActorState | null;
  /** SDK sessions created so far; the current one is number `instances`. */
  instances: number;
  cloud: ActorState;
  sockets: SocketState[];
  /** Sockets that have connected so far. */
  connections: number;
  /** The cloud's newest generation (generations in use are renamed 1, 2, …). */
  cloudGens: number;
  duplicatesLeft: number;
  stopRequested: boolean;
  /**
   * Webhook requests (0 or 1 of each kind) still on their way to the app server though the
   * machine no longer waits for them (it timed out or moved on): the cloud never aborts a
   * call it has sent.
   */
  late: Record<AppWebhookInput['type'], number>;
}

/** Something that can happen next. */
export type Step =
  | { type: 'stop.requested' }
  | { type: 'sdk.timer'; event: string }
  | { type: 'cloud.timer'; event: string }
  | { type: 'link.silent'; link: string }
  | { type: 'webhook.reached' | 'webhook.answered' | 'webhook.failed' | 'webhook.refused' }
  | { type: 'lateWebhook.reached'; request: AppWebhookInput['type'] }
  | { type: 'dial.accepted' | 'dial.refused'; socket: number }
  | { type: 'frame.delivered' | 'frame.duplicated' | 'direction.cut'; socket: number; way: Direction }
  | { type: 'close.timedOut'; socket: number; end: 'sdk' | 'cloud' }
  | { type: 'handshake.timedOut'; socket: number };

/** How far the exploration goes. */
export interface JointBounds {
  /** Sockets that may connect; later dials fail. */
  sockets: number;
  /** SDK sessions the app server may create; past it a session_request cannot reach it. */
  instances: number;
  /** Frames the network may duplicate in one run. */
  duplicates: number;
  /**
   * Webhook calls of one start beyond which a state is left unexplored (a frontier). With a
   * bounded retry count the machine stays below it; a patient one, retrying until a deadline,
   * would otherwise make the state space infinite.
   */
  webhookAttempts: number;
  /**
   * Whether a webhook request the machine no longer waits for may still reach the app server
   * (at most one of each kind at a time; more are lost). It matters once the app server can
   * create a second session.
   */
  lateWebhooks: boolean;
}

/** The machines under test: the real ones, or variants made with `provide`. */
export interface JointMachines {
  sdk: typeof appConnectionMachine;
  cloud: typeof appSessionMachine;
}

const APP_STOPPED = 'App stopped';
const REPLACED_BY_REQUEST = 'Replaced by a new session request';
const NOT_FOUND_CLOSE = errorInfo('SESSION_NOT_FOUND').closeCode ?? CloseCode.POLICY_VIOLATION;
const HANDSHAKE_TIMEOUT_CLOSE = errorInfo('HANDSHAKE_TIMEOUT').closeCode ?? CloseCode.POLICY_VIOLATION;

type Value = ParsedActor['value'];

/** An actor state, read-only; null when there is none or it has ended. */
function parsed(state: ActorState | null): ParsedActor | null {
  return state === null ? null : readActor(state);
}

/** The ids of the state nodes a state value makes active (the root included). */
function activeIds(rootId: string, value: Value): string[] {
  const out = [rootId];
  const walk = (prefix: string, v: Value) => {
    if (typeof v === 'string') {
      out.push(`${prefix}.${v}`);
      return;
    }
    for (const [key, child] of Object.entries(v)) {
      out.push(`${prefix}.${key}`);
      walk(`${prefix}.${key}`, child);
    }
  };
  walk(rootId, value);
  return out;
}

/** Builds the joint system of `machines` under `bounds`. */
export function jointSystem(machines: JointMachines, bounds: JointBounds) {
  const sdk = sdkActor(machines.sdk);
  const cloud = cloudActor(machines.cloud);
  // A tick that only pings changes nothing in this model (see the file comment).
  const sdkTimers = new Map([...sdk.timers].filter(([id]) => !id.endsWith('.heartbeat.waiting')));
  const [linkTick] = cloud.linkTimers.get('socketLink.open.watching') ?? [];

  // Global states are kept decoded; their keys name the actors' states by number.
  const states = new Map<string, JointState>();
  const encode = (state: JointState): string => {
    let key = `${state.sdk ?? '-'}|${state.cloud}|${state.instances},${state.connections},${state.cloudGens},${state.duplicatesLeft},${state.stopRequested ? 1 : 0},${state.late.session_request},${state.late.stop_request}`;
    for (const socket of state.sockets) key += `|${socketKey(socket)}`;
    if (!states.has(key)) states.set(key, state);
    return key;
  };
  const decode = (key: string): JointState => {
    const state = states.get(key);
    if (!state) throw new Error('unknown state');
    return state;
  };

  /** One step's copy of a global state, and the operations steps are made of. */
  class StepWorld {
    readonly state: JointState;

    constructor(from: JointState) {
      this.state = {
        ...from,
        late: { ...from.late },
        sockets: from.sockets.map((s) => ({ ...s, toCloud: [...s.toCloud], toSdk: [...s.toSdk], cut: { ...s.cut } })),
      };
    }

    byId(id: number): SocketState {
      const socket = this.state.sockets.find((s) => s.id === id);
      if (!socket) throw new Error(`no socket ${id}`);
      return socket;
    }

    write(socket: SocketState, way: Direction, frame: Frame): void {
      // A frame for an end that never existed or is closed can change nothing.
      const receiver = way === 'toCloud' ? socket.server : socket.client;
      if (!socket.cut[way] && receiver !== 'none' && receiver !== 'closed') socket[way].push(frame);
    }

    /** An event for the current SDK session (a fact of its socket, a timer, a request). */
    toSdk(event: { type: string; [key: string]: unknown } | null, create = false): void {
      const instance = create ? this.state.instances + 1 : this.state.instances;
      if (!create && parsed(this.state.sdk) === null) return;
      // Only a socket the SDK still listens to can be reached by it.
      const listened = new Map<number, SocketState>();
      for (const s of this.state.sockets) if (s.attached) listened.set(s.sdkGen, s);
      const ends: Record<number, ClientEnd> = {};
      for (const [gen, s] of listened) ends[gen] = { client: s.client, attached: s.attached };
      const result = sdk.step(create ? 'new' : this.state.sdk!, event, ends);
      this.state.instances = instance;
      this.state.sdk = result.state;
      for (const [gen, end] of Object.entries(result.ends)) {
        const socket = listened.get(Number(gen)) ?? this.dial(Number(gen));
        listened.set(Number(gen), socket);
        socket.client = end.client;
        socket.attached = end.attached;
      }
      for (const [gen, frame] of result.writes) this.write(listened.get(gen)!, 'toCloud', frame);
    }

    dial(sdkGen: number): SocketState {
      const socket: SocketState = {
        id: this.state.sockets.length + 1,
        sdkGen,
        client: 'connecting',
        attached: true,
        server: 'none',
        cloudGen: null,
        holder: null,
        toCloud: [],
        toSdk: [],
        cut: { toCloud: false, toSdk: false },
      };
      this.state.sockets.push(socket);
      return socket;
    }

    /** A fact for the SDK's socket actor, if it still listens. */
    tellSdk(socket: SocketState, fact: AppSocketFact): void {
      if (socket.attached) this.toSdk(fact);
    }

    /** An input for the cloud session, then the socket adapter's orphan rule. */
    toCloud(input: CloudInput): void {
      if (parsed(this.state.cloud) === null) return;
      const ends: Record<number, ServerEnd> = {};
      // A socket still waiting for its init has a generation but is nobody's yet.
      for (const s of this.state.sockets) {
        if (s.cloudGen !== null && s.server !== 'none' && s.server !== 'pending') ends[s.cloudGen] = { server: s.server, holder: s.holder };
      }
      const before = webhookCall(this.state);
      const result = cloud.step(this.state.cloud, input, ends);
      this.state.cloud = result.state;
      // A call the machine stops waiting for (a timeout, a socket that arrived first, the end
      // of the session) before it reached the app server may still reach it. One that failed
      // (the step settled it) never will.
      if (bounds.lateWebhooks && before && !before[1].reached && input.to !== before[0] && webhookCall(this.state)?.[0] !== before[0]) {
        this.state.late[before[1].input!.type] = 1;
      }
      for (const [gen, end] of Object.entries(result.ends)) {
        const socket = this.byCloudGen(Number(gen))!;
        socket.server = end.server;
        socket.holder = end.holder;
      }
      for (const [gen, frame] of result.writes) this.write(this.byCloudGen(gen)!, 'toSdk', frame);
      // A link stopped with no successor leaves its open socket to nobody: the adapter cuts it.
      for (const socket of this.state.sockets) {
        if (socket.server === 'open' && socket.holder && !this.holderLink(socket)) {
          socket.server = 'closed';
          this.write(socket, 'toSdk', { t: 'fin' });
        }
      }
    }

    byCloudGen(gen: number): SocketState | undefined {
      return this.state.sockets.find((s) => s.cloudGen === gen);
    }

    /** The id of the cloud link holding `socket`, if that link is still running. */
    holderLink(socket: SocketState): string | undefined {
      if (!socket.holder) return undefined;
      const [id, gen] = socket.holder.split('#') as [string, string];
      const link = parsed(this.state.cloud)?.children[id]?.snapshot;
      return link?.status === 'active' && link.context?.gen === Number(gen) ? id : undefined;
    }

    /** The socket closed at the cloud's end: its link, if still running, is told. */
    tellCloud(socket: SocketState, code: number, reason: string): void {
      const link = this.holderLink(socket);
      if (link && socket.cloudGen !== null) {
        this.toCloud({ to: link, event: { type: 'socket.closed', gen: socket.cloudGen, code, reason, ownershipReleased: false } });
      }
    }

    deliverToSdk(socket: SocketState, frame: Frame): void {
      const wasOpen = socket.client === 'open';
      switch (frame.t) {
        case 'ack':
          if (wasOpen) this.tellSdk(socket, { type: 'ack.received', gen: socket.sdkGen, ack: { type: 'tpa_connection_ack' } });
          break;
        case 'error':
          if (wasOpen) this.tellSdk(socket, { type: 'connectionError.received', gen: socket.sdkGen, code: frame.code, message: frame.code });
          break;
        case 'close':
          // The close handshake: an open end echoes the close; either way the end is closed.
          if (wasOpen) this.write(socket, 'toCloud', { t: 'close', code: frame.code, reason: frame.reason });
          socket.client = 'closed';
          this.tellSdk(socket, { type: 'socket.closed', gen: socket.sdkGen, code: frame.code, reason: frame.reason, wasClean: true });
          break;
        case 'fin':
          socket.client = 'closed';
          this.tellSdk(socket, { type: 'socket.closed', gen: socket.sdkGen, code: CloseCode.ABNORMAL, reason: '', wasClean: false });
          break;
        case 'init':
          break;
      }
    }

    deliverToCloud(socket: SocketState, frame: Frame): void {
      switch (frame.t) {
        case 'init':
          // The gateway authenticates the first init only; a repeated one is ignored.
          if (socket.server === 'pending') this.authenticate(socket);
          break;
        case 'close':
          if (socket.server === 'open' || socket.server === 'pending') this.write(socket, 'toSdk', { t: 'close', code: frame.code, reason: frame.reason });
          socket.server = 'closed';
          this.tellCloud(socket, frame.code, frame.reason);
          break;
        case 'fin':
          socket.server = 'closed';
          this.tellCloud(socket, CloseCode.ABNORMAL, '');
          break;
        case 'ack':
        case 'error':
          break;
      }
    }

    /**
     * `appGateway`'s authentication: the socket goes to its session with the generation it got
     * when accepted, or is refused once the session is gone.
     */
    authenticate(socket: SocketState): void {
      if (parsed(this.state.cloud) === null) {
        this.write(socket, 'toSdk', { t: 'error', code: 'SESSION_NOT_FOUND' });
        this.write(socket, 'toSdk', { t: 'close', code: NOT_FOUND_CLOSE, reason: 'Session not found' });
        this.refuse(socket);
        return;
      }
      socket.server = 'open';
      // The model's SDK is the Tether SDK, whose init lists its extensions (the cloud treats a
      // socket without them as `@mentra/sdk`).
      this.toCloud({ to: 'session', event: { type: 'app.connected', gen: socket.cloudGen!, extensions: SDK_EXTENSIONS } });
    }

    /** The gateway closes a socket it never handed to the session. */
    refuse(socket: SocketState): void {
      socket.server = 'closing';
      // The session never hears of a refused socket's generation, so nothing can name it.
      socket.cloudGen = null;
    }

    /** The app server's handling of a webhook request (`AppServer.#handleWebhook`). */
    appServerReceives(type: 'session_request' | 'stop_request'): void {
      if (type === 'stop_request') {
        this.toSdk({ type: 'disconnect.requested', reason: APP_STOPPED });
        return;
      }
      if (isHealthy(this.state)) return;
      // An unhealthy session is closed first, then a new one connects.
      this.toSdk({ type: 'disconnect.requested', reason: REPLACED_BY_REQUEST });
      this.toSdk(null, true);
    }

    /**
     * Drops the frames their end will ignore (anything once it is closed, a repeated init, an
     * ack or error once the SDK's end is closing) and forgets the sockets nothing can come of.
     */
    finish(): string {
      for (const socket of this.state.sockets) {
        if (socket.server === 'closed') socket.toCloud = [];
        else if (socket.server !== 'pending') socket.toCloud = socket.toCloud.filter((f) => f.t !== 'init');
        if (socket.client === 'closed') socket.toSdk = [];
        else if (socket.client !== 'open') socket.toSdk = socket.toSdk.filter((f) => f.t !== 'ack' && f.t !== 'error');
      }
      this.state.sockets = this.state.sockets.filter((s) => !forgettable(s));
      this.canonicalize();
      return encode(this.state);
    }

    /**
     * Renames what only serves to tell things apart, so that states alike in all else are one:
     * sockets are numbered by age, the SDK's generation is 1 for the socket it listens to (0
     * with none), a released socket keeps no SDK session or generation (no fact reaches the
     * SDK from it), a socket closed at the cloud no cloud generation or link (attaching to it
     * finds it gone either way), a socket closed at either end no cut, and the cloud's
     * generations in use — the session's, its links', and every socket's from its acceptance
     * on, authenticated or not, since one still waiting for its init is compared with the
     * others once it arrives — are 1, 2, … in their order.
     */
    canonicalize(): void {
      this.state.sockets.forEach((s, i) => {
        s.id = i + 1;
        if (!s.attached) s.sdkGen = 0;
        if (s.server === 'closed') {
          s.cloudGen = null;
          s.holder = null;
        }
        // A cut matters only to frames still to be written: none once either end is closed.
        if (s.client === 'closed' || s.server === 'closed') s.cut = { toCloud: false, toSdk: false };
      });
      this.rankCloudGens();
      const connection = parsed(this.state.sdk);
      if (!connection) return;
      const listened = this.state.sockets.find((s) => s.attached);
      const gen = listened ? 1 : 0;
      if (listened) listened.sdkGen = gen;
      if (connection.context.gen !== gen) this.state.sdk = withSdkGen(this.state.sdk!, gen);
    }

    /** Renames the cloud's generations in use to 1, 2, … in their order (see `withCloudGens`). */
    rankCloudGens(): void {
      const session = parsed(this.state.cloud);
      const inUse = new Set<number>();
      for (const s of this.state.sockets) if (s.cloudGen !== null) inUse.add(s.cloudGen);
      if (session) {
        const gen = session.context.gen as number;
        if (gen > 0) inUse.add(gen);
        for (const child of Object.values(session.children)) {
          const linkGen = child.snapshot.context?.gen;
          if (typeof linkGen === 'number') inUse.add(linkGen);
        }
      }
      const rename = new Map([...inUse].sort((a, b) => a - b).map((gen, i) => [gen, i + 1] as const));
      this.state.cloudGens = rename.size;
      if ([...rename].every(([from, to]) => from === to)) return;
      for (const s of this.state.sockets) {
        if (s.cloudGen === null) continue;
        s.cloudGen = rename.get(s.cloudGen)!;
        if (s.holder) {
          const [id, gen] = s.holder.split('#') as [string, string];
          const to = rename.get(Number(gen))!;
          s.holder = `${isRetiringLinkId(id) ? retiringLinkId(to) : id}#${to}`;
        }
      }
      if (session) this.state.cloud = withCloudGens(this.state.cloud, rename);
    }
  }

  /**
   * Whether nothing can come of a socket any more: the SDK no longer listens to it, and its
   * cloud end is gone, or waits with nobody to tell (not authenticated, or refused) and
   * nothing more to read. An authenticated open end with no link is kept: it is a leak.
   */
  function forgettable(s: SocketState): boolean {
    if (s.attached) return false;
    if (s.server === 'closed' || s.server === 'none') return true;
    return s.holder === null && (s.server === 'pending' || s.server === 'closing') && s.toCloud.length === 0;
  }

  /**
   * Whether the app server can act on a webhook request now, within the bound. It answers a
   * session_request for a session still on its first connect once that connect has settled
   * (`await existing.ready`), and past the bound it could only create another session.
   */
  function servable(state: JointState, request: AppWebhookInput['type']): boolean {
    if (request === 'stop_request') return true;
    const connection = parsed(state.sdk);
    if (connection !== null && connection.context.everOpened !== true) return false;
    return isHealthy(state) || state.instances < bounds.instances;
  }

  /** The webhook call in flight, whatever the machine names it: its child id and snapshot. */
  function webhookCall(state: JointState) {
    const children = Object.entries(parsed(state.cloud)?.children ?? {});
    const found = children.find(([, c]) => c.src === 'appWebhook' && c.snapshot.status === 'active');
    return found && ([found[0], found[1].snapshot] as const);
  }

  /** `AppSession.isConnectionHealthy()`: open, and its socket writable. */
  function isHealthy(state: JointState): boolean {
    const connection = parsed(state.sdk);
    if (!connection || !activeIds('appConnection', connection.value).includes('appConnection.open')) return false;
    const socket = state.sockets.find((s) => s.attached && s.sdkGen === connection.context.gen);
    return socket?.client === 'open';
  }

  function initial(): string {
    return encode({
      sdk: null,
      instances: 0,
      cloud: cloud.initial(),
      sockets: [],
      connections: 0,
      cloudGens: 0,
      duplicatesLeft: bounds.duplicates,
      stopRequested: false,
      late: { session_request: 0, stop_request: 0 },
    });
  }

  /** Whether the state `key` is past the bound and left unexplored. */
  function truncated(key: string): boolean {
    const attempts = parsed(decode(key).cloud)?.context.webhookAttempts;
    return typeof attempts === 'number' && attempts > bounds.webhookAttempts;
  }

  /** Every step that can happen in the state `key` (none past the bound). */
  function steps(key: string): Step[] {
    if (truncated(key)) return [];
    const state = decode(key);
    const out: Step[] = [];
    const session = parsed(state.cloud);
    const connection = parsed(state.sdk);

    if (session && !state.stopRequested) out.push({ type: 'stop.requested' });
    if (connection) {
      for (const id of activeIds('appConnection', connection.value)) {
        for (const event of sdkTimers.get(id) ?? []) out.push({ type: 'sdk.timer', event });
      }
    }
    if (session) {
      for (const id of activeIds('appSession', session.value)) {
        for (const event of cloud.timers.get(id) ?? []) out.push({ type: 'cloud.timer', event });
      }
      for (const [id, child] of Object.entries(session.children)) {
        const value = child.snapshot.value;
        if (child.src === 'socketLink' && child.snapshot.status === 'active' && typeof value === 'object' && value.open === 'watching') {
          out.push({ type: 'link.silent', link: id });
        }
      }
      const call = webhookCall(state)?.[1];
      if (call) {
        const request = call.input!.type;
        if (!call.reached && servable(state, request)) out.push({ type: 'webhook.reached' });
        if (call.reached) out.push({ type: 'webhook.answered' });
        out.push({ type: 'webhook.failed' });
        if (request === 'session_request') out.push({ type: 'webhook.refused' });
      }
    }
    if (state.late.stop_request > 0) out.push({ type: 'lateWebhook.reached', request: 'stop_request' });
    if (state.late.session_request > 0 && servable(state, 'session_request')) out.push({ type: 'lateWebhook.reached', request: 'session_request' });
    for (const socket of state.sockets) {
      if (socket.client === 'connecting' && socket.server === 'none') {
        if (state.connections < bounds.sockets) out.push({ type: 'dial.accepted', socket: socket.id });
        out.push({ type: 'dial.refused', socket: socket.id });
      }
      for (const way of ['toCloud', 'toSdk'] as const) {
        if (socket[way].length === 0) continue;
        out.push({ type: 'frame.delivered', socket: socket.id, way });
        if (state.duplicatesLeft > 0) out.push({ type: 'frame.duplicated', socket: socket.id, way });
        // Cutting a way with nothing in flight changes nothing either end can see, so a cut
        // is taken in front of a frame: it loses that frame and everything after it.
        out.push({ type: 'direction.cut', socket: socket.id, way });
      }
      if (socket.client === 'closing') out.push({ type: 'close.timedOut', socket: socket.id, end: 'sdk' });
      if (socket.server === 'closing') out.push({ type: 'close.timedOut', socket: socket.id, end: 'cloud' });
      if (socket.server === 'pending') out.push({ type: 'handshake.timedOut', socket: socket.id });
    }
    return out;
  }

  /** The state after `step` in the state `key`. */
  function next(key: string, step: Step): string {
    const w = new StepWorld(decode(key));
    play(w, step);
    return w.finish();
  }

  function play(w: StepWorld, step: Step): void {
    const { state } = w;
    switch (step.type) {
      case 'stop.requested':
        state.stopRequested = true;
        w.toCloud({ to: 'session', event: { type: 'app.stopRequested', reason: 'user_disabled' } });
        return;
      case 'sdk.timer':
        w.toSdk({ type: step.event });
        return;
      case 'cloud.timer':
        w.toCloud({ to: 'session', event: { type: step.event } });
        return;
      case 'link.silent':
        w.toCloud({ to: step.link, event: { type: linkTick! }, silent: true });
        return;
      case 'webhook.reached':
      case 'webhook.answered':
      case 'webhook.failed':
      case 'webhook.refused': {
        const [id, call] = webhookCall(state)!;
        const request = call.input!.type;
        if (step.type === 'webhook.reached') {
          w.toCloud({ to: id, event: { type: 'webhook.reached' } });
          w.appServerReceives(request);
        } else if (step.type === 'webhook.answered') w.toCloud({ to: id, event: { type: 'webhook.answered' } });
        else w.toCloud({ to: id, event: { type: 'webhook.failed', permanent: step.type === 'webhook.refused' } });
        return;
      }
      case 'lateWebhook.reached':
        state.late[step.request] -= 1;
        w.appServerReceives(step.request);
        return;
      case 'dial.accepted': {
        const socket = w.byId(step.socket);
        state.connections += 1;
        // As `acceptAppSocket` does: a socket whose init is slow stays older than one
        // connected after it, whichever authenticates first.
        state.cloudGens += 1;
        socket.cloudGen = state.cloudGens;
        socket.server = 'pending';
        socket.client = 'open';
        w.tellSdk(socket, { type: 'socket.opened', gen: socket.sdkGen });
        return;
      }
      case 'dial.refused': {
        const socket = w.byId(step.socket);
        socket.client = 'closed';
        w.tellSdk(socket, { type: 'socket.closed', gen: socket.sdkGen, code: CloseCode.ABNORMAL, reason: '', wasClean: false });
        return;
      }
      case 'frame.delivered': {
        const socket = w.byId(step.socket);
        const frame = socket[step.way].shift()!;
        if (step.way === 'toCloud') w.deliverToCloud(socket, frame);
        else w.deliverToSdk(socket, frame);
        return;
      }
      case 'frame.duplicated': {
        const socket = w.byId(step.socket);
        socket[step.way].unshift(socket[step.way][0]!);
        state.duplicatesLeft -= 1;
        return;
      }
      case 'direction.cut': {
        const socket = w.byId(step.socket);
        socket.cut[step.way] = true;
        socket[step.way] = [];
        return;
      }
      case 'close.timedOut': {
        // ws gives up on a close handshake after its close timeout and destroys the socket.
        const socket = w.byId(step.socket);
        if (step.end === 'sdk') {
          socket.client = 'closed';
          w.write(socket, 'toCloud', { t: 'fin' });
          w.tellSdk(socket, { type: 'socket.closed', gen: socket.sdkGen, code: CloseCode.ABNORMAL, reason: '', wasClean: false });
        } else {
          socket.server = 'closed';
          w.write(socket, 'toSdk', { t: 'fin' });
          w.tellCloud(socket, CloseCode.ABNORMAL, '');
        }
        return;
      }
      case 'handshake.timedOut': {
        // handshake.refuse('HANDSHAKE_TIMEOUT'): the error frame, then the registry's close code.
        const socket = w.byId(step.socket);
        w.write(socket, 'toSdk', { t: 'error', code: 'HANDSHAKE_TIMEOUT' });
        w.write(socket, 'toSdk', { t: 'close', code: HANDSHAKE_TIMEOUT_CLOSE, reason: 'Handshake timeout' });
        w.refuse(socket);
        return;
      }
    }
  }

  // --- reading a state: what the properties and the traces need -----------------------------

  /**
   * The sockets each side treats as the session's live one: for the cloud, the socket its
   * adopted link holds (the router writes to it); for the SDK, the socket of an `open`
   * connection whose end is open (the SDK writes to it).
   */
  function liveSockets(key: string): { cloud: number[]; sdk: number[] } {
    const state = decode(key);
    const out = { cloud: [] as number[], sdk: [] as number[] };
    for (const child of Object.values(parsed(state.cloud)?.children ?? {})) {
      const { status, context } = child.snapshot;
      if (child.src !== 'socketLink' || status !== 'active' || context?.role !== 'adopted') continue;
      const socket = state.sockets.find((s) => s.cloudGen === context.gen);
      if (socket) out.cloud.push(socket.id);
    }
    const connection = parsed(state.sdk);
    if (connection?.context.socketLive && isHealthy(state)) {
      out.sdk.push(state.sockets.find((s) => s.attached && s.sdkGen === connection.context.gen)!.id);
    }
    return out;
  }

  /**
   * Which sides of the state `key` hold a half-open socket: `sdk` when the SDK writes to a
   * socket whose cloud end has closed, `cloud` when the cloud holds one whose SDK end has.
   */
  function halfOpen(key: string): ('sdk' | 'cloud')[] {
    const state = decode(key);
    const live = liveSockets(key);
    const out: ('sdk' | 'cloud')[] = [];
    if (live.sdk.some((id) => state.sockets[id - 1]!.server === 'closed')) out.push('sdk');
    if (live.cloud.some((id) => state.sockets[id - 1]!.client === 'closed')) out.push('cloud');
    return out;
  }

  /**
   * Why the state `key` is not an accepted end, or null if it is one: the cloud session has
   * ended, no SDK session is running, and no socket end is open or closing.
   */
  function notEnded(key: string): string | null {
    const state = decode(key);
    if (parsed(state.cloud)) return 'the cloud session has not ended';
    if (parsed(state.sdk)) return 'the SDK session has not ended';
    const open = state.sockets.filter((s) => s.client !== 'closed' || (s.server !== 'closed' && s.server !== 'none'));
    return open.length > 0 ? `socket ${open.map((s) => `s${s.id}`).join(', ')} is still open at one end` : null;
  }

  /** How the cloud session ended (`stopped`, `ended`, `failed`), or undefined while it runs. */
  function cloudOutcome(key: string): string | undefined {
    return outcomeOf(decode(key).cloud);
  }

  /** One line: each actor's state and every socket's ends and frames in flight. */
  function describeState(key: string): string {
    const state = decode(key);
    const connection = parsed(state.sdk);
    const session = parsed(state.cloud);
    const sdkText = state.sdk === null ? 'none' : connection ? `${valueText(connection.value)} gen ${String(connection.context.gen)}` : 'closed';
    const cloudText = session
      ? `${valueText(session.value)} gen ${String(session.context.gen)}${Object.keys(session.children).length ? ` [${Object.keys(session.children).join(' ')}]` : ''}`
      : `stopped (${cloudOutcome(key)})`;
    const sockets = state.sockets.map((s) => {
      const flight = (way: Direction) => (s.cut[way] ? '✂' : '') + s[way].map(frameText).join(', ');
      const gens = [s.attached ? `sdk/${s.sdkGen}` : '', s.cloudGen ? `cloud/${s.cloudGen}` : ''].filter(Boolean).join(' ');
      return `s${s.id}(${gens ? `${gens} ` : ''}${s.client}|${s.server} →cloud[${flight('toCloud')}] →sdk[${flight('toSdk')}])`;
    });
    return [`sdk#${state.instances} ${sdkText}`, `cloud ${cloudText}`, ...sockets].join(' · ');
  }

  return {
    initial,
    steps,
    next,
    truncated,
    liveSockets,
    halfOpen,
    notEnded,
    cloudOutcome,
    stopRequested: (key: string) => decode(key).stopRequested,
    describeState,
  };
}

/** A socket as a short string: every field but its id (its place in the list says it). */
function socketKey(s: SocketState): string {
  return `${s.client} ${s.attached ? 1 : 0} ${s.sdkGen} ${s.server} ${s.cloudGen ?? ''} ${s.holder ?? ''} ${framesKey(s, 'toCloud')} ${framesKey(s, 'toSdk')}`;
}

function framesKey(s: SocketState, way: Direction): string {
  let text = s.cut[way] ? '✂' : '';
  for (const frame of s[way]) text += `${frameText(frame)},`;
  return text;
}

function valueText(value: Value): string {
  if (typeof value === 'string') return value;
  return Object.entries(value)
    .map(([k, v]) => (typeof v === 'string' ? `${k}.${v}` : `${k}.{${valueText(v)}}`))
    .join(',');
}

function frameText(f: Frame): string {
  if (f.t === 'close') return `close ${f.code}${f.reason ? ` "${f.reason}"` : ''}`;
  return f.t === 'error' ? `error ${f.code}` : f.t;
}

/** A step as a phrase, for traces. */
export function describeStep(step: Step): string {
  const towards = (way: Direction) => (way === 'toCloud' ? 'cloud' : 'SDK');
  switch (step.type) {
    case 'stop.requested':
      return 'the user stops the app';
    case 'sdk.timer':
    case 'cloud.timer': {
      // `xstate.after.<delay>.<machine>.<state…>`
      const [, , delay, , ...node] = step.event.split('.');
      return `${step.type === 'sdk.timer' ? 'SDK' : 'cloud'} timer ${delay} fires in ${node.join('.')}`;
    }
    case 'link.silent':
      return `cloud link ${step.link} finds its socket silent`;
    case 'webhook.reached':
      return 'the webhook request reaches the app server';
    case 'webhook.answered':
      return 'the webhook answers 2xx';
    case 'webhook.failed':
      return 'the webhook fails';
    case 'webhook.refused':
      return 'the webhook is refused for good';
    case 'lateWebhook.reached':
      return `a ${step.request} the cloud no longer waits for reaches the app server`;
    case 'dial.accepted':
      return `s${step.socket} connects`;
    case 'dial.refused':
      return `s${step.socket} fails to connect`;
    case 'frame.delivered':
      return `s${step.socket} delivers a frame to the ${towards(step.way)}`;
    case 'frame.duplicated':
      return `s${step.socket} duplicates its next frame to the ${towards(step.way)}`;
    case 'direction.cut':
      return `s${step.socket} is cut towards the ${towards(step.way)}`;
    case 'close.timedOut':
      return `s${step.socket}'s close handshake times out at the ${step.end === 'sdk' ? 'SDK' : 'cloud'}`;
    case 'handshake.timedOut':
      return `s${step.socket}'s handshake times out at the cloud`;
  }
}
