/**
 * The SDK package (packages/sdk, `@tether/sdk`) gives an app developer no native or cloud-only
 * dependency: what its entry points import, followed to the end, reaches only the packages its
 * package.json lists, none of them the cloud's; and its tarball holds only that closure, built.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SDK_DIR = `${ROOT}packages/sdk/`;
/** The sources of the SDK package's entry points (its package.json `exports`). */
const ENTRIES = ['src/sdk/index.ts', 'inspector/ingestClient.ts'];
/** Packages an app developer must never get from the SDK. */
const CLOUD_ONLY = ['better-sqlite3', 'elkjs', 'jose', 'pg', 'prom-client', '@mentra/sdk'];

interface Manifest {
  exports: Record<string, { types: string; default: string }>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readManifest = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Manifest;

/** The package a resolved path lies in, or undefined outside node_modules. */
function packageOf(path: string): string | undefined {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
}

let sdk: Manifest;
let root: Manifest;
/** Source files the entries reach, repository-relative. */
let closureFiles: string[];
/** Packages the entries reach (node built-ins excluded). */
let closurePackages: string[];

beforeAll(async () => {
  [sdk, root] = await Promise.all([readManifest(`${SDK_DIR}package.json`), readManifest(`${ROOT}package.json`)]);
  const options = await extractDepcruiseOptions(`${ROOT}.dependency-cruiser.cjs`);
  const result = await cruise(ENTRIES, { ...options, baseDir: ROOT, validate: false }, {}, { tsConfig: extractTSConfig(`${ROOT}tsconfig.json`) });
  const modules = (result.output as ICruiseResult).modules;
  closureFiles = modules.filter((m) => !m.coreModule && packageOf(m.source) === undefined).map((m) => m.source).sort();
  closurePackages = [...new Set(modules.map((m) => packageOf(m.source)).filter((p) => p !== undefined))].sort();
});

describe('@tether/sdk (packages/sdk)', () => {
  it('exports exactly the entry points whose closure is checked here', () => {
    const sources = Object.values(sdk.exports).map((e) => e.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
    expect(sources.sort()).toEqual([...ENTRIES].sort());
  });

  it('lists every package its entry points reach, and only those (with the types their declarations name)', () => {
    const runtime = Object.keys(sdk.dependencies ?? {}).filter((name) => !name.startsWith('@types/'));
    expect(runtime.sort()).toEqual(closurePackages);
  });

  it('reaches no native or cloud-only package', () => {
    expect(closurePackages.filter((p) => CLOUD_ONLY.includes(p))).toEqual([]);
    expect(Object.keys(sdk.dependencies ?? {}).filter((p) => CLOUD_ONLY.includes(p))).toEqual([]);
  });

  it('reaches no cloud, app, simulator or inspector-server file', () => {
    expect(closureFiles.filter((f) => /^src\/(cloud|apps|sim)\/|^inspector\/(server|hub|feed|ingest|ring|index)\.ts$/.test(f))).toEqual([]);
  });

  it('asks for the same versions as the repository root, which builds and tests the same sources', () => {
    for (const [name, range] of Object.entries(sdk.dependencies ?? {})) {
      expect(root.dependencies?.[name] ?? root.devDependencies?.[name], name).toBe(range);
    }
  });

  it('packs only its build of that closure, which imports only listed packages', { timeout: 90_000 }, async () => {
    // `prepack` builds dist/ afresh, so the listing is that of the current sources.
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: SDK_DIR });
    const [pack] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ files: Array<{ path: string }> }>;
    const files = pack!.files.map((f) => f.path).sort();

    const expected = closureFiles.flatMap((f) => [`dist/${f.replace(/\.ts$/, '.js')}`, `dist/${f.replace(/\.ts$/, '.d.ts')}`]);
    expect(files).toEqual(['README.md', ...expected, 'package.json'].sort());

    const builtImports = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const text = await readFile(`${SDK_DIR}${file}`, 'utf8');
      for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'([^'.][^']*)'/g)) {
        if (!specifier!.startsWith('node:')) builtImports.add(/^(@[^/]+\/)?[^/]+/.exec(specifier!)![0]);
      }
    }
    expect([...builtImports].sort()).toEqual(closurePackages);
    expect([...builtImports].filter((p) => !(p in (sdk.dependencies ?? {})))).toEqual([]);
  });
});
