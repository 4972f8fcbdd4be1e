import { describe, expect, it } from 'vitest';
import { detachedEvent } from '../../inspector/detachedEvent.js';

class WebhookFailure extends Error {
  readonly code = 'WEBHOOK_FAILED';
  readonly status = 500;
  readonly detail = { big: true };
}

describe('detachedEvent', () => {
  it('replaces an Error in an event by its plain fields, so its stack keeps nothing alive', () => {
    const event = { type: 'xstate.error.actor.sessionWebhook', actorId: 'sessionWebhook', error: new WebhookFailure('500 Failed to connect') };
    const kept = detachedEvent(event) as Record<string, unknown>;
    expect(kept).not.toBe(event);
    expect(kept.error).not.toBeInstanceOf(Error);
    expect(kept).toEqual({
      type: 'xstate.error.actor.sessionWebhook',
      actorId: 'sessionWebhook',
      error: { name: 'Error', message: '500 Failed to connect', code: 'WEBHOOK_FAILED', status: 500 },
    });
    // The event the actor got is untouched.
    expect(event.error).toBeInstanceOf(WebhookFailure);
  });

  it('returns an event without errors as it is', () => {
    const event = { type: 'app.connected', gen: 3 };
    expect(detachedEvent(event)).toBe(event);
    expect(detachedEvent(undefined)).toBeUndefined();
    expect(detachedEvent('socket.closed')).toBe('socket.closed');
  });
});
