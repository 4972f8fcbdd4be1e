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
  it('accepts every type @mentra/sdk 2.1.29 declares, with only its type', () => {
    const types = [
      'location_poll_request',
      'audio_stop_request',
      'rgb_led_control',
      'request_wifi_setup',
      'rtmp_stream_request',
      'rtmp_stream_stop',
      'managed_stream_request',
      'managed_stream_stop',
      'stream_status_check',
      'dashboard_mode_change',
      'dashboard_system_update',
      'app_broadcast_message',
      'app_direct_message',
      'app_user_discovery',
      'app_room_join',
      'app_room_leave',
    ];
    for (const type of types) expect(parseMessage('appToCloud', JSON.stringify({ type, packageName: 'p' })).ok).toBe(true);
  });

  it('accepts an ownership_release with a reason the SDK does not declare', () => {
    const frame = '{"type":"ownership_release","packageName":"p","sessionId":"s","reason":"something_new"}';
    expect(parseMessage('appToCloud', frame).ok).toBe(true);
  });
});
