/**
 * The dependency rules of ARCHITECTURE.md ("Layout"), checked by `npm run lint`
 * (`depcruise machines src inspector test bench`). test/lint/dependencyRules.test.ts runs this
 * same file against a fixture tree to prove each rule reports what it should.
 *
 * Paths are relative to the directory cruised from; packages are matched anywhere in a path
 * (`node_modules/<name>/`), since node_modules may be a symlink resolved elsewhere.
 *
 * @type {import('dependency-cruiser').IConfiguration}
 */

/** Packages only the cloud (or the inspector's server) may use: native, cloud-only or heavy. */
const CLOUD_ONLY_PACKAGES = 'node_modules/(better-sqlite3|elkjs|jose|pg)/';
/** Production code: what the package ships. */
const PRODUCTION = '^(machines|src|inspector)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No module may depend on itself through others at run time: cycles make load order and tests fragile. ' +
        'A cycle closed by an `import type` is erased by the compiler and allowed.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'machines-import-only-xstate',
      severity: 'error',
      comment: 'machines/ are pure statecharts: at run time they import only xstate and their own files.',
      from: { path: '^machines/' },
      to: { pathNot: ['^machines/', 'node_modules/xstate/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'machines-import-types-only-from-protocol',
      severity: 'error',
      comment: 'machines/ may read types (import type) from src/protocol, and from nothing else outside themselves and xstate.',
      from: { path: '^machines/' },
      to: { dependencyTypes: ['type-only'], pathNot: ['^machines/', '^src/protocol/', 'node_modules/xstate/'] },
    },
    {
      name: 'protocol-imports-nothing-above',
      severity: 'error',
      comment: 'src/protocol sits just above machines/: it imports nothing from config, sdk, cloud, apps, sim or inspector.',
      from: { path: '^src/protocol/' },
      to: { path: ['^src/(config|sdk|cloud|apps|sim)/', '^inspector/'] },
    },
    {
      name: 'config-imports-only-machines-and-protocol',
      severity: 'error',
      comment: 'src/config (the settings framework) builds on machines/ and src/protocol only.',
      from: { path: '^src/config/' },
      to: { path: ['^src/', '^inspector/', '^bench/', '^test/'], pathNot: ['^src/config/', '^src/protocol/'] },
    },
    {
      name: 'sdk-not-cloud',
      severity: 'error',
      comment: 'The SDK runs in the app developer\'s process: it never imports the cloud.',
      from: { path: '^src/sdk/' },
      to: { path: '^src/cloud/' },
    },
    {
      name: 'sdk-not-inspector-server',
      severity: 'error',
      comment: 'The SDK may stream to an inspector (ingestClient, its wire format, redaction), never import its server parts.',
      from: { path: '^src/sdk/' },
      to: { path: '^inspector/', pathNot: '^inspector/(ingestClient|protocol|redact|definition)\\.ts$' },
    },
    {
      name: 'sdk-no-cloud-packages',
      severity: 'error',
      comment: 'An app developer who installs the SDK gets no native or cloud-only package, directly or through anything the SDK imports.',
      from: { path: '^src/sdk/' },
      to: { path: CLOUD_ONLY_PACKAGES, reachable: true },
    },
    {
      name: 'cloud-not-sdk',
      severity: 'error',
      comment: 'The cloud never imports the SDK: they meet only on the wire (src/protocol).',
      from: { path: '^src/cloud/' },
      to: { path: '^src/sdk/' },
    },
    {
      name: 'apps-and-sim-are-leaves',
      severity: 'error',
      comment: 'Example apps and the simulator build on the rest; nothing below them imports them (only entry points and tests do).',
      from: { path: ['^machines/', '^src/(protocol|config|sdk|cloud|util)/', '^src/logger\\.ts$', '^inspector/'] },
      to: { path: '^src/(apps|sim)/' },
    },
    {
      name: 'inspector-reads-definitions-only',
      severity: 'error',
      comment: 'The inspector reads machine definitions and inspection events: machines/, src/protocol, src/util (and the logger type), not the cloud or the SDK.',
      from: { path: '^inspector/' },
      to: { path: '^src/', pathNot: ['^src/(protocol|util)/', '^src/logger\\.ts$'] },
    },
    {
      name: 'no-dev-dependencies-in-production',
      severity: 'error',
      comment: 'What the package ships (machines, src, inspector) imports no devDependency: @mentra/sdk, vitest, playwright stay in tests.',
      from: { path: PRODUCTION },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unlisted-packages',
      severity: 'error',
      comment: 'Every package imported is listed in package.json (not merely present in node_modules).',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Every import resolves to a file.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The fixture tree of test/lint holds forbidden imports on purpose.
    exclude: { path: ['^test/lint/fixtures/', '^dist/', '^coverage/'] },
    // Keep `import type` (gone after compilation) so the machines rules can tell it apart.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
