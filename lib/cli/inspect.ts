/**
 * Reading a deployed job from its tables, wherever it runs (the embedded cloud, LocalStack,
 * AWS): its recent batches with their metrics, its state by key, what one batch planned,
 * claimed and produced, and the settings its functions run with. The SDK clients take their
 * endpoints from the environment.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { dynamoClient, lambdaClient } from '../aws/clients.js';
import type { BatchCommit, BatchPlan, Intent, TaskClaim } from '../aws/protocol.js';
import { DynamoControlStore, DynamoDataStore, readState } from '../aws/stores/dynamo.js';
import type { DeploymentInfo } from '../contract/deployment.js';
import { decodeIntent } from '../contract/encoding.js';
import { DEFAULT_SETTINGS, ENV, type RuntimeSettings } from '../contract/env.js';
import { SparklessError } from '../core/errors.js';
import type { Key } from '../core/keys.js';

/** The control store of a deployed job. */
export function controlStore(
  d: DeploymentInfo,
  client: DynamoDBClient = dynamoClient(),
): DynamoControlStore<BatchPlan, TaskClaim, BatchCommit> {
  return new DynamoControlStore<BatchPlan, TaskClaim, BatchCommit>({
    client,
    table: d.tables.control,
    job: d.jobName,
  });
}

/** The job's last `limit` committed batches, newest first. */
export async function recentBatches(
  d: DeploymentInfo,
  limit: number,
  client: DynamoDBClient = dynamoClient(),
): Promise<BatchCommit[]> {
  const control = controlStore(d, client);
  const head = await control.getHead();
  if (head === undefined) return [];
  const commits = await control.listCommits(0, head, limit, { newestFirst: true });
  return commits.map((c) => c.value);
}

/** One key's state in a stateful operator of the job (undefined when absent). */
export async function jobState(
  d: DeploymentInfo,
  stateName: string,
  key: Key,
  client: DynamoDBClient = dynamoClient(),
): Promise<unknown> {
  const spec = d.stateful.find((s) => s.name === stateName);
  if (!spec || !d.tables.state) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `job '${d.jobName}' has no stateful operator '${stateName}'; its stateful operators: ${d.stateful.map((s) => `'${s.name}'`).join(', ') || 'none'}`,
    );
  }
  return readState(client, d.tables.state, d.jobName, stateName, spec.partitions, key);
}

/** What is recorded of one batch: its plan, its claims, its commit, and the job's head. */
export interface BatchRecord {
  readonly timeMs: number;
  readonly plan: BatchPlan | undefined;
  /** Every task's claim, by stage then task. */
  readonly claims: readonly TaskClaim[];
  readonly commit: BatchCommit | undefined;
  /** The job's last committed batch. */
  readonly head: number | undefined;
  /** The oldest committed batch still recorded (control items are kept for a while). */
  readonly oldest: number | undefined;
}

/** Reads what the control table holds of the batch at `timeMs`. */
export async function batchRecord(
  d: DeploymentInfo,
  timeMs: number,
  client: DynamoDBClient = dynamoClient(),
): Promise<BatchRecord> {
  const control = controlStore(d, client);
  const [plan, claims, commit, head] = await Promise.all([
    control.getPlan(timeMs),
    control.listClaims(timeMs),
    control.getCommit(timeMs),
    control.getHead(),
  ]);
  const oldest =
    head === undefined ? undefined : (await control.listCommits(0, head, 1))[0]?.timeMs;
  return {
    timeMs,
    plan,
    claims: claims.sort((a, b) => a.stage - b.stage || a.task - b.task).map((c) => c.claim),
    commit,
    head,
    oldest,
  };
}

/**
 * The intent a task claimed (its state changes, outputs and dead letters), or undefined when it
 * is no longer kept: intents are deleted once a batch is `intentsKept` batches old.
 */
export async function taskIntent(
  d: DeploymentInfo,
  claim: TaskClaim,
  client: DynamoDBClient = dynamoClient(),
): Promise<Intent | undefined> {
  const data = new DynamoDataStore({ client, table: d.tables.data, job: d.jobName });
  const payload = await data.getIntent(claim.timeMs, claim.stage, claim.task, claim.attempt);
  return payload
    ? decodeIntent<Intent>(payload, `intent of stage ${claim.stage} task ${claim.task}`)
    : undefined;
}

/**
 * The environment the job's functions run with (the coordinator's): its runtime settings and
 * the path of its job module. Undefined when the function's configuration cannot be read
 * (a role without lambda:GetFunctionConfiguration).
 */
export async function functionEnvironment(
  d: DeploymentInfo,
  lambda: LambdaClient = lambdaClient(),
): Promise<Readonly<Record<string, string>> | undefined> {
  try {
    const out = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: d.functions.coordinator }),
    );
    return out.Environment?.Variables ?? {};
  } catch {
    return undefined;
  }
}

/** The runtime settings the job was deployed with; the defaults where they cannot be read. */
export function settingsOf(
  env: Readonly<Record<string, string>> | undefined,
): RuntimeSettings & { readonly known: boolean } {
  const text = env?.[ENV.settings];
  if (text) {
    try {
      return {
        ...DEFAULT_SETTINGS,
        ...(JSON.parse(text) as Partial<RuntimeSettings>),
        known: true,
      };
    } catch {
      // As if unknown.
    }
  }
  return { ...DEFAULT_SETTINGS, known: false };
}
