/**
 * `npm start`: runs an example job on the embedded cloud, the way it runs on AWS, and shows it
 * batch by batch.
 *
 *   npm start                         the hashtag counts, until Ctrl-C
 *   npm start -- --seconds 10         ten seconds, then the final results and a summary
 *   npm start -- --job sessions --rate 500 --seed 7
 *   npm start -- --ui-port 8080        the streaming UI on port 8080 (default: a free port)
 *
 * The example's stack (infra/stacks.ts) is synthesized with the StreamingJob construct and
 * deployed from its template onto the embedded cloud: kinesis-local, dynalite and the local
 * Lambda service on loopback (lib/cli/launch.ts). A generator puts seeded, skewed records into
 * the job's stream through the Kinesis API; each committed batch is read back from the job's
 * control table with its metrics, beside what the job printed and wrote.
 */

import { parseArgs } from 'node:util';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import * as generators from '../examples/generators.js';
import { EXAMPLES, type ExampleName, ExampleStack } from '../infra/stacks.js';
import { documentClient, dynamoClient, kinesisClient } from '../lib/aws/clients.js';
import type { BatchCommit } from '../lib/aws/protocol.js';
import { DynamoStateStore } from '../lib/aws/stores/dynamo.js';
import { recentBatches } from '../lib/cli/inspect.js';
import { explainLaunchFailure, type Launched, launchLocal } from '../lib/cli/launch.js';
import type { DeploymentInfo } from '../lib/contract/deployment.js';
import { SparklessError } from '../lib/core/errors.js';
import { type RunningUi, startUi } from '../lib/ui/server.js';

/** How each example's records are made, keyed and shown. */
const GENERATORS: Record<
  ExampleName,
  { make: (seed: number) => () => unknown; key: (r: unknown) => string }
> = {
  hashtags: { make: generators.tweets, key: (t) => String(t).slice(0, 24) },
  'running-totals': { make: generators.clicks, key: (c) => (c as generators.Click).user },
  sessions: { make: generators.clicks, key: (c) => (c as generators.Click).user },
  'sensor-averages': { make: generators.readings, key: (r) => (r as generators.Reading).sensor },
  'top-pages': { make: generators.clicks, key: (c) => (c as generators.Click).user },
};

const usage = `usage: npm start -- [--job ${Object.keys(EXAMPLES).join('|')}] [--seconds N] [--rate RECORDS_PER_SECOND] [--seed N] [--shards N] [--port N] [--ui-port N]`;

