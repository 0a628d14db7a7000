/**
 * `sparkless batches`: the job's recent committed batches with their metrics; `sparkless batch
 * <time>`: one past batch, as recorded: its plan, the stages and claims of its tasks, and the
 * outputs it produced, read from the intents kept for recent batches.
 */
import type { Intent, ShardTask, SliceSummary, TaskClaim } from '../../aws/protocol.js';
import type { DeploymentInfo } from '../../contract/deployment.js';
import { clock, count, duration, parseBatchTime, show, table } from '../format.js';
import {
  type BatchRecord,
  batchRecord,
  functionEnvironment,
  recentBatches,
  settingsOf,
  taskIntent,
} from '../inspect.js';
import {
  CliError,
  type CliIO,
  intOption,
  parse,
  positionals,
  println,
  TARGET_HELP,
  TARGET_OPTIONS,
} from '../io.js';
import { connect, describeAwsError, pickJob } from '../target.js';

export const BATCHES_HELP = `usage: sparkless batches [--limit N] [--json]

Lists the job's recent committed batches, oldest first, with their metrics: the batch time
(UTC), records in, processing time, scheduling delay (from the batch time to the start of
processing), total delay (to the commit), dead-lettered records and DynamoDB requests.

Options:
  --limit N   how many batches (default 20, at most 1000)
  --json      one JSON object per batch (its commit: time, epoch, metrics)

${TARGET_HELP}`;

export const BATCH_HELP = `usage: sparkless batch <time> [--records N] [--json]

Shows one past batch as the job recorded it: its plan (the map tasks of each source and where
each starts reading its shard), its stages with their times, the claim of each task (attempt,
duration, records, the slice it read), and the outputs it produced, read from the intents the
job keeps for its recent batches (the last 10 unless its settings say otherwise: intentsKept).
<time> is a batch time as batches shows it (10:11:12, UTC), epoch milliseconds, an ISO time,
or 'latest'.

Options:
  --records N   records shown per output (default 5)
  --json        everything as one JSON object

${TARGET_HELP}`;

const BATCHES_OPTIONS = {
  ...TARGET_OPTIONS,
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;
const BATCH_OPTIONS = {
  ...TARGET_OPTIONS,
  records: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function batchesCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('batches', args, BATCHES_OPTIONS);
  if (values.help) {
    println(io.stdout, BATCHES_HELP);
    return 0;
  }
  positionals('batches', given, []);
  const limit = intOption('batches', 'limit', values.limit, 20, { min: 1, max: 1000 });
  const d = pickJob('batches', await connect('batches', values, io), values.job);
  const commits = await recentBatches(d, limit).catch((e: unknown) => {
    throw new CliError(`batches: ${describeAwsError(e, `the batches of job '${d.jobName}'`)}`);
  });
  commits.reverse();
  if (values.json) {
    for (const c of commits) println(io.stdout, JSON.stringify(c));
    return 0;
  }
  if (commits.length === 0) {
    println(
      io.stdout,
      `job '${d.jobName}' has committed no batch yet (its schedule starts it every minute; sparkless resume starts it now)`,
    );
    return 0;
  }
  const rows = commits.map((c) => {
    const m = c.metrics;
    return [
      clock(c.timeMs, d.batchIntervalMs),
      String(m.recordsIn),
      duration(m.processingMs),
      duration(m.schedulingDelayMs),
      duration(m.totalDelayMs),
      String(m.deadLettered),
      String(m.dynamoRequests),
    ];
  });
  println(
    io.stdout,
    table(
      [
        'time (UTC)',
        'records in',
        'processing',
        'scheduling delay',
        'total delay',
        'dead letters',
        'DynamoDB requests',
      ],
      rows,
    ),
  );
  return 0;
}

/** What `batch --json` prints. */
export interface BatchView extends BatchRecord {
  readonly job: string;
  readonly status: 'committed' | 'planned' | 'unknown';
  /** How many recent batches keep their intents, and whether the deployment said so. */
  readonly intentsKept: number;
  /** Whether the batch is older than the intents kept. */
  readonly intentsDeleted: boolean;
  readonly intents: ReadonlyArray<{
    readonly stage: number;
    readonly task: number;
    readonly intent: Intent | null;
  }>;
}

export async function batchCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('batch', args, BATCH_OPTIONS);
  if (values.help) {
    println(io.stdout, BATCH_HELP);
    return 0;
  }
  const [timeText] = positionals('batch', given, ['time']) as [string];
  const shown = intOption('batch', 'records', values.records, 5, { min: 0, max: 100_000 });
  const d = pickJob('batch', await connect('batch', values, io), values.job);
  const view = await readBatch('batch', d, timeText).catch((e: unknown) => {
    if (e instanceof CliError) throw e;
    throw new CliError(`batch: ${describeAwsError(e, `the batches of job '${d.jobName}'`)}`);
  });
  if (values.json) {
    println(io.stdout, JSON.stringify(view));
    return 0;
  }
  for (const line of describeBatch(d, view, shown)) println(io.stdout, line);
  return 0;
}

