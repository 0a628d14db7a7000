/**
 * The example app end to end: the hashtag example's stack (infra/stacks.ts), synthesized and
 * deployed on the embedded cloud as `npm start` deploys it, fed through the Kinesis API. What
 * the job prints comes out of its coordinator batch by batch exactly as the in-memory executor
 * prints it for the records each committed batch read.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { LocalExecutor } from 'sparkless/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tweets } from '../../examples/generators.js';
import hashtags from '../../examples/hashtags.js';
import { EXAMPLES, ExampleStack } from '../../infra/stacks.js';
import { kinesisClient } from '../../lib/aws/clients.js';
import { type Launched, launchLocal } from '../../lib/cli/launch.js';
import type { DeploymentInfo } from '../../lib/contract/deployment.js';
import { pastLastRecord, replayCommitted, waitForHead } from '../e2e/deployment.js';

let running: Launched | undefined;
const savedEnv = { ...process.env };
/** The coordinator's standard output, line by line. */
const coordinatorLines: string[] = [];

beforeAll(async () => {
  running = await launchLocal({
    stacks: (app) => [new ExampleStack(app, EXAMPLES.hashtags)],
    record: false,
  });
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, running.cloud.env());
  const coordinator = running.jobs[0]?.functions.coordinator;
  running.cloud.lambda.on('log', (line: { function: string; stream: string; text: string }) => {
    if (line.function === coordinator && line.stream === 'stdout') coordinatorLines.push(line.text);
  });
}, 120_000);

afterAll(async () => {
  await running?.stop();
  process.env = savedEnv;
});

/** The blocks print() wrote, by batch time: the lines after each `Time: <t> ms` header. */
function printedBlocks(lines: readonly string[]): Map<number, string[]> {
  const blocks = new Map<number, string[]>();
  let current: string[] | undefined;
  for (const line of lines) {
    const header = /^Time: (\d+) ms$/.exec(line);
    if (header) {
      current = [];
      blocks.set(Number(header[1]), current);
    } else if (line === '') current = undefined;
    else if (current && !line.startsWith('----')) current.push(line);
  }
  return blocks;
}

describe('the hashtag example deployed on the embedded cloud', () => {
  it('prints, batch by batch, exactly what the in-memory executor prints for the committed batches', async () => {
    const d = running?.jobs[0] as DeploymentInfo;
    expect(d.jobName).toBe('hashtags');
    const stream = d.sources.tweets as string;
    const next = tweets(11);
    let lastPutMs = 0;
    for (let round = 0; round < 3; round++) {
      const records = Array.from({ length: 120 }, () => {
        const text = next();
        return { Data: new TextEncoder().encode(text), PartitionKey: text.slice(0, 24) };
      });
      const out = await kinesisClient().send(
        new PutRecordsCommand({ StreamName: stream, Records: records }),
      );
      expect(out.FailedRecordCount ?? 0).toBe(0);
      lastPutMs = Date.now();
      await new Promise((r) => setTimeout(r, 1_500));
    }
    const head = await waitForHead(d, pastLastRecord(d, lastPutMs), { timeoutMs: 90_000 });

    const oracleLines: string[] = [];
    const exec = new LocalExecutor(hashtags, { log: (l) => oracleLines.push(l) });
    const differences: string[] = [];
    const { read, batches } = await replayCommitted(d, hashtags, head, 'tweets', exec, differences);
    expect(differences).toEqual([]);
    expect(read).toBe(360);

    const deployed = printedBlocks(coordinatorLines);
    const oracle = printedBlocks(oracleLines);
    let withRecords = 0;
    for (const { plan } of batches) {
      const t = plan.timeMs;
      expect(deployed.get(t), `batch ${t}`).toEqual(oracle.get(t));
      if ((oracle.get(t)?.length ?? 0) > 0) withRecords++;
    }
    // The window keeps counts from the first tweets on: most batches print a top ten.
    expect(withRecords).toBeGreaterThan(3);
  }, 150_000);
});
