import { describe, expect, it } from 'vitest';
import { parseMessage, requiredExtension, serialize } from '../../src/protocol/index.js';
import type { CloudToAppMessage } from '../../src/protocol/index.js';

describe('requiredExtension', () => {
  it('names the extension of each Tether message and none for standard ones', () => {
    expect(requiredExtension('user_reconnected')).toBe('user_reconnected');
    expect(requiredExtension('resume_gap')).toBe('resume');
    expect(requiredExtension('data_stream')).toBeUndefined();
    expect(requiredExtension('tpa_connection_ack')).toBeUndefined();
  });
});

describe('cloud → app messages', () => {
  it('accepts an ack whose capabilities are null', () => {
    expect(parseMessage('cloudToApp', '{"type":"tpa_connection_ack","capabilities":null}').ok).toBe(true);
  });

  it('refuses an app_stopped reason the SDK does not declare', () => {
    const result = parseMessage('cloudToApp', '{"type":"app_stopped","reason":"bored"}');
    expect(result.ok || result.error.code).toBe('INVALID_FIELDS');
  });

  it('refuses a negative or fractional seq', () => {
    for (const seq of [-1, 1.5]) {
      const result = parseMessage('cloudToApp', serialize({ type: 'data_stream', streamType: 's', data: null, seq }));
      expect(result.ok || result.error.code).toBe('INVALID_FIELDS');
    }
  });

  it('serializes every message it declares into a frame it accepts', () => {
    const messages: CloudToAppMessage[] = [
      { type: 'tpa_connection_ack' },
      { type: 'tpa_connection_error', code: 'INVALID_API_KEY', message: 'Invalid API key' },
      { type: 'data_stream', streamType: 'transcription:en-US', data: { text: 'hi' }, seq: 0 },
      { type: 'app_stopped', reason: 'system_stop' },
      { type: 'settings_update', settings: [] },
      { type: 'heartbeat_ack' },
      { type: 'user_reconnected', userId: 'u', disconnectedMs: 0 },
      { type: 'resume_gap', lost: 2 },
    ];
    for (const message of messages) expect(parseMessage('cloudToApp', serialize(message))).toEqual({ ok: true, message });
  });
});
