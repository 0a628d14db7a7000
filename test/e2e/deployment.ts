/**
 * The end-to-end check of a deployed job, wherever it is deployed (AWS, LocalStack, the
 * embedded cloud): put records into its source stream through the Kinesis API, let the job
 * run (the schedule starts the coordinator; a kick starts it sooner), wait until the committed
 * head is past the last record, then run the in-memory executor over exactly the records each
 * committed batch read and compare its results table and state, key by key.
 */

import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Job } from 'sparkless';
import { LocalExecutor } from 'sparkless/testing';
import {
  documentClient,
  dynamoClient,
  kinesisClient,
  lambdaClient,
} from '../../lib/aws/clients.js';
import { KinesisShardReader } from '../../lib/aws/kinesis-reader.js';
import type { BatchCommit, BatchPlan, TaskClaim } from '../../lib/aws/protocol.js';
import { DynamoControlStore, readState } from '../../lib/aws/stores/dynamo.js';
import type { DeploymentInfo } from '../../lib/contract/deployment.js';

/** What the check saw, for the test to assert on. */
export interface DeploymentCheck {
  /** Records put into the stream. */
  readonly sent: number;
  /** Records the committed batches read (the stream may hold earlier ones). */
  readonly read: number;
  /** Committed batches replayed through the oracle. */
  readonly batches: number;
  /** Keys of the results table compared. */
  readonly keys: number;
  /** Differences between the deployment and the oracle (empty when they agree). */
  readonly differences: readonly string[];
}

const WORDS = ['spark', 'stream', 'kinesis', 'lambda', 'dynamo', 'window', 'state', 'batch'];

/**
 * Runs the check on a deployed word-count job (a `lines` source of text, a `totals` results
 * table and a `totals` state of running totals per word, as test/aws/fixtures/wordcount.ts).
 */
export async function checkWordCount(
  d: DeploymentInfo,
  job: Job,
  options: { readonly records: number; readonly timeoutMs: number; readonly seed?: number },
): Promise<DeploymentCheck> {
  const stream = d.sources.lines;
  const results = d.sinks.totals;
  const stateTable = d.tables.state;
  if (!stream || results?.kind !== 'table' || !stateTable) {
    throw new Error(
      `deployment of '${d.jobName}' is not a word count (a 'lines' source, a 'totals' table sink, state)`,
    );
  }
  const kinesis = kinesisClient();
  // Words of this run's own, so that a stream with earlier records still shows every one.
  const nonce = `run${Date.now().toString(36)}`;
  let seed = options.seed ?? 7;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    // The high bits: the low bits of a power-of-two LCG repeat with short periods.
    return seed >>> 12;
  };
  let sent = 0;
  const put = async (n: number) => {
    const records = Array.from({ length: n }, () => {
      const words = Array.from({ length: 1 + (next() % 5) }, () => WORDS[next() % WORDS.length]);
      words.push(`${nonce}-${next() % 3}`);
      return { Data: new TextEncoder().encode(words.join(' ')), PartitionKey: `p${next()}` };
    });
    for (let i = 0; i < records.length; i += 500) {
      const out = await kinesis.send(
        new PutRecordsCommand({ StreamName: stream, Records: records.slice(i, i + 500) }),
      );
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records were refused`);
    }
    sent += n;
  };

  await put(Math.ceil(options.records / 2));
  await kick(d);
  await new Promise((r) => setTimeout(r, 2 * d.batchIntervalMs));
  await put(Math.floor(options.records / 2));
  const lastPutMs = Date.now();

  const control = new DynamoControlStore<BatchPlan, TaskClaim, BatchCommit>({
    client: dynamoClient(),
    table: d.tables.control,
    job: d.jobName,
  });
  // Past the last record: its batch, the grace before planning, and one more batch.
  const target = lastPutMs + 3 * d.batchIntervalMs + 1_000;
  const deadline = Date.now() + options.timeoutMs;
  let head = (await control.getHead()) ?? 0;
  while (head < target) {
    if (Date.now() > deadline) {
      throw new Error(
        `job '${d.jobName}' committed up to ${head ? new Date(head).toISOString() : 'nothing'}, not past ${new Date(target).toISOString()}, within ${options.timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    head = (await control.getHead()) ?? 0;
  }

  // The oracle: every committed batch from the first, over the records it read.
  const reader = new KinesisShardReader(kinesis, { lines: stream }, 8 * 1024 * 1024);
  const exec = new LocalExecutor(job);
  let read = 0;
  let batches = 0;
  for (let after = -1; ; ) {
    const plans = await control.listPlans(after, 100);
    const committed = plans.filter((p) => p.timeMs <= head);
    for (const { value: plan } of committed) {
      const shards = await Promise.all(
        (plan.sources.lines ?? []).map(async (task) =>
          (await reader.readSlice('lines', task, plan.timeMs, plan.maxRecords)).records.map((r) =>
            new TextDecoder().decode(r.data),
          ),
        ),
      );
      read += shards.flat().length;
      batches++;
      await exec.runBatch(plan.timeMs, { lines: shards });
    }
    if (committed.length < plans.length || plans.length < 100) break;
    after = plans[plans.length - 1]?.timeMs ?? after;
  }

  const differences: string[] = [];
  const expected = new Map(
    [...(exec.tables.get('totals')?.values() ?? [])].map((e) => [JSON.stringify(e.key), e.value]),
  );
  const scanned = new Map<string, unknown>();
  for (
    let start: Record<string, unknown> | undefined, first = true;
    first || start;
    first = false
  ) {
    const page = await documentClient().send(
      new ScanCommand({
        TableName: results.table,
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of page.Items ?? []) scanned.set(JSON.stringify(item.key), item.value);
    start = page.LastEvaluatedKey;
  }
  for (const [key, value] of expected) {
    if (scanned.get(key) !== value) {
      differences.push(`results ${key}: deployed ${scanned.get(key)}, oracle ${value}`);
    }
    const word = JSON.parse(key) as string;
    const state = await readState(dynamoClient(), stateTable, d.jobName, 'totals', 2, word);
    if (state !== value) differences.push(`state ${key}: deployed ${state}, oracle ${value}`);
  }
  for (const key of scanned.keys()) {
    if (!expected.has(key)) differences.push(`results ${key}: deployed, but not in the oracle`);
  }
  // Every record of this run was read by exactly one committed batch: each carries one word
  // of this run's, so their totals add up to the records sent.
  const ours = [...expected.entries()]
    .filter(([k]) => k.includes(nonce))
    .reduce((sum, [, v]) => sum + (v as number), 0);
  if (ours !== sent) differences.push(`the batches read ${ours} of this run's ${sent} records`);
  return { sent, read, batches, keys: expected.size, differences };
}

/** Starts the coordinator now rather than at the next minute (it ends at once if running). */
async function kick(d: DeploymentInfo): Promise<void> {
  await lambdaClient().send(
    new InvokeCommand({
      FunctionName: d.functions.coordinator,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(
        JSON.stringify({ kind: 'coordinate', job: d.jobName, reason: 'schedule' }),
      ),
    }),
  );
}
