/**
 * The handler registry behind `session.events`: stream handlers (data plane) and lifecycle
 * handlers (connected, reconnecting, …). Method names and stream strings mirror
 * `@mentra/sdk` 2.1's `EventManager`, so apps written for it keep working.
 */

import { TetherError } from '../protocol/errors.js';
import type { ResourceTracker } from './resourceTracker.js';
import {
  TOUCH_GESTURES,
  type AudioChunk,
  type CalendarEvent,
  type GlassesConnectionState,
  type LocationUpdate,
  type PhoneBatteryUpdate,
  type PhoneNotificationDismissed,
  type TouchEvent,
  type TouchGesture,
  type VoiceActivity,
  type VpsCoordinates,
} from './streamData.js';

/**
 * A handler for one stream or lifecycle event. It may be async (an async function is a valid
 * `void` function): a rejection is reported like a throw. The return type is plain `void`, as
 * in `@mentra/sdk`, so expression-bodied handlers like `(d) => lines.push(d.text)` type-check.
 */
export type Handler<T> = (data: T) => void;

/** Removes the handler it was returned for. Idempotent. */
export type Unsubscribe = () => void;

/** One speech transcription (stream `transcription:<language>`); times in ms from stream start. */
export interface TranscriptionData {
  type?: 'transcription';
  text: string;
  isFinal: boolean;
  /** Start of the utterance, in ms. */
  startTime: number;
  /** End of the utterance, in ms. */
  endTime: number;
  utteranceId?: string;
  transcribeLanguage?: string;
  detectedLanguage?: string;
  speakerId?: string;
  /** Length of the utterance, in ms. */
  duration?: number;
  provider?: string;
  /** Recogniser confidence, 0 to 1. */
  confidence?: number;
  metadata?: unknown;
  [field: string]: unknown;
}

/** A notification mirrored from the phone (stream `phone_notification`). */
export interface PhoneNotification {
  type?: 'phone_notification';
  notificationId: string;
  app: string;
  title: string;
  content: string;
  priority: 'low' | 'normal' | 'high';
  [field: string]: unknown;
}

/** A press of a hardware button on the glasses (stream `button_press`). */
export interface ButtonPress {
  type?: 'button_press';
  buttonId: string;
  pressType: 'short' | 'long';
  [field: string]: unknown;
}

/** The wearer looked up or down (stream `head_position`). */
export interface HeadPosition {
  type?: 'head_position';
  position: 'up' | 'down';
  [field: string]: unknown;
}

/** Battery state of the glasses (stream `glasses_battery_update`). */
export interface GlassesBatteryUpdate {
  type?: 'glasses_battery_update';
  /** Charge, in percent (0–100). */
  level: number;
  charging: boolean;
  /** Estimated time left, in minutes, when the glasses report it. */
  timeRemaining?: number;
  [field: string]: unknown;
}

/** Data type of each stream this module names; every other stream's data is `unknown`. */
export interface StreamDataTypes {
  phone_notification: PhoneNotification;
  button_press: ButtonPress;
  head_position: HeadPosition;
  glasses_battery_update: GlassesBatteryUpdate;
  touch_event: TouchEvent;
  phone_notification_dismissed: PhoneNotificationDismissed;
  phone_battery_update: PhoneBatteryUpdate;
  VAD: VoiceActivity;
  location_update: LocationUpdate;
  calendar_event: CalendarEvent;
  glasses_connection_state: GlassesConnectionState;
  vps_coordinates: VpsCoordinates;
  audio_chunk: AudioChunk;
}

/** The data a handler of stream `S` receives. */
export type StreamData<S extends string> = S extends keyof StreamDataTypes
  ? StreamDataTypes[S]
  : S extends `transcription:${string}`
    ? TranscriptionData
    : S extends `touch_event:${string}`
      ? TouchEvent
      : unknown;

/** One app setting as the cloud sends it in `tpa_connection_ack.settings`. */
export interface AppSetting {
  key: string;
  value?: unknown;
  [field: string]: unknown;
}

/** The app's settings, as delivered on (re)connection. */
export type AppSettings = AppSetting[];

/** Payload of `reconnecting`: retry number `attempt` (1-based) of `maxAttempts`, after `delayMs` ms. */
export interface ReconnectingInfo {
  attempt: number;
  maxAttempts: number;
  /** Wait before this attempt, in ms. */
  delayMs: number;
}

