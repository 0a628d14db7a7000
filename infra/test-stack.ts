/**
 * The stack `npm run test:remote` deploys: one job (running word totals, the fixture the
 * runtime's end-to-end tests use) over a stream of its own. Its outputs are what the tests
 * read to find it.
 */
import { fileURLToPath } from 'node:url';
import { type App, aws_kinesis as kinesis, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { StreamingJob } from '../lib/constructs/index.js';
import type { RuntimeSettings } from '../lib/contract/env.js';

/** The test stack's name. */
export const TEST_STACK = 'SparklessTest';

/**
 * Adds the test stack to `app`. `settings` are the job's runtime settings (tests of recovery
 * on the embedded cloud shorten the coordinator's lease); the remote run leaves them out.
 */
export function addTestStack(
  app: App,
  options: { readonly settings?: Partial<RuntimeSettings> } = {},
): Stack {
  const stack = new Stack(app, TEST_STACK, {
    description: 'sparkless: the stack of the runtime tests against a deployment (deleted after)',
  });
  const lines = new kinesis.Stream(stack, 'Lines', {
    shardCount: 2,
    encryption: kinesis.StreamEncryption.MANAGED,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  new StreamingJob(stack, 'Job', {
    job: fileURLToPath(new URL('../test/aws/fixtures/wordcount.ts', import.meta.url)),
    sources: { lines },
    // Nothing to keep: the stack is deleted after the run.
    stateRemovalPolicy: RemovalPolicy.DESTROY,
    ...(options.settings ? { settings: options.settings } : {}),
  });
  return stack;
}
