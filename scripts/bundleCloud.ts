/**
 * `npm run build`'s last step: the compiled cloud (`dist/src/cloud/main.js`) and everything it
 * imports in one file, `dist/bundle/cloud.mjs`, with the inspector page beside it. Node 20 loads
 * the ~400 modules of the unbundled cloud one file at a time (resolve, read, compile): about
 * 480 ms before the first line runs, against about 250 ms for the bundle (bench/restart.ts), and
 * a restarted cloud is out of service for exactly that long. better-sqlite3 stays outside: it
 * loads a native addon from its own directory.
 */
import { cpSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cloud/main.js'],
  outfile: 'dist/bundle/cloud.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3'],
  // The CommonJS packages inside call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as createRequireOfBundle } from 'node:module'; const require = createRequireOfBundle(import.meta.url);" },
  logLevel: 'warning',
});
// The inspector serves its page from `./page/` beside its module, which is now the bundle.
cpSync('inspector/page', 'dist/bundle/page', { recursive: true });