function fail(message: string, code = 2): never {
  process.stderr.write(`sparkless: ${message}\n${code === 2 ? `${usage}\n` : ''}`);
  process.exit(code);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got '${value}'`);
  return n;
}

let args: ReturnType<typeof parseArgs>['values'];
try {
  args = parseArgs({
    options: {
      job: { type: 'string', default: 'hashtags' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      shards: { type: 'string' },
      port: { type: 'string' },
      'ui-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const name = String(args.job) as ExampleName;
const example = EXAMPLES[name] ?? fail(`unknown job '${String(args.job)}'`);
const generator = GENERATORS[name];
const seconds =
  args.seconds === undefined ? Infinity : positive('seconds', args.seconds as string, 0);
const rate = positive('rate', args.rate as string | undefined, 200);
const seed = Math.floor(positive('seed', args.seed as string | undefined, 42));
const shards = Math.floor(positive('shards', args.shards as string | undefined, example.shards));
const port = args.port === undefined ? 0 : Math.floor(positive('port', args.port as string, 0));
const uiPortText = args['ui-port'] as string | undefined;
const uiPort = uiPortText === undefined ? 0 : Number(uiPortText);
if (!Number.isInteger(uiPort) || uiPort < 0 || uiPort > 65535) {
  fail(`--ui-port must be a port number (0 for a free one), got '${uiPortText}'`);
}

const started = Date.now();
const progress = (message: string) =>
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);

progress(`starting the embedded cloud for '${name}': ${example.description}`);
let running: Launched;
try {
  running = await launchLocal({
    stacks: (app) => [new ExampleStack(app, example, { shards })],
    cloud: { port },
    onProgress: progress,
  });
} catch (e) {
  fail(explainLaunchFailure(e as Error, 'the example'), 1);
}
Object.assign(process.env, running.cloud.env());
delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
const info = running.jobs[0] ?? fail('the example stack deployed no job', 1);
const stream = info.sources[example.source] ?? fail(`no stream for '${example.source}'`, 1);
// The streaming UI (lib/ui), reading the job's tables as it would on AWS.
let ui: RunningUi;
try {
  ui = await startUi({ jobs: () => running.jobs, port: uiPort });
} catch (e) {
  await running.stop();
  fail(
    SparklessError.is(e, 'UI_PORT_IN_USE')
      ? `port ${uiPort} is in use for the streaming UI: choose another with --ui-port, or leave it out to use a free one`
      : `could not start the streaming UI: ${(e as Error).message}`,
    1,
  );
}
progress(`streaming UI at ${ui.url}`);
progress(
  `job '${info.jobName}' deployed; putting ${rate} records/s (seed ${seed}) into ${stream}${Number.isFinite(seconds) ? ` for ${seconds}s` : '; Ctrl-C stops'}`,
);
process.stdout.write('\n');

// What the job prints (print()) comes out of the coordinator, as on a Spark driver.
const printed: string[] = [];
running.cloud.lambda.on('log', (line: { function: string; stream: string; text: string }) => {
  if (line.function !== info.functions.coordinator || line.stream !== 'stdout') return;
  if (line.text.startsWith('{')) return; // metrics (embedded metric format)
  printed.push(line.text);
});

// ---- the generator ----------------------------------------------------------------------------

const next = generator.make(seed);
const kinesis = kinesisClient();
let sent = 0;
let lastPutMs = 0;
let generating = true;
const generatorDone = (async () => {
  const t0 = Date.now();
  while (generating) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate) - sent;
    for (let i = 0; i < due; i += 500) {
      const records = Array.from({ length: Math.min(500, due - i) }, () => {
        const record = next();
        return {
          Data: new TextEncoder().encode(
            typeof record === 'string' ? record : JSON.stringify(record),
          ),
          PartitionKey: generator.key(record),
        };
      });
      let pending = records;
      while (pending.length) {
        const out = await kinesis.send(
          new PutRecordsCommand({ StreamName: stream, Records: pending }),
        );
        // Put again what was refused (throttled), in order.
        pending = pending.filter((_, j) => out.Records?.[j]?.ErrorCode);
      }
      sent += records.length;
      lastPutMs = Date.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
})();

// ---- the batches ------------------------------------------------------------------------------

const totals = { batches: 0, records: 0, deadLetters: 0, processingMs: 0, maxDelayMs: 0 };
let shownUpTo = 0;

async function showNewBatches(): Promise<number> {
  const commits = (await recentBatches(info, 50)).filter((c) => c.timeMs > shownUpTo).reverse();
  for (const c of commits) {
    shownUpTo = c.timeMs;
    totals.batches++;
    totals.records += c.metrics.recordsIn;
    totals.deadLetters += c.metrics.deadLettered;
    totals.processingMs += c.metrics.processingMs;
    totals.maxDelayMs = Math.max(totals.maxDelayMs, c.metrics.schedulingDelayMs);
    process.stdout.write(`${await describeBatch(c)}\n`);
  }
  return commits.length;
}

async function describeBatch(c: BatchCommit): Promise<string> {
  const m = c.metrics;
  const clock = new Date(c.timeMs).toISOString().slice(11, 19);
  const lines = [
    `${clock}  ${String(m.recordsIn).padStart(5)} records in  processing ${String(m.processingMs).padStart(5)} ms  scheduling delay ${String(m.schedulingDelayMs).padStart(5)} ms  total delay ${String(m.totalDelayMs).padStart(5)} ms`,
  ];
  const shown = printed
    .splice(0)
    .filter((l) => l && !l.startsWith('----') && !l.startsWith('Time:'));
  if (shown.length) lines.push(`    ${shown.map(pairText).join('  ')}`);
  for (const [sink, target] of Object.entries(info.sinks)) {
    if (target.kind === 'table') {
      const items = (await scan(target.table)).filter((i) => i.timeMs === c.timeMs);
      if (items.length === 0) continue;
      const top = items.sort((a, b) => Number(b.value) - Number(a.value)).slice(0, 5);
      lines.push(
        `    ${sink}: ${items.length} keys updated; ${top.map((e) => `${String(e.key)}=${JSON.stringify(e.value)}`).join('  ')}`,
      );
    } else {
      const out = Object.values(m.recordsOut).reduce((a, b) => a + b, 0);
      if (out) lines.push(`    ${sink}: ${out} records out`);
    }
  }
  if (m.deadLettered) lines.push(`    ${m.deadLettered} records dead-lettered`);
  return lines.join('\n');
}

/** `["#spark",3]` as `#spark 3`; anything else as it was printed. */
function pairText(line: string): string {
  try {
    const v: unknown = JSON.parse(line);
    if (Array.isArray(v) && v.length === 2) return `${String(v[0])} ${JSON.stringify(v[1])}`;
  } catch {
    // Not JSON: as printed.
  }
  return line;
}

async function scan(
  table: string,
): Promise<Array<{ key: unknown; value: unknown; timeMs: number }>> {
  const items: Array<{ key: unknown; value: unknown; timeMs: number }> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documentClient().send(
      new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    for (const i of page.Items ?? []) {
      items.push({ key: i.key, value: i.value, timeMs: i.timeMs as number });
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The final results: each stateful operator's biggest values, and each results table's. */
async function finalResults(d: DeploymentInfo): Promise<string[]> {
  const lines: string[] = [];
  const stateStore = d.tables.state
    ? new DynamoStateStore({ client: dynamoClient(), table: d.tables.state, job: d.jobName })
    : undefined;
  for (const s of d.stateful) {
    // Windows without an inverse keep panes, not a value per key.
    if (!stateStore || s.kind === 'window' || s.kind === 'groupByKeyAndWindow') continue;
    const entries: Array<[unknown, unknown]> = [];
    for (let p = 0; p < s.partitions; p++) {
      for (const e of (await stateStore.list(s.name, p)).values()) entries.push([e.key, e.value]);
    }
    if (entries.length === 0) continue;
    const numeric = entries.every(([, v]) => typeof v === 'number');
    const top = numeric ? entries.sort((a, b) => (b[1] as number) - (a[1] as number)) : entries;
    lines.push(
      `State '${s.name}': ${entries.length} keys; ${numeric ? 'top' : 'e.g.'}: ${top
        .slice(0, 10)
        .map(([k, v]) => `${String(k)}=${JSON.stringify(v)}`)
        .join('  ')}`,
    );
  }
  for (const [sink, target] of Object.entries(d.sinks)) {
    if (target.kind !== 'table') continue;
    const items = await scan(target.table);
    const top = items.sort((a, b) => Number(b.value) - Number(a.value)).slice(0, 10);
    lines.push(
      `Table '${sink}': ${items.length} keys; top: ${top.map((e) => `${String(e.key)}=${JSON.stringify(e.value)}`).join('  ')}`,
    );
  }
  return lines;
}

// ---- running and stopping ---------------------------------------------------------------------

let stopRequested = false;
const stopSignal = new Promise<void>((resolve) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopRequested = true;
      resolve();
    });
  }
});

