/**
 * A deployed job on the embedded cloud, end to end: how fast it can be fed, how long a record
 * takes to reach the state table, what a batch with no input costs, and what bounds it.
 *
 * The job is the test stack's word count (running totals per word with updateStateByKey, saved
 * to a results table: test/aws/fixtures/wordcount.ts), deployed from its synthesized template
 * as the StreamingJob construct builds it (bench/local/stack.ts: one stack per shard count,
 * 1, 2 and 4 shards) with deployStack onto startLocalCloud(), as test/local/deployed-stack does.
 * Records go in through the Kinesis API (PutRecords): lines of 10 words from a Zipf-skewed
 * vocabulary of VOCABULARY words. Every number comes from the deployment itself: the batch
 * metrics the coordinator commits with each batch (control table), the state table (readState),
 * and two probes of this process (bench/local/probe.ts): a proxy the Lambda environments use as
 * their endpoint, which times every Kinesis, DynamoDB and Lambda call the functions make, and
 * the CPU time of every process of the cloud.
 *
 * Per shard count:
 * 1. Warm-up: a trickle of records until batches commit in time (cold starts are not measured).
 * 2. Empty batches: no input; requests (as the probe counts them, and as the commit metric
 *    `dynamoRequests` says) and processing time per batch.
 * 3. Latency (1 shard): marker records, each a word of its own, put at known times under a light
 *    load; the time from PutRecords' answer until readState shows the word's count.
 * 4. Ramp: the input rate doubles each step of STEP_MS until a step fails, then bisects. A step
 *    passes when the stream took at least 90% of the records offered, every batch holding only
 *    the step's records committed, their median processing time is under the batch interval,
 *    and their scheduling delay stayed under grace + one interval (not falling behind).
 *
 * The bound: over the processing windows of a step's batches, each millisecond is put down to
 * the first of: a DynamoDB call of the functions in flight (dynalite), a Kinesis call in flight
 * (kinesis-local), a worker invocation running (its own CPU: the engine, the SDK, encoding), a
 * Lambda Invoke in flight with no worker running (the Lambda service's dispatch), or else the
 * coordinator's own work. The engine's part is measured apart: the same job over the same kind
 * of batches in memory (LocalExecutor), per record and per batch, against the batches'
 * processing times. At the limit of each shard count the largest part is named as the bound,
 * with the CPU each process used; a step that could not put its records names kinesis-local.
 * The engine must not be the bound.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { App } from 'aws-cdk-lib';
import { LocalExecutor } from 'sparkless/testing';
import { dynamoClient, kinesisClient } from '../../lib/aws/clients.js';
import type { BatchCommit, BatchMetrics, BatchPlan, TaskClaim } from '../../lib/aws/protocol.js';
import { DynamoControlStore, readState } from '../../lib/aws/stores/dynamo.js';
import { type DeploymentInfo, deploymentsOf } from '../../lib/contract/deployment.js';
import type { Job } from '../../lib/core/job.js';
import { type LocalCloud, startLocalCloud } from '../../lib/local/cloud.js';
import { deployStack, type LocalDeployment } from '../../lib/local/deploy.js';
import wordcount from '../../test/aws/fixtures/wordcount.js';
import {
  atLeast,
  atMost,
  type Check,
  collectGarbage,
  fmt,
  fmtMs,
  median,
  now,
  percentile,
  type Suite,
  type Table,
} from '../harness.js';
import { chart } from './chart.js';
import { epochNow, lineSource, Producer } from './load.js';
import {
  type Call,
  CpuSampler,
  canSampleCpu,
  type RequestProbe,
  startRequestProbe,
} from './probe.js';
import { addBenchStack, benchStackName } from './stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');

const SHARD_COUNTS = [1, 2, 4] as const;
const VOCABULARY = 50;
const WORDS_PER_LINE = 10;
/** How long each rate is held. */
const STEP_MS = 4_000;
/** The first rate of the ramp, per shard. */
const START_RATE_PER_SHARD = 100;
/** Halvings of the interval between the last rate that passed and the first that failed. */
const BISECTIONS = 1;
/** Halvings of the first rate when it fails, and the lowest rate tried. */
const LOWER_STEPS = 2;
const MIN_RATE_PER_SHARD = 25;
const MAX_RATE = 64_000;
/** How long after a step's last batch time its commit may take before the step fails. */
const COMMIT_WAIT_MS = 6_000;
/** A step passes only if the stream took this share of the records offered. */
const PUT_SHARE = 0.9;
/** How long the job may take to catch up after a step that failed. */
const SETTLE_MS = 12_000;
const WARM_RATE_PER_SHARD = 20;
const WARM_TIMEOUT_MS = 30_000;
/** Consecutive batches in time that end the warm-up. */
const WARM_BATCHES = 3;
const EMPTY_BATCHES = 4;
const MARKERS = 25;
/** Between markers: not a divisor of the batch interval, so they land at every phase of it. */
const MARKER_SPACING_MS = 370;
const LATENCY_RATE_PER_SHARD = 50;
const POLL_MS = 50;
const MARKER_TIMEOUT_MS = 20_000;
/** The engine must take at most this share of a batch's processing time at the limit. */
const ENGINE_SHARE_TARGET = 0.25;

const STATE = 'totals';

// ---- batches ---------------------------------------------------------------------------------

