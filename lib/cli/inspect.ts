/**
 * Reading a deployed job from its tables, wherever it runs (the embedded cloud, LocalStack,
 * AWS): its recent batches with their metrics, and its state by key. The SDK clients take their
 * endpoints from the environment.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient } from '../aws/clients.js';
import type { BatchCommit, BatchPlan, TaskClaim } from '../aws/protocol.js';
import { DynamoControlStore, readState } from '../aws/stores/dynamo.js';
import type { DeploymentInfo } from '../contract/deployment.js';
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
