/**
 * Public surface of `tether/protocol`: wire messages (schemas and types) in all four directions,
 * parsing, close codes, error codes, limits, and the reconnect backoff shared by both SDKs' peers.
 */
export { backoffDelay } from '../../machines/policy/backoff.js';
export type { BackoffConfig } from '../../machines/policy/backoff.js';
export { AUTH_ERROR_CODES, isAuthErrorCode } from '../../machines/policy/closePolicy.js';
export type { AuthErrorCode } from '../../machines/policy/closePolicy.js';

export { classifyClose, CloseCode, CloseReason, closeReason, isSendableCloseCode } from './closeCodes.js';
export type { CloseClass } from './closeCodes.js';
export { ERROR_CODES, errorInfo, isErrorCode, TetherError } from './errors.js';
export type { ErrorCategory, ErrorCode, ErrorInfo, FormatErrorCode } from './errors.js';
export {
  DEFAULT_TRANSCRIBE_LANGUAGE,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  MAX_CLOSE_REASON_BYTES,
  MAX_JSON_DEPTH,
  MAX_MESSAGE_BYTES,
  SDK_ACK_TIMEOUT_MS,
  WsPath,
} from './limits.js';
export { MAX_PACKAGE_NAME_LENGTH, packageNameSchema } from './packageName.js';
export { parseMessage, serialize } from './parse.js';
export type {
  MessageBySide,
  MessageOf,
  ParseError,
  ParseOptions,
  ParseResult,
  RawMessage,
  Side,
  WireMessage,
} from './parse.js';
export type { WireShape } from './message.js';
export { LayoutType, layoutSchema, ViewType, viewSchema } from './layouts.js';
export type { Layout, View } from './layouts.js';

export * from './glassesToCloud.js';
export * from './cloudToGlasses.js';
export * from './appToCloud.js';
export * from './cloudToApp.js';