/** A batch time from the command line: as parseBatchTime reads it, or 'latest'. */
export async function batchTime(
  command: string,
  d: DeploymentInfo,
  timeText: string,
): Promise<number> {
  if (timeText !== 'latest') {
    return parseBatchTime(command, timeText, d.batchIntervalMs, Date.now());
  }
  const [latest] = await recentBatches(d, 1);
  if (!latest) throw new CliError(`${command}: job '${d.jobName}' has committed no batch yet`);
  return latest.timeMs;
}

/** Reads everything recorded of one batch, or fails saying why there is nothing. */
export async function readBatch(
  command: string,
  d: DeploymentInfo,
  timeText: string,
): Promise<BatchView> {
  const timeMs = await batchTime(command, d, timeText);
  const record = await batchRecord(d, timeMs);
  const B = d.batchIntervalMs;
  if (!record.plan && !record.commit) {
    const range =
      record.head === undefined
        ? 'it has committed no batch yet'
        : `its recorded batches run from ${clock(record.oldest ?? record.head, B)} (${record.oldest ?? record.head}) to ${clock(record.head, B)} (${record.head})`;
    const why =
      record.head !== undefined && timeMs > record.head
        ? 'it is not planned yet'
        : 'no batch of that time is recorded (plans and claims are kept for controlRetentionMs, a day by default; an idle job still commits a batch every interval)';
    throw new CliError(
      `${command}: job '${d.jobName}' has no batch at ${clock(timeMs, B)} (${timeMs}): ${why}; ${range}`,
    );
  }
  const settings = settingsOf(await functionEnvironment(d));
  const kept = settings.intentsKept;
  // The coordinator deletes a batch's intents when the batch `kept` intervals later commits.
  const intentsDeleted = record.head !== undefined && timeMs <= record.head - kept * B;
  const intents = intentsDeleted
    ? []
    : await Promise.all(
        record.claims
          .filter((c) => c.intent)
          .map(async (c) => ({
            stage: c.stage,
            task: c.task,
            intent: (await taskIntent(d, c)) ?? null,
          })),
      );
  return {
    ...record,
    job: d.jobName,
    status: record.commit ? 'committed' : record.plan ? 'planned' : 'unknown',
    intentsKept: kept,
    intentsDeleted,
    intents,
  };
}