/** Payload of `disconnected`: the close that ended the session and whether it is final. */
export interface DisconnectInfo {
  message: string;
  /** WebSocket close code. */
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when the session will not reconnect (terminal close code or attempts exhausted). */
  permanent: boolean;
}

/** Payload of `user_reconnected`: the user's glasses came back after `disconnectedMs` ms away. */
export interface UserReconnectedInfo {
  userId: string;
  /** How long the glasses were disconnected, in ms. */
  disconnectedMs: number;
}

/**
 * Payload of `resume_gap`: after a reconnect, `lost` frames (`fromSeq`..`toSeq`) the app missed
 * were older than the cloud's replay window and will never arrive.
 */
export interface ResumeGapInfo {
  lost: number;
  fromSeq?: number;
  toSeq?: number;
}

/** Lifecycle events and their payloads. */
export interface LifecycleEvents {
  /** First connection acknowledged; carries the app settings from the ack. */
  connected: AppSettings | undefined;
  /** A retry is scheduled. */
  reconnecting: ReconnectingInfo;
  /** Connection acknowledged again after a drop; carries the settings from the new ack. */
  reconnected: AppSettings | undefined;
  /** The session's connection ended. */
  disconnected: DisconnectInfo;
  /** Something went wrong that the app may want to know about; the session goes on. */
  error: Error;
  /** The user's glasses reconnected (Tether extension `user_reconnected`). */
  user_reconnected: UserReconnectedInfo;
  /** Frames missed while disconnected are gone (Tether extension `resume`); an `error` with code `RESUME_GAP` is raised too. */
  resume_gap: ResumeGapInfo;
}

/** Name of a lifecycle event. */
export type LifecycleEvent = keyof LifecycleEvents;

/** Options of {@link EventManager.onTranscriptionForLanguage}, as in `@mentra/sdk`. */
export interface TranscriptionOptions {
  /** Ask for transcription in this language only (adds `no-language-identification=true`). */
  disableLanguageIdentification?: boolean;
  /** Languages likely to occur, e.g. `["es", "fr"]` (adds `hints=`). */
  hints?: string[];
}

/** Wiring of an {@link EventManager} into its session. */
export interface EventManagerOptions {
  /**
   * Called with the full list of subscribed streams every time the set changes (never with an
   * unchanged set); the session sends it as `subscription_update`. Must not throw.
   */
  onSubscriptionsChanged(streams: string[]): void;
  /** Called with every error a handler throws or rejects with, and the event it handled. */
  onHandlerError(error: unknown, event: string): void;
  /** The session's tracker: every registration is released with the session. */
  tracker: ResourceTracker;
}

/** The transcription stream `onTranscription` subscribes to, exactly as `@mentra/sdk` names it. */
export const DEFAULT_TRANSCRIPTION_STREAM = 'transcription:en-US';

/** `@mentra/sdk`'s rule for language codes: `en-US`, `fil-PH`. */
const LANGUAGE_CODE = /^[a-z]{2,3}-[A-Z]{2}$/;

type AnyHandler = (data: never) => unknown;

/**
 * Registry of a session's handlers. The stream subscriptions are derived from it — a stream is
 * subscribed exactly while it has a handler — so they can never drift from what the app
 * listens to (the drift `@mentra/sdk` calls Bug 007), and a reconnect re-sends the same list.
 *
 * Registering the same function twice for one event calls it once per event, as in
 * `@mentra/sdk`; unlike there, each registration's unsubscribe removes only that registration
 * (the handler stays until every registration of it is removed), so a late unsubscribe from
 * old code never removes a handler that newer code registered.
 */
export class EventManager {
  /** stream → handler → number of live registrations. Map order = order streams were first subscribed. */
  private readonly streamHandlers = new Map<string, Map<AnyHandler, number>>();
  private readonly lifecycleHandlers = new Map<string, Map<AnyHandler, number>>();
  private readonly liveUnsubscribes = new Set<Unsubscribe>();
  private readonly onSubscriptionsChanged: (streams: string[]) => void;
  private readonly onHandlerError: (error: unknown, event: string) => void;
  private readonly tracker: ResourceTracker;
  private lastReported: ReadonlySet<string> = new Set();
  private clearing = false;
  private languageTranscription: Unsubscribe = () => {};

  /** @param options - see {@link EventManagerOptions}. */
  constructor(options: EventManagerOptions) {
    this.onSubscriptionsChanged = (streams) => options.onSubscriptionsChanged(streams);
    this.onHandlerError = (error, event) => options.onHandlerError(error, event);
    this.tracker = options.tracker;
  }

