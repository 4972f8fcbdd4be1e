import { describe, expect, it } from 'vitest';
import { normalizeSubscriptions, parseMessage } from '../../src/protocol/index.js';
import type { SubscriptionUpdate } from '../../src/protocol/index.js';
import { appToCloudFrames } from './fixtures/mentraWire.js';

function parseSubscriptionUpdate(frame: string): SubscriptionUpdate {
  const result = parseMessage('appToCloud', frame);
  if (!result.ok || result.message.type !== 'subscription_update') throw new Error('expected a subscription_update');
  return result.message;
}

describe('subscription_update', () => {
  it('accepts the empty first update', () => {
    expect(normalizeSubscriptions(parseSubscriptionUpdate(appToCloudFrames.subscriptionEmpty).subscriptions)).toEqual([]);
  });

  it('reads string entries as stream names', () => {
    const update = parseSubscriptionUpdate(appToCloudFrames.subscriptionTranscriptionAndButton);
    expect(normalizeSubscriptions(update.subscriptions)).toEqual(['transcription:en-US', 'button_press']);
  });

  it('reads {stream, rate} entries by their stream', () => {
    const update = parseSubscriptionUpdate(
      '{"type":"subscription_update","subscriptions":["location_update",{"stream":"location_stream","rate":"high"},{"stream":"VAD"}]}',
    );
    expect(normalizeSubscriptions(update.subscriptions)).toEqual(['location_update', 'location_stream', 'VAD']);
  });

  it('drops duplicate stream names, keeping first-seen order', () => {
    expect(normalizeSubscriptions(['button_press', { stream: 'button_press', rate: 'high' }, 'VAD'])).toEqual([
      'button_press',
      'VAD',
    ]);
  });

  it('refuses entries that are neither a string nor {stream}', () => {
    for (const entry of ['5', 'null', '{"rate":"high"}', '{"stream":1}']) {
      const result = parseMessage('appToCloud', `{"type":"subscription_update","subscriptions":[${entry}]}`);
      expect(result.ok || result.error.code).toBe('INVALID_FIELDS');
    }
  });
});

describe('other app messages', () => {
  it('accepts the types this cloud does not implement with only their type', () => {
    const types = [
      'rtmp_stream_request',
      'rtmp_stream_stop',
      'managed_stream_request',
      'managed_stream_stop',
      'stream_status_check',
      'dashboard_system_update',
      'app_user_discovery',
    ];
    for (const type of types) expect(parseMessage('appToCloud', JSON.stringify({ type, packageName: 'p' })).ok).toBe(true);
  });

  it('accepts the requests and messages @mentra/sdk 2.1.29 sends, as it sends them', () => {
    const frames = [
      { type: 'location_poll_request', packageName: 'p', sessionId: 's', correlationId: 'poll_1', accuracy: 'high' },
      { type: 'audio_stop_request', packageName: 'p', sessionId: 's' },
      { type: 'rgb_led_control', packageName: 'p', requestId: 'led_1', action: 'on', color: 'red', ontime: 1000, offtime: 0, count: 1 },
      { type: 'rgb_led_control', packageName: 'p', requestId: 'led_2', action: 'off' },
      { type: 'request_wifi_setup', packageName: 'p', sessionId: 's', reason: 'needs wifi' },
      { type: 'dashboard_mode_change', packageName: 'p', sessionId: 's-p', mode: 'expanded' },
      { type: 'app_broadcast_message', packageName: 'p', sessionId: 's', payload: { a: 1 }, messageId: 'm1', senderUserId: 'u' },
      { type: 'app_direct_message', packageName: 'p', sessionId: 's', targetUserId: 'v', payload: 'hi', messageId: 'm2', senderUserId: 'u' },
      { type: 'app_room_join', packageName: 'p', sessionId: 's', roomId: 'r', roomConfig: { maxUsers: 4 } },
      { type: 'app_room_leave', packageName: 'p', sessionId: 's', roomId: 'r' },
    ];
    for (const frame of frames) expect(parseMessage('appToCloud', JSON.stringify(frame)).ok, frame.type).toBe(true);
  });

  it('refuses a request without the id its answer is routed by', () => {
    for (const type of ['photo_request', 'audio_play_request', 'rgb_led_control', 'location_poll_request', 'app_direct_message', 'app_room_join']) {
      const result = parseMessage('appToCloud', JSON.stringify({ type, packageName: 'p' }));
      expect(result.ok || result.error.code, type).toBe('INVALID_FIELDS');
    }
  });

  it('accepts an ownership_release with a reason the SDK does not declare', () => {
    const frame = '{"type":"ownership_release","packageName":"p","sessionId":"s","reason":"something_new"}';
    expect(parseMessage('appToCloud', frame).ok).toBe(true);
  });
});
