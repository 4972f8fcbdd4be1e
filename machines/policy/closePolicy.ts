/**
 * The close-code table of ARCHITECTURE.md, as data. Every machine guard and every client that
 * decides whether to reconnect reads it from here, so the decision has one definition.
 */

/** How a client treats a WebSocket close: stop quietly, reconnect, or stop for good. */
export type CloseClass = 'normal' | 'retry' | 'terminal';

/** Close codes the project sends or interprets; 1004–1006 can never be sent, only observed. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  AUTH_FAILED: 4001,
  REPLACED: 4003,
} as const;

/** Close reasons that mean "stopped on purpose"; `@mentra/sdk` matches them as substrings. */
export const CloseReason = {
  APP_STOPPED: 'App stopped',
  USER_SESSION_ENDED: 'User session ended',
  REPLACED: 'replaced',
  HEARTBEAT_TIMEOUT: 'heartbeat timeout',
  CONGESTED: 'congested',
  SERVER_RESTART: 'server restart',
  ABANDONED_CONNECT: 'session request failed',
  ALREADY_CONNECTED: 'session already connected',
} as const;

const normalCodes: ReadonlySet<number> = new Set([CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.REPLACED]);
const terminalCodes: ReadonlySet<number> = new Set([CloseCode.POLICY_VIOLATION, CloseCode.AUTH_FAILED]);
const intentionalReasons = [CloseReason.APP_STOPPED, CloseReason.USER_SESSION_ENDED];

/**
 * The code a replaced socket is closed with, by who holds it. A client that speaks Tether's
 * protocol (it listed extensions in its init, or is glasses) stops on 4003. `@mentra/sdk` 2.1
 * reconnects on every 4xxx, and one of its sessions can hold two sockets at once (a connect that
 * timed out on its side still completes on ours): each 4003 then makes it open a third socket,
 * which replaces the live one, whose 4003 opens a fourth — a loop that never settles. 1008 is
 * the one code it neither reconnects on nor treats as the end of the session (no `onStop`).
 */
export function replacedCloseCode(speaksTether: boolean): number {
  return speaksTether ? CloseCode.REPLACED : CloseCode.POLICY_VIOLATION;
}

/**
 * Classifies a close by the table in ARCHITECTURE.md.
 * Terminal codes win over an intentional reason: a rejected credential stays permanent
 * whatever text came with it.
 */
export function classifyClose(code: number, reason = ''): CloseClass {
  if (terminalCodes.has(code)) return 'terminal';
  if (normalCodes.has(code)) return 'normal';
  if (intentionalReasons.some((r) => reason.includes(r))) return 'normal';
  return 'retry';
}

/**
 * Error codes of category `auth`. A client that receives one of them never retries
 * (seed 01 §3.4); `src/protocol/errors.ts` builds its registry entries from this list.
 */
export const AUTH_ERROR_CODES = [
  'INVALID_API_KEY',
  'UNKNOWN_PACKAGE',
  'SESSION_NOT_FOUND',
  'INVALID_TOKEN',
  'TOKEN_EXPIRED',
] as const;

/** One of {@link AUTH_ERROR_CODES}. */
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];

/** Whether an error code means the credentials were refused, so retrying cannot help. */
export function isAuthErrorCode(code: string): code is AuthErrorCode {
  return (AUTH_ERROR_CODES as readonly string[]).includes(code);
}