// --seconds counts from when the job is deployed and records flow.
const runUntil = Date.now() + seconds * 1000;
while (!stopRequested && Date.now() < runUntil) {
  await showNewBatches();
  await Promise.race([new Promise((r) => setTimeout(r, 250)), stopSignal]);
}
generating = false;
await generatorDone;

if (!stopRequested) {
  // Let the job read everything that was put: its batch, the grace before planning, and one
  // more batch, then show the batches that committed meanwhile.
  const drainUntil = lastPutMs + 3 * info.batchIntervalMs + 1_000;
  const giveUpAt = Date.now() + 60_000;
  while (shownUpTo < drainUntil && Date.now() < giveUpAt && !stopRequested) {
    await showNewBatches();
    await new Promise((r) => setTimeout(r, 250));
  }
  process.stdout.write(`\nFinal results after ${sent} records:\n`);
  for (const line of await finalResults(info)) process.stdout.write(`${line}\n`);
}

process.stdout.write(
  `\nSummary: ${totals.batches} batches, ${sent} records put, ${totals.records} records in, ${totals.deadLetters} dead-lettered, ` +
    `mean processing ${(totals.processingMs / Math.max(1, totals.batches)).toFixed(0)} ms per batch, ` +
    `max scheduling delay ${totals.maxDelayMs} ms\n`,
);
await ui.stop();
await running.stop();
process.exit(0);
