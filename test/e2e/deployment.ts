/**
 * The end-to-end check of a deployed job, wherever it is deployed (AWS, LocalStack, the
 * embedded cloud): put records into its source stream through the Kinesis API, let the job
 * run (the schedule starts the coordinator; a kick starts it sooner), wait until the committed
 * head is past the last record, then run the in-memory executor over exactly the records each
 * committed batch read and compare its results table and state, key by key.
 *
 * {@link checkWordCount} does all of it; its steps are exported for tests that interfere with
 * the job between them (a {@link WordFeed} puts records, {@link waitForHead} waits for the
 * commits, {@link compareWithOracle} compares).
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
import { batchLayout } from '../../lib/aws/worker.js';
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
  /** The committed batches replayed, for tests that look into their plans and claims. */
  readonly committed: readonly CommittedBatch[];
}

const WORDS = ['spark', 'stream', 'kinesis', 'lambda', 'dynamo', 'window', 'state', 'batch'];

/** The names a word-count deployment works with. */
interface WordCount {
  readonly stream: string;
  readonly results: string;
  readonly stateTable: string;
  readonly statePartitions: number;
}

/** The stream, results table and state of a word-count deployment; throws for another job. */
function wordCountOf(d: DeploymentInfo): WordCount {
  const stream = d.sources.lines;
  const results = d.sinks.totals;
  const stateTable = d.tables.state;
  if (!stream || results?.kind !== 'table' || !stateTable) {
    throw new Error(
      `deployment of '${d.jobName}' is not a word count (a 'lines' source, a 'totals' table sink, state)`,
    );
  }
  const statePartitions = d.stateful.find((s) => s.name === 'totals')?.partitions ?? 2;
  return { stream, results: results.table, stateTable, statePartitions };
}

/**
 * Puts lines of words into a word-count deployment's stream. Every line also carries one
 * word of this feed's own (its nonce), so that the totals of those words add up to the lines
 * put, whatever else the stream holds.
 */
