/**
 * The test stack as `npm run test:remote` deployed it (infra/test-stack.ts), end to end:
 * records in through the Kinesis API, results and state out exactly as the in-memory executor
 * computes them for the committed batches. The deploy step writes the stack's outputs to the
 * file named by SPARKLESS_TEST_OUTPUTS.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TEST_STACK } from '../../infra/test-stack.js';
import { deploymentsOf } from '../../lib/contract/deployment.js';
import wordcount from '../aws/fixtures/wordcount.js';
import { checkWordCount } from '../e2e/deployment.js';

const outputsFile = process.env.SPARKLESS_TEST_OUTPUTS;
if (!outputsFile) {
  process.stdout.write(
    'skipped: no deployment to test (npm run test:remote deploys one and names its outputs in SPARKLESS_TEST_OUTPUTS)\n',
  );
}

describe.skipIf(!outputsFile)('the deployed test stack', () => {
  it("turns records put into its stream into exactly the oracle's results and state", async () => {
    const outputs = JSON.parse(readFileSync(outputsFile as string, 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    const [deployment] = deploymentsOf(outputs[TEST_STACK] ?? {});
    if (!deployment) throw new Error(`${outputsFile} has no sparkless deployment of ${TEST_STACK}`);
    expect(deployment.jobName).toBe(wordcount.name);
    const check = await checkWordCount(deployment, wordcount, {
      records: 400,
      timeoutMs: 300_000,
    });
    process.stdout.write(
      `deployed ${deployment.jobName}: ${check.sent} records sent, ${check.read} read by ${check.batches} committed batches, ${check.keys} keys compared\n`,
    );
    expect(check.differences).toEqual([]);
    expect(check.read).toBeGreaterThanOrEqual(check.sent);
  }, 400_000);
});
