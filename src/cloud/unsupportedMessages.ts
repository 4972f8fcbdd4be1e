/**
 * No silent drop (issue 12 §5): every app message `@mentra/sdk` 2.1.29 can send that this cloud
 * does not implement is answered so the SDK fails at once, and logged at `warn` once per type
 * per session. The answer is whichever frame the SDK turns into a failure for that call:
 * `managed_stream_status` "error" rejects `startManagedStream`; `rtmp_stream_status` "error"
 * ends `startStream`'s stream state and reaches `onStreamStatus` (its promise resolved when the
 * request was sent); anything else gets a coded `tpa_connection_error`, which the SDK raises as
 * an `error` event while the session keeps working.
 */
import type { UnsupportedAppMessageType } from '../protocol/appToCloud.js';
import type { CloudToAppMessage } from '../protocol/cloudToApp.js';
import type { Logger } from '../logger.js';
import type { SocketEntry } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';

const WHAT: Record<UnsupportedAppMessageType, string> = {
  rtmp_stream_request: 'RTMP streaming',
  rtmp_stream_stop: 'RTMP streaming',
  managed_stream_request: 'Managed streaming',
  managed_stream_stop: 'Managed streaming',
  stream_status_check: 'Stream status checks',
  dashboard_system_update: 'System dashboard sections',
  app_user_discovery: 'User discovery over the socket (use POST /api/app-communication/discover-users)',
};

/** The frame that makes the SDK fail the call behind `type`, with code `UNSUPPORTED_FEATURE`. */
function unsupportedAnswer(type: UnsupportedAppMessageType): CloudToAppMessage {
  const text = `UNSUPPORTED_FEATURE: ${WHAT[type]} is not supported by this cloud`;
  switch (type) {
    case 'rtmp_stream_request':
    case 'rtmp_stream_stop':
      return { type: 'rtmp_stream_status', status: 'error', errorDetails: text };
    case 'managed_stream_request':
    case 'managed_stream_stop':
      return { type: 'managed_stream_status', status: 'error', message: text };
    default:
      return { type: 'tpa_connection_error', code: 'UNSUPPORTED_FEATURE', message: text };
  }
}

/** Answers unsupported messages and remembers, per session, which types it has warned about. */
export class UnsupportedMessages {
  private readonly warned = new Map<string, Set<string>>();

  constructor(private readonly logger: Logger) {}

  /** Answers `type` on `socket`; the first time for this session and type, one `warn` line. */
  answer(socket: SocketEntry, type: UnsupportedAppMessageType): void {
    writeFrame(socket.ws, unsupportedAnswer(type));
    const key = socket.sessionId ?? `gen:${socket.gen}`;
    let types = this.warned.get(key);
    if (!types) this.warned.set(key, (types = new Set()));
    if (types.has(type)) return;
    types.add(type);
    this.logger.warn({ code: 'UNSUPPORTED_FEATURE', type, userId: socket.userId, sessionId: socket.sessionId, packageName: socket.packageName }, 'app message not supported by this cloud');
  }

  /**
   * A subscription to a stream this cloud never produces (`translation:…`): accepted, and told
   * once per session and stream with a coded error event, so the app is not left waiting.
   */
  answerStream(socket: SocketEntry, stream: string): void {
    const key = socket.sessionId ?? `gen:${socket.gen}`;
    let types = this.warned.get(key);
    if (!types) this.warned.set(key, (types = new Set()));
    if (types.has(stream)) return;
    types.add(stream);
    writeFrame(socket.ws, { type: 'tpa_connection_error', code: 'UNSUPPORTED_FEATURE', message: `UNSUPPORTED_FEATURE: ${stream}: this cloud produces no such stream` });
    this.logger.warn({ code: 'UNSUPPORTED_FEATURE', stream, userId: socket.userId, sessionId: socket.sessionId, packageName: socket.packageName }, 'subscription to a stream this cloud does not produce');
  }

  /** The session ended: its next life warns again. */
  sessionEnded(sessionId: string): void {
    this.warned.delete(sessionId);
  }
}
