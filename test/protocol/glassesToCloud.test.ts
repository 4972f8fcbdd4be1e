import { describe, expect, it } from 'vitest';
import {
  GLASSES_STREAM_EVENT_TYPES,
  isGlassesStreamEvent,
  parseMessage,
  toDataStream,
} from '../../src/protocol/index.js';
import type { GlassesStreamEvent, GlassesToCloudMessage } from '../../src/protocol/index.js';

function parseGlasses(frame: string): GlassesToCloudMessage {
  const result = parseMessage('glassesToCloud', frame);
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.message;
}

function parseEvent(frame: string): GlassesStreamEvent {
  const message = parseGlasses(frame);
  if (!isGlassesStreamEvent(message)) throw new Error(`${message.type} is not a stream event`);
  return message;
}

describe('toDataStream', () => {
  it('turns local_transcription into transcription:<language>', () => {
    const event = parseEvent(
      '{"type":"local_transcription","text":"hola","isFinal":true,"transcribeLanguage":"es-ES","startTime":10,"endTime":900,"speakerId":1,"provider":"phone"}',
    );
    expect(toDataStream(event)).toEqual({
      streamType: 'transcription:es-ES',
      data: { type: 'transcription', text: 'hola', isFinal: true, startTime: 10, endTime: 900, transcribeLanguage: 'es-ES' },
    });
  });

  it('defaults a transcription to en-US and its times to 0', () => {
    const event = parseEvent('{"type":"local_transcription","text":"hello","isFinal":false}');
    expect(toDataStream(event)).toEqual({
      streamType: 'transcription:en-US',
      data: { type: 'transcription', text: 'hello', isFinal: false, startTime: 0, endTime: 0, transcribeLanguage: 'en-US' },
    });
  });

  it('passes button_press through under its own type, extra fields included', () => {
    const frame = '{"type":"button_press","buttonId":"main","pressType":"short","timestamp":"2026-11-23T19:46:50.185Z"}';
    expect(toDataStream(parseEvent(frame))).toEqual({ streamType: 'button_press', data: JSON.parse(frame) });
  });

  it('keeps the upper-case VAD stream name', () => {
    expect(toDataStream(parseEvent('{"type":"VAD","status":true}')).streamType).toBe('VAD');
  });
});

describe('glasses stream events', () => {
  it('lists the SDK stream event types', () => {
    expect([...GLASSES_STREAM_EVENT_TYPES].sort()).toEqual(
      [
        'VAD',
        'button_press',
        'glasses_battery_update',
        'head_position',
        'local_transcription',
        'location_update',
        'phone_battery_update',
        'phone_notification',
        'touch_event',
        'glasses_connection_state',
        'vps_coordinates',
        'calendar_event',
        'phone_notification_dismissed',
      ].sort(),
    );
  });

  it('does not count control messages as stream events', () => {
    for (const frame of ['{"type":"heartbeat"}', '{"type":"start_app","packageName":"com.a"}', '{"type":"connection_init"}']) {
      expect(isGlassesStreamEvent(parseGlasses(frame))).toBe(false);
    }
  });

  it('refuses a press type the SDK does not declare', () => {
    const result = parseMessage('glassesToCloud', '{"type":"button_press","buttonId":"main","pressType":"triple"}');
    expect(result.ok || result.error.code).toBe('INVALID_FIELDS');
  });
});

describe('stream events of @mentra/sdk 2.1.29 beyond the first eight', () => {
  // One frame per type with the fields `glasses-to-cloud.d.ts` declares, as a phone sends them.
  const frames: Record<string, object> = {
    touch_event: { type: 'touch_event', device_model: 'Even G1', gesture_name: 'forward_swipe', timestamp: '2026-11-23T19:46:50.185Z' },
    glasses_connection_state: { type: 'glasses_connection_state', modelName: 'Even G1', status: 'CONNECTED', wifi: { connected: true, ssid: null } },
    vps_coordinates: { type: 'vps_coordinates', deviceModel: 'g', requestId: 'r1', x: 1, y: 2, z: 3, qx: 0, qy: 0, qz: 0, qw: 1, confidence: 0.5 },
    calendar_event: {
      type: 'calendar_event',
      eventId: 'e1',
      title: 'Stand-up',
      dtStart: '2026-11-24T09:00:00Z',
      dtEnd: '2026-11-24T09:15:00Z',
      timezone: 'Europe/Berlin',
      timeStamp: '1795500000000',
    },
    phone_notification_dismissed: {
      type: 'phone_notification_dismissed',
      notificationId: 'n1',
      app: 'Messages',
      title: 'Ada',
      content: 'Lunch?',
      notificationKey: '0|com.sms|1|null|10001',
    },
  };

  it.each(Object.keys(frames))('relays %s under its own type, unchanged', (type) => {
    const frame = frames[type]!;
    const payload = toDataStream(parseEvent(JSON.stringify(frame)));
    expect(payload.streamType).toBe(type);
    expect(payload.data).toEqual(frame);
  });

  it('also names the gesture stream of a touch event', () => {
    expect(toDataStream(parseEvent(JSON.stringify(frames.touch_event))).alsoAs).toBe('touch_event:forward_swipe');
    expect(toDataStream(parseEvent('{"type":"button_press","buttonId":"main","pressType":"long"}')).alsoAs).toBeUndefined();
  });

  it.each([
    ['a touch without its gesture', { type: 'touch_event', device_model: 'g' }],
    ['a calendar event without a start', { ...frames.calendar_event, dtStart: undefined }],
    ['a dismissal without its key', { ...frames.phone_notification_dismissed, notificationKey: 7 }],
    ['VPS coordinates with a string x', { ...frames.vps_coordinates, x: '1' }],
  ])('refuses %s with INVALID_FIELDS', (_name, frame) => {
    const result = parseMessage('glassesToCloud', JSON.stringify(frame));
    expect(result.ok || result.error.code).toBe('INVALID_FIELDS');
  });
});
