import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  errorInfo,
  MAX_MESSAGE_BYTES,
  parseMessage,
  serialize,
} from '../../src/protocol/index.js';
import type { ParseResult, RawMessage, Side } from '../../src/protocol/index.js';
import { appToCloudFrames, cloudToAppFrames } from './fixtures/mentraWire.js';

function errorCode<S extends Side>(result: ParseResult<S>): string | undefined {
  return result.ok ? undefined : result.error.code;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('parseMessage: frames recorded from @mentra/sdk 2.1.29', () => {
  it.each(Object.entries(appToCloudFrames))('accepts the app frame %s', (_name, frame) => {
    const result = parseMessage('appToCloud', frame);
    expect(result.ok).toBe(true);
    expect(result.ok && result.message.type).toBe(JSON.parse(frame).type);
  });

  it.each(Object.entries(cloudToAppFrames))('accepts the cloud frame %s', (_name, frame) => {
    const result = parseMessage('cloudToApp', frame);
    expect(result.ok).toBe(true);
  });

  it('keeps fields the schema does not model', () => {
    const result = parseMessage('appToCloud', appToCloudFrames.connectionInit);
    expect(result.ok && result.message).toMatchObject({ timestamp: '2026-11-23T19:46:49.016Z' });
  });

  it('returns the init fields the cloud authenticates with', () => {
    const result = parseMessage('appToCloud', appToCloudFrames.connectionInit);
    if (!result.ok || result.message.type !== 'tpa_connection_init') throw new Error('expected an init');
    expect(result.message).toMatchObject({
      sessionId: 'sess-basic-1',
      packageName: 'com.example.wiretest',
      apiKey: 'test-api-key-123456',
    });
  });

  it('accepts a display_event whose sessionId is empty', () => {
    const result = parseMessage('appToCloud', appToCloudFrames.displayTextWall);
    if (!result.ok || result.message.type !== 'display_event') throw new Error('expected a display_event');
    expect(result.message.sessionId).toBe('');
    expect(result.message.layout).toEqual({ layoutType: 'text_wall', text: 'hello' });
  });

  it('accepts the same frame as a Buffer, an ArrayBuffer and fragments', () => {
    const bytes = Buffer.from(appToCloudFrames.connectionInit);
    const arrayBuffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const fragments = [bytes.subarray(0, 10), bytes.subarray(10)];
    for (const raw of [bytes, arrayBuffer, fragments] as RawMessage[]) {
      expect(parseMessage('appToCloud', raw).ok).toBe(true);
    }
  });
});

describe('parseMessage: Tether messages', () => {
  it('accepts a Tether init with extensions and lastSeq', () => {
    const frame = serialize({
      type: 'tpa_connection_init',
      sessionId: 'u-com.example',
      packageName: 'com.example',
      apiKey: 'k',
      extensions: ['user_reconnected', 'resume'],
      lastSeq: 41,
    });
    expect(parseMessage('appToCloud', frame).ok).toBe(true);
  });

  it('accepts the extension messages to apps', () => {
    expect(parseMessage('cloudToApp', '{"type":"user_reconnected","userId":"u","disconnectedMs":1200}').ok).toBe(true);
    expect(parseMessage('cloudToApp', '{"type":"resume_gap","lost":3,"fromSeq":4,"toSeq":6}').ok).toBe(true);
    expect(parseMessage('cloudToApp', '{"type":"data_stream","streamType":"button_press","data":{},"seq":7}').ok).toBe(true);
  });

  it('accepts the glasses handshake and app control messages', () => {
    const frames = [
      '{"type":"connection_init","coreToken":"jwt","runningApps":["com.a","com.b"]}',
      '{"type":"connection_init"}',
      '{"type":"start_app","packageName":"com.a"}',
      '{"type":"stop_app","packageName":"com.a"}',
      '{"type":"heartbeat"}',
      '{"type":"VAD","status":"true"}',
      '{"type":"location_update","lat":1.5,"lng":-2,"accuracy":10}',
      '{"type":"glasses_battery_update","level":80,"charging":false}',
      '{"type":"phone_notification","app":"Mail","title":"t","content":"c","priority":"high"}',
    ];
    for (const frame of frames) expect(parseMessage('glassesToCloud', frame)).toMatchObject({ ok: true });
  });

  it('accepts what the cloud sends to glasses', () => {
    const frames = [
      '{"type":"connection_ack","sessionId":"u1","userId":"u1"}',
      '{"type":"connection_error","code":"TOKEN_EXPIRED","message":"Token expired"}',
      '{"type":"display_event","packageName":"com.a","view":"main","layout":{"layoutType":"double_text_wall","topText":"a","bottomText":"b"},"durationMs":3000}',
      '{"type":"app_state_change","runningApps":["com.a"]}',
      '{"type":"app_state_change","runningApps":[],"error":{"code":"WEBHOOK_FAILED","message":"m","packageName":"com.a"}}',
      '{"type":"heartbeat_ack"}',
    ];
    for (const frame of frames) expect(parseMessage('cloudToGlasses', frame)).toMatchObject({ ok: true });
  });

  it('round-trips through serialize', () => {
    const message = { type: 'data_stream', streamType: 'button_press', data: { buttonId: 'main' }, seq: 1 } as const;
    const result = parseMessage('cloudToApp', serialize(message));
    expect(result.ok && result.message).toEqual(message);
  });
});

describe('parseMessage: error codes', () => {
  it('returns INVALID_JSON for text that is not JSON', () => {
    expect(errorCode(parseMessage('appToCloud', '{"type":'))).toBe('INVALID_JSON');
    expect(errorCode(parseMessage('appToCloud', ''))).toBe('INVALID_JSON');
  });

  it('returns INVALID_JSON for bytes that are not UTF-8', () => {
    const bytes = Buffer.from([0x7b, 0x22, 0x74, 0xff, 0xfe, 0x22, 0x7d]);
    expect(errorCode(parseMessage('appToCloud', bytes))).toBe('INVALID_JSON');
  });

  it('returns MISSING_TYPE for JSON that is not an object', () => {
    for (const text of ['null', '42', '"heartbeat"', '[{"type":"heartbeat"}]', 'true']) {
      expect(errorCode(parseMessage('appToCloud', text))).toBe('MISSING_TYPE');
    }
  });

  it('returns MISSING_TYPE for an object without a string type', () => {
    expect(errorCode(parseMessage('appToCloud', '{"sessionId":"s"}'))).toBe('MISSING_TYPE');
    expect(errorCode(parseMessage('appToCloud', '{"type":7}'))).toBe('MISSING_TYPE');
    expect(errorCode(parseMessage('appToCloud', '{"type":null}'))).toBe('MISSING_TYPE');
  });

  it('returns UNKNOWN_TYPE with the type for a type of another direction', () => {
    const result = parseMessage('appToCloud', '{"type":"button_press","buttonId":"a","pressType":"short"}');
    expect(result).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TYPE', category: 'format', type: 'button_press' } });
  });

  it('returns UNKNOWN_TYPE for prototype property names', () => {
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(errorCode(parseMessage('appToCloud', JSON.stringify({ type })))).toBe('UNKNOWN_TYPE');
    }
  });

  it('returns INVALID_FIELDS naming the field paths', () => {
    const result = parseMessage('appToCloud', '{"type":"subscription_update","subscriptions":["a",{"stream":5}]}');
    expect(result).toMatchObject({ ok: false, error: { code: 'INVALID_FIELDS', type: 'subscription_update' } });
    expect(!result.ok && result.error.message).toContain('subscriptions[1]');
  });

  it('returns INVALID_FIELDS for a missing required field', () => {
    const result = parseMessage('appToCloud', '{"type":"tpa_connection_init","sessionId":"s","packageName":"p"}');
    expect(errorCode(result)).toBe('INVALID_FIELDS');
    expect(!result.ok && result.error.message).toContain('apiKey');
  });

  it('returns INVALID_FIELDS for an unknown layout type', () => {
    const frame = '{"type":"display_event","packageName":"p","layout":{"layoutType":"hologram"}}';
    expect(errorCode(parseMessage('appToCloud', frame))).toBe('INVALID_FIELDS');
  });

  it('returns INVALID_FIELDS for a data_stream without data', () => {
    expect(errorCode(parseMessage('cloudToApp', '{"type":"data_stream","streamType":"x"}'))).toBe('INVALID_FIELDS');
  });

  it('returns MESSAGE_TOO_LARGE for a 2 MB frame, before JSON.parse runs', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const big = JSON.stringify({ type: 'heartbeat', pad: 'x'.repeat(2 * 1024 * 1024) });
    expect(errorCode(parseMessage('appToCloud', big))).toBe('MESSAGE_TOO_LARGE');
    expect(errorCode(parseMessage('appToCloud', Buffer.from(big)))).toBe('MESSAGE_TOO_LARGE');
    expect(errorCode(parseMessage('appToCloud', [Buffer.from(big), Buffer.from('x')]))).toBe('MESSAGE_TOO_LARGE');
    expect(parse).not.toHaveBeenCalled();
  });

  it('counts UTF-8 bytes, not characters, against the limit', () => {
    // 400 000 three-byte characters: under the limit in characters, over it in bytes.
    const frame = JSON.stringify({ type: 'heartbeat', pad: '€'.repeat(400_000) });
    expect(frame.length).toBeLessThan(MAX_MESSAGE_BYTES);
    expect(errorCode(parseMessage('appToCloud', frame))).toBe('MESSAGE_TOO_LARGE');
  });

  it('accepts a frame of exactly maxBytes and refuses one byte more', () => {
    const frame = '{"type":"heartbeat"}';
    const size = Buffer.byteLength(frame);
    expect(parseMessage('appToCloud', frame, { maxBytes: size }).ok).toBe(true);
    expect(errorCode(parseMessage('appToCloud', frame, { maxBytes: size - 1 }))).toBe('MESSAGE_TOO_LARGE');
  });

  it('reports every error in the format category of the registry', () => {
    const frames = ['x', 'null', '{"type":"nope"}', '{"type":"start_app"}'];
    for (const frame of frames) {
      const result = parseMessage('glassesToCloud', frame);
      if (result.ok) throw new Error(`expected ${frame} to fail`);
      expect(result.error.category).toBe(errorInfo(result.error.code).category);
    }
  });
});