/** A committed batch, as its commit's metrics tell. */
interface BatchRow {
  readonly timeMs: number;
  readonly recordsIn: number;
  readonly processingMs: number;
  readonly schedulingDelayMs: number;
  readonly totalDelayMs: number;
  /** The commit metric (see the report: what it leaves out). */
  readonly dynamoRequests: number;
  readonly keysInState: number;
  readonly stages: BatchMetrics['stages'];
  /** Processing, start to commit (epoch ms). */
  readonly startedAt: number;
  readonly committedAt: number;
}

type Control = DynamoControlStore<BatchPlan, TaskClaim, BatchCommit>;

async function batches(control: Control, from: number, to: number): Promise<BatchRow[]> {
  const commits = await control.listCommits(from, to, 1000);
  return commits.map(({ value: c }) => ({
    timeMs: c.timeMs,
    recordsIn: c.metrics.recordsIn,
    processingMs: c.metrics.processingMs,
    schedulingDelayMs: c.metrics.schedulingDelayMs,
    totalDelayMs: c.metrics.totalDelayMs,
    dynamoRequests: c.metrics.dynamoRequests,
    keysInState: Object.values(c.metrics.keysInState).reduce((a, b) => a + b, 0),
    stages: c.metrics.stages,
    startedAt: c.timeMs + c.metrics.schedulingDelayMs,
    committedAt: c.timeMs + c.metrics.totalDelayMs,
  }));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until the head reaches `t`; returns whether it did within `timeoutMs`. */
async function headAt(control: Control, t: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (((await control.getHead()) ?? 0) >= t) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

// ---- where the time goes ---------------------------------------------------------------------

/** A worker invocation as the Lambda service saw it (epoch ms). */
interface Invocation {
  readonly requestId: string;
  readonly startAt: number;
  endAt?: number;
}

const PARTS = ['dynalite', 'kinesis-local', 'worker CPU', 'Lambda service', 'coordinator'] as const;
type Part = (typeof PARTS)[number];

/**
 * Puts each millisecond of the windows down to the first part that was busy (see the header);
 * returns milliseconds per part.
 */
function attribute(
  windows: ReadonlyArray<readonly [number, number]>,
  calls: readonly Call[],
  invocations: readonly Invocation[],
): Record<Part, number> {
  const out = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  if (windows.length === 0) return out;
  const from = Math.floor(Math.min(...windows.map((w) => w[0])));
  const to = Math.ceil(Math.max(...windows.map((w) => w[1])));
  const n = to - from;
  const inWindow = new Uint8Array(n);
  const busy = PARTS.slice(0, 4).map(() => new Uint8Array(n));
  const mark = (flags: Uint8Array, a: number, b: number) => {
    for (let i = Math.max(0, Math.floor(a - from)); i < Math.min(n, Math.ceil(b - from)); i++)
      flags[i] = 1;
  };
  for (const [a, b] of windows) mark(inWindow, a, b);
  for (const c of calls) {
    const i =
      c.service === 'dynamodb' ? 0 : c.service === 'kinesis' ? 1 : c.op === 'Invoke' ? 3 : -1;
    if (i >= 0) mark(busy[i]!, c.startAt, c.startAt + c.ms);
  }
  for (const v of invocations) mark(busy[2]!, v.startAt, v.endAt ?? to);
  for (let i = 0; i < n; i++) {
    if (!inWindow[i]) continue;
    const p = busy.findIndex((f) => f[i]);
    out[p === -1 ? 'coordinator' : PARTS[p]!]++;
  }
  return out;
}

/** Per worker invocation: the Invoke call's time minus the time the environment ran it. */
interface Dispatch {
  readonly invocations: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  /** Invoke call time, median. */
  readonly invokeMs: number;
}

function dispatchOverhead(
  calls: readonly Call[],
  invocations: readonly Invocation[],
  from: number,
  to: number,
): Dispatch {
  const byId = new Map(invocations.map((v) => [v.requestId, v]));
  const invokes = calls.filter((c) => c.op === 'Invoke' && c.startAt >= from && c.startAt < to);
  const overhead: number[] = [];
  for (const c of invokes) {
    const v = c.requestId === undefined ? undefined : byId.get(c.requestId);
    if (v?.endAt !== undefined) overhead.push(c.ms - (v.endAt - v.startAt));
  }
  return {
    invocations: overhead.length,
    medianMs: overhead.length ? median(overhead) : Number.NaN,
    p99Ms: overhead.length ? percentile(overhead, 99) : Number.NaN,
    invokeMs: invokes.length ? median(invokes.map((c) => c.ms)) : Number.NaN,
  };
}

// ---- the engine alone ------------------------------------------------------------------------

/** The job's engine cost in memory: per batch with no input, and per record. */
async function engineCost(job: Job, vocabulary: number) {
  const source = lineSource(11, vocabulary, WORDS_PER_LINE);
  const decoder = new TextDecoder();
  const batch = (n: number) => Array.from({ length: n }, () => decoder.decode(source.next().Data));
  const exec = new LocalExecutor(job);
  const B = job.batchIntervalMs;
  let t = B;
  const run = async (lines: string[]) => {
    const start = now();
    await exec.runBatch(t, { lines: [lines] });
    t += B;
    return now() - start;
  };
  const N = 2000;
  for (let i = 0; i < 5; i++) await run(batch(N));
  collectGarbage();
  const full: number[] = [];
  for (let i = 0; i < 7; i++) full.push(await run(batch(N)));
  const empty: number[] = [];
  for (let i = 0; i < 7; i++) empty.push(await run([]));
  const emptyMs = median(empty);
  return {
    emptyBatchMs: emptyMs,
    perRecordMs: Math.max(0, (median(full) - emptyMs) / N),
    keys: exec.state(STATE).length,
  };
}

/** The map-task throughput bench/aws/throughput.ts last measured, if it ran. */
function mapTaskReference(): number | undefined {
  try {
    const aws = JSON.parse(readFileSync(join(RESULTS, 'aws.json'), 'utf8')) as {
      suites?: { throughput?: { recordsPerSecond?: number } };
    };
    return aws.suites?.throughput?.recordsPerSecond;
  } catch {
    return undefined;
  }
}

// ---- one deployment --------------------------------------------------------------------------

interface StepResult {
  readonly shards: number;
  readonly rate: number;
  /** Records per second the stream accepted, and their share of the records offered. */
  readonly achieved: number;
  readonly putShare: number;
  /** PutRecords call time, median. */
  readonly putCallMs: number;
  /** Records the stream held per shard when the step began (kinesis-local slows as it fills). */
  readonly recordsPerShard: number;
  /** The Lambda service's part of each worker invocation. */
  readonly dispatch: Dispatch;
  readonly batches: readonly BatchRow[];
  readonly expectedBatches: number;
  readonly medianProcessingMs: number;
  readonly maxProcessingMs: number;
  readonly maxSchedulingDelayMs: number;
  readonly pass: boolean;
  readonly why: string;
  /** Cores each process used over the step. */
  readonly cores: Record<string, number>;
  /** Share of the batches' processing time per part. */
  readonly parts: Record<Part, number>;
  /** The engine's cost of the step's batches in memory, as a share of their processing time. */
  readonly engineShare: number;
  /** Requests the functions made per batch over the step, as the probe counted them. */
  readonly requestsPerBatch: { dynamodb: number; kinesis: number; invoke: number };
  /** Median of the commit metric dynamoRequests over the step's batches. */
  readonly dynamoRequestsMetric: number;
}

interface Deployed {
  readonly shards: number;
  readonly deployment: LocalDeployment;
  readonly info: DeploymentInfo;
  readonly control: Control;
  readonly producer: Producer;
}

interface Context {
  readonly cloud: LocalCloud;
  readonly probe: RequestProbe;
  readonly invocations: Invocation[];
  readonly cpu: CpuSampler;
  readonly engine: { emptyBatchMs: number; perRecordMs: number };
  readonly grace: number;
  readonly B: number;
  readonly log: (line: string) => void;
}

function describeCores(cores: Record<string, number>): string {
  return Object.entries(cores)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

function coresBetween(a: ReturnType<CpuSampler['read']>, b: ReturnType<CpuSampler['read']>) {
  const { wallMs, byRole } = CpuSampler.between(a, b);
  return Object.fromEntries([...byRole].map(([k, v]) => [k, v / wallMs]));
}

/** Runs one step at `rate` records/s and judges it. */
async function step(ctx: Context, d: Deployed, rate: number): Promise<StepResult> {
  const { B, grace } = ctx;
  const recordsPerShard = d.producer.accepted / d.shards;
  d.producer.setRate(rate);
  const c0 = ctx.cpu.read();
  const s0 = epochNow();
  await sleep(STEP_MS);
  const s1 = epochNow();
  const c1 = ctx.cpu.read();
  // Batches holding only this step's records, after the first (which may hold the last step's).
  const first = Math.ceil(s0 / B) * B + B;
  const last = Math.floor(s1 / B) * B;
  const expectedBatches = Math.max(0, (last - first) / B + 1);
  const inTime = await headAt(d.control, last, grace + COMMIT_WAIT_MS);
  const rows = (await batches(d.control, first, last)).filter((r) => r.timeMs >= first);
  const put = d.producer.window(s0, s1);
  const achieved = (put.accepted * 1000) / (s1 - s0);
  const putShare = put.offered ? put.accepted / put.offered : 1;
  const putCallMs = put.callMs.length ? median(put.callMs) : Number.NaN;
  const processing = rows.map((r) => r.processingMs);
  const medianProcessingMs = processing.length ? median(processing) : Number.NaN;
  const maxProcessingMs = processing.length ? Math.max(...processing) : Number.NaN;
  const maxSchedulingDelayMs = rows.length ? Math.max(...rows.map((r) => r.schedulingDelayMs)) : 0;
  let why = '';
  if (putShare < PUT_SHARE)
    why = `the stream took ${fmt(put.accepted, 0)} of ${fmt(put.offered, 0)} records (PutRecords ${fmtMs(putCallMs)})`;
  else if (!inTime || rows.length < expectedBatches)
    why = `batch ${last % 100_000} not committed ${fmtMs(grace + COMMIT_WAIT_MS)} after its time`;
  else if (!(medianProcessingMs < B))
    why = `median processing ${fmtMs(medianProcessingMs)} >= ${B} ms`;
  else if (maxSchedulingDelayMs >= grace + B)
    why = `scheduling delay reached ${fmtMs(maxSchedulingDelayMs)}`;

  // With no batch committed, the step's own time stands for the batches' processing windows.
  const windows = rows.length
    ? rows.map((r) => [r.startedAt, r.committedAt] as const)
    : [[s0, epochNow()] as const];
  const from = rows.length ? Math.min(...rows.map((r) => r.startedAt)) : s0;
  const to = rows.length ? Math.max(...rows.map((r) => r.committedAt)) : epochNow();
  const calls = ctx.probe.calls(from - 5_000, to);
  const ms = attribute(
    windows,
    calls,
    ctx.invocations.filter((v) => (v.endAt ?? Infinity) > from - 5_000),
  );
  const total = Object.values(ms).reduce((a, b) => a + b, 0) || 1;
  const parts = Object.fromEntries(PARTS.map((p) => [p, ms[p] / total])) as Record<Part, number>;
  const engineMs = rows.reduce(
    (n, r) => n + ctx.engine.emptyBatchMs + r.recordsIn * ctx.engine.perRecordMs,
    0,
  );
  const engineShare = rows.length ? engineMs / rows.reduce((n, r) => n + r.processingMs, 0) : 0;
  const dispatch = dispatchOverhead(calls, ctx.invocations, from, to);
  // Requests per batch: the calls made between the commits of the step's first and last batch.
  const span = rows.length >= 2 ? [rows[0]!.committedAt, rows.at(-1)!.committedAt] : undefined;
  const per = (pred: (c: Call) => boolean) =>
    span ? ctx.probe.calls(span[0], span[1]).filter(pred).length / (rows.length - 1) : Number.NaN;
  return {
    shards: d.shards,
    rate,
    achieved,
    putShare,
    putCallMs,
    recordsPerShard,
    dispatch,
    batches: rows,
    expectedBatches,
    medianProcessingMs,
    maxProcessingMs,
    maxSchedulingDelayMs,
    pass: why === '',
    why,
    cores: coresBetween(c0, c1),
    parts,
    engineShare,
    requestsPerBatch: {
      dynamodb: per((c) => c.service === 'dynamodb'),
      kinesis: per((c) => c.service === 'kinesis'),
      invoke: per((c) => c.op === 'Invoke'),
    },
    dynamoRequestsMetric: rows.length ? median(rows.map((r) => r.dynamoRequests)) : Number.NaN,
  };
}

/** Stops the load and waits until the job has committed what it was given. */
async function settle(ctx: Context, d: Deployed, timeoutMs: number): Promise<boolean> {
  d.producer.setRate(0);
  await d.producer.drain();
  const lastPut = Math.max(0, ...d.producer.puts.map((p) => p.doneAt));
  return headAt(d.control, Math.ceil(lastPut / ctx.B) * ctx.B + ctx.B, timeoutMs);
}

async function warmUp(
  ctx: Context,
  d: Deployed,
): Promise<{ ms: number; batches: number; inTime: boolean; last: number[] }> {
  const started = epochNow();
  d.producer.setRate(WARM_RATE_PER_SHARD * d.shards);
  for (;;) {
    await sleep(1000);
    const rows = await batches(d.control, 0, Number.MAX_SAFE_INTEGER);
    const recent = rows.slice(-WARM_BATCHES);
    if (
      recent.length === WARM_BATCHES &&
      recent.every((r) => r.processingMs < ctx.B && r.recordsIn > 0)
    )
      return {
        ms: epochNow() - started,
        batches: rows.length,
        inTime: true,
        last: recent.map((r) => r.processingMs),
      };
    if (epochNow() - started > WARM_TIMEOUT_MS) {
      if (rows.length === 0) {
        throw new Error(
          `local/pipeline: ${d.shards} shard(s): no batch committed in ${fmtMs(WARM_TIMEOUT_MS)}`,
        );
      }
      return {
        ms: epochNow() - started,
        batches: rows.length,
        inTime: false,
        last: recent.map((r) => r.processingMs),
      };
    }
  }
}

interface EmptyResult {
  readonly batches: number;
  readonly processingMs: number;
  readonly keysInState: number;
  readonly dynamoRequestsMetric: number;
  readonly perBatch: Record<string, number>;
  readonly dynamoLatencyMs: number;
}

async function emptyBatches(ctx: Context, d: Deployed): Promise<EmptyResult> {
  const { B } = ctx;
  await settle(ctx, d, 20_000);
  const lastPut = Math.max(0, ...d.producer.puts.map((p) => p.doneAt));
  const first = Math.ceil(lastPut / B) * B + B;
  const last = first + EMPTY_BATCHES * B;
  if (!(await headAt(d.control, last, (EMPTY_BATCHES + 4) * B + 10_000))) {
    throw new Error(`local/pipeline: the empty batches up to ${last} were not committed in time`);
  }
  const rows = await batches(d.control, first, last);
  if (rows.some((r) => r.recordsIn !== 0)) {
    throw new Error(
      `local/pipeline: batches after the load stopped read records: ${rows.map((r) => r.recordsIn).join(', ')}`,
    );
  }
  // The calls between the first and the last commit: one batch's work each interval.
  const calls = ctx.probe.calls(rows[0]!.committedAt, rows.at(-1)!.committedAt);
  const n = rows.length - 1;
  const perBatch: Record<string, number> = {};
  for (const c of calls) {
    const k = `${c.service}.${c.op}`;
    perBatch[k] = (perBatch[k] ?? 0) + 1 / n;
  }
  const dynamo = calls.filter((c) => c.service === 'dynamodb').map((c) => c.ms);
  return {
    batches: rows.length,
    processingMs: median(rows.map((r) => r.processingMs)),
    keysInState: rows.at(-1)!.keysInState,
    dynamoRequestsMetric: median(rows.map((r) => r.dynamoRequests)),
    perBatch,
    dynamoLatencyMs: dynamo.length ? median(dynamo) : 0,
  };
}

interface LatencyResult {
  readonly samples: readonly number[];
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly putMs: number;
  readonly lost: number;
}

async function latency(ctx: Context, d: Deployed): Promise<LatencyResult> {
  const kinesis = kinesisClient();
  const db = dynamoClient();
  const stateTable = d.info.tables.state;
  if (!stateTable) throw new Error('local/pipeline: the job has no state table');
  const partitions = wordcount.plan.stateful.find((s) => s.name === STATE)?.partitions ?? 1;
  const nonce = `zmark${Date.now().toString(36)}`;
  d.producer.setRate(LATENCY_RATE_PER_SHARD * d.shards);
  await sleep(2 * ctx.B);
  const pending = new Map<string, number>();
  const samples: number[] = [];
  const putMs: number[] = [];
  let lost = 0;
  let putting = true;
  const poller = (async () => {
    while (putting || pending.size > 0) {
      await sleep(POLL_MS);
      await Promise.all(
        [...pending].map(async ([word, at]) => {
          const v = await readState<number>(
            db,
            stateTable,
            d.info.jobName,
            STATE,
            partitions,
            word,
          );
          const t = epochNow();
          if (v !== undefined) {
            pending.delete(word);
            samples.push(t - at);
          } else if (t - at > MARKER_TIMEOUT_MS) {
            pending.delete(word);
            lost++;
          }
        }),
      );
    }
  })();
  for (let i = 0; i < MARKERS; i++) {
    const word = `${nonce}n${i}`;
    const sent = epochNow();
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: d.info.sources.lines!,
        Records: [{ Data: new TextEncoder().encode(word), PartitionKey: word }],
      }),
    );
    if (out.FailedRecordCount) throw new Error('local/pipeline: a marker record was refused');
    const at = epochNow();
    putMs.push(at - sent);
    pending.set(word, at);
    await sleep(Math.max(0, MARKER_SPACING_MS - (at - sent)));
  }
  putting = false;
  await poller;
  d.producer.setRate(0);
  kinesis.destroy();
  db.destroy();
  return {
    samples,
    medianMs: samples.length ? median(samples) : Number.NaN,
    p99Ms: samples.length ? percentile(samples, 99) : Number.NaN,
    putMs: median(putMs),
    lost,
  };
}

