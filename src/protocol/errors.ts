/**
 * The one registry of error codes (ARCHITECTURE.md principle 7). Every error that crosses a
 * boundary — a wire frame, an HTTP response, an exception thrown to app code — carries one of
 * these codes, and everything else about it (category, close code, HTTP status, default text)
 * is looked up here rather than repeated at the throw site.
 */
import { AUTH_ERROR_CODES, CloseCode } from '../../machines/policy/closePolicy.js';
import type { AuthErrorCode } from '../../machines/policy/closePolicy.js';

/** Broad kind of an error (seed 02 §3.5); clients decide retry behaviour from it. */
export type ErrorCategory = 'connection' | 'auth' | 'format' | 'internal' | 'system';

/** Everything the registry knows about one error code. */
export interface ErrorInfo {
  /** Broad kind; `auth` means retrying with the same credentials cannot help. */
  readonly category: ErrorCategory;
  /**
   * WebSocket close code the cloud closes with when this error ends a socket. Absent when the
   * error is reported in a frame (or thrown locally) and the socket stays open.
   */
  readonly closeCode?: number;
  /** HTTP status used when the error is the answer to an HTTP request. */
  readonly httpStatus: number;
  /** Default human-readable text; callers may pass a more specific one. */
  readonly message: string;
}

// `satisfies` keeps the literal keys (for `ErrorCode`) while still checking every entry's shape.
const nonAuthErrors = {
  // format: the peer sent something we cannot read. The socket stays open (the SDK only raises
  // an error event), except for an oversized frame, which `ws` itself ends with 1009.
  INVALID_JSON: { category: 'format', httpStatus: 400, message: 'Message is not valid JSON' },
  MISSING_TYPE: { category: 'format', httpStatus: 400, message: 'Message has no string "type" field' },
  UNKNOWN_TYPE: { category: 'format', httpStatus: 400, message: 'Unknown message type' },
  INVALID_FIELDS: { category: 'format', httpStatus: 400, message: 'Message fields are invalid' },
  MESSAGE_TOO_LARGE: {
    category: 'format',
    closeCode: CloseCode.MESSAGE_TOO_BIG,
    httpStatus: 413,
    message: 'Message is too large',
  },
  // A frame that breaks the WebSocket protocol itself; `ws` ends the socket with 1002.
  PROTOCOL_ERROR: { category: 'format', closeCode: CloseCode.PROTOCOL_ERROR, httpStatus: 400, message: 'WebSocket protocol error' },

  // connection: transient by nature; clients retry these.
  CONNECT_TIMEOUT: { category: 'connection', httpStatus: 504, message: 'Timed out waiting for the connection to open' },
  // The socket opened but sent no init frame in time: transient (a slow network, a stalled
  // client), so the close code is one clients retry, never an auth code.
  HANDSHAKE_TIMEOUT: {
    category: 'connection',
    closeCode: CloseCode.TRY_AGAIN_LATER,
    httpStatus: 408,
    message: 'No init frame before the handshake timeout',
  },
  CONNECTION_FAILED: { category: 'connection', httpStatus: 502, message: 'Connection failed' },
  CONNECTION_CLOSED: { category: 'connection', httpStatus: 503, message: 'Connection closed' },
  RECONNECT_EXHAUSTED: { category: 'connection', httpStatus: 503, message: 'Reconnection attempts exhausted' },
  // No close code: a dead socket is terminated, which the peer observes as 1006.
  HEARTBEAT_TIMEOUT: { category: 'connection', httpStatus: 504, message: 'No heartbeat from the peer in time' },
  NOT_CONNECTED: { category: 'connection', httpStatus: 503, message: 'Not connected' },
  OUTBOX_OVERFLOW: { category: 'connection', httpStatus: 503, message: 'Outbox full; oldest message dropped' },
  // The frames missed during a disconnection were older than the cloud's replay window.
  RESUME_GAP: { category: 'connection', httpStatus: 410, message: 'Messages missed while disconnected are no longer available' },

  // system: configuration, infrastructure and the admin/inspector HTTP surface.
  RATE_LIMITED: {
    category: 'system',
    closeCode: CloseCode.TRY_AGAIN_LATER,
    httpStatus: 429,
    message: 'Rate limit exceeded',
  },
  INVALID_CONFIG: { category: 'system', httpStatus: 500, message: 'Invalid configuration' },
  ACTOR_NOT_PROVIDED: { category: 'system', httpStatus: 500, message: 'I/O actor was not provided to the machine' },
  WEBHOOK_FAILED: { category: 'system', httpStatus: 502, message: 'Webhook request failed' },
  // A webhook or serverUrl host that resolves to an address the outbound policy refuses
  // (private, link-local, metadata…); refused when registered, and not dialled.
  OUTBOUND_FORBIDDEN: { category: 'system', httpStatus: 400, message: 'The URL’s host is not allowed by the outbound policy' },
  WEBHOOK_TIMEOUT: { category: 'connection', httpStatus: 504, message: 'The app did not answer its webhook in time' },
  // Refused without a call: the circuit of the webhook's host is open (its server is down).
  APP_SERVER_UNREACHABLE: { category: 'connection', httpStatus: 503, message: 'The app’s server cannot be reached' },
  APP_CONNECT_TIMEOUT: { category: 'connection', httpStatus: 504, message: 'The app did not connect after its webhook' },
  APP_SESSION_CRASHED: { category: 'internal', httpStatus: 500, message: 'The app session failed unexpectedly' },
  UNAUTHORIZED: { category: 'system', httpStatus: 401, message: 'Unauthorized' },
  NOT_FOUND: { category: 'system', httpStatus: 404, message: 'Not found' },
  BAD_REQUEST: { category: 'system', httpStatus: 400, message: 'Bad request' },
  ALREADY_EXISTS: { category: 'system', httpStatus: 409, message: 'Already exists' },
  // HTTP endpoints for apps (issue 12 §1): valid credentials that do not reach this user's data
  // (the app never ran for the user), a simple-storage namespace over its quota, a setting the
  // app does not define or a value its definition refuses, and text-to-speech, not served.
  FORBIDDEN: { category: 'system', httpStatus: 403, message: 'Not allowed for these credentials' },
  STORAGE_QUOTA_EXCEEDED: { category: 'system', httpStatus: 413, message: 'Simple storage quota exceeded' },
  UNKNOWN_SETTING: { category: 'format', httpStatus: 400, message: 'The app defines no such setting' },
  INVALID_SETTING_VALUE: { category: 'format', httpStatus: 400, message: 'The value does not fit the setting’s definition' },
  TTS_UNAVAILABLE: { category: 'system', httpStatus: 501, message: 'Text-to-speech is not available on this cloud' },

  // Requests from apps to the user's glasses (photo, audio, LED, location) and between apps.
  GLASSES_NOT_CONNECTED: { category: 'connection', httpStatus: 503, message: 'The user’s glasses are not connected' },
  GLASSES_REQUEST_TIMEOUT: { category: 'connection', httpStatus: 504, message: 'The glasses did not answer the request in time' },
  TOO_MANY_PENDING_REQUESTS: { category: 'system', httpStatus: 429, message: 'Too many requests to the glasses waiting for an answer' },
  UNSUPPORTED_FEATURE: { category: 'system', httpStatus: 501, message: 'This cloud does not implement this feature' },
  RECIPIENT_NOT_FOUND: { category: 'system', httpStatus: 404, message: 'No running session of this app for that user' },
  ROOM_FULL: { category: 'system', httpStatus: 409, message: 'The room has as many members as it may, or the session is in as many rooms as it may' },
  // Many nodes (issue 14).
  STORE_UNAVAILABLE: { category: 'system', httpStatus: 503, message: 'The shared store cannot be reached' },
  // A node of a cluster that cannot serve the session now (another node owns it, or it lost its
  // lease): 1012, which both SDKs retry, through the balancer, never 1008.
  NODE_UNAVAILABLE: {
    category: 'system',
    closeCode: CloseCode.SERVICE_RESTART,
    httpStatus: 503,
    message: 'This node cannot serve the session now; connect again',
  },

  // internal: our bug or app code's; the close code lets an app socket retry after it.
  INTERNAL_ERROR: {
    category: 'internal',
    closeCode: CloseCode.INTERNAL_ERROR,
    httpStatus: 500,
    message: 'Internal error',
  },
  HANDLER_FAILED: { category: 'internal', httpStatus: 500, message: 'Event handler threw' },
} as const satisfies Record<string, ErrorInfo>;

