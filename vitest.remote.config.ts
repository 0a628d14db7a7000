import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:remote` (bin/test-remote.ts): the runtime's suites and the end-to-end test of
// the deployed test stack, against the endpoints the SDK resolves from the environment.
// test/target.ts reads SPARKLESS_TEST_TARGET; resources take seconds to create there. The
// base config's resolution is kept; its file lists are replaced, not merged.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'test/aws/stores/dynamo.test.ts',
      'test/aws/emulators/*.test.ts',
      'test/remote/*.test.ts',
    ],
    exclude: ['**/node_modules/**'],
    env: { SPARKLESS_TEST_TARGET: 'remote' },
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