/**
 * Doubles the rate until a step fails, then bisects between the last pass and the fail. A job
 * that has not caught up after a failed step ends the ramp: a step on top of a backlog would
 * measure the backlog.
 */
async function ramp(ctx: Context, d: Deployed): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  let behind = false;
  const run = async (rate: number) => {
    const r = await step(ctx, d, rate);
    steps.push(r);
    ctx.log(
      `${d.shards} shard(s) ${fmt(rate, 0)}/s: put ${fmt(r.achieved, 0)}/s (PutRecords ${fmtMs(r.putCallMs)}, ${fmt(r.recordsPerShard, 0)} records per shard before), ${r.batches.length}/${r.expectedBatches} batches, processing median ${fmtMs(r.medianProcessingMs)} (max ${fmtMs(r.maxProcessingMs)}), ` +
        `scheduling delay max ${fmtMs(r.maxSchedulingDelayMs)} -> ${r.pass ? 'in time' : `FAILS: ${r.why}`}; waiting on: ${describeParts(r.parts)}; cores: ${describeCores(r.cores)}`,
    );
    if (!r.pass && !(await settle(ctx, d, SETTLE_MS))) {
      ctx.log(
        `${d.shards} shard(s): still behind ${fmtMs(SETTLE_MS)} after the load stopped; ramp ends`,
      );
      behind = true;
    }
    return r;
  };
  let good = 0;
  let bad = 0;
  for (let rate = START_RATE_PER_SHARD * d.shards; rate <= MAX_RATE; rate *= 2) {
    if ((await run(rate)).pass) good = rate;
    else {
      bad = rate;
      break;
    }
  }
  // When even the first rate fails, halve it until one passes (a few times at most).
  for (let i = 0; i < LOWER_STEPS && good === 0 && bad > 0 && !behind; i++) {
    const rate = Math.round(bad / 2);
    if (rate < d.shards * MIN_RATE_PER_SHARD) break;
    if ((await run(rate)).pass) good = rate;
    else bad = rate;
  }
  for (let i = 0; i < BISECTIONS && good > 0 && bad > 0 && !behind; i++) {
    const mid = Math.round((good + bad) / 2);
    if ((await run(mid)).pass) good = mid;
    else bad = mid;
  }
  d.producer.setRate(0);
  return steps;
}

