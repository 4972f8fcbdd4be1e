/**
 * Numeric and naming facts of the wire protocol, in one place so no module repeats a literal.
 * Durations are in milliseconds, sizes in bytes.
 */

/**
 * Largest frame, in bytes, that `parseMessage` accepts (1 MiB). Display bitmaps are the biggest
 * legitimate frames and stay well under it; a 2 MB frame must be refused before `JSON.parse`
 * spends time and memory on it.
 */
export const MAX_MESSAGE_BYTES = 1_048_576;

/**
 * Deepest nesting of arrays and objects `parseMessage` accepts. No message of the protocol
 * nests past a dozen levels; a frame nested thousands deep parses fine but overflows the stack of
 * any recursive walk over it later (zod, `JSON.stringify` when it is forwarded), so it is refused
 * before `JSON.parse`.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Room kept under {@link MAX_MESSAGE_BYTES} for the `data_stream` envelope a glasses stream event
 * is forwarded in (`type`, `streamType`, `seq`, …): an event larger than the limit minus this is
 * refused, so no forwarded frame exceeds what an SDK accepts.
 */
export const DATA_STREAM_HEADROOM_BYTES = 4_096;

/** Largest WebSocket close reason, in UTF-8 bytes (RFC 6455: 125-byte payload minus the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * How long `@mentra/sdk` 2.1 waits for `tpa_connection_ack` after `connect()`, in ms. Hard-coded
 * there (MENTRA-SDK-WIRE.md §2.3), so the cloud must ack well inside it.
 */
export const SDK_ACK_TIMEOUT_MS = 5_000;

/** Default interval between heartbeats (WebSocket pings), in ms. */
export const HEARTBEAT_INTERVAL_MS = 15_000;

/** Default silence, in ms, after which a socket is treated as dead and terminated. */
export const HEARTBEAT_TIMEOUT_MS = 45_000;

/** Language of a transcription stream when the event names none (`transcription:en-US`). */
export const DEFAULT_TRANSCRIBE_LANGUAGE = 'en-US';

/** WebSocket paths the cloud serves. `/tpa-ws` is the legacy alias of `/app-ws`. */
export const WsPath = {
  GLASSES: '/glasses-ws',
  APP: '/app-ws',
  APP_LEGACY: '/tpa-ws',
} as const;