  /** Transcriptions in US English (stream `transcription:en-US`, as in `@mentra/sdk`). */
  onTranscription(handler: Handler<TranscriptionData>): Unsubscribe {
    return this.on(DEFAULT_TRANSCRIPTION_STREAM, handler);
  }

  /**
   * Transcriptions in `language` (stream `transcription:<language>`, plus the query suffix the
   * options ask for). As in `@mentra/sdk`, each call replaces the handler registered by the
   * previous call of this method — one chosen language at a time — so an app that switches
   * language by calling it again does not end up subscribed to both.
   *
   * @param language - a code like `en-US` or `fr-FR`, or `auto`.
   * @param options - `true`/`false` is shorthand for `disableLanguageIdentification`.
   * @throws {@link TetherError} with code `INVALID_FIELDS` when `language` is not a valid code.
   */
  onTranscriptionForLanguage(
    language: string,
    handler: Handler<TranscriptionData>,
    options?: boolean | TranscriptionOptions,
  ): Unsubscribe {
    const stream = transcriptionStream(language, typeof options === 'boolean'
      ? { disableLanguageIdentification: options }
      : options);
    // Add the new handler before removing the old one: switching to the same language then
    // changes nothing on the wire, and a switch never passes through a transient empty list
    // that would make the cloud stop and restart transcription.
    const previous = this.languageTranscription;
    const unsubscribe = this.on(stream, handler);
    this.languageTranscription = unsubscribe;
    previous();
    return unsubscribe;
  }

  /** Notifications mirrored from the phone (stream `phone_notification`). */
  onPhoneNotifications(handler: Handler<PhoneNotification>): Unsubscribe {
    return this.on('phone_notification', handler);
  }

  /** Hardware button presses (stream `button_press`). */
  onButtonPress(handler: Handler<ButtonPress>): Unsubscribe {
    return this.on('button_press', handler);
  }

  /** Head up / head down (stream `head_position`). */
  onHeadPosition(handler: Handler<HeadPosition>): Unsubscribe {
    return this.on('head_position', handler);
  }

  /** Battery updates of the glasses (stream `glasses_battery_update`). */
  onGlassesBattery(handler: Handler<GlassesBatteryUpdate>): Unsubscribe {
    return this.on('glasses_battery_update', handler);
  }

  /**
   * Touch-pad gestures: every gesture (stream `touch_event`), or only `gesture` (stream
   * `touch_event:<gesture>`), as in `@mentra/sdk`.
   *
   * @throws {@link TetherError} with code `INVALID_FIELDS` when `gesture` is not one of {@link TOUCH_GESTURES}.
   */
  onTouchEvent(handler: Handler<TouchEvent>): Unsubscribe;
  onTouchEvent(gesture: TouchGesture, handler: Handler<TouchEvent>): Unsubscribe;
  onTouchEvent(gestureOrHandler: TouchGesture | Handler<TouchEvent>, handler?: Handler<TouchEvent>): Unsubscribe {
    if (typeof gestureOrHandler === 'function') return this.on('touch_event', gestureOrHandler);
    if (!(TOUCH_GESTURES as readonly string[]).includes(gestureOrHandler) || handler === undefined) {
      throw new TetherError('INVALID_FIELDS', `Invalid gesture: ${String(gestureOrHandler)}`, { gesture: gestureOrHandler });
    }
    return this.on(`touch_event:${gestureOrHandler}`, handler);
  }

  /** Phone notifications the user dismissed (stream `phone_notification_dismissed`). */
  onPhoneNotificationDismissed(handler: Handler<PhoneNotificationDismissed>): Unsubscribe {
    return this.on('phone_notification_dismissed', handler);
  }

  /** Battery updates of the phone (stream `phone_battery_update`). */
  onPhoneBattery(handler: Handler<PhoneBatteryUpdate>): Unsubscribe {
    return this.on('phone_battery_update', handler);
  }

  /** Voice activity (stream `VAD`, upper case as in `@mentra/sdk`). */
  onVoiceActivity(handler: Handler<VoiceActivity>): Unsubscribe {
    return this.on('VAD', handler);
  }

  /** Location fixes (stream `location_update`). */
  onLocation(handler: Handler<LocationUpdate>): Unsubscribe {
    return this.on('location_update', handler);
  }

  /** Events from the phone's calendar (stream `calendar_event`). */
  onCalendarEvent(handler: Handler<CalendarEvent>): Unsubscribe {
    return this.on('calendar_event', handler);
  }

