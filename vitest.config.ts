import { defineConfig } from 'vitest/config';

// Tests import the package by its own name ('sparkless', 'sparkless/testing'), and the
// `source` export condition maps those names to the TypeScript files under lib/, so tests
// run against the sources without a build. Vite's `resolve.conditions` replaces its
// defaults rather than adding to them, so the defaults for Node ('node' and
// 'development|production'; Vitest leaves out 'module') are listed again. Vitest 4 with
// Vite 6+ resolves test modules in the ssr environment and passes `ssr.resolve.conditions`
// to its workers as `--conditions`, so that is the list that counts; `resolve.conditions`
// is set alike for anything resolved as a client module.
const conditions = ['source', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    // The deployed test stack's suite runs under npm run test:remote (vitest.remote.config.ts).
    exclude: ['test/remote/**', '**/node_modules/**'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
  },
});
