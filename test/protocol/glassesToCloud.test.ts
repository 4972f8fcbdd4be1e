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
