/**
 * Apps → glasses, with answers (issue 12 §3–§5): what an app asks of its user's glasses
 * (photo, audio, LED, location, dashboard, Wi-Fi setup) is relayed to that user's current
 * glasses socket only, and the glasses' answer goes back to the app session that asked, by the
 * id the cloud gave the request (`glassesRequests.ts`). Each wait is bounded by a timeout and
 * answered with a coded error when it runs out or the glasses go away; messages between apps go
 * to `appRooms.ts`, messages this cloud does not implement to `unsupportedMessages.ts`.
 *
 * Plain code on the data plane like the router: no actor events. What it must learn about the
 * sessions' lives (an app session ended, the glasses changed) it reads from the inspection
 * stream, as the replay buffers do.
 */
import type { InspectionEvent } from 'xstate';
import {
  appSessionIdOfSystemId,
  forEachAppSession,
  glassesGenOf,
  sessionIdOf,
  systemIdOf,
  userIdOfSystemId,
  type UserSessionSnapshot,
} from '../../machines/sessionApi.js';
import { OTHER_SDK_APP_MESSAGE_TYPES, type AppToCloudMessage, type AppToCloudOf, type UnsupportedAppMessageType } from '../protocol/appToCloud.js';
import type { CloudToGlassesMessage } from '../protocol/cloudToGlasses.js';
import { errorInfo, type ErrorCode } from '../protocol/errors.js';
import type { GlassesToCloudMessage } from '../protocol/glassesToCloud.js';
import type { Logger } from '../logger.js';
import { AppRooms, type AppOrigin } from './appRooms.js';
import type { AppSender } from './appSend.js';
import { PendingGlassesRequests, type GlassesRequestKind, type PendingGlassesRequest, type RequestEndReason } from './glassesRequests.js';
import type { SocketEntry } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';
import type { PhotoForwarder } from './photoUpload.js';
import type { Router } from './router.js';
import type { SessionRegistry } from './sessionRegistry.js';
import { UnsupportedMessages } from './unsupportedMessages.js';

/** What {@link AppRequests} needs from the cloud. */
export interface AppRequestsDeps {
  sessions: SessionRegistry;
  sender: AppSender;
  router: Router;
  photos: PhotoForwarder;
  logger: Logger;
  /** Wait for each kind of answer, in ms. */
  timeoutsMs: Readonly<Record<GlassesRequestKind, number>>;
  /** Most requests one app session may have waiting (count). */
  maxPendingPerSession: number;
  /** The URL the glasses upload photos to (the cloud’s `PHOTO_UPLOAD_PATH`). */
  photoUploadUrl(): string;
  /** Whether an audio URL is the cloud's own text-to-speech, which it does not serve (`tts.ts`). */
  isOwnTtsUrl?(audioUrl: string): boolean;
}

const unsupportedTypes: ReadonlySet<string> = new Set(OTHER_SDK_APP_MESSAGE_TYPES);
/** Stream types `@mentra/sdk` can subscribe to that this cloud never produces: it translates nothing. */
const NEVER_PRODUCED: readonly string[] = ['translation:'];

/** Requests from apps to glasses, their answers, and messages between apps, for one cloud. */
export class AppRequests {
  /** Requests waiting for the glasses. */
  readonly pending: PendingGlassesRequests;
  readonly rooms: AppRooms;
  private readonly unsupported: UnsupportedMessages;
  private readonly log: Logger;

  constructor(private readonly deps: AppRequestsDeps) {
    this.log = deps.logger.child({ component: 'appRequests' });
    this.pending = new PendingGlassesRequests({
      timeoutsMs: deps.timeoutsMs,
      maxPerSession: deps.maxPendingPerSession,
      onEnded: (request, reason) => this.ended(request, reason),
    });
    this.rooms = new AppRooms(deps.sender, this.log);
    this.unsupported = new UnsupportedMessages(this.log);
  }

  /**
   * An app frame the gateway does not handle itself. Only the socket its session adopted may
   * ask (as only it may draw); the ids in the frame are never trusted, the socket's are.
   */
  /** The streams an app subscribed to: those this cloud never produces are answered (no silent drop). */
  subscribed(socket: SocketEntry, streams: readonly string[]): void {
    for (const stream of streams) if (NEVER_PRODUCED.some((prefix) => stream.startsWith(prefix))) this.unsupported.answerStream(socket, stream);
  }

