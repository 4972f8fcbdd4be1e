/**
 * The benchmarks' SVG line chart: well-formed, one line per series through its points, the
 * goal line, and labels escaped.
 */
import { describe, expect, it } from 'vitest';
import { renderLineChart } from '../../bench/support/svgChart.js';

describe('renderLineChart', () => {
  const svg = renderLineChart({
    title: 'p95 <storm> & friends',
    xLabel: 'users',
    yLabel: 'ms',
    series: [
      { name: 'p50', points: [[250, 100], [500, 300], [1000, 900]] },
      { name: 'p95', points: [[250, 200], [500, 600], [1000, 2400]] },
    ],
    goal: { y: 1000, label: 'goal' },
  });

  it('draws one polyline per series with one vertex per point', () => {
    const lines = [...svg.matchAll(/<polyline points="([^"]+)"/g)].map((m) => m[1]!.split(' '));
    expect(lines.map((l) => l.length)).toEqual([3, 3]);
    // Larger y is higher up: smaller SVG y.
    const ys = lines[1]!.map((p) => Number(p.split(',')[1]));
    expect(ys[0]).toBeGreaterThan(ys[1]!);
    expect(ys[1]).toBeGreaterThan(ys[2]!);
  });

  it('keeps every point and the goal inside the plot', () => {
    const ys = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => Number(m[2]));
    expect(ys.every((y) => y >= 40 && y <= 310)).toBe(true);
    expect(svg).toMatch(/stroke-dasharray/);
  });

  it('escapes text and is one svg element', () => {
    expect(svg).toContain('p95 &lt;storm&gt; &amp; friends');
    expect(svg.trim().startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });
});