  /** Changes of the glasses' connection to the phone (stream `glasses_connection_state`). */
  onGlassesConnectionState(handler: Handler<GlassesConnectionState>): Unsubscribe {
    return this.on('glasses_connection_state', handler);
  }

  /** Visual positioning fixes (stream `vps_coordinates`). */
  onVpsCoordinates(handler: Handler<VpsCoordinates>): Unsubscribe {
    return this.on('vps_coordinates', handler);
  }

  /**
   * The glasses' audio, one binary frame at a time (stream `audio_chunk`): live, never replayed
   * after a reconnect; frames the cloud could not write to a congested socket are dropped.
   */
  onAudioChunk(handler: Handler<AudioChunk>): Unsubscribe {
    return this.on('audio_chunk', handler);
  }

  /**
   * Any stream, by its exact wire name (`location_update`, `touch_event:double_tap`,
   * `transcription:fr-FR?no-language-identification=true`). Events are matched exactly:
   * `transcription` does not receive `transcription:en-US`.
   */
  on<S extends string>(streamType: S, handler: Handler<StreamData<S>>): Unsubscribe {
    return this.register(this.streamHandlers, streamType, handler);
  }

  /** The first connection was acknowledged; receives the app settings from the ack. */
  onConnected(handler: Handler<LifecycleEvents['connected']>): Unsubscribe {
    return this.onLifecycle('connected', handler);
  }

  /** A reconnect attempt is scheduled (`attempt` of `maxAttempts`, after `delayMs` ms). */
  onReconnecting(handler: Handler<ReconnectingInfo>): Unsubscribe {
    return this.onLifecycle('reconnecting', handler);
  }

  /** The connection is back after a drop; receives the app settings from the new ack. */
  onReconnected(handler: Handler<LifecycleEvents['reconnected']>): Unsubscribe {
    return this.onLifecycle('reconnected', handler);
  }

  /** The connection ended; `permanent` says whether it will be retried. */
  onDisconnected(handler: Handler<DisconnectInfo>): Unsubscribe {
    return this.onLifecycle('disconnected', handler);
  }

  /** Errors of the session, including errors thrown by other handlers. */
  onError(handler: Handler<Error>): Unsubscribe {
    return this.onLifecycle('error', handler);
  }

  /** The user's glasses came back after `disconnectedMs` ms away. */
  onUserReconnected(handler: Handler<UserReconnectedInfo>): Unsubscribe {
    return this.onLifecycle('user_reconnected', handler);
  }

  /** Frames missed during a disconnection were no longer in the cloud's replay window: `lost` of them. */
  onResumeGap(handler: Handler<ResumeGapInfo>): Unsubscribe {
    return this.onLifecycle('resume_gap', handler);
  }

  /** Subscribes to a lifecycle event by name; the named `on*` methods are shorthands for it. */
  onLifecycle<E extends LifecycleEvent>(event: E, handler: Handler<LifecycleEvents[E]>): Unsubscribe {
    return this.register(this.lifecycleHandlers, event, handler);
  }

  /**
   * Delivers one stream event to every handler registered for exactly `streamType`, in
   * registration order. A handler that throws is reported and never stops the others; a
   * handler removed while the event is being delivered is not called.
   *
   * @returns whether any handler was registered for the stream.
   */
  dispatchStream(streamType: string, data: unknown): boolean {
    const handlers = this.streamHandlers.get(streamType);
    if (handlers === undefined) return false;
    this.deliver(handlers, streamType, data, false);
    return true;
  }

  /** Delivers a lifecycle event to its handlers, with the same isolation as {@link dispatchStream}. */
  emitLifecycle<E extends LifecycleEvent>(event: E, payload: LifecycleEvents[E]): void {
    const handlers = this.lifecycleHandlers.get(event);
    if (handlers !== undefined) this.deliver(handlers, event, payload, event === 'error');
  }

  /** Whether a handler is registered for exactly `streamType`. */
  hasStream(streamType: string): boolean {
    return this.streamHandlers.has(streamType);
  }

  /** The streams subscribed now, in the order they were first subscribed. */
  streams(): string[] {
    return [...this.streamHandlers.keys()];
  }

  /**
   * Drops every handler. Reports the (now empty) stream list once if it was not empty, unless
   * the session is already released: then there is no connection left to tell.
   */
  clear(): void {
    this.clearing = true;
    try {
      for (const unsubscribe of [...this.liveUnsubscribes]) unsubscribe();
    } finally {
      this.clearing = false;
    }
    this.reportIfChanged();
  }