function describeParts(parts: Record<Part, number>): string {
  return Object.entries(parts)
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${pct(v)}`)
    .join(', ');
}

// ---- the suite -------------------------------------------------------------------------------

interface ShardResult {
  readonly shards: number;
  readonly warmUp: { ms: number; batches: number };
  readonly empty: EmptyResult;
  readonly latency?: LatencyResult;
  readonly steps: readonly StepResult[];
  /** The highest rate that passed (0 if none did). */
  readonly sustained: number;
  /** The step at the limit: the first that failed, or the last run. */
  readonly limit: StepResult;
  readonly bound: string;
}

/** The bound at a limit step: the stream's intake, or the largest part of processing time. */
function boundOf(s: StepResult): string {
  if (s.putShare < PUT_SHARE) return 'kinesis-local (PutRecords)';
  const [part] = Object.entries(s.parts).sort((a, b) => b[1] - a[1])[0] ?? ['coordinator'];
  if (part === 'worker CPU' && s.engineShare >= s.parts['worker CPU'] / 2) return 'engine';
  return part;
}

/** A share in percent, with a decimal below 10% (so that a small share does not read as none). */
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;

export const pipeline: Suite = {
  group: 'local',
  name: 'pipeline',
  title:
    'A deployed word count on the embedded cloud: sustained rate, latency, empty batches, bound',
  async run(log) {
    const job = wordcount as Job;
    const B = job.batchIntervalMs;
    const grace = Math.min(B, 1000);

    log('measuring the engine alone (the job in memory, LocalExecutor)...');
    const engine = await engineCost(job, VOCABULARY);
    log(
      `engine: ${fmtMs(engine.emptyBatchMs)} per batch with no input (${engine.keys} keys in state) + ${fmt(engine.perRecordMs * 1000, 2)} µs per record`,
    );

    const assembly = join(ROOT, '.sparkless', `bench-local-${process.pid}`);
    mkdirSync(assembly, { recursive: true });
    const synthStart = now();
    log(
      `synthesizing ${SHARD_COUNTS.map(benchStackName).join(', ')} into ${relative(ROOT, assembly)}...`,
    );
    const app = new App({ outdir: assembly });
    for (const n of SHARD_COUNTS) addBenchStack(app, n);
    app.synth();
    log(`synthesized in ${fmtMs(now() - synthStart)}`);

    const savedEnv = { ...process.env };
    const cloud = await startLocalCloud();
    const probe = await startRequestProbe({
      router: cloud.endpoint,
      kinesis: cloud.kinesis.endpoint,
      dynamodb: cloud.dynamodb.endpoint,
    });
    // The functions reach every service through the probe; this process uses the router.
    cloud.lambda.endpoint = probe.endpoint;
    Object.assign(process.env, cloud.env());
    const invocations: Invocation[] = [];
    const byId = new Map<string, Invocation>();
    const workers = new Set<string>();
    cloud.lambda.on('invoke-start', (e) => {
      if (!workers.has(e.function)) return;
      const v = { requestId: e.requestId, startAt: epochNow() };
      invocations.push(v);
      byId.set(e.requestId, v);
    });
    cloud.lambda.on('invoke-end', (e) => {
      const v = byId.get(e.requestId);
      if (v) v.endAt = epochNow();
    });
    const cpu = new CpuSampler(() => {
      const m = new Map<number, string>([
        [process.pid, 'bench process'],
        [cloud.kinesis.pid, 'kinesis-local'],
        [cloud.dynamodb.pid, 'dynalite'],
      ]);
      for (const fn of cloud.lambda.functions()) {
        const role = workers.has(fn.name) ? 'workers' : 'coordinator';
        for (const pid of cloud.lambda.pids(fn.name)) m.set(pid, role);
      }
      return m;
    });
    if (!canSampleCpu()) log('no /proc here: CPU per process is not measured');
    const ctx: Context = { cloud, probe, invocations, cpu, engine, grace, B, log };
    log(
      `local cloud on ${cloud.endpoint}; the functions' calls go through the probe on ${probe.endpoint}`,
    );

    const results: ShardResult[] = [];
    try {
      for (const shards of SHARD_COUNTS) {
        const t0 = now();
        const deployment = await deployStack(cloud, {
          assemblyDir: assembly,
          stackName: benchStackName(shards),
        });
        try {
          const [info] = deploymentsOf(deployment.outputs);
          if (!info?.sources.lines)
            throw new Error('local/pipeline: the stack has no deployment output');
          workers.add(info.functions.worker);
          const control: Control = new DynamoControlStore({
            client: dynamoClient(),
            table: info.tables.control,
            job: info.jobName,
          });
          const producer = new Producer(
            kinesisClient(),
            info.sources.lines,
            lineSource(7 + shards, VOCABULARY, WORDS_PER_LINE),
          );
          const d: Deployed = { shards, deployment, info, control, producer };
          log(
            `${shards} shard(s): deployed ${benchStackName(shards)} in ${fmtMs(now() - t0)}; warming up...`,
          );
          const warm = await warmUp(ctx, d);
          log(
            warm.inTime
              ? `${shards} shard(s): warm after ${fmtMs(warm.ms)} (${warm.batches} batches); ${EMPTY_BATCHES} empty batches...`
              : `${shards} shard(s): even at ${WARM_RATE_PER_SHARD * shards}/s batches took ${warm.last.map(fmtMs).join(', ')} after ${fmtMs(warm.ms)}; going on; ${EMPTY_BATCHES} empty batches...`,
          );
          const empty = await emptyBatches(ctx, d);
          log(
            `${shards} shard(s): empty batch: processing ${fmtMs(empty.processingMs)}, ${fmt(empty.perBatch['dynamodb.PutItem'] ?? 0, 1)} PutItem + ${fmt(
              Object.entries(empty.perBatch)
                .filter(([k]) => k.startsWith('dynamodb.') && k !== 'dynamodb.PutItem')
                .reduce((n, [, v]) => n + v, 0),
              1,
            )} other DynamoDB requests per batch (commit metric says ${empty.dynamoRequestsMetric}); ${empty.keysInState} keys in state`,
          );
          let lat: LatencyResult | undefined;
          if (shards === SHARD_COUNTS[0]) {
            log(
              `${shards} shard(s): latency: ${MARKERS} markers under ${LATENCY_RATE_PER_SHARD * shards}/s...`,
            );
            lat = await latency(ctx, d);
            log(
              `${shards} shard(s): record to state: median ${fmtMs(lat.medianMs)}, p99 ${fmtMs(lat.p99Ms)} (${lat.samples.length} markers${lat.lost ? `, ${lat.lost} never seen` : ''})`,
            );
            await settle(ctx, d, 20_000);
          }
          const steps = await ramp(ctx, d);
          const passed = steps.filter((s) => s.pass);
          const sustained = Math.max(0, ...passed.map((s) => s.rate));
          const limit = steps.find((s) => !s.pass) ?? steps.at(-1)!;
          const bound = boundOf(limit);
          results.push({
            shards,
            warmUp: warm,
            empty,
            ...(lat ? { latency: lat } : {}),
            steps,
            sustained,
            limit,
            bound,
          });
          log(`${shards} shard(s): sustained ${fmt(sustained, 0)} records/s; bound: ${bound}`);
          producer.setRate(0);
          await producer.drain();
        } finally {
          await deployment.destroy({ deleteRetained: true });
        }
      }
    } finally {
      await probe.stop();
      await cloud.stop();
      for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
      Object.assign(process.env, savedEnv);
      rmSync(assembly, { recursive: true, force: true });
    }

    return report(results, engine, B, grace);
  },
};

