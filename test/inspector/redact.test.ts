/**
 * Redaction: nothing secret-looking, no function and no socket internals leave the process,
 * at any depth, whatever the value's shape.
 */
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createInspectorHub } from '../../inspector/hub.js';
import { REDACTED, createRedactor, toSafeJson } from '../../inspector/redact.js';
import { SECRETS, secretMachine } from './support.js';

describe('redaction', () => {
  it('replaces secret-looking keys at any depth', () => {
    const value = {
      apiKey: 'k1',
      api_key: 'k2',
      'API-KEY': 'k3',
      coreToken: 't1',
      nested: { deeper: [{ password: 'p', keep: 1 }, { clientSecret: 's' }], authorization: 'Bearer x', Cookie: 'c=1' },
      tokens: ['a', 'b'],
      keep: 'visible',
    };
    expect(toSafeJson(value)).toEqual({
      apiKey: REDACTED,
      api_key: REDACTED,
      'API-KEY': REDACTED,
      coreToken: REDACTED,
      nested: { deeper: [{ password: REDACTED, keep: 1 }, { clientSecret: REDACTED }], authorization: REDACTED, Cookie: REDACTED },
      tokens: REDACTED,
      keep: 'visible',
    });
  });

  it('names functions, cycles, actors and class instances instead of walking them', () => {
    class Socket {
      secret = 'inside';
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.me = cyclic;
    const actor = createActor(secretMachine, { input: { userId: 'u' } });
    const out = toSafeJson({
      now: Date.now,
      cyclic,
      actor,
      socket: new Socket(),
      when: new Date(0),
      error: Object.assign(new Error('boom'), { code: 'E_BOOM' }),
      map: new Map<string, unknown>([['token', 'x'], ['ok', 2]]),
      set: new Set([1, 2]),
      bytes: Buffer.from('abc'),
      big: 12n,
      nan: Number.NaN,
      missing: undefined,
    });
    expect(out).toEqual({
      now: '[function]',
      cyclic: { a: 1, me: '[circular]' },
      actor: `[actor ${actor.id}]`,
      socket: '[Socket]',
      when: '1970-01-01T00:00:00.000Z',
      error: { name: 'Error', message: 'boom', code: 'E_BOOM' },
      map: { token: REDACTED, ok: 2 },
      set: [1, 2],
      bytes: '[Buffer 3 bytes]',
      big: '12',
      nan: 'NaN',
    });
  });

  it('bounds depth, arrays and strings', () => {
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 30; i++) deep = { deep };
    const out = JSON.stringify(toSafeJson({ deep, list: Array.from({ length: 500 }, (_, i) => i), text: 'x'.repeat(5000) }));
    expect(out).toContain('[…]');
    expect(out).toContain('… 300 more');
    expect(out).toContain('(5000 chars)');
    expect(out.length).toBeLessThan(5000);
  });

  it('takes a custom rule, and a global regex does not skip keys', () => {
    const redact = createRedactor({ redact: /ssn/gi });
    expect(redact({ ssn: 1, SSN: 2, apiKey: 'shown' })).toEqual({ ssn: REDACTED, SSN: REDACTED, apiKey: 'shown' });
    expect(createRedactor({ redact: (key) => key === 'pin' })({ pin: 1, token: 2 })).toEqual({ pin: REDACTED, token: 2 });
  });

  it('applies to everything the hub gives out: details, records and exports', () => {
    const hub = createInspectorHub();
    const actor = createActor(secretMachine, { input: { userId: 'leaky' }, inspect: hub.inspect }).start();
    actor.send({ type: 'start' });
    actor.send({ type: 'next', authorization: `Bearer ${SECRETS.token}` });
    const text = JSON.stringify([hub.detail(actor.sessionId), hub.exportTrace({ userId: 'leaky' }), hub.list()]);
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    expect(text).toContain('"apiKey":"[redacted]"');
    expect(text).toContain('"now":"[function]"');
    actor.stop();
  });
});
