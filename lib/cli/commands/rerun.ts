/**
 * `sparkless rerun <time>`: runs one past batch of a stateless job again, in memory, over
 * exactly the records it read (its plan's start positions and its claims' record counts, read
 * again from Kinesis), and prints what it outputs. Writes nothing: the in-memory executor keeps
 * its sinks in memory.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kinesisClient } from '../../aws/clients.js';
import { KinesisShardReader } from '../../aws/kinesis-reader.js';
import { batchLayout } from '../../aws/worker.js';
import { describeJobModule, JOB_FILE } from '../../constructs/job-module.js';
import type { DeploymentInfo } from '../../contract/deployment.js';
import type { SourceRecord } from '../../core/executor.js';
import { isJob, type Job } from '../../core/job.js';
import { LocalExecutor } from '../../core/testing/index.js';
import { clock, count, show } from '../format.js';
import { batchRecord } from '../inspect.js';
import {
  CliError,
  type CliIO,
  intOption,
  parse,
  positionals,
  println,
  TARGET_HELP,
  TARGET_OPTIONS,
  usageError,
} from '../io.js';
import { connect, describeAwsError, pickJob, type Target } from '../target.js';
import { batchTime } from './batches.js';

export const RERUN_HELP = `usage: sparkless rerun <time> [--job-module PATH] [--records N] [--json]

Runs one past batch of a stateless job again, in memory, over exactly the records it read:
each map task's slice is read again from its Kinesis stream, from the position the batch's
plan recorded, for as many records as the task's claim says it read. Prints what the batch
outputs (print, results tables, output streams, dead letters) and whether its output counts
match the recorded ones. Writes nothing: tables and streams stay in memory. The records must
still be in the stream (its retention: a day by default).

A job with state (updateStateByKey, mapWithState, windows...) is refused: its batch would need
the state as it was before that batch, which is not kept. foreachRDD functions run only with
--run-foreach, since they may write elsewhere.

<time> is a batch time as batches shows it (10:11:12, UTC), epoch milliseconds, an ISO time,
or 'latest'.

Options:
  --job-module PATH   the job's module (needed on AWS and LocalStack; on the embedded cloud
                      the module deployed is found by itself)
  --records N         records shown per output (default 20)
  --run-foreach       run the job's foreachRDD functions too
  --json              everything as one JSON object

${TARGET_HELP}`;

const OPTIONS = {
  ...TARGET_OPTIONS,
  'job-module': { type: 'string' },
  records: { type: 'string' },
  'run-foreach': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** What `rerun --json` prints. */
export interface RerunView {
  readonly job: string;
  readonly timeMs: number;
  readonly recordsIn: number;
  readonly shards: ReadonlyArray<{
    readonly source: string;
    readonly shardId: string;
    readonly records: number;
    /** What the batch's claim says it read. */
    readonly recorded: number;
  }>;
  readonly printed: readonly string[];
  readonly tables: Readonly<Record<string, ReadonlyArray<{ key: unknown; value: unknown }>>>;
  readonly streams: Readonly<Record<string, readonly unknown[]>>;
  readonly deadLetters: ReadonlyArray<{ operator: string; error: string; subject: unknown }>;
  /** Records each output received, by operator id: in the re-run and as recorded. */
  readonly recordsOut: Readonly<Record<string, { rerun: number; recorded: number | null }>>;
  /** Where the re-run differs from what the batch recorded (empty when it agrees). */
  readonly differences: readonly string[];
}

