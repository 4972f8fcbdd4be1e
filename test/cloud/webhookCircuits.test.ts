/**
 * Issue 11, patience: the per-host circuit of session_request webhooks. While a host is down,
 * one probe at a time goes out, spaced by a capped backoff; the first call that reaches it
 * closes the circuit and tells the runtime once.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { reachOf, WebhookCircuits, type CircuitAdmission } from '../../src/cloud/webhookCircuits.js';

const HOST = '127.0.0.1:7001';

function circuits() {
  let now = 0;
  const closed: Array<{ host: string; downForMs: number }> = [];
  const c = new WebhookCircuits({
    probe: { baseDelayMs: 1000, maxDelayMs: 5000 },
    logger: pino({ level: 'silent' }),
    now: () => now,
    random: () => 0,
    onClosed: (host, downForMs) => closed.push({ host, downForMs }),
  });
  return { c, closed, advance: (ms: number) => (now += ms) };
}

const sent = (a: CircuitAdmission) => a.send;

describe('WebhookCircuits', () => {
  it('lets every call through to a healthy host and keeps nothing for it', () => {
    const { c } = circuits();
    for (let i = 0; i < 5; i++) {
      const a = c.admit(HOST);
      expect(a).toEqual({ send: true, probe: false });
      c.settle(HOST, { probe: false }, 'reachable');
    }
    expect(c.openHosts).toBe(0);
  });

  it('opens on an unreachable answer, then lets one probe through per backoff step, never two at once', () => {
    const { c, advance } = circuits();
    c.settle(HOST, { probe: false }, 'unreachable');
    expect(c.openHosts).toBe(1);
    // 100 sessions retrying within the first second cost no connection at all.
    expect(Array.from({ length: 100 }, () => c.admit(HOST)).filter(sent)).toHaveLength(0);
    advance(1000);
    expect(c.admit(HOST)).toEqual({ send: true, probe: true });
    expect(c.admit(HOST).send).toBe(false);
    c.settle(HOST, { probe: true }, 'unreachable');
    // Probes back off 1 s · 1.5ⁿ up to the 5 s cap.
    const gaps: number[] = [];
    for (let probes = 0; probes < 6; probes++) {
      let waited = 0;
      while (!c.admit(HOST).send) {
        advance(100);
        waited += 100;
      }
      gaps.push(waited);
      c.settle(HOST, { probe: true }, 'unreachable');
    }
    expect(gaps).toEqual([1500, 2300, 3400, 5000, 5000, 5000]);
  });

  it('ignores unreachable answers of calls that were in flight when it opened', () => {
    const { c, advance } = circuits();
    c.settle(HOST, { probe: false }, 'unreachable');
    c.settle(HOST, { probe: false }, 'unreachable');
    advance(1000);
    expect(c.admit(HOST).send).toBe(true);
  });

  it('closes on the first answer and reports the host once, with how long it was down', () => {
    const { c, closed, advance } = circuits();
    c.settle(HOST, { probe: false }, 'unreachable');
    advance(1000);
    const probe = c.admit(HOST);
    advance(250);
    c.settle(HOST, { probe: true }, 'reachable');
    expect(probe).toEqual({ send: true, probe: true });
    expect(closed).toEqual([{ host: HOST, downForMs: 1250 }]);
    expect(c.admit(HOST)).toEqual({ send: true, probe: false });
    c.settle(HOST, { probe: false }, 'reachable');
    expect(closed).toHaveLength(1);
  });

  it('frees the probe slot on an inconclusive probe, without counting it', () => {
    const { c, advance } = circuits();
    c.settle(HOST, { probe: false }, 'unreachable');
    advance(1000);
    expect(c.admit(HOST).send).toBe(true);
    c.settle(HOST, { probe: true }, 'inconclusive');
    expect(c.admit(HOST)).toEqual({ send: true, probe: true });
  });

  it('keeps hosts apart', () => {
    const { c } = circuits();
    c.settle(HOST, { probe: false }, 'unreachable');
    expect(c.admit('127.0.0.1:7002')).toEqual({ send: true, probe: false });
  });
});

describe('reachOf', () => {
  it.each([
    [{ reason: 'network' }, 'unreachable'],
    [{ reason: 'timeout' }, 'unreachable'],
    [{ reason: 'http_status', status: 503 }, 'unreachable'],
    [{ reason: 'http_status', status: 502 }, 'unreachable'],
    [{ reason: 'http_status', status: 500 }, 'reachable'],
    [{ reason: 'http_status', status: 404 }, 'reachable'],
    [{ reason: 'forbidden' }, 'inconclusive'],
    [{ reason: 'aborted' }, 'inconclusive'],
  ] as const)('%j is %s', (failure, reach) => {
    expect(reachOf(failure)).toBe(reach);
  });
});