describe('parseMessage: garbage never throws', () => {
  const garbage: unknown[] = [
    null,
    undefined,
    0,
    Number.NaN,
    -1,
    {},
    [],
    [1, 2],
    [null],
    Symbol('s'),
    () => 1,
    new Uint16Array([1, 2, 3]),
    new ArrayBuffer(0),
  ];

  it.each(garbage.map((value) => [String(typeof value), value]))('returns an error for a %s input', (_kind, value) => {
    const result = parseMessage('appToCloud', value as RawMessage);
    expect(result.ok).toBe(false);
  });

  it('returns an error for deeply nested arrays', () => {
    const depth = 500_000;
    const result = parseMessage('appToCloud', '['.repeat(depth) + ']'.repeat(depth));
    expect(result.ok).toBe(false);
  });

  it('refuses exactly the frames nested deeper than maxDepth, brackets inside strings not counted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 8 }), (arrays, quoted, maxDepth) => {
        // The frame object is one level; `arrays` nested arrays inside it add one each.
        const frame = `{"type":"heartbeat","note":"${'{['.repeat(quoted)}","x":${'['.repeat(arrays)}${']'.repeat(arrays)}}`.replace(':}', ':0}');
        const result = parseMessage('appToCloud', frame, { maxDepth });
        const tooDeep = !result.ok && /nests deeper/.test(result.error.message);
        expect(tooDeep).toBe(1 + arrays > maxDepth);
      }),
    );
  });

  it('survives deep nesting inside a field the schema does not model', () => {
    const depth = 100_000;
    const frame = `{"type":"heartbeat","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(() => parseMessage('appToCloud', frame)).not.toThrow();
  });

  it('survives deep nesting inside a modelled field', () => {
    const depth = 100_000;
    const frame = `{"type":"subscription_update","subscriptions":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(errorCode(parseMessage('appToCloud', frame))).toBe('INVALID_FIELDS');
  });

  it('bounds the echoed type of a huge unknown type', () => {
    const result = parseMessage('appToCloud', JSON.stringify({ type: 't'.repeat(500_000) }));
    expect(errorCode(result)).toBe('UNKNOWN_TYPE');
    expect(!result.ok && result.error.message.length).toBeLessThanOrEqual(500);
    expect(!result.ok && (result.error.type ?? '').length).toBeLessThanOrEqual(100);
  });
});