export async function rerunCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('rerun', args, OPTIONS);
  if (values.help) {
    println(io.stdout, RERUN_HELP);
    return 0;
  }
  const [timeText] = positionals('rerun', given, ['time']) as [string];
  const shown = intOption('rerun', 'records', values.records, 20, { min: 0, max: 1_000_000 });
  const target = await connect('rerun', values, io);
  const d = pickJob('rerun', target, values.job);
  if (d.stateful.length > 0) {
    throw new CliError(
      `rerun: job '${d.jobName}' keeps state (${d.stateful.map((s) => `'${s.name}' (${s.kind})`).join(', ')}): re-running one of its batches would need that state as it was before the batch, which is not kept; rerun works on stateless jobs (use sparkless batch to see what a batch did)`,
    );
  }
  const timeMs = await batchTime('rerun', d, timeText);
  const record = await batchRecord(d, timeMs).catch((e: unknown) => {
    throw new CliError(`rerun: ${describeAwsError(e, `the batches of job '${d.jobName}'`)}`);
  });
  const { plan, commit } = record;
  if (!plan || !commit) {
    throw new CliError(
      `rerun: batch ${clock(timeMs, d.batchIntervalMs)} (${timeMs}) of job '${d.jobName}' is ${plan ? 'planned but not committed yet' : 'not recorded (plans are kept for a day by default)'}; rerun a committed batch (sparkless batches lists them)`,
    );
  }

  const job = await loadDeployedJob(d, target, values['job-module'], io);
  if (!values['run-foreach'] && job.plan.operators.some((o) => o.op === 'foreachRDD')) {
    throw new CliError(
      `rerun: job '${d.jobName}' has foreachRDD outputs, whose functions may write elsewhere; add --run-foreach to run them anyway`,
    );
  }
  const layout = batchLayout(job, timeMs);
  if (layout.planHash !== plan.planHash) {
    throw new CliError(
      `rerun: the job module's plan of this batch (hash ${layout.planHash}) is not the one the batch ran (hash ${plan.planHash}); give the module that was deployed with --job-module`,
    );
  }

  // Each map task's slice, read again: from the plan's position, as many records as it read.
  const reader = new KinesisShardReader(kinesisClient(), d.sources, 64 * 1024 * 1024);
  const input: Record<string, SourceRecord[][]> = {};
  const shards: Array<RerunView['shards'][number]> = [];
  const differences: string[] = [];
  for (const [source, tasks] of Object.entries(plan.sources)) {
    const stage = layout.stages.find((s) => s.kind === 'map' && s.source === source);
    input[source] = await Promise.all(
      tasks.map(async (task, i) => {
        const claim = record.claims.find((c) => c.stage === stage?.id && c.task === i);
        const recorded = claim?.slice?.records ?? 0;
        if (!claim?.slice) {
          differences.push(`source '${source}' task ${i} (${task.shardId}) has no claim`);
        }
        if (recorded === 0) {
          shards.push({ source, shardId: task.shardId, records: 0, recorded });
          return [];
        }
        const slice = await reader.readSlice(source, task, timeMs, recorded).catch((e: unknown) => {
          throw new CliError(
            `rerun: ${describeAwsError(e, `shard ${task.shardId} of stream ${d.sources[source]}`)}`,
          );
        });
        const records = slice.records;
        shards.push({ source, shardId: task.shardId, records: records.length, recorded });
        const last = records[records.length - 1]?.sequenceNumber;
        if (records.length !== recorded || last !== claim?.slice?.endSequence) {
          differences.push(
            `${task.shardId}: read ${records.length} records up to ${last ?? 'none'}, the batch read ${recorded} up to ${claim?.slice?.endSequence ?? 'none'}${slice.summary.trimmedGap ? ' (records were trimmed by the stream retention)' : ''}`,
          );
        }
        return records.map((r) => ({
          data: r.data,
          partitionKey: r.partitionKey,
          sequenceNumber: r.sequenceNumber,
          arrivalTimeMs: r.arrivalTimeMs,
        }));
      }),
    );
  }

  const exec = new LocalExecutor(job, { onRecordError: 'deadLetter' });
  let result: Awaited<ReturnType<LocalExecutor['runBatch']>>;
  try {
    result = await exec.runBatch(timeMs, input);
  } catch (e) {
    throw new CliError(`rerun: the batch failed in memory: ${(e as Error).message}`);
  }
  const recordsOut: Record<string, { rerun: number; recorded: number | null }> = {};
  for (const op of new Set([
    ...Object.keys(result.recordsOut),
    ...Object.keys(commit.metrics.recordsOut),
  ])) {
    const rerun = result.recordsOut[op] ?? 0;
    const recorded = commit.metrics.recordsOut[op] ?? null;
    recordsOut[op] = { rerun, recorded };
    if (recorded !== null && recorded !== rerun) {
      differences.push(`${op}: ${rerun} records out, the batch recorded ${recorded}`);
    }
  }
  if (result.deadLetters.length !== commit.metrics.deadLettered) {
    differences.push(
      `${result.deadLetters.length} dead-lettered, the batch recorded ${commit.metrics.deadLettered}`,
    );
  }
  const view: RerunView = {
    job: d.jobName,
    timeMs,
    recordsIn: shards.reduce((n, s) => n + s.records, 0),
    shards,
    printed: result.printed,
    tables: Object.fromEntries(
      [...exec.tables].map(([name, entries]) => [
        name,
        [...entries.values()].map((e) => ({ key: e.key, value: e.value })),
      ]),
    ),
    streams: Object.fromEntries(
      [...exec.streams].map(([name, rs]) => [name, rs.map((r) => r.record)]),
    ),
    deadLetters: result.deadLetters.map((l) => ({
      operator: l.operator,
      error: l.error,
      subject: l.subject,
    })),
    recordsOut,
    differences,
  };
  if (values.json) {
    println(io.stdout, JSON.stringify(view));
    return 0;
  }
  for (const line of describeRerun(view, d, shown)) println(io.stdout, line);
  return 0;
}