  fromApp(socket: SocketEntry, message: AppToCloudMessage, size: number): void {
    const { sessionId, packageName } = socket;
    if (sessionId === undefined || packageName === undefined || !this.deps.sessions.isAdoptedAppSocket(socket)) {
      this.log.debug({ type: message.type, gen: socket.gen }, 'app request from a socket its session does not hold ignored');
      return;
    }
    const from: AppOrigin = { userId: socket.userId, sessionId, packageName };
    switch (message.type) {
      case 'photo_request':
        return this.photo(from, message);
      case 'audio_play_request':
        return this.audio(from, message);
      case 'audio_stop_request':
        this.toGlasses(from, { type: 'audio_stop_request', appId: packageName, ...(message.trackId === undefined ? {} : { trackId: message.trackId }) });
        return;
      case 'rgb_led_control':
        return this.led(from, message);
      case 'location_poll_request':
        return this.location(from, message);
      case 'dashboard_content_update':
        // The dashboard view of the glasses shows it; kept as this app's dashboard screen, so
        // glasses that come back see it again (`screenMemory.ts`).
        this.deps.router.toGlasses(
          from.userId,
          { type: 'display_event', packageName, sessionId, view: 'dashboard', layout: { layoutType: 'text_wall', text: message.content } },
          size,
        );
        return;
      case 'dashboard_mode_change':
        this.toGlasses(from, { type: 'dashboard_mode_change', mode: message.mode });
        this.toUsersApps(from.userId, { type: 'dashboard_mode_changed', mode: message.mode });
        return;
      case 'request_wifi_setup':
        this.toGlasses(from, { type: 'show_wifi_setup', appPackageName: packageName, ...(message.reason === undefined ? {} : { reason: message.reason }) });
        return;
      case 'stream_status_check':
        // A true answer, not a refusal: this cloud never has a stream.
        writeFrame(socket.ws, { type: 'stream_status_check_response', hasActiveStream: false });
        return;
      case 'app_room_join': {
        const refusal = this.rooms.join(from, message);
        if (refusal) writeFrame(socket.ws, { type: 'tpa_connection_error', ...refusal });
        return;
      }
      case 'app_room_leave':
        return this.rooms.leave(from, message.roomId);
      case 'app_broadcast_message':
        this.rooms.broadcast(from, message);
        return;
      case 'app_direct_message':
        return this.rooms.direct(from, message);
      default:
        if (unsupportedTypes.has(message.type)) this.unsupported.answer(socket, message.type as UnsupportedAppMessageType);
        else this.log.debug({ sessionId, type: message.type }, 'app message not handled by this cloud');
    }
  }

  /**
   * A glasses frame that may answer a request. Returns true when it was one (it then goes no
   * further: a location fix someone polled for reaches only the app that polled).
   */
  fromGlasses(socket: SocketEntry, message: GlassesToCloudMessage): boolean {
    const { userId } = socket;
    switch (message.type) {
      case 'photo_response': {
        // A success is the upload itself; over the socket only a failure ends the request.
        if (message.success) return true;
        const request = this.take(socket, 'photo', message.requestId);
        if (request) {
          const errorCode = message.error?.code ?? 'UNKNOWN_ERROR';
          void this.deps.photos.forward(request, { ok: false, errorCode, errorMessage: message.error?.message ?? 'The glasses could not take the photo' });
        }
        return true;
      }
      case 'audio_play_response': {
        const request = this.take(socket, 'audio', message.requestId);
        if (request) {
          this.deps.sender.send(userId, request.sessionId, {
            type: 'audio_play_response',
            requestId: request.appRequestId,
            success: message.success,
            ...(message.error === undefined ? {} : { error: message.error }),
            ...(message.duration === undefined ? {} : { duration: message.duration }),
          });
        }
        return true;
      }
      case 'rgb_led_control_response': {
        const request = this.take(socket, 'led', message.requestId);
        if (request) {
          this.deps.sender.send(userId, request.sessionId, {
            type: 'rgb_led_control_response',
            requestId: request.appRequestId,
            success: message.success,
            ...(message.error === undefined ? {} : { error: message.error }),
          });
        }
        return true;
      }
      case 'location_update': {
        if (message.correlationId === undefined) return false;
        const request = this.take(socket, 'location', message.correlationId);
        // A correlation id the cloud did not hand out is no answer: an ordinary location event.
        if (!request) return false;
        this.deps.sender.send(userId, request.sessionId, {
          type: 'data_stream',
          sessionId: request.sessionId,
          streamType: 'location_update',
          data: { ...message, correlationId: request.appRequestId },
        });
        return true;
      }
      default:
        return false;
    }
  }