export class WordFeed {
  readonly nonce = `run${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  /** Lines put so far. */
  sent = 0;
  /** When the last put returned. */
  lastPutMs = 0;
  readonly #stream: string;
  #seed: number;

  constructor(d: DeploymentInfo, options: { readonly seed?: number } = {}) {
    this.#stream = wordCountOf(d).stream;
    this.#seed = options.seed ?? 7;
  }

  #next(): number {
    this.#seed = (this.#seed * 1_103_515_245 + 12_345) % 2 ** 31;
    // The high bits: the low bits of a power-of-two LCG repeat with short periods.
    return this.#seed >>> 12;
  }

  /** Puts `n` lines, 500 to a call. */
  async put(n: number): Promise<void> {
    const records = Array.from({ length: n }, () => {
      const words = Array.from(
        { length: 1 + (this.#next() % 5) },
        () => WORDS[this.#next() % WORDS.length],
      );
      words.push(`${this.nonce}-${this.#next() % 3}`);
      return {
        Data: new TextEncoder().encode(words.join(' ')),
        PartitionKey: `p${this.#next()}`,
      };
    });
    for (let i = 0; i < records.length; i += 500) {
      const out = await kinesisClient().send(
        new PutRecordsCommand({ StreamName: this.#stream, Records: records.slice(i, i + 500) }),
      );
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records were refused`);
    }
    this.sent += n;
    this.lastPutMs = Date.now();
  }

  /**
   * Puts `n` lines in `steps` puts spread over `overMs`, calling `during(step)` after each
   * (a test's fault goes there).
   */
  async flow(
    n: number,
    options: {
      readonly steps: number;
      readonly overMs: number;
      readonly during?: (step: number) => Promise<void> | void;
    },
  ): Promise<void> {
    const { steps, overMs } = options;
    for (let step = 0; step < steps; step++) {
      const began = Date.now();
      await this.put(Math.floor((n * (step + 1)) / steps) - Math.floor((n * step) / steps));
      await options.during?.(step);
      const rest = overMs / steps - (Date.now() - began);
      if (rest > 0 && step < steps - 1) await new Promise((r) => setTimeout(r, rest));
    }
  }
}

/** The job's control table, read as the coordinator writes it. */
export function controlOf(d: DeploymentInfo) {
  return new DynamoControlStore<BatchPlan, TaskClaim, BatchCommit>({
    client: dynamoClient(),
    table: d.tables.control,
    job: d.jobName,
  });
}

/**
 * The batch time the head must reach for a record put at `lastPutMs` to be committed. A
 * record is read by the first batch whose time is after its arrival stamp, which the stream
 * gives it before the put returns; `sameClock` says the stream stamps with this process's
 * clock (the embedded cloud), so that one batch more is margin enough. Otherwise the margin
 * allows for clocks apart: its batch, the grace before planning, and one more batch.
 */
export function pastLastRecord(
  d: DeploymentInfo,
  lastPutMs: number,
  options: { readonly sameClock?: boolean } = {},
): number {
  const B = d.batchIntervalMs;
  if (options.sameClock) return (Math.floor(lastPutMs / B) + 2) * B;
  return lastPutMs + 3 * B + 1_000;
}

/**
 * Waits until the committed head reaches `targetMs`, calling `meanwhile` every half second
 * (a test that stands in for the schedule fires it there); resolves with the head.
 */
export async function waitForHead(
  d: DeploymentInfo,
  targetMs: number,
  options: { readonly timeoutMs: number; readonly meanwhile?: () => Promise<void> | void },
): Promise<number> {
  const control = controlOf(d);
  const deadline = Date.now() + options.timeoutMs;
  let head = (await control.getHead()) ?? 0;
  while (head < targetMs) {
    if (Date.now() > deadline) {
      throw new Error(
        `job '${d.jobName}' committed up to ${head ? new Date(head).toISOString() : 'nothing'}, not past ${new Date(targetMs).toISOString()}, within ${options.timeoutMs} ms`,
      );
    }
    await options.meanwhile?.();
    await new Promise((r) => setTimeout(r, 500));
    head = (await control.getHead()) ?? 0;
  }
  return head;
}

/** One committed batch: its plan, the claims of its tasks and its commit. */
export interface CommittedBatch {
  readonly plan: BatchPlan;
  /** The claims of the map tasks of the source, by task (missing: unclaimed). */
  readonly mapClaims: ReadonlyArray<TaskClaim | undefined>;
  readonly commit: BatchCommit | undefined;
}

/** Every batch committed up to `head`, from the first, with its map claims and commit. */
export async function committedBatches(
  d: DeploymentInfo,
  job: Job,
  head: number,
  source = 'lines',
): Promise<CommittedBatch[]> {
  const control = controlOf(d);
  const batches: CommittedBatch[] = [];
  for (let after = -1; ; ) {
    const plans = await control.listPlans(after, 100);
    const committed = plans.filter((p) => p.timeMs <= head);
    for (const { value: plan } of committed) {
      const stage = batchLayout(job, plan.timeMs).stages.find((s) => s.source === source);
      const claims = stage ? await control.listClaims(plan.timeMs, stage.id) : [];
      batches.push({
        plan,
        mapClaims: (plan.sources[source] ?? []).map(
          (_, task) => claims.find((c) => c.task === task)?.claim,
        ),
        commit: await control.getCommit(plan.timeMs),
      });
    }
    if (committed.length < plans.length || plans.length < 100) break;
    after = plans[plans.length - 1]?.timeMs ?? after;
  }
  return batches;
}

/**
 * Runs `exec` over the records every batch committed up to `head` read from the job's one
 * source (each map task's slice, as long as its claim says it was), noting in `differences`
 * what the claims and the stream disagree on.
 */
export async function replayCommitted(
  d: DeploymentInfo,
  job: Job,
  head: number,
  source: string,
  exec: LocalExecutor,
  differences: string[],
): Promise<{ read: number; batches: CommittedBatch[] }> {
  const stream = d.sources[source];
  if (!stream) throw new Error(`job '${d.jobName}' has no source '${source}'`);
  const reader = new KinesisShardReader(kinesisClient(), { [source]: stream }, 8 * 1024 * 1024);
  let read = 0;
  const batches = await committedBatches(d, job, head, source);
  for (const { plan, mapClaims, commit } of batches) {
    const t = plan.timeMs;
    if (!commit) differences.push(`batch ${t}: at or before the head ${head}, but not committed`);
    const shards = await Promise.all(
      (plan.sources[source] ?? []).map(async (task, i) => {
        const slice = mapClaims[i]?.slice;
        if (!slice) {
          differences.push(`batch ${t} shard ${task.shardId}: committed without a claim`);
          return [];
        }
        if (mapClaims[i]?.deadLettered) {
          differences.push(`batch ${t} shard ${task.shardId}: dead-lettered records`);
        }
        if (slice.records === 0) return [];
        // What the task read: its slice, up to as many records as its claim says.
        const { records } = await reader.readSlice(source, task, t, slice.records);
        if (
          records.length !== slice.records ||
          records.at(-1)?.sequenceNumber !== slice.endSequence
        ) {
          differences.push(
            `batch ${t} shard ${task.shardId}: the claim says ${slice.records} records up to ${slice.endSequence}, the stream gives ${records.length} up to ${records.at(-1)?.sequenceNumber}`,
          );
        }
        return records.map((r) => new TextDecoder().decode(r.data));
      }),
    );
    read += shards.flat().length;
    await exec.runBatch(t, { [source]: shards });
  }
  return { read, batches };
}

/**
 * Runs the in-memory executor over the records every batch committed up to `head` read (each
 * map task's slice, as long as its claim says it was) and compares the results table and the
 * state with it. `feeds` are the feeds whose lines must each have been read exactly once.
 */
export async function compareWithOracle(
  d: DeploymentInfo,
  job: Job,
  head: number,
  feeds: ReadonlyArray<Pick<WordFeed, 'nonce' | 'sent'>>,
): Promise<DeploymentCheck> {
  const names = wordCountOf(d);
  const exec = new LocalExecutor(job);
  const differences: string[] = [];
  const { read, batches } = await replayCommitted(d, job, head, 'lines', exec, differences);

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
        TableName: names.results,
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
    const state = await readState(
      dynamoClient(),
      names.stateTable,
      d.jobName,
      'totals',
      names.statePartitions,
      word,
    );
    if (state !== value) differences.push(`state ${key}: deployed ${state}, oracle ${value}`);
  }
  for (const key of scanned.keys()) {
    if (!expected.has(key)) differences.push(`results ${key}: deployed, but not in the oracle`);
  }
  // Every line of each feed was read by exactly one committed batch: each carries one word of
  // its feed's, so their totals add up to the lines put.
  for (const feed of feeds) {
    const ours = [...expected.entries()]
      .filter(([k]) => k.includes(feed.nonce))
      .reduce((sum, [, v]) => sum + (v as number), 0);
    if (ours !== feed.sent) {
      differences.push(`the batches read ${ours} of the ${feed.sent} records of ${feed.nonce}`);
    }
  }
  return {
    sent: feeds.reduce((n, f) => n + f.sent, 0),
    read,
    batches: batches.length,
    keys: expected.size,
    differences,
    committed: batches,
  };
}

/**
 * Runs the check on a deployed word-count job (a `lines` source of text, a `totals` results
 * table and a `totals` state of running totals per word, as test/aws/fixtures/wordcount.ts).
 */
export async function checkWordCount(
  d: DeploymentInfo,
  job: Job,
  options: { readonly records: number; readonly timeoutMs: number; readonly seed?: number },
): Promise<DeploymentCheck> {
  const feed = new WordFeed(d, options.seed === undefined ? {} : { seed: options.seed });
  await feed.put(Math.ceil(options.records / 2));
  await kick(d);
  await new Promise((r) => setTimeout(r, 2 * d.batchIntervalMs));
  await feed.put(Math.floor(options.records / 2));
  const head = await waitForHead(d, pastLastRecord(d, feed.lastPutMs), {
    timeoutMs: options.timeoutMs,
  });
  return compareWithOracle(d, job, head, [feed]);
}

/** Starts the coordinator now rather than at the next minute (it ends at once if running). */
export async function kick(d: DeploymentInfo): Promise<void> {
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
