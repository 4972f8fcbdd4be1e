/**
 * What the socket benchmarks share: command-line flags, medians, a hard deadline, and the
 * result file `bench/results/<name>.json` (`{ name, params, tether, baseline, ratio, unit, when,
 * node, cpus }` plus details), written so that two runs — before and after a change — compare
 * field by field.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { killAllChildren } from './children.js';

/** Where result files go. */
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Flags every socket benchmark takes. */
export interface BenchFlags {
  /** `--quick`: a smaller population, shorter windows. */
  quick: boolean;
  /** `--label <text>`: stored in the result (e.g. `before-socketLink`), and a copy is written to `<name>.<label>.json`. */
  label?: string;
}

/** Parses `--quick` and `--label <text>` from `argv`. */
export function parseFlags(argv: readonly string[] = process.argv.slice(2)): BenchFlags {
  const at = argv.indexOf('--label');
  const label = at >= 0 ? argv[at + 1] : undefined;
  return { quick: argv.includes('--quick'), ...(label ? { label } : {}) };
}

/** Whether the module at `url` is the script node was started with (run alone, not imported). */
export function isMain(url: string): boolean {
  const script = process.argv[1];
  return script !== undefined && (url === pathToFileURL(script).href || url === pathToFileURL(`${script}.ts`).href);
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The nearest-rank `p`th percentile of `values` (NaN when there are none). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** What a benchmark reports; the result file adds {@link BenchResult}'s fields. */
export interface BenchFigures {
  name: string;
  params: Record<string, unknown>;
  /** Tether's headline figure (median over rounds), in `unit`. */
  tether: number;
  /** The baseline's, measured in the same run, in `unit`. */
  baseline: number;
  /** Median over rounds of tether / baseline, each round's pair measured back to back. */
  ratio: number;
  unit: string;
  label?: string;
}

/** The result file of one benchmark: its figures (and any details, per-round values) plus the run's context. */
export interface BenchResult extends BenchFigures {
  /** ISO time the run finished. */
  when: string;
  node: string;
  cpus: string;
  /** The commit measured, and whether src/ or machines/ had uncommitted changes. */
  git?: { commit: string; dirty: boolean };
}

/** Writes `bench/results/<name>.json` (and `<name>.<label>.json` when labelled); returns the path. */
export function writeResult(result: BenchFigures): string {
  const full: BenchResult = {
    ...result,
    when: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown'}`,
    ...gitState(),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${result.name}.json`;
  writeFileSync(path, JSON.stringify(full, null, 2) + '\n');
  if (result.label) writeFileSync(`${RESULTS_DIR}${result.name}.${result.label.replace(/[^\w.-]+/g, '_')}.json`, JSON.stringify(full, null, 2) + '\n');
  return path;
}

/** Where the charts of full runs go, for docs/PERFORMANCE.md. */
const CHARTS_DIR = fileURLToPath(new URL('../../docs/charts/', import.meta.url));

/**
 * Writes `bench/results/<name>.svg`, and with `publish` (a full run, not `--quick`) also
 * `docs/charts/<name>.svg`, the one docs/PERFORMANCE.md shows; returns the path written last.
 */
export function writeChart(name: string, svg: string, publish: boolean): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  let path = `${RESULTS_DIR}${name}.svg`;
  writeFileSync(path, svg);
  if (publish) {
    mkdirSync(CHARTS_DIR, { recursive: true });
    path = `${CHARTS_DIR}${name}.svg`;
    writeFileSync(path, svg);
  }
  return path;
}

function gitState(): { git?: { commit: string; dirty: boolean } } {
  try {
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'machines'], { cwd, encoding: 'utf8' }).trim() !== '';
    return { git: { commit, dirty } };
  } catch {
    return {};
  }
}

/**
 * Runs `body` under a hard deadline: past `ms` every server child is killed and the process
 * exits with 1, so a benchmark ends by itself whatever hangs. On an error too.
 */
export async function withDeadline<T>(name: string, ms: number, body: () => Promise<T>): Promise<T> {
  const timer = setTimeout(() => {
    console.error(`${name}: did not finish within ${Math.round(ms / 1000)} s; stopping`);
    killAllChildren();
    process.exit(1);
  }, ms);
  try {
    return await body();
  } catch (error) {
    killAllChildren();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds, polling every 50 ms; rejects after `timeoutMs` with `what`. */
export async function until(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(50);
  }
}

/** Formats `n` with `digits` decimals. */
export const fixed = (n: number, digits = 1) => n.toFixed(digits);

/** A plain-text table: the first row is the header. */
export function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row, index) => {
      const line = row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
      return index === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}