// Typed as a full record so adding a code to AUTH_ERROR_CODES fails compilation until it has text.
const authMessages: Record<AuthErrorCode, string> = {
  INVALID_API_KEY: 'Invalid API key',
  UNKNOWN_PACKAGE: 'Unknown package',
  SESSION_NOT_FOUND: 'Session not found for this package and user',
  INVALID_TOKEN: 'Invalid token',
  TOKEN_EXPIRED: 'Token expired',
};

// Glasses tokens fail with 4001; app credentials with 1008, which `@mentra/sdk` 2.1 does not
// retry (it would retry a 4xxx close, MENTRA-SDK-WIRE.md §6).
const glassesTokenCodes: ReadonlySet<AuthErrorCode> = new Set<AuthErrorCode>(['INVALID_TOKEN', 'TOKEN_EXPIRED']);

const authErrors = Object.fromEntries(
  AUTH_ERROR_CODES.map((code): [AuthErrorCode, ErrorInfo] => [
    code,
    {
      category: 'auth',
      closeCode: glassesTokenCodes.has(code) ? CloseCode.AUTH_FAILED : CloseCode.POLICY_VIOLATION,
      httpStatus: 401,
      message: authMessages[code],
    },
  ]),
) as Record<AuthErrorCode, ErrorInfo>;

