/**
 * `npm start`: runs an example job over generated data and shows its results batch by batch.
 *
 *   npm start                         the hashtag counts, until Ctrl-C
 *   npm start -- --seconds 10         ten seconds, then a summary
 *   npm start -- --job sessions --rate 500 --seed 7
 *
 * The job runs in memory, on the engine's executor, in real time: one batch per batch interval.
 */
import { parseArgs } from 'node:util';
import { encodeKey, hashString, type Job } from 'sparkless';
import { type BatchResult, LocalExecutor } from 'sparkless/testing';
import * as generators from '../examples/generators.js';
import hashtags from '../examples/hashtags.js';
import runningTotals from '../examples/running-totals.js';
import sensorAverages from '../examples/sensor-averages.js';
import sessions from '../examples/sessions.js';
import topPages from '../examples/top-pages.js';

const JOBS: Record<
  string,
  { job: Job; source: string; make: (seed: number) => () => unknown; key: (r: unknown) => string }
> = {
  hashtags: {
    job: hashtags,
    source: 'tweets',
    make: generators.tweets,
    key: (t) => String(t).slice(0, 16),
  },
  'running-totals': {
    job: runningTotals,
    source: 'clicks',
    make: generators.clicks,
    key: (c) => (c as generators.Click).user,
  },
  sessions: {
    job: sessions,
    source: 'clicks',
    make: generators.clicks,
    key: (c) => (c as generators.Click).user,
  },
  'sensor-averages': {
    job: sensorAverages,
    source: 'readings',
    make: generators.readings,
    key: (r) => (r as generators.Reading).sensor,
  },
  'top-pages': {
    job: topPages,
    source: 'clicks',
    make: generators.clicks,
    key: (c) => (c as generators.Click).user,
  },
};

const usage = `usage: npm start -- [--job ${Object.keys(JOBS).join('|')}] [--seconds N] [--rate RECORDS_PER_SECOND] [--seed N] [--shards N]`;

function fail(message: string): never {
  process.stderr.write(`sparkless: ${message}\n${usage}\n`);
  process.exit(2);
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
const chosen = JOBS[String(args.job)] ?? fail(`unknown job '${String(args.job)}'`);
const seconds =
  args.seconds === undefined ? Infinity : positive('seconds', args.seconds as string, 0);
const rate = positive('rate', args.rate as string | undefined, 200);
const seed = Math.floor(positive('seed', args.seed as string | undefined, 42));
const shards = Math.floor(positive('shards', args.shards as string | undefined, 2));

const { job } = chosen;
const next = chosen.make(seed);
const interval = job.batchIntervalMs;
const printed: string[] = [];
const exec = new LocalExecutor(job, { onRecordError: 'deadLetter', log: (l) => printed.push(l) });

process.stdout.write(
  `${job.explain()}\n\nRunning '${job.name}' in memory at ${rate} records/s over ${shards} shards (seed ${seed})${Number.isFinite(seconds) ? ` for ${seconds}s` : '; Ctrl-C stops'}.\n\n`,
);

const totals = { batches: 0, records: 0, deadLetters: 0, processingMs: 0, maxDelayMs: 0 };
let stopping = false;
process.on('SIGINT', () => {
  stopping = true;
});

function input(count: number): Record<string, unknown[][]> {
  const perShard: unknown[][] = Array.from({ length: shards }, () => []);
  for (let i = 0; i < count; i++) {
    const record = next();
    const shard = hashString(encodeKey(chosen.key(record))) % shards;
    perShard[shard]!.push({ data: typeof record === 'string' ? record : JSON.stringify(record) });
  }
  return { [chosen.source]: perShard };
}

function show(result: BatchResult, processingMs: number, delayMs: number) {
  const clock = new Date(result.timeMs).toISOString().slice(11, 19);
  const records = Object.values(result.recordsIn).reduce((a, b) => a + b, 0);
  const lines = [
    `${clock}  ${String(records).padStart(5)} records in  processed in ${processingMs.toFixed(1)} ms  scheduling delay ${delayMs.toFixed(0)} ms`,
  ];
  const shown = printed
    .splice(0)
    .filter((l) => l && !l.startsWith('----') && !l.startsWith('Time:'));
  const pairs = shown.map((l) => {
    try {
      const v: unknown = JSON.parse(l);
      return Array.isArray(v) && v.length === 2
        ? `${String(v[0])} ${JSON.stringify(v[1])}`
        : undefined;
    } catch {
      return undefined;
    }
  });
  if (shown.length && pairs.every((p, i) => p !== undefined || shown[i] === '...')) {
    lines.push(`    ${pairs.map((p) => p ?? '...').join('  ')}`);
  } else for (const l of shown) lines.push(`    ${l}`);
  for (const [name, table] of exec.tables) {
    const changed = [...table.values()].filter((e) => e.timeMs === result.timeMs);
    if (changed.length === 0) continue;
    const top = changed.sort((a, b) => Number(b.value) - Number(a.value)).slice(0, 5);
    lines.push(
      `    ${name}: ${changed.length} keys updated; ${top.map((e) => `${String(e.key)}=${JSON.stringify(e.value)}`).join('  ')}`,
    );
  }
  for (const [name, stream] of exec.streams) {
    const now = stream.filter((r) => r.timeMs === result.timeMs);
    if (now.length)
      lines.push(`    ${name}: ${now.length} records, e.g. ${JSON.stringify(now[0]!.record)}`);
  }
  if (result.deadLetters.length)
    lines.push(
      `    ${result.deadLetters.length} records dead-lettered, e.g. ${result.deadLetters[0]!.error}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

const started = Date.now();
let t = Math.ceil(Date.now() / interval) * interval;
while (!stopping && (t - started) / 1000 < seconds + interval / 1000) {
  const wait = t - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  if (stopping || (t - started) / 1000 > seconds) break;
  const delayMs = Date.now() - t;
  const batch = input(Math.round((rate * interval) / 1000));
  const before = performance.now();
  const result = await exec.runBatch(t, batch);
  const processingMs = performance.now() - before;
  totals.batches++;
  totals.records += Object.values(result.recordsIn).reduce((a, b) => a + b, 0);
  totals.deadLetters += result.deadLetters.length;
  totals.processingMs += processingMs;
  totals.maxDelayMs = Math.max(totals.maxDelayMs, delayMs);
  show(result, processingMs, delayMs);
  t += interval;
}

process.stdout.write(
  `\nSummary: ${totals.batches} batches, ${totals.records} records in, ${totals.deadLetters} dead-lettered, ` +
    `mean processing ${(totals.processingMs / Math.max(1, totals.batches)).toFixed(1)} ms per batch, ` +
    `max scheduling delay ${totals.maxDelayMs} ms\n`,
);
for (const s of job.plan.stateful) {
  // Windows without an inverse keep panes, not a value per key.
  if (s.kind === 'window' || (s.kind === 'reduceByKeyAndWindow' && !s.inverse)) continue;
  process.stdout.write(`State '${s.name}': ${exec.state(s.id).length} keys\n`);
}