  private register(table: Map<string, Map<AnyHandler, number>>, key: string, handler: AnyHandler): Unsubscribe {
    // A handler registered after the session ended would never fire and would re-subscribe a
    // stream nobody will unsubscribe: drop it (the tracker's "released at once" rule).
    if (this.tracker.released) return () => {};

    let handlers = table.get(key);
    if (handlers === undefined) {
      handlers = new Map();
      table.set(key, handlers);
    }
    handlers.set(handler, (handlers.get(handler) ?? 0) + 1);

    const remove = (): void => {
      this.liveUnsubscribes.delete(unsubscribe);
      const current = table.get(key);
      const count = current?.get(handler);
      if (current === undefined || count === undefined) return;
      if (count > 1) {
        current.set(handler, count - 1);
        return;
      }
      current.delete(handler);
      if (current.size === 0) table.delete(key);
      if (table === this.streamHandlers) this.reportIfChanged();
    };
    const unsubscribe = this.tracker.track(remove);
    this.liveUnsubscribes.add(unsubscribe);
    if (table === this.streamHandlers) this.reportIfChanged();
    return unsubscribe;
  }

  private reportIfChanged(): void {
    // Suppressed while clearing (one report at the end) and once the session is released (the
    // tracker removes handlers one by one; reporting each step to a closed session is noise).
    if (this.clearing || this.tracker.released) return;
    const current = this.streamHandlers;
    if (current.size === this.lastReported.size && [...current.keys()].every((s) => this.lastReported.has(s))) {
      return;
    }
    this.lastReported = new Set(current.keys());
    this.onSubscriptionsChanged([...current.keys()]);
  }

  private deliver(handlers: Map<AnyHandler, number>, event: string, data: unknown, isErrorEvent: boolean): void {
    // Iterate over a snapshot so handlers added during delivery wait for the next event, and
    // re-check membership so a handler removed during delivery (or by a session that ended in
    // an earlier handler) is not called.
    for (const handler of [...handlers.keys()]) {
      if (!handlers.has(handler)) continue;
      let result: unknown;
      try {
        result = (handler as (data: unknown) => unknown)(data);
      } catch (error) {
        this.handlerFailed(error, event, isErrorEvent);
        continue;
      }
      if (isPromiseLike(result)) {
        // An async handler's rejection would otherwise be an unhandled rejection, which ends
        // the whole Node process — every session of the app server — by default.
        result.then(undefined, (error: unknown) => this.handlerFailed(error, event, isErrorEvent));
      }
    }
  }

  private handlerFailed(error: unknown, event: string, isErrorEvent: boolean): void {
    try {
      this.onHandlerError(error, event);
    } catch {
      // The session's reporter failing must not stop the remaining handlers.
    }
    // A failing `error` handler is only reported: re-emitting its error as `error` would loop.
    if (!isErrorEvent) this.emitLifecycle('error', handlerError(error, event));
  }
}

/**
 * The stream name `@mentra/sdk` builds for a transcription language and options:
 * `transcription:<language>[?no-language-identification=true][&hints=<a,b>]` (query encoded
 * with `URLSearchParams`, as it does, so the strings match byte for byte).
 *
 * @throws {@link TetherError} with code `INVALID_FIELDS` when `language` is neither `auto` nor a
 *   code like `en-US` (the subscription it would produce is one the cloud cannot serve).
 */
export function transcriptionStream(language: string, options?: TranscriptionOptions): `transcription:${string}` {
  if (language !== 'auto' && !LANGUAGE_CODE.test(language)) {
    throw new TetherError('INVALID_FIELDS', `Invalid language code: ${language}`, { language });
  }
  const params = new URLSearchParams();
  if (options?.disableLanguageIdentification) params.set('no-language-identification', 'true');
  if (options?.hints !== undefined && options.hints.length > 0) params.set('hints', options.hints.join(','));
  const query = params.toString();
  return query === '' ? `transcription:${language}` : `transcription:${language}?${query}`;
}

/** What `error` handlers receive for a failed handler: code `HANDLER_FAILED`, the thrown value as `cause`. */
function handlerError(cause: unknown, event: string): TetherError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const error = new TetherError('HANDLER_FAILED', `Handler error for event '${event}': ${detail}`, { event });
  error.cause = cause;
  return error;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