function report(
  results: readonly ShardResult[],
  engine: { emptyBatchMs: number; perRecordMs: number; keys: number },
  B: number,
  grace: number,
) {
  const tables: Array<{ title: string; rows: Table }> = [];
  const steps = results.flatMap((r) => r.steps);
  const others = steps.map((s) => s.cores['other processes'] ?? 0);
  const otherCores = others.length ? others.reduce((a, b) => a + b, 0) / others.length : 0;
  tables.push({
    title: `sustained input rate: median processing time under the batch interval (${B} ms), ${STEP_MS / 1000} s per step`,
    rows: [
      ['shards', 'records/s sustained', 'first rate that failed', 'why', 'bound'],
      ...results.map((r) => {
        const failed = r.steps.find((s) => !s.pass);
        return [
          String(r.shards),
          fmt(r.sustained, 0),
          failed ? fmt(failed.rate, 0) : 'none',
          failed?.why ?? '',
          r.bound,
        ];
      }),
    ],
  });
  tables.push({
    title:
      "every step: the rate offered, what the stream took (and how full it was), the batches holding only the step's records",
    rows: [
      [
        'shards',
        'offered/s',
        'put/s',
        'records/shard before',
        'PutRecords',
        'batches',
        'records/batch',
        'processing median',
        'max',
        'sched. delay max',
        'other processes (cores)',
        'result',
      ],
      ...steps.map((s) => [
        String(s.shards),
        fmt(s.rate, 0),
        fmt(s.achieved, 0),
        fmt(s.recordsPerShard, 0),
        fmtMs(s.putCallMs),
        `${s.batches.length}/${s.expectedBatches}`,
        s.batches.length ? fmt(median(s.batches.map((b) => b.recordsIn)), 0) : '-',
        fmtMs(s.medianProcessingMs),
        fmtMs(s.maxProcessingMs),
        fmtMs(s.maxSchedulingDelayMs),
        fmt(s.cores['other processes'] ?? 0),
        s.pass ? 'in time' : 'FAILS',
      ]),
    ],
  });
  const lat = results.find((r) => r.latency)?.latency;
  if (lat) {
    tables.push({
      title: `record to state (PutRecords answered -> readState shows it), ${lat.samples.length} markers under ${LATENCY_RATE_PER_SHARD}/s per shard, polled every ${POLL_MS} ms`,
      rows: [
        ['measure', 'value', 'in batch intervals'],
        ['median', fmtMs(lat.medianMs), fmt(lat.medianMs / B)],
        ['99th percentile', fmtMs(lat.p99Ms), fmt(lat.p99Ms / B)],
        [
          'min .. max',
          `${fmtMs(Math.min(...lat.samples))} .. ${fmtMs(Math.max(...lat.samples))}`,
          '',
        ],
        [
          'expected: half an interval waiting for the batch time + grace + processing',
          `${fmtMs(B / 2 + grace)} + processing`,
          '',
        ],
        ['PutRecords of one marker (median)', fmtMs(lat.putMs), ''],
      ],
    });
  }
  const ops = [...new Set(results.flatMap((r) => Object.keys(r.empty.perBatch)))].sort();
  const dynamoOf = (perBatch: Record<string, number>) =>
    Object.entries(perBatch)
      .filter(([k]) => k.startsWith('dynamodb.'))
      .reduce((n, [, v]) => n + v, 0);
  tables.push({
    title:
      'an empty batch: requests per batch as the functions made them (probe), and what the commit says',
    rows: [
      ['request', ...results.map((r) => `${r.shards} shard(s)`)],
      ...ops.map((op) => [op, ...results.map((r) => fmt(r.empty.perBatch[op] ?? 0, 1))]),
      ['DynamoDB requests (probe)', ...results.map((r) => fmt(dynamoOf(r.empty.perBatch), 1))],
      [
        'dynamoRequests (commit metric)',
        ...results.map((r) => fmt(r.empty.dynamoRequestsMetric, 1)),
      ],
      ['keys in state', ...results.map((r) => String(r.empty.keysInState))],
      [
        'DynamoDB requests per key in state',
        ...results.map((r) => fmt(dynamoOf(r.empty.perBatch) / Math.max(1, r.empty.keysInState))),
      ],
      ['processing time (median)', ...results.map((r) => fmtMs(r.empty.processingMs))],
      ['DynamoDB call latency (median)', ...results.map((r) => fmtMs(r.empty.dynamoLatencyMs))],
    ],
  });
  tables.push({
    title:
      "at each limit (first failing step, or the last): what the batches' processing time was waiting on, and who used the CPU",
    rows: [
      ['shards', 'rate', ...PARTS, 'engine (in memory)', 'cores per process'],
      ...results.map((r) => [
        String(r.shards),
        fmt(r.limit.rate, 0),
        ...PARTS.map((p) => pct(r.limit.parts[p])),
        pct(r.limit.engineShare),
        describeCores(r.limit.cores),
      ]),
    ],
  });
  tables.push({
    title:
      'the Lambda service: per worker invocation, the Invoke call (coordinator side) minus the run in its environment',
    rows: [
      [
        'shards',
        'rate',
        'invocations',
        'Invoke median',
        'dispatch median',
        'dispatch p99',
        'Invokes/batch',
      ],
      ...results.map((r) => [
        String(r.shards),
        fmt(r.limit.rate, 0),
        String(r.limit.dispatch.invocations),
        fmtMs(r.limit.dispatch.invokeMs),
        fmtMs(r.limit.dispatch.medianMs),
        fmtMs(r.limit.dispatch.p99Ms),
        Number.isFinite(r.limit.requestsPerBatch.invoke)
          ? fmt(r.limit.requestsPerBatch.invoke, 1)
          : '-',
      ]),
    ],
  });
  const reference = mapTaskReference();
  tables.push({
    title: 'the engine alone (this job in memory, LocalExecutor) against the deployment',
    rows: [
      ['measure', 'value'],
      ['engine per batch with no input', `${fmtMs(engine.emptyBatchMs)} (${engine.keys} keys)`],
      [
        'engine per record',
        `${fmt(engine.perRecordMs * 1000, 2)} µs (${fmt(1000 / engine.perRecordMs, 0)} records/s on one core)`,
      ],
      [
        'map task of a word count (bench aws/throughput, last run)',
        reference
          ? `${fmt(reference, 0)} records/s per shard`
          : 'not run (npm run bench -- aws/throughput)',
      ],
      ...results.map((r) => [
        `${r.shards} shard(s): engine share of processing at ${fmt(r.limit.rate, 0)}/s`,
        pct(r.limit.engineShare),
      ]),
    ],
  });
  if (otherCores >= 0.25) {
    tables.push({
      title: `NOTE: other processes on this machine used ${fmt(otherCores)} cores on average during the steps (of ${availableParallelism()}); the rates above are lower than on an idle machine`,
      rows: [],
    });
  }

  const svg = chart(
    results.map((r) => ({
      label: `${r.shards} shard${r.shards > 1 ? 's' : ''}`,
      points: r.steps
        .filter((s) => Number.isFinite(s.medianProcessingMs))
        .map((s) => ({ x: s.rate, y: s.medianProcessingMs, pass: s.pass })),
    })),
    {
      batchIntervalMs: B,
      title: 'deployed word count, embedded cloud: input rate vs batch processing time',
    },
  );
  mkdirSync(RESULTS, { recursive: true });
  const svgFile = join(RESULTS, 'local-pipeline.svg');
  writeFileSync(svgFile, svg);

  const worstEngine = Math.max(...results.map((r) => r.limit.engineShare));
  const engineBound = results.filter((r) => r.bound === 'engine');
  const checks: Check[] = [
    atMost('engine share of processing time at the limit, worst', worstEngine, ENGINE_SHARE_TARGET),
  ];
  if (engineBound.length > 0) {
    tables.push({
      title: `FAIL: the engine bounds the pipeline with ${engineBound.map((r) => r.shards).join(', ')} shard(s)`,
      rows: [],
    });
  }
  if (lat) {
    checks.push(atMost('median record-to-state latency, in batch intervals', lat.medianMs / B, 3));
  }
  const one = results[0];
  if (one) {
    const made = dynamoOf(one.empty.perBatch);
    checks.push(
      atLeast(
        'commit metric dynamoRequests / DynamoDB requests made, empty batch',
        made ? one.empty.dynamoRequestsMetric / made : 1,
        0.9,
      ),
    );
  }
  return {
    tables,
    checks,
    data: {
      vocabulary: VOCABULARY,
      wordsPerLine: WORDS_PER_LINE,
      stepMs: STEP_MS,
      batchIntervalMs: B,
      engine,
      otherProcessesCores: otherCores,
      chart: relative(ROOT, svgFile),
      shards: results.map((r) => ({
        shards: r.shards,
        sustainedRecordsPerSecond: r.sustained,
        bound: r.bound,
        warmUp: r.warmUp,
        empty: r.empty,
        latency: r.latency,
        limit: {
          rate: r.limit.rate,
          parts: r.limit.parts,
          engineShare: r.limit.engineShare,
          cores: r.limit.cores,
          dispatch: r.limit.dispatch,
        },
        steps: r.steps.map(({ batches: rows, ...s }) => ({
          ...s,
          batches: rows.map((b) => ({
            timeMs: b.timeMs,
            recordsIn: b.recordsIn,
            processingMs: b.processingMs,
            schedulingDelayMs: b.schedulingDelayMs,
            dynamoRequests: b.dynamoRequests,
            stages: b.stages,
          })),
        })),
      })),
    },
  };
}
