import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventManager, transcriptionStream } from '../../src/sdk/eventManager.js';
import { ResourceTracker } from '../../src/sdk/resourceTracker.js';

function setup() {
  const tracker = new ResourceTracker({ onError: () => {} });
  const updates: string[][] = [];
  const handlerErrors: Array<{ error: unknown; event: string }> = [];
  const events = new EventManager({
    tracker,
    onSubscriptionsChanged: (streams) => updates.push(streams),
    onHandlerError: (error, event) => handlerErrors.push({ error, event }),
  });
  return { tracker, events, updates, handlerErrors };
}

describe('EventManager', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('stream names', () => {
    it('subscribes each named method to the stream @mentra/sdk uses', () => {
      const { events } = setup();
      events.onTranscription(() => {});
      events.onPhoneNotifications(() => {});
      events.onButtonPress(() => {});
      events.onHeadPosition(() => {});
      events.onGlassesBattery(() => {});
      events.on('location_update', () => {});
      expect(events.streams()).toEqual([
        'transcription:en-US',
        'phone_notification',
        'button_press',
        'head_position',
        'glasses_battery_update',
        'location_update',
      ]);
    });

    it('builds language transcription streams with the same query suffixes', () => {
      expect(transcriptionStream('fr-FR')).toBe('transcription:fr-FR');
      expect(transcriptionStream('auto')).toBe('transcription:auto');
      expect(transcriptionStream('es-ES', { disableLanguageIdentification: true })).toBe(
        'transcription:es-ES?no-language-identification=true',
      );
      expect(transcriptionStream('en-US', { disableLanguageIdentification: true, hints: ['es', 'fr'] })).toBe(
        'transcription:en-US?no-language-identification=true&hints=es%2Cfr',
      );
    });

    it('rejects an invalid language code with INVALID_FIELDS', () => {
      const { events } = setup();
      expect(() => events.onTranscriptionForLanguage('english', () => {})).toThrow(
        expect.objectContaining({ code: 'INVALID_FIELDS' }),
      );
      expect(events.streams()).toEqual([]);
    });

    it('replaces the previous language handler, as @mentra/sdk does', () => {
      const { events, updates } = setup();
      events.onTranscriptionForLanguage('fr-FR', () => {});
      events.onTranscriptionForLanguage('de-DE', () => {}, true);
      expect(events.streams()).toEqual(['transcription:de-DE?no-language-identification=true']);
      expect(updates).toEqual([
        ['transcription:fr-FR'],
        ['transcription:fr-FR', 'transcription:de-DE?no-language-identification=true'],
        ['transcription:de-DE?no-language-identification=true'],
      ]);
    });

    it('sends nothing when the same language is chosen again', () => {
      const { events, updates } = setup();
      const first = vi.fn();
      const second = vi.fn();
      events.onTranscriptionForLanguage('fr-FR', first);
      events.onTranscriptionForLanguage('fr-FR', second);
      expect(updates).toEqual([['transcription:fr-FR']]);
      events.dispatchStream('transcription:fr-FR', { text: 'salut', isFinal: true });
      expect(first).not.toHaveBeenCalled();
      expect(second).toHaveBeenCalledTimes(1);
    });
  });

  describe('subscriptions', () => {
    it('reports the full list each time the set of streams changes, and only then', () => {
      const { events, updates } = setup();
      const offA = events.onTranscription(() => {});
      const offB = events.onButtonPress(() => {});
      const offA2 = events.onTranscription(() => {});
      expect(updates).toEqual([['transcription:en-US'], ['transcription:en-US', 'button_press']]);

      offA();
      expect(updates).toHaveLength(2);
      offA2();
      expect(updates).toEqual([
        ['transcription:en-US'],
        ['transcription:en-US', 'button_press'],
        ['button_press'],
      ]);
      offB();
      expect(updates.at(-1)).toEqual([]);
      expect(updates).toHaveLength(4);
    });

    it('does not report lifecycle handlers as subscriptions', () => {
      const { events, updates } = setup();
      events.onConnected(() => {});
      events.onError(() => {});
      expect(updates).toEqual([]);
      expect(events.streams()).toEqual([]);
    });

    it('reports once when clear() drops everything', () => {
      const { events, updates } = setup();
      events.onTranscription(() => {});
      events.onButtonPress(() => {});
      events.onConnected(() => {});
      updates.length = 0;

      events.clear();
      expect(updates).toEqual([[]]);
      expect(events.streams()).toEqual([]);
      events.clear();
      expect(updates).toEqual([[]]);
    });
  });

  describe('unsubscribe', () => {
    it('stops delivery and is idempotent', () => {
      const { events } = setup();
      const handler = vi.fn();
      const off = events.onButtonPress(handler);
      events.dispatchStream('button_press', { buttonId: 'main', pressType: 'short' });
      off();
      off();
      events.dispatchStream('button_press', { buttonId: 'main', pressType: 'short' });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it('calls a function registered twice once per event and keeps it until both registrations are removed', () => {
      const { events } = setup();
      const handler = vi.fn();
      const off1 = events.onButtonPress(handler);
      const off2 = events.onButtonPress(handler);
      events.dispatchStream('button_press', {});
      expect(handler).toHaveBeenCalledTimes(1);

      off1();
      off1();
      events.dispatchStream('button_press', {});
      expect(handler).toHaveBeenCalledTimes(2);

      off2();
      events.dispatchStream('button_press', {});
      expect(handler).toHaveBeenCalledTimes(2);
      expect(events.streams()).toEqual([]);
    });

    it('unsubscribes a lifecycle handler', () => {
      const { events } = setup();
      const handler = vi.fn();
      const off = events.onReconnecting(handler);
      events.emitLifecycle('reconnecting', { attempt: 1, maxAttempts: 10, delayMs: 1200 });
      off();
      events.emitLifecycle('reconnecting', { attempt: 2, maxAttempts: 10, delayMs: 1800 });
      expect(handler).toHaveBeenCalledTimes(1);
      expect(handler).toHaveBeenCalledWith({ attempt: 1, maxAttempts: 10, delayMs: 1200 });
    });
  });

  describe('release with the session', () => {
    it('drops every handler when the tracker releases, without reporting to a closed session', () => {
      const { events, tracker, updates } = setup();
      const stream = vi.fn();
      const lifecycle = vi.fn();
      events.onTranscription(stream);
      events.onDisconnected(lifecycle);
      expect(tracker.size).toBe(2);
      updates.length = 0;

      tracker.releaseAll();
      expect(tracker.size).toBe(0);
      expect(events.streams()).toEqual([]);
      expect(updates).toEqual([]);
      events.dispatchStream('transcription:en-US', { text: 'late', isFinal: true });
      events.emitLifecycle('disconnected', { message: 'x', code: 1000, reason: '', wasClean: true, permanent: true });
      expect(stream).not.toHaveBeenCalled();
      expect(lifecycle).not.toHaveBeenCalled();
    });

    it('ignores handlers registered after the session was released', () => {
      const { events, tracker, updates } = setup();
      tracker.releaseAll();
      const handler = vi.fn();
      const off = events.onButtonPress(handler);
      expect(events.streams()).toEqual([]);
      expect(updates).toEqual([]);
      expect(events.dispatchStream('button_press', {})).toBe(false);
      expect(handler).not.toHaveBeenCalled();
      off();
    });

    it('keeps the tracker free of entries for unsubscribed handlers', () => {
      const { events, tracker } = setup();
      const off = events.onTranscription(() => {});
      expect(tracker.size).toBe(1);
      off();
      expect(tracker.size).toBe(0);
      events.onButtonPress(() => {});
      events.clear();
      expect(tracker.size).toBe(0);
    });
  });

  describe('dispatch', () => {
    it('delivers data as-is to handlers of exactly that stream, in registration order', () => {
      const { events } = setup();
      const calls: string[] = [];
      events.onTranscription((d) => calls.push(`a:${d.text}`));
      events.on('transcription:en-US', (d) => calls.push(`b:${d.text}`));
      events.on('transcription', () => calls.push('bare'));

      const data = { text: 'hello', isFinal: true, startTime: 0, endTime: 1000 };
      expect(events.dispatchStream('transcription:en-US', data)).toBe(true);
      expect(calls).toEqual(['a:hello', 'b:hello']);
      expect(events.dispatchStream('head_position', { position: 'up' })).toBe(false);
    });

    it('does not call a handler removed by an earlier handler of the same event', () => {
      const { events } = setup();
      const second = vi.fn();
      let offSecond = (): void => {};
      events.onButtonPress(() => offSecond());
      offSecond = events.onButtonPress(second);
      events.dispatchStream('button_press', {});
      expect(second).not.toHaveBeenCalled();
    });

    it('delivers lifecycle payloads', () => {
      const { events } = setup();
      const connected = vi.fn();
      const reconnected = vi.fn();
      const disconnected = vi.fn();
      const userReconnected = vi.fn();
      events.onConnected(connected);
      events.onReconnected(reconnected);
      events.onDisconnected(disconnected);
      events.onUserReconnected(userReconnected);

      const settings = [{ key: 'units', value: 'metric' }];
      events.emitLifecycle('connected', settings);
      events.emitLifecycle('reconnected', undefined);
      const info = { message: 'bye', code: 1000, reason: 'App stopped', wasClean: true, permanent: true };
      events.emitLifecycle('disconnected', info);
      events.emitLifecycle('user_reconnected', { userId: 'u1', disconnectedMs: 4200 });

      expect(connected).toHaveBeenCalledWith(settings);
      expect(reconnected).toHaveBeenCalledWith(undefined);
      expect(disconnected).toHaveBeenCalledWith(info);
      expect(userReconnected).toHaveBeenCalledWith({ userId: 'u1', disconnectedMs: 4200 });
    });
  });

  describe('handler errors', () => {
    it('isolates a throwing stream handler, reports it and emits it as an error event', () => {
      const { events, handlerErrors } = setup();
      const boom = new Error('boom');
      const after = vi.fn();
      const onError = vi.fn();
      events.onButtonPress(() => {
        throw boom;
      });
      events.onButtonPress(after);
      events.onError(onError);

      events.dispatchStream('button_press', {});
      expect(after).toHaveBeenCalledTimes(1);
      expect(handlerErrors).toEqual([{ error: boom, event: 'button_press' }]);
      expect(onError).toHaveBeenCalledTimes(1);
      const emitted = onError.mock.calls[0]?.[0] as Error & { code: string; cause: unknown };
      expect(emitted.code).toBe('HANDLER_FAILED');
      expect(emitted.cause).toBe(boom);
      expect(emitted.message).toContain('button_press');
    });

    it('isolates a throwing lifecycle handler', () => {
      const { events, handlerErrors } = setup();
      const after = vi.fn();
      const onError = vi.fn();
      events.onConnected(() => {
        throw new Error('bad connected handler');
      });
      events.onConnected(after);
      events.onError(onError);
      events.emitLifecycle('connected', undefined);
      expect(after).toHaveBeenCalledTimes(1);
      expect(handlerErrors.map((e) => e.event)).toEqual(['connected']);
      expect(onError).toHaveBeenCalledTimes(1);
    });

    it('reports a throwing error handler without emitting it again', () => {
      const { events, handlerErrors } = setup();
      const second = vi.fn();
      events.onError(() => {
        throw new Error('error handler broken');
      });
      events.onError(second);
      events.onButtonPress(() => {
        throw new Error('stream handler broken');
      });

      events.dispatchStream('button_press', {});
      expect(handlerErrors.map((e) => e.event)).toEqual(['button_press', 'error']);
      expect(second).toHaveBeenCalledTimes(1);
    });

    it('reports the rejection of an async handler', async () => {
      const { events, handlerErrors } = setup();
      const onError = vi.fn();
      const boom = new Error('async boom');
      // Typed as a JavaScript app's handler is: the manager learns it is async only from what it returns.
      const asyncHandler: (notification: unknown) => unknown = async () => {
        throw boom;
      };
      events.onPhoneNotifications(asyncHandler);
      events.onError(onError);
      events.dispatchStream('phone_notification', { title: 't' });
      await vi.runAllTimersAsync();
      expect(handlerErrors).toEqual([{ error: boom, event: 'phone_notification' }]);
      expect(onError).toHaveBeenCalledTimes(1);
    });

    it('keeps delivering when onHandlerError itself throws', () => {
      const tracker = new ResourceTracker({ onError: () => {} });
      const events = new EventManager({
        tracker,
        onSubscriptionsChanged: () => {},
        onHandlerError: () => {
          throw new Error('reporter broken');
        },
      });
      const after = vi.fn();
      events.onButtonPress(() => {
        throw new Error('x');
      });
      events.onButtonPress(after);
      expect(() => events.dispatchStream('button_press', {})).not.toThrow();
      expect(after).toHaveBeenCalledTimes(1);
    });
  });
});

describe('EventManager: the glasses streams of issue 12', () => {
  it('subscribes each new handler to the stream @mentra/sdk 2.1.29 uses', () => {
    const { events } = setup();
    events.onTouchEvent(() => {});
    events.onTouchEvent('forward_swipe', () => {});
    events.onPhoneNotificationDismissed(() => {});
    events.onPhoneBattery(() => {});
    events.onVoiceActivity(() => {});
    events.onLocation(() => {});
    events.onCalendarEvent(() => {});
    events.onGlassesConnectionState(() => {});
    events.onVpsCoordinates(() => {});
    events.onAudioChunk(() => {});
    expect(events.streams()).toEqual([
      'touch_event',
      'touch_event:forward_swipe',
      'phone_notification_dismissed',
      'phone_battery_update',
      'VAD',
      'location_update',
      'calendar_event',
      'glasses_connection_state',
      'vps_coordinates',
      'audio_chunk',
    ]);
    expect(events.hasStream('audio_chunk')).toBe(true);
    expect(events.hasStream('audio')).toBe(false);
  });

  it('refuses a gesture @mentra/sdk does not know with INVALID_FIELDS, subscribing nothing', () => {
    const { events } = setup();
    expect(() => events.onTouchEvent('quadruple_tap' as 'single_tap', () => {})).toThrow(expect.objectContaining({ code: 'INVALID_FIELDS' }));
    expect(events.streams()).toEqual([]);
  });
});
