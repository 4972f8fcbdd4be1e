/**
 * The pre-authentication phase of every glasses and app socket: the socket has
 * `handshakeTimeoutMs` to send its init frame, and every refusal takes one path — the side's
 * error frame (`connection_error` / `tpa_connection_error`), one log line, one count, and a
 * close with the code the error registry gives (`errorInfo(code).closeCode`). Call sites pick
 * error codes, never close codes.
 */
import type { WebSocket } from 'ws';
import { CloseCode, closeReason } from '../../protocol/closeCodes.js';
import { errorInfo, type ErrorCode } from '../../protocol/errors.js';
import type { Logger } from '../../logger.js';
import type { CloudMetrics } from '../metrics.js';
import { socketAuthenticated } from './admission.js';
import { reportOfSocketError } from './wsErrors.js';
import { writeFrame } from './writePath.js';

/** Which endpoint a socket came in on. */
export type SocketSide = 'glasses' | 'app';

const ERROR_FRAME_TYPE: Record<SocketSide, string> = {
  glasses: 'connection_error',
  app: 'tpa_connection_error',
};

/** Options of {@link startHandshake}. */
export interface HandshakeOptions {
  side: SocketSide;
  /** Time the socket has to send its init frame, in ms. */
  timeoutMs: number;
  metrics: CloudMetrics;
  logger: Logger;
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
  /** Bindings (user, session) added to this socket's later log lines, once it is known whose it is. */
  identify(bindings: object): void;
}

/**
 * Starts the handshake of a socket that just upgraded: arms the init timer, and reports the
 * socket's `ws` errors (by the table in `wsErrors.ts`) for its whole life.
 */
export function startHandshake(ws: WebSocket, options: HandshakeOptions): Handshake {
  const { side, metrics } = options;
  const log = options.logger.child({ side });
  let refused = false;
  let bindings: object = {};

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
  ws.once('close', () => clearTimeout(timer));

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
    identify: (next) => {
      bindings = next;
    },
  };
}
