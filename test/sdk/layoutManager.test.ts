import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LayoutManager, type DisplayRequest } from '../../src/sdk/layoutManager.js';

const NOW = '2026-11-23T19:46:49.041Z';

function setup() {
  const sent: DisplayRequest[] = [];
  const layouts = new LayoutManager({ packageName: 'com.example.wiretest', send: (m) => sent.push(m) });
  /** What the cloud receives: the frame after a JSON round trip. */
  const wire = () => sent.map((m) => JSON.parse(JSON.stringify(m)) as unknown);
  return { layouts, sent, wire };
}

describe('LayoutManager', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(NOW));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('formats showTextWall exactly like @mentra/sdk (MENTRA-SDK-WIRE §4.1)', () => {
    const { layouts, sent } = setup();
    layouts.showTextWall('hello');
    expect(JSON.stringify(sent[0])).toBe(
      `{"timestamp":"${NOW}","sessionId":"","type":"display_event","packageName":"com.example.wiretest","view":"main","layout":{"layoutType":"text_wall","text":"hello"}}`,
    );
    expect(sent[0]).not.toHaveProperty('durationMs');
  });

  it('includes durationMs and view when given', () => {
    const { layouts, wire } = setup();
    layouts.showTextWall('hi', { view: 'dashboard', durationMs: 3000 });
    expect(wire()).toEqual([
      {
        timestamp: NOW,
        sessionId: '',
        type: 'display_event',
        packageName: 'com.example.wiretest',
        view: 'dashboard',
        layout: { layoutType: 'text_wall', text: 'hi' },
        durationMs: 3000,
      },
    ]);
  });

  it('builds each layout type', () => {
    const { layouts, wire } = setup();
    layouts.showDoubleTextWall('Original: Hello', 'Translated: Bonjour');
    layouts.showReferenceCard('Notify', 'Notification service connected', { durationMs: 3000 });
    layouts.showDashboardCard('Weather', '72°F');
    layouts.showDashboardCard('Weather', '72°F', { view: 'main' });
    layouts.clearView();
    layouts.clearView({ view: 'dashboard' });

    const base = { timestamp: NOW, sessionId: '', type: 'display_event', packageName: 'com.example.wiretest' };
    expect(wire()).toEqual([
      { ...base, view: 'main', layout: { layoutType: 'double_text_wall', topText: 'Original: Hello', bottomText: 'Translated: Bonjour' } },
      { ...base, view: 'main', layout: { layoutType: 'reference_card', title: 'Notify', text: 'Notification service connected' }, durationMs: 3000 },
      { ...base, view: 'dashboard', layout: { layoutType: 'dashboard_card', leftText: 'Weather', rightText: '72°F' } },
      { ...base, view: 'main', layout: { layoutType: 'dashboard_card', leftText: 'Weather', rightText: '72°F' } },
      { ...base, view: 'main', layout: { layoutType: 'clear_view' } },
      { ...base, view: 'dashboard', layout: { layoutType: 'clear_view' } },
    ]);
  });

  it('accepts a zero duration', () => {
    const { layouts, sent } = setup();
    layouts.showTextWall('flash', { durationMs: 0 });
    expect(sent[0]?.durationMs).toBe(0);
  });

  it('converts showTextWall input to a string, as @mentra/sdk does', () => {
    const { layouts, sent } = setup();
    layouts.showTextWall(42 as unknown as string);
    layouts.showTextWall(undefined as unknown as string);
    expect(sent.map((m) => m.layout)).toEqual([
      { layoutType: 'text_wall', text: '42' },
      { layoutType: 'text_wall', text: '' },
    ]);
  });

  it('rejects invalid options and texts with INVALID_FIELDS and sends nothing', () => {
    const { layouts, sent } = setup();
    const invalid = expect.objectContaining({ code: 'INVALID_FIELDS' });
    expect(() => layouts.showTextWall('x', { durationMs: -1 })).toThrow(invalid);
    expect(() => layouts.showTextWall('x', { durationMs: Number.NaN })).toThrow(invalid);
    expect(() => layouts.showTextWall('x', { view: 'side' as 'main' })).toThrow(invalid);
    expect(() => layouts.showReferenceCard('t', null as unknown as string)).toThrow(invalid);
    expect(() => layouts.showDoubleTextWall(1 as unknown as string, 'b')).toThrow(invalid);
    expect(() => layouts.showDashboardCard('a', undefined as unknown as string)).toThrow(invalid);
    expect(sent).toEqual([]);
  });
});
