/**
 * The cloud runtime end to end on the embedded cloud: the coordinator and worker functions run
 * in the local Lambda service, over DynamoDB (dynalite) and Kinesis (kinesis-local), reached
 * through the standard endpoint variables only. The results are checked against the in-memory
 * executor run over the records each committed batch read.
 */

import { fileURLToPath } from 'node:url';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { LocalExecutor } from 'sparkless/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient, kinesisClient } from '../../lib/aws/clients.js';
import { KinesisShardReader } from '../../lib/aws/kinesis-reader.js';
import type { BatchCommit, BatchPlan, TaskClaim } from '../../lib/aws/protocol.js';
import { DynamoControlStore, DynamoResultsStore, readState } from '../../lib/aws/stores/dynamo.js';
import { runtimeEnv } from '../../lib/contract/env.js';
import { type LocalCloud, startLocalCloud } from '../../lib/local/index.js';
import { createTable } from '../../lib/local/tables.js';
import wordcount from './fixtures/wordcount.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const savedEnv = { ...process.env };
let cloud: LocalCloud;

const tables = {
  control: 'wc-control',
  data: 'wc-data',
  state: 'wc-state',
  deadLetters: 'wc-dead',
};
const resultsTable = 'wc-totals';

beforeAll(async () => {
  cloud = await startLocalCloud();
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, cloud.env());
  await createTable(dynamoClient(), tables.control, 'control');
  await createTable(dynamoClient(), tables.data, 'data');
  await createTable(dynamoClient(), tables.state, 'state');
  await createTable(dynamoClient(), tables.deadLetters, 'deadLetters');
  await createTable(dynamoClient(), resultsTable, 'results');
  const kinesis = kinesisClient();
  await kinesis.send(new CreateStreamCommand({ StreamName: 'wc-lines', ShardCount: 2 }));
  for (;;) {
    const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'wc-lines' }));
    if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const environment = runtimeEnv({
    jobName: 'cloud-wordcount',
    jobModule: fileURLToPath(new URL('./fixtures/wordcount.ts', import.meta.url)),
    tables,
    functions: { worker: 'wc-worker', coordinator: 'wc-coordinator' },
    sources: { lines: 'wc-lines' },
    sinks: { totals: { kind: 'table', table: resultsTable } },
    settings: { startPosition: { kind: 'trimHorizon' } },
  });
  cloud.lambda.register({
    name: 'wc-worker',
    entry: `${root}functions/worker.ts`,
    environment,
    timeoutMs: 30_000,
  });
  cloud.lambda.register({
    name: 'wc-coordinator',
    entry: `${root}functions/coordinator.ts`,
    environment,
    timeoutMs: 120_000,
  });
}, 60_000);

afterAll(async () => {
  await cloud?.stop();
  process.env = savedEnv;
});

describe('cloud runtime on the embedded cloud', () => {
  it('runs batches through the functions and matches the in-memory executor exactly', async () => {
    const kinesis = kinesisClient();
    const lines = ['the quick brown fox', 'jumps over the lazy dog', 'the dog', 'a fox'];
    const sent: string[] = [];
    const put = async (n: number) => {
      const records = Array.from({ length: n }, (_, i) => {
        const line = lines[(sent.length + i) % lines.length]!;
        return { Data: new TextEncoder().encode(line), PartitionKey: `k${sent.length + i}` };
      });
      for (const r of records) sent.push(new TextDecoder().decode(r.Data));
      await kinesis.send(new PutRecordsCommand({ StreamName: 'wc-lines', Records: records }));
    };
    await put(20);
    const run = cloud.lambda.invoke('wc-coordinator', { kind: 'coordinate', maxBatches: 4 });
    await new Promise((r) => setTimeout(r, 1500));
    await put(15);
    const out = await run;
    const result = JSON.parse(out.payload) as { committed?: number[]; reason?: string };
    expect(out.functionError, out.payload).toBeUndefined();
    expect(result.committed).toHaveLength(4);

    // The oracle: the in-memory executor over the records each committed batch read.
    const control = new DynamoControlStore<BatchPlan, TaskClaim, BatchCommit>({
      client: dynamoClient(),
      table: tables.control,
      job: 'cloud-wordcount',
    });
    const reader = new KinesisShardReader(kinesis, { lines: 'wc-lines' }, 8 * 1024 * 1024);
    const exec = new LocalExecutor(wordcount);
    let read = 0;
    for (const t of result.committed!) {
      expect(await control.getCommit(t)).toBeDefined();
      const plan = (await control.getPlan(t))!;
      const shards = await Promise.all(
        plan.sources.lines!.map(async (task) =>
          (await reader.readSlice('lines', task, t, 10_000)).records.map((r) =>
            new TextDecoder().decode(r.data),
          ),
        ),
      );
      read += shards.flat().length;
      await exec.runBatch(t, { lines: shards });
    }
    // Every record was sent before the last batch's cut, so each was read exactly once.
    expect(read).toBe(sent.length);
    const expected = new Map(
      [...exec.tables.get('totals')!.values()].map((e) => [e.key as string, e.value]),
    );
    const results = new DynamoResultsStore({ client: dynamoClient() });
    for (const [word, total] of expected) {
      const stored = await results.get(resultsTable, JSON.stringify(word));
      expect(stored?.value, word).toBe(total);
      expect(
        await readState(dynamoClient(), tables.state, 'cloud-wordcount', 'totals', 2, word),
      ).toBe(total);
    }
    expect(expected.size).toBeGreaterThan(0);
  }, 60_000);
});
