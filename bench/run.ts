/**
 * `npm run bench`: runs every benchmark and prints its figures, then the text to paste into
 * docs/PERFORMANCE.md. Exits non-zero when a target is missed.
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
if (runtime && runtime.median < INSPECTOR_TARGET) {
  console.error(`inspector hub overhead too high: ${runtime.name} = ${runtime.median.toFixed(3)} < ${INSPECTOR_TARGET}`);
  process.exitCode = 1;
}