function describeRerun(v: RerunView, d: DeploymentInfo, shown: number): string[] {
  const lines = [
    `re-ran batch ${clock(v.timeMs, d.batchIntervalMs)} (${v.timeMs}) of job '${v.job}' in memory over the records it read: ${count(v.recordsIn, 'record')} from ${count(v.shards.length, 'shard')}; nothing was written`,
  ];
  const printed = v.printed.filter(
    (l) => l !== '' && !l.startsWith('-----') && !l.startsWith('Time: '),
  );
  if (printed.length) {
    lines.push('', 'printed:');
    for (const l of printed) lines.push(`  ${l}`);
  }
  for (const [name, entries] of Object.entries(v.tables)) {
    lines.push('', `table '${name}': ${entries.length} keys`);
    for (const e of entries.slice(0, shown)) lines.push(`  ${show(e.key)} = ${show(e.value)}`);
    if (entries.length > shown) lines.push(`  ... ${entries.length - shown} more`);
  }
  for (const [name, records] of Object.entries(v.streams)) {
    lines.push('', `stream '${name}': ${records.length} records`);
    for (const r of records.slice(0, shown)) lines.push(`  ${show(r)}`);
    if (records.length > shown) lines.push(`  ... ${records.length - shown} more`);
  }
  lines.push('', `dead letters: ${v.deadLetters.length || 'none'}`);
  for (const l of v.deadLetters.slice(0, shown)) {
    lines.push(`  ${l.operator}: ${l.error}; ${show(l.subject, 100)}`);
  }
  lines.push('');
  if (v.differences.length === 0) {
    lines.push('the re-run read the same records and output as many records as the batch did');
  } else {
    lines.push('the re-run differs from the batch as recorded:');
    for (const diff of v.differences) lines.push(`  ${diff}`);
  }
  return lines;
}

/**
 * The job the deployment runs: from --job-module (bundled as the construct bundles it), or, on
 * the embedded cloud, the bundle its functions carry (`job.mjs` in their code directories).
 */
async function loadDeployedJob(
  d: DeploymentInfo,
  target: Target,
  modulePath: string | undefined,
  io: CliIO,
): Promise<Job> {
  if (modulePath !== undefined) {
    const path = resolve(io.cwd, modulePath);
    const dir = join(io.cwd, '.sparkless', `rerun-${process.pid}-${Date.now().toString(36)}`);
    try {
      let bundleDir: string;
      try {
        bundleDir = describeJobModule(path, dir, `rerun: --job-module ${modulePath}`).bundleDir;
      } catch (e) {
        throw usageError((e as Error).message);
      }
      const job = await importJob(join(bundleDir, JOB_FILE));
      if (job?.name !== d.jobName) {
        throw usageError(
          `rerun: --job-module ${modulePath} defines job '${job?.name}', not '${d.jobName}'; give the module of the deployed job`,
        );
      }
      return job;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (!target.local) {
    throw usageError(
      `rerun: give the job's module with --job-module <path>: on ${target.where} the module is inside the functions' bundles`,
    );
  }
  const root = join(io.cwd, '.sparkless');
  const bundles = findFiles(root, JOB_FILE, 5);
  // The running cloud's own run directory first.
  const mine = bundles.filter((f) => f.includes(`run-${target.local?.pid}-`));
  const seen = new Set<string>();
  for (const file of [...mine, ...bundles]) {
    const hash = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (seen.has(hash)) continue;
    seen.add(hash);
    const job = await importJob(file).catch(() => undefined);
    if (job?.name === d.jobName) return job;
  }
  throw usageError(
    `rerun: the module of job '${d.jobName}' was not found among the bundles under ${root}; give it with --job-module <path>`,
  );
}

async function importJob(file: string): Promise<Job | undefined> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  return isJob(mod.default) ? mod.default : undefined;
}

/** Files named `name` under `dir`, down to `depth` levels. */
function findFiles(dir: string, name: string, depth: number): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isFile() && e.name === name) found.push(path);
    else if (e.isDirectory() && depth > 0 && e.name !== 'node_modules') {
      found.push(...findFiles(path, name, depth - 1));
    }
  }
  return found;
}
