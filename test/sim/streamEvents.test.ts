/**
 * The simulator's stream events and audio (issue 12 §6): a sample of every glasses stream event
 * that the cloud's own schema accepts, overrides laid over it, and PCM frames of the phones'
 * format that continue one another.
 */
import { describe, expect, it } from 'vitest';
import { GLASSES_STREAM_EVENT_TYPES } from '../../src/protocol/glassesToCloud.js';
import { parseMessage, serialize } from '../../src/protocol/parse.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { isStreamEventType, pcmFrames, splitFrames, streamEvent } from '../../src/sim/streamEvents.js';

describe('streamEvent', () => {
  it.each([...GLASSES_STREAM_EVENT_TYPES])('builds a %s the cloud accepts as a stream event', (type) => {
    const parsed = parseMessage('glassesToCloud', serialize(streamEvent(type)));
    expect(parsed.ok && parsed.message.type).toBe(type);
  });

  it('lays the given fields over the sample and keeps its type', () => {
    const touch = streamEvent('touch_event', { gesture_name: 'long_press' });
    expect(touch).toMatchObject({ type: 'touch_event', gesture_name: 'long_press', device_model: 'Simulated Glasses' });
    expect(streamEvent('location_update', { lat: 1, lng: 2 })).toMatchObject({ type: 'location_update', lat: 1, lng: 2 });
  });

  it('tells stream event types from other names', () => {
    expect(isStreamEventType('calendar_event')).toBe(true);
    expect(isStreamEventType('start_app')).toBe(false);
  });
});

describe('pcmFrames', () => {
  it('cuts 16 kHz 16-bit mono into 100 ms frames of 3200 bytes by default', () => {
    const frames = pcmFrames(3);
    expect(frames.map((f) => f.length)).toEqual([3200, 3200, 3200]);
    expect(pcmFrames(1, { sampleRate: 8000, frameMs: 20 })[0]!.length).toBe(320);
  });

  it('continues the wave from one frame to the next', () => {
    const [first, second] = pcmFrames(2, { frequencyHz: 123 });
    const whole = pcmFrames(1, { frequencyHz: 123, frameMs: 200 })[0]!;
    expect(Buffer.concat([first!, second!]).equals(whole)).toBe(true);
  });

  it('splits raw PCM into frames, the last one shorter', () => {
    expect(splitFrames(Buffer.alloc(7000), 3200).map((f) => f.length)).toEqual([3200, 3200, 600]);
  });
});

describe('SimulatedGlasses.sendAudio', () => {
  it('sends nothing before the glasses are connected', () => {
    const glasses = new SimulatedGlasses({ url: 'ws://127.0.0.1:9/glasses-ws' });
    expect(glasses.sendAudio(pcmFrames(1)[0]!)).toBe(false);
  });
});
