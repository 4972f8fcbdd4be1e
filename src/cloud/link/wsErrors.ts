/**
 * What `ws` reports on a socket's `error` event, as the project's error codes. `ws` gives its
 * protocol errors a stable `code` (`WS_ERR_*`) and closes the socket itself with the matching
 * close code; network errors carry Node's `code` (`ECONNRESET`, `EPIPE`). Only errors the peer
 * caused by what it sent count as bad messages; a network error is the connection's end.
 */
import type { ErrorCode } from '../../protocol/errors.js';

/** How one `ws` error is reported. */
export interface SocketErrorReport {
  code: ErrorCode;
  /** The peer sent something this cloud cannot read (counted in `tether_bad_messages_total`). */
  badMessage: boolean;
}

const TOO_LARGE: SocketErrorReport = { code: 'MESSAGE_TOO_LARGE', badMessage: true };
const INVALID_TEXT: SocketErrorReport = { code: 'INVALID_JSON', badMessage: true };
const PROTOCOL: SocketErrorReport = { code: 'PROTOCOL_ERROR', badMessage: true };
const NETWORK: SocketErrorReport = { code: 'CONNECTION_FAILED', badMessage: false };

const byWsCode: Readonly<Record<string, SocketErrorReport>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: TOO_LARGE,
  WS_ERR_INVALID_UTF8: INVALID_TEXT,
  WS_ERR_INVALID_OPCODE: PROTOCOL,
  WS_ERR_INVALID_CLOSE_CODE: PROTOCOL,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: PROTOCOL,
  WS_ERR_EXPECTED_FIN: PROTOCOL,
  WS_ERR_EXPECTED_MASK: PROTOCOL,
  WS_ERR_UNEXPECTED_MASK: PROTOCOL,
  WS_ERR_UNEXPECTED_RSV_1: PROTOCOL,
  WS_ERR_UNEXPECTED_RSV_2_3: PROTOCOL,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: PROTOCOL,
};

/** The report for a `ws` `error` event; anything unknown is a network error. */
export function reportOfSocketError(error: { code?: unknown }): SocketErrorReport {
  return (typeof error.code === 'string' ? byWsCode[error.code] : undefined) ?? NETWORK;
}