function describeBatch(d: DeploymentInfo, v: BatchView, shown: number): string[] {
  const B = d.batchIntervalMs;
  const lines: string[] = [];
  const at = `${new Date(v.timeMs).toISOString()} (${v.timeMs})`;
  lines.push(
    `batch ${at} of job '${d.jobName}': ${v.commit ? 'committed' : 'planned, not committed yet'}`,
  );
  if (v.commit) {
    const m = v.commit.metrics;
    lines.push(
      `  ${count(m.recordsIn, 'record')} in (${m.bytesIn} bytes), processing ${duration(m.processingMs)}, scheduling delay ${duration(m.schedulingDelayMs)}, total delay ${duration(m.totalDelayMs)}`,
      `  ${m.deadLettered} dead-lettered, ${m.taskErrors} task errors, ${m.taskRetries} retries, ${m.dynamoRequests} DynamoDB requests (${m.consumedCapacityUnits} capacity units)`,
    );
    const out = Object.entries(m.recordsOut);
    if (out.length) lines.push(`  records out: ${out.map(([op, n]) => `${op} ${n}`).join(', ')}`);
    const keys = Object.entries(m.keysInState);
    if (keys.length)
      lines.push(`  keys in state: ${keys.map(([s, n]) => `'${s}' ${n}`).join(', ')}`);
  }

  lines.push('', 'plan:');
  if (v.plan) {
    const p = v.plan;
    lines.push(
      `  planned ${duration(p.plannedAtMs - v.timeMs)} after the batch time by the coordinator of lease epoch ${p.epoch}; at most ${p.maxRecords} records per map task; plan hash ${p.planHash}`,
    );
    for (const [source, tasks] of Object.entries(p.sources)) {
      lines.push(
        `  source '${source}' (stream ${d.sources[source] ?? '?'}): ${tasks.length} map tasks`,
      );
      tasks.forEach((t, i) => {
        lines.push(`    task ${i}  ${t.shardId}  starts ${startOf(t)}`);
      });
    }
    if (p.ended.length) lines.push(`  ended shards still listed: ${p.ended.join(', ')}`);
  } else {
    lines.push('  not recorded any more');
  }

  lines.push('', 'stages:');
  if (v.commit) {
    for (const s of v.commit.metrics.stages) {
      lines.push(
        `  stage ${s.stage}  ${s.kind.padEnd(6)}  ${duration(s.ms).padStart(8)}  ${s.taskMs.length} tasks: ${s.taskMs.map((ms) => duration(ms)).join(', ')}`,
      );
    }
  } else {
    const stages = [...new Set(v.claims.map((c) => c.stage))];
    lines.push(`  not committed: claims so far for stages ${stages.join(', ') || 'none'}`);
  }

  lines.push('', 'claims:');
  if (v.claims.length === 0) lines.push('  none');
  for (const c of v.claims) lines.push(`  ${claimLine(c)}`);

  lines.push('', 'outputs:');
  const withIntent = v.claims.filter((c) => c.intent);
  if (v.intentsDeleted) {
    lines.push(
      `  not kept: the job keeps the intents of its last ${v.intentsKept} batches (intentsKept), and this batch is ${Math.round(((v.head ?? v.timeMs) - v.timeMs) / B)} batches older than its last committed one (${clock(v.head ?? 0, B)}); its metrics above still count its outputs`,
    );
  } else if (withIntent.length === 0) {
    lines.push('  none: no task of this batch changed state or produced outputs');
  }
  for (const { stage, task, intent } of v.intents) {
    if (!intent) {
      lines.push(
        `  stage ${stage} task ${task}: its intent is gone (deleted with the batch's data)`,
      );
      continue;
    }
    for (const [op, parts] of Object.entries(intent.outputs)) {
      const records = parts.flatMap((p) => p.records);
      if (records.length === 0) continue;
      lines.push(`  stage ${stage} task ${task}  ${op}: ${count(records.length, 'record')}`);
      for (const r of records.slice(0, shown)) lines.push(`      ${show(r)}`);
      if (records.length > shown) lines.push(`      ... ${records.length - shown} more`);
    }
    for (const s of intent.state) {
      const removed = s.changes.filter((c) => c.entry === null).length;
      lines.push(
        `  stage ${stage} task ${task}  state '${s.stateName}' partition ${s.partition}: ${s.changes.length - removed} keys set, ${removed} removed`,
      );
    }
    for (const p of intent.panes) {
      if (p.changes.panes.length || p.changes.partials.length) {
        lines.push(
          `  stage ${stage} task ${task}  panes of '${p.stateName}' partition ${p.partition}: ${p.changes.panes.length} panes, ${p.changes.partials.length} partials written`,
        );
      }
    }
    for (const dl of intent.deadLetters.slice(0, shown)) {
      lines.push(
        `  stage ${stage} task ${task}  dead letter from ${dl.operator}${dl.shardId ? ` (${dl.shardId} ${dl.sequenceNumber ?? ''})` : ''}: ${dl.error}; ${show(dl.subject, 100)}`,
      );
    }
  }
  return lines;
}

function startOf(t: ShardTask): string {
  if (t.after !== undefined) return `after ${t.after}`;
  const p = t.position;
  if (p) {
    if ('afterSequence' in p) return `after ${p.afterSequence}`;
    if ('atSequence' in p) return `at ${p.atSequence}`;
    if ('atTrimHorizon' in p) return 'at the trim horizon';
    return `at the first record from ${new Date(p.atTimestampMs).toISOString()}`;
  }
  if (t.start?.kind === 'latest') return 'at the latest record';
  if (t.start?.kind === 'atTimestamp') {
    return `at the first record from ${new Date(t.start.timestampMs).toISOString()}`;
  }
  return 'at the trim horizon';
}

function claimLine(c: TaskClaim): string {
  const parts = [`stage ${c.stage} task ${c.task}`, `attempt ${c.attempt}`, duration(c.durationMs)];
  if (c.slice) parts.push(sliceText(c.slice));
  const out = Object.entries(c.recordsOut ?? {}).filter(([, n]) => n > 0);
  if (out.length) parts.push(`out ${out.map(([op, n]) => `${op} ${n}`).join(', ')}`);
  const blocks = Object.entries(c.blocks).map(
    ([w, chunks]) => `${w} ${chunks.filter((n) => n > 0).length}/${chunks.length} partitions`,
  );
  if (blocks.length) parts.push(`blocks ${blocks.join(', ')}`);
  if (c.deadLettered) parts.push(`${c.deadLettered} dead-lettered`);
  if (c.requests) parts.push(`${c.requests.count} DynamoDB requests`);
  return parts.join('  ');
}

function sliceText(s: SliceSummary): string {
  let text = `${s.shardId}: ${count(s.records, 'record')} (${s.bytes} bytes)`;
  if (s.records > 0) text += ` up to ${s.endSequence}`;
  else text += s.endSequence ? ` (still after ${s.endSequence})` : ' (no record read yet)';
  if (s.capped) text += `, capped by ${s.capped}`;
  if (s.shardEnded)
    text += `, shard ended${s.childShards.length ? ` (children ${s.childShards.join(', ')})` : ''}`;
  if (s.trimmedGap)
    text += `, resumed past records trimmed by retention after ${s.trimmedGap.requestedAfter}`;
  if (s.millisBehindLatest) text += `, ${duration(s.millisBehindLatest)} behind`;
  return text;
}
