/**
 * The guard of every glasses and app socket, from upgrade to close. Before authentication the
 * socket has `handshakeTimeoutMs` to send its init frame, and every refusal takes one path — the
 * side's error frame (`connection_error` / `tpa_connection_error`), one log line, one count, and
 * a close with the code the error registry gives (`errorInfo(code).closeCode`). Call sites pick
 * error codes, never close codes. After it, every inbound frame is admitted against the socket's
 * and its user's budgets (`frameBudget.ts`), and a frame whose handling throws closes only its
 * own socket (1011).
 */
import type { WebSocket } from 'ws';
import { CloseCode, closeReason } from '../../protocol/closeCodes.js';
import { errorInfo, type ErrorCode } from '../../protocol/errors.js';
import type { Logger } from '../../logger.js';
import type { CloudMetrics } from '../metrics.js';
import { FrameBudget, frameSize, type FrameLimits, type UserBudgets } from './frameBudget.js';
import { socketAuthenticated } from './admission.js';
import { reportOfSocketError } from './wsErrors.js';
import { writeFrame } from './writePath.js';

/** Which endpoint a socket came in on. */
export type SocketSide = 'glasses' | 'app';

const ERROR_FRAME_TYPE: Record<SocketSide, string> = {
  glasses: 'connection_error',
  app: 'tpa_connection_error',
};

/** The per-socket limits of one cloud, shared by both gateways. */
export interface SocketLimits {
  /** Time a new socket has to send its init frame, in ms. */
  handshakeTimeoutMs: number;
  /** Deepest nesting a frame may have. */
  maxJsonDepth: number;
  socket: FrameLimits;
  users: UserBudgets;
}

/** Options of {@link startHandshake}. */
export interface HandshakeOptions {
  side: SocketSide;
  /** Time the socket has to send its init frame, in ms. */
  timeoutMs: number;
  metrics: CloudMetrics;
  logger: Logger;
  /** Frames and bytes per second this socket may send once authenticated. */
  socketLimits: FrameLimits;
  /** The per-user budgets of the cloud, shared by each user's sockets. */
  userBudgets: UserBudgets;
  /** The peer's address (`req.socket.remoteAddress` of the upgrade), bound to every log line of the socket. */
  remoteAddress?: string | undefined;
}

/** One socket's handshake. */
export interface Handshake {
  /** True once the socket was refused; later frames are ignored. */
  readonly refused: boolean;
  /** Refuses the socket with `code` and closes it with the registry's close code. */
  refuse(code: ErrorCode, message: string, bindings?: object): void;
  /** The socket authenticated: its init timer stops. */
  complete(): void;
  /** Reports a coded error on the open socket (a bad frame after the handshake); the socket stays open. */
  reportBadFrame(code: ErrorCode, message: string, bindings?: object): void;
  /**
   * The socket authenticated as `userId`: later frames also spend that user's budget, and
   * `bindings` (user, session, gen) go on this socket's later log lines.
   */
  authenticated(userId: string, bindings: object): void;
  /**
   * Spends an authenticated socket's budgets on one inbound frame. Returns false — and closes
   * the socket 1013 with `RATE_LIMITED`, once — when the socket or its user is over budget.
   */
  admit(data: Buffer | ArrayBuffer | Buffer[] | string): boolean;
  /** Handling a frame threw: log it with its code, count it, close this socket 1011. */
  fault(error: unknown): void;
}

/**
 * Frames a socket may send after its init and before it is authenticated (a token checked, an
 * app looked up in the store: a few ms); one more is refused as a flood.
 */
export const MAX_EARLY_FRAMES = 32;

/**
 * Starts the handshake of a socket that just upgraded: arms the init timer, and reports the
 * socket's `ws` errors (by the table in `wsErrors.ts`) for its whole life.
 */
export function startHandshake(ws: WebSocket, options: HandshakeOptions): Handshake {
  const { side, metrics } = options;
  const log = options.logger.child({ side, ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}) });
  let refused = false;
  let bindings: object = {};
  const socketBudget = new FrameBudget(options.socketLimits);
  let user: { id: string; budget: FrameBudget } | undefined;

  const refuse = (code: ErrorCode, message: string, extra: object = {}) => {
    if (refused) return;
    refused = true;
    clearTimeout(timer);
    metrics.badMessages.inc({ side, code });
    log.warn({ code, ...bindings, ...extra }, 'connection refused');
    writeFrame(ws, { type: ERROR_FRAME_TYPE[side], code, message });
    // Codes that name no close code (format errors, a wrong first frame) end the socket as a
    // policy violation, which neither SDK retries.
    ws.close(errorInfo(code).closeCode ?? CloseCode.POLICY_VIOLATION, closeReason(message));
  };

  const timer = setTimeout(() => refuse('HANDSHAKE_TIMEOUT', errorInfo('HANDSHAKE_TIMEOUT').message), options.timeoutMs);

  ws.on('error', (error: Error & { code?: unknown }) => {
    const report = reportOfSocketError(error);
    if (report.badMessage) metrics.badMessages.inc({ side, code: report.code });
    log.warn({ code: report.code, err: error.message, ...bindings }, 'socket error');
  });
  ws.once('close', () => {
    clearTimeout(timer);
    if (user) options.userBudgets.release(user.id);
  });

  const closeWith = (code: ErrorCode, message: string) => {
    if (refused) return;
    refused = true;
    writeFrame(ws, { type: ERROR_FRAME_TYPE[side], code, message });
    ws.close(errorInfo(code).closeCode ?? CloseCode.POLICY_VIOLATION, closeReason(message));
  };

  return {
    get refused() {
      return refused;
    },
    refuse,
    complete: () => {
      clearTimeout(timer);
      socketAuthenticated(ws);
    },
    reportBadFrame: (code, message, extra = {}) => {
      metrics.badMessages.inc({ side, code });
      log.warn({ code, ...bindings, ...extra }, 'bad frame');
      writeFrame(ws, { type: ERROR_FRAME_TYPE[side], code, message });
    },
    authenticated: (userId, next) => {
      bindings = next;
      user = { id: userId, budget: options.userBudgets.acquire(userId) };
    },
    admit: (data) => {
      if (refused) return false;
      const size = frameSize(data);
      const socketOk = socketBudget.spend(size);
      const userOk = user ? user.budget.spend(size) : true;
      if (socketOk && userOk) return true;
      const scope = socketOk ? 'user' : 'socket';
      metrics.rateLimited.inc({ side, scope });
      log.warn({ code: 'RATE_LIMITED', scope, ...bindings }, 'socket over its budget');
      closeWith('RATE_LIMITED', `Too many frames or bytes per second (${scope} budget)`);
      return false;
    },
    fault: (error) => {
      metrics.socketFaults.inc({ side });
      log.error({ code: 'INTERNAL_ERROR', err: error instanceof Error ? error.message : String(error), ...bindings }, 'frame handling failed');
      closeWith('INTERNAL_ERROR', errorInfo('INTERNAL_ERROR').message);
    },
  };
}
