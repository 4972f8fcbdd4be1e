/**
 * `npm run bench`: runs every benchmark, prints its figures, then the text to paste into
 * docs/PERFORMANCE.md. It reports whether each target was met but does not fail on a miss:
 * single rounds vary by ±10% (V8's JIT and GC, other load on the machine), so a verdict needs
 * a person reading the medians and their spread, not an exit code.
 */
import { formatThroughput, runInspectorThroughput } from './inspectorThroughput.js';

/** Issue 4: the runtime with the hub attached and no page open keeps ≥ 95% of its throughput. */
const INSPECTOR_TARGET = 0.95;

const started = Date.now();
console.log('inspector throughput, with and without the hub (about a minute)');
const throughput = await runInspectorThroughput({ log: (line) => console.log(`  ${line}`) });

console.log('\n--- for docs/PERFORMANCE.md ---\n');
console.log(formatThroughput(throughput));
console.log(`\n(benchmarks took ${((Date.now() - started) / 1000).toFixed(1)} s)`);

const runtime = throughput.ratios.find((r) => r.name === 'cloud+hub/cloud');
if (runtime) {
  const verdict = runtime.median >= INSPECTOR_TARGET ? 'met' : 'MISSED';
  console.log(`inspector overhead target (${runtime.name} ≥ ${INSPECTOR_TARGET}): ${verdict} (median ${runtime.median.toFixed(3)})`);
}