  /** Inspection observer: forgets what belonged to an app session that ended, fails requests of glasses that went away. */
  readonly observe = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.snapshot') return;
    const systemId = systemIdOf(event.actorRef);
    const active = (event.snapshot as { status?: string }).status === 'active';
    const sessionId = appSessionIdOfSystemId(systemId);
    if (sessionId !== undefined) {
      if (!active) {
        this.pending.dropSession(sessionId);
        this.rooms.sessionEnded(sessionId);
        this.unsupported.sessionEnded(sessionId);
      }
      return;
    }
    const userId = userIdOfSystemId(systemId);
    if (userId !== undefined) this.pending.glassesChanged(userId, active ? glassesGenOf(event.snapshot as UserSessionSnapshot) : undefined);
  };

  /** Shutdown: every wait ends without an answer (the sockets are closing). */
  close(): void {
    this.pending.clear();
  }

  private photo(from: AppOrigin, message: AppToCloudOf<'photo_request'>): void {
    const options = {
      ...(message.saveToGallery === undefined ? {} : { saveToGallery: message.saveToGallery }),
      ...(message.size === undefined ? {} : { size: message.size }),
      ...(message.compress === undefined ? {} : { compress: message.compress }),
    };
    if (message.customWebhookUrl !== undefined) {
      // The SDK resolved already and waits for nothing: the glasses upload where the app said.
      const relayed = this.toGlasses(from, {
        type: 'photo_request',
        requestId: message.requestId,
        appId: from.packageName,
        ...options,
        webhookUrl: message.customWebhookUrl,
        ...(message.authToken === undefined ? {} : { authToken: message.authToken }),
      });
      if (!relayed) this.log.info({ code: 'GLASSES_NOT_CONNECTED', sessionId: from.sessionId }, 'photo for a custom webhook not relayed');
      return;
    }
    this.ask(from, 'photo', message.requestId, (request) => ({
      type: 'photo_request',
      requestId: request.glassesRequestId,
      appId: from.packageName,
      ...options,
      webhookUrl: this.deps.photoUploadUrl(),
      ...(request.uploadToken === undefined ? {} : { authToken: request.uploadToken }),
    }));
  }

  private audio(from: AppOrigin, message: AppToCloudOf<'audio_play_request'>): void {
    // `audio.speak()` points the glasses at this cloud's /api/tts, which answers TTS_UNAVAILABLE:
    // the app hears so at once instead of after the glasses' fetch fails.
    if (this.deps.isOwnTtsUrl?.(message.audioUrl)) {
      this.fail({ kind: 'audio', appRequestId: message.requestId, ...from }, 'TTS_UNAVAILABLE');
      return;
    }
    const fields = {
      appId: from.packageName,
      audioUrl: message.audioUrl,
      ...(message.volume === undefined ? {} : { volume: message.volume }),
      ...(message.stopOtherAudio === undefined ? {} : { stopOtherAudio: message.stopOtherAudio }),
      ...(message.trackId === undefined ? {} : { trackId: message.trackId }),
    };
    // `stopOtherAudio: false` is fire and forget in the SDK: it resolved already.
    if (message.stopOtherAudio === false) {
      this.toGlasses(from, { type: 'audio_play_request', requestId: message.requestId, ...fields });
      return;
    }
    this.ask(from, 'audio', message.requestId, (request) => ({ type: 'audio_play_request', requestId: request.glassesRequestId, ...fields }));
  }

  private led(from: AppOrigin, message: AppToCloudOf<'rgb_led_control'>): void {
    const { action, color, ontime, offtime, count } = message;
    this.ask(from, 'led', message.requestId, (request) => ({
      type: 'rgb_led_control',
      requestId: request.glassesRequestId,
      appId: from.packageName,
      action,
      ...(color === undefined ? {} : { color }),
      ...(ontime === undefined ? {} : { ontime }),
      ...(offtime === undefined ? {} : { offtime }),
      ...(count === undefined ? {} : { count }),
    }));
  }

  private location(from: AppOrigin, message: AppToCloudOf<'location_poll_request'>): void {
    this.ask(from, 'location', message.correlationId, (request) => ({
      type: 'request_single_location',
      accuracy: message.accuracy ?? 'standard',
      correlationId: request.glassesRequestId,
    }));
  }

  /** Sends a request that waits for an answer, or answers the app at once when it cannot be sent. */
  private ask(from: AppOrigin, kind: GlassesRequestKind, appRequestId: string, frame: (request: PendingGlassesRequest) => CloudToGlassesMessage): void {
    const glasses = this.deps.sessions.glassesSocketOf(from.userId);
    const failNow = (code: ErrorCode) => this.fail({ kind, appRequestId, ...from }, code);
    if (!glasses) return failNow('GLASSES_NOT_CONNECTED');
    const request = this.pending.add({ kind, appRequestId, ...from, glassesGen: glasses.gen });
    if (!request) return failNow('TOO_MANY_PENDING_REQUESTS');
    if (!writeFrame(glasses.ws, frame(request))) {
      this.pending.take(from.userId, kind, request.glassesRequestId);
      failNow('GLASSES_NOT_CONNECTED');
    }
  }

  private take(socket: SocketEntry, kind: GlassesRequestKind, glassesRequestId: string): PendingGlassesRequest | undefined {
    const request = this.pending.take(socket.userId, kind, glassesRequestId);
    if (!request) this.log.debug({ userId: socket.userId, kind }, 'answer to no waiting request ignored');
    return request;
  }

  private ended(request: PendingGlassesRequest, reason: RequestEndReason): void {
    this.fail(request, reason === 'timeout' ? 'GLASSES_REQUEST_TIMEOUT' : 'GLASSES_NOT_CONNECTED');
  }

  /** Tells the app its request failed with `code`, in the frame its SDK fails that call on. */
  private fail(request: Pick<PendingGlassesRequest, 'kind' | 'appRequestId' | 'userId' | 'sessionId' | 'packageName'>, code: ErrorCode): void {
    const { kind, appRequestId: requestId, userId, sessionId } = request;
    this.log.info({ code, kind, requestId, userId, sessionId }, 'glasses request failed');
    const message = errorInfo(code).message;
    switch (kind) {
      case 'photo':
        void this.deps.photos.forward(request, { ok: false, errorCode: code, errorMessage: message });
        return;
      case 'audio':
        this.deps.sender.send(userId, sessionId, { type: 'audio_play_response', requestId, success: false, error: code });
        return;
      case 'led':
        this.deps.sender.send(userId, sessionId, { type: 'rgb_led_control_response', requestId, success: false, error: code });
        return;
      case 'location':
        // `getLatestLocation` has no failure answer; a coded error event is what the app can see.
        this.deps.sender.send(userId, sessionId, { type: 'tpa_connection_error', code, message: `location poll ${requestId}: ${message}` });
        return;
    }
  }

  /** Writes to the user's current glasses, if connected. */
  private toGlasses(from: AppOrigin, message: CloudToGlassesMessage): boolean {
    const glasses = this.deps.sessions.glassesSocketOf(from.userId);
    return glasses ? writeFrame(glasses.ws, message) : false;
  }

  /** Writes to every live app session of one user. */
  private toUsersApps(userId: string, message: Parameters<AppSender['send']>[2]): void {
    const user = this.deps.sessions.get(userId);
    if (!user) return;
    forEachAppSession(user.getSnapshot(), (app) => {
      this.deps.sender.send(userId, sessionIdOf(app.getSnapshot()), message);
    });
  }
}