type NonAuthErrors = typeof nonAuthErrors;

/** Every error code the project uses. */
export type ErrorCode = keyof NonAuthErrors | AuthErrorCode;

/** Error codes of category `format`: the ones `parseMessage` can return. */
export type FormatErrorCode = {
  [K in keyof NonAuthErrors]: NonAuthErrors[K]['category'] extends 'format' ? K : never;
}[keyof NonAuthErrors];

const registry: Readonly<Record<ErrorCode, ErrorInfo>> = Object.freeze({ ...nonAuthErrors, ...authErrors });

/** All error codes, in registry order; for documentation tables and exhaustive tests. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(registry) as ErrorCode[]);

/** Registry entry of `code`: category, close code, HTTP status and default message. */
export function errorInfo(code: ErrorCode): ErrorInfo {
  return registry[code];
}

/**
 * Whether `value` is a registered error code. Use it on codes read from the wire
 * (`tpa_connection_error.code`), which may come from a newer or foreign peer.
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(registry, value);
}

/**
 * An error with a stable {@link ErrorCode}. Throw it (or send its code on the wire) whenever an
 * error crosses a boundary, so callers branch on `code` rather than on message text.
 */
export class TetherError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Category of {@link code}, copied from the registry for convenience. */
  readonly category: ErrorCategory;
  /** Structured context (ids, the offending value); never credentials. */
  readonly details?: unknown;

  /**
   * @param code registered error code
   * @param message human-readable text; defaults to the registry's message for `code`
   * @param details structured context for logs
   */
  constructor(code: ErrorCode, message?: string, details?: unknown) {
    const info = errorInfo(code);
    super(message ?? info.message);
    this.name = 'TetherError';
    this.code = code;
    this.category = info.category;
    if (details !== undefined) this.details = details;
  }
}
