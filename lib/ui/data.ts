/**
 * What the streaming UI reads of a job, from its tables through the SDK (lib/cli/inspect.ts):
 * its description (the plan the coordinator recorded), its commits with their metrics, one
 * batch's plan and claims, and the batch's dead letters.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type {
  BatchCommit,
  BatchPlan,
  JobDescription,
  ResolvedPosition,
  ShardTask,
  TaskClaim,
} from '../aws/protocol.js';
import { DynamoDeadLetterStore } from '../aws/stores/dynamo.js';
import { controlStore } from '../cli/inspect.js';
import type { DeploymentInfo } from '../contract/deployment.js';
import type { PlanStage } from '../core/plan.js';
import type { BatchView, JobSummary, JobView, TaskView } from './api.js';
import { PRICES } from './cost.js';

/** The most dead letters a batch's page lists. */
export const DEAD_LETTERS_SHOWN = 100;

/** A deployment as the job list shows it. */
export function summaryOf(d: DeploymentInfo): JobSummary {
  const sinks: Record<string, string> = {};
  for (const [name, target] of Object.entries(d.sinks)) {
    sinks[name] =
      target.kind === 'table' ? `table ${target.table}` : `${target.kind} ${target.stream}`;
  }
  return {
    name: d.jobName,
    batchIntervalMs: d.batchIntervalMs,
    stateful: d.stateful.map((s) => ({ name: s.name, kind: s.kind, partitions: s.partitions })),
    sources: { ...d.sources },
    sinks,
  };
}

/** What the coordinator recorded of the job when it took the lease, if one did. */
export async function descriptionOf(
  d: DeploymentInfo,
  client: DynamoDBClient,
): Promise<JobDescription | undefined> {
  return controlStore(d, client).getDescription<JobDescription>();
}

/** A job with its head and description. */
export async function jobView(
  d: DeploymentInfo,
  client: DynamoDBClient,
  windowSize: number,
): Promise<JobView> {
  const control = controlStore(d, client);
  const [head, description] = await Promise.all([
    control.getHead(),
    control.getDescription<JobDescription>(),
  ]);
  return {
    ...summaryOf(d),
    head,
    description: description && {
      explain: description.explain,
      writtenAtMs: description.writtenAtMs,
      stages: description.plan.stages,
    },
    windowSize,
    prices: PRICES,
  };
}

/** Everything recorded of the batch at `timeMs`; undefined when nothing is. */
export async function batchView(
  d: DeploymentInfo,
  timeMs: number,
  client: DynamoDBClient,
): Promise<BatchView | undefined> {
  const control = controlStore(d, client);
  const letters = new DynamoDeadLetterStore({
    client,
    table: d.tables.deadLetters,
    job: d.jobName,
  });
  const [plan, claims, commit, head, description] = await Promise.all([
    control.getPlan(timeMs),
    control.listClaims(timeMs),
    control.getCommit(timeMs),
    control.getHead(),
    control.getDescription<JobDescription>(),
  ]);
  if (plan === undefined && commit === undefined && claims.length === 0) return undefined;
  const deadLetters =
    (commit?.metrics.deadLettered ?? 0) > 0 || claims.some((c) => c.claim.deadLettered > 0)
      ? await letters.list(timeMs, timeMs, DEAD_LETTERS_SHOWN)
      : [];
  const stages: Record<number, PlanStage> = {};
  for (const s of description?.plan.stages ?? []) stages[s.id] = s;
  return {
    job: d.jobName,
    timeMs,
    batchIntervalMs: d.batchIntervalMs,
    head,
    commit,
    plan,
    tasks: claims
      .sort((a, b) => a.stage - b.stage || a.task - b.task)
      .map((c) => taskView(c.claim, plan, stages[c.stage])),
    explain: description?.explain,
    stages,
    deadLetters,
    deadLetterLimit: DEAD_LETTERS_SHOWN,
    prices: PRICES,
  };
}

function taskView(
  claim: TaskClaim,
  plan: BatchPlan | undefined,
  stage: PlanStage | undefined,
): TaskView {
  const source = stage?.source;
  const planned: ShardTask | undefined =
    source === undefined ? undefined : plan?.sources[source]?.[claim.task];
  const shardId = claim.slice?.shardId ?? planned?.shardId;
  return {
    stage: claim.stage,
    task: claim.task,
    attempt: claim.attempt,
    durationMs: claim.durationMs,
    deadLettered: claim.deadLettered,
    ...(claim.slice ? { slice: claim.slice } : {}),
    ...(shardId !== undefined
      ? {
          shard: {
            source: source ?? '',
            shardId,
            start: planned ? startText(planned) : '',
          },
        }
      : {}),
    ...(claim.recordsOut ? { recordsOut: claim.recordsOut } : {}),
    ...(claim.stateKeyDelta ? { stateKeyDelta: claim.stateKeyDelta } : {}),
    ...(claim.requests ? { requests: claim.requests } : {}),
  };
}

/** Where a map task started reading, in words. */
function startText(task: ShardTask): string {
  if (task.after !== undefined) return `after ${task.after}`;
  if (task.position) return positionText(task.position);
  if (task.start) {
    return task.start.kind === 'atTimestamp'
      ? `at ${new Date(task.start.timestampMs).toISOString()}`
      : task.start.kind === 'latest'
        ? 'at the tip'
        : 'at the trim horizon';
  }
  return '';
}

function positionText(p: ResolvedPosition): string {
  if ('afterSequence' in p) return `after ${p.afterSequence}`;
  if ('atSequence' in p) return `at ${p.atSequence}`;
  if ('atTrimHorizon' in p) return 'at the trim horizon';
  return `at ${new Date(p.atTimestampMs).toISOString()}`;
}

/** The commits the window holds, for tests and tools: the last `limit` up to the head. */
export async function lastCommits(
  d: DeploymentInfo,
  limit: number,
  client: DynamoDBClient,
): Promise<BatchCommit[]> {
  const control = controlStore(d, client);
  const head = await control.getHead();
  if (head === undefined) return [];
  const commits = await control.listCommits(0, head, limit, { newestFirst: true });
  return commits.map((c) => c.value).reverse();
}
