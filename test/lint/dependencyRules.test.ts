/**
 * The dependency rules of `.dependency-cruiser.cjs` bite: the real configuration, run over a
 * fixture tree that mimics the layout (test/lint/fixtures/tree), reports every forbidden import
 * there with the rule it breaks, and none of the allowed ones.
 */
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TREE = fileURLToPath(new URL('./fixtures/tree/', import.meta.url));

/** A violation as `rule: from -> to`, packages by name (node_modules may live anywhere). */
function describeViolation(violation: IViolation): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(violation.to);
  return `${violation.rule.name}: ${violation.from} -> ${pkg ? `package ${pkg[1]}` : violation.to}`;
}

let violations: string[] = [];

beforeAll(async () => {
  const options = await extractDepcruiseOptions(`${ROOT}.dependency-cruiser.cjs`);
  const result = await cruise(
    ['machines', 'src', 'inspector', 'test'],
    { ...options, baseDir: TREE },
    {},
    { tsConfig: extractTSConfig(`${ROOT}tsconfig.json`) },
  );
  violations = (result.output as ICruiseResult).summary.violations.map(describeViolation).sort();
});

describe('dependency rules (.dependency-cruiser.cjs) on the fixture tree', () => {
  it('keeps machines/ to xstate, their own files and types from src/protocol', () => {
    expect(violations.filter((v) => v.startsWith('machines-'))).toEqual([
      'machines-import-only-xstate: machines/impure.ts -> fs',
      'machines-import-only-xstate: machines/impure.ts -> package zod',
      'machines-import-only-xstate: machines/impure.ts -> src/protocol/wire.ts',
      'machines-import-types-only-from-protocol: machines/impure.ts -> src/cloud/handle.ts',
    ]);
  });

  it('lets src/protocol import nothing above it', () => {
    expect(violations.filter((v) => v.startsWith('protocol-'))).toEqual([
      'protocol-imports-nothing-above: src/protocol/upward.ts -> inspector/server.ts',
      'protocol-imports-nothing-above: src/protocol/upward.ts -> src/sdk/app.ts',
    ]);
  });

  it('lets src/config import only machines/ and src/protocol', () => {
    expect(violations.filter((v) => v.startsWith('config-'))).toEqual([
      'config-imports-only-machines-and-protocol: src/config/settings.ts -> src/util/layout.ts',
    ]);
  });

  it('keeps the SDK from the cloud, the inspector server and cloud-only packages, even through other modules', () => {
    expect(violations.filter((v) => v.startsWith('sdk-'))).toEqual([
      'sdk-no-cloud-packages: src/sdk/app.ts -> package better-sqlite3',
      'sdk-no-cloud-packages: src/sdk/app.ts -> package elkjs',
      'sdk-not-cloud: src/sdk/app.ts -> src/cloud/handle.ts',
      'sdk-not-inspector-server: src/sdk/app.ts -> inspector/server.ts',
    ]);
  });

  it('keeps the cloud from the SDK', () => {
    expect(violations.filter((v) => v.startsWith('cloud-'))).toEqual(['cloud-not-sdk: src/cloud/cloud.ts -> src/sdk/harness.ts']);
  });

  it('treats src/apps and src/sim as leaves that only entry points and tests import', () => {
    expect(violations.filter((v) => v.startsWith('apps-and-sim-'))).toEqual([
      'apps-and-sim-are-leaves: inspector/server.ts -> src/sim/glasses.ts',
      'apps-and-sim-are-leaves: src/cloud/cloud.ts -> src/apps/notify.ts',
    ]);
  });

  it('lets the inspector read machines, the protocol and shared helpers only', () => {
    expect(violations.filter((v) => v.startsWith('inspector-'))).toEqual([
      'inspector-reads-definitions-only: inspector/server.ts -> src/cloud/handle.ts',
      'inspector-reads-definitions-only: inspector/server.ts -> src/config/settings.ts',
      'inspector-reads-definitions-only: inspector/server.ts -> src/sim/glasses.ts',
    ]);
  });

  it('refuses a run-time cycle but not one closed by an import type', () => {
    expect(violations.filter((v) => v.startsWith('no-circular'))).toEqual(['no-circular: src/util/ringA.ts -> src/util/ringB.ts']);
  });

  it('keeps devDependencies out of production code, and every package listed and resolvable', () => {
    expect(violations.filter((v) => /^(no-dev|no-unlisted|not-to)/.test(v))).toEqual([
      'no-dev-dependencies-in-production: src/sdk/harness.ts -> package vitest',
      'no-unlisted-packages: src/util/unlisted.ts -> package ms',
      'not-to-unresolvable: src/util/unlisted.ts -> ./missing.js',
    ]);
  });

  it('reports nothing else: every allowed import passes', () => {
    expect(violations).toHaveLength(21);
    const allowedOnly = [
      'machines/chart.ts',
      'src/protocol/wire.ts',
      'src/apps/notify.ts',
      'src/sim/glasses.ts',
      'src/util/layout.ts',
      'src/util/typeRingA.ts',
      'src/util/typeRingB.ts',
      'src/main.ts',
      'test/harness.ts',
    ];
    expect(violations.filter((v) => allowedOnly.some((file) => v.includes(`: ${file} ->`)))).toEqual([]);
  });
});
