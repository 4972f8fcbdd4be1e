// Lint for Tether: typescript-eslint's type-checked recommended rules over machines/, src/,
// inspector/ (with the browser page, type-checked by inspector/page/tsconfig.json), test/ and
// bench/. A rule is tuned only with a one-line reason; everything else is fixed in the code.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // The fixture tree holds deliberately forbidden imports for the dependency-rule test.
    ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'test/lint/fixtures/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A leading underscore marks a parameter kept for its position, or a key dropped by a rest destructure.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `async` is how an override or actor meets a Promise-returning contract (onSession, fromPromise, fetch): a throw must reject.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests reach actors through xstate's untyped system.get()/AnyActorRef and match with vitest's `any`-typed expect.any(); the assertions check the values.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Same reason as no-unsafe-assignment: snapshots of untyped actor refs.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      // Same reason as no-unsafe-assignment: snapshots of untyped actor refs.
      '@typescript-eslint/no-unsafe-call': 'off',
      // Same reason as no-unsafe-assignment: snapshots of untyped actor refs.
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['inspector/page/**/*.js'],
    rules: {
      // The page's names are checked by `tsc -p inspector/page` against the DOM lib, which knows them better.
      'no-undef': 'off',
    },
  },
  {
    // Configuration files at the root are not in any tsconfig.
    files: ['*.js', '*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
