/**
 * Where the runtime's suites run. By default (`npm test`) each test file starts the embedded
 * cloud on loopback and points the SDK at it. Under `npm run test:remote`
 * (SPARKLESS_TEST_TARGET=remote) the suites use whatever endpoints the SDK resolves from the
 * environment (LocalStack through AWS_ENDPOINT_URL, or AWS itself), give every table and
 * stream they create a name of this run's, wait for them to become active, and delete them
 * afterwards. Tests that need local processes skip there, saying why.
 */

import {
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll } from 'vitest';
import { dynamoClient, kinesisClient } from '../lib/aws/clients.js';
import type { TableKind } from '../lib/contract/tables.js';
import { type LocalCloud, startLocalCloud } from '../lib/local/index.js';
import { createTable } from '../lib/local/tables.js';

/** Whether the suites run against a remote target rather than the emulators they start. */
export const REMOTE = process.env.SPARKLESS_TEST_TARGET === 'remote';

/** A prefix of this run's, so that runs against one account never share a resource. */
const RUN = REMOTE ? `sparkless-test-${Date.now().toString(36)}` : '';

/** The physical name of a test resource: as given locally, prefixed by the run remotely. */
export function testName(name: string): string {
  return REMOTE ? `${RUN}-${name}` : name;
}

const created = { tables: new Set<string>(), streams: new Set<string>() };

/**
 * The target of a test file: starts one local cloud before its tests and points every SDK
 * client at it through the environment, stopping it after; remotely, leaves the environment
 * as it is and deletes what the file created. Returns a getter for the local cloud (which
 * throws remotely: a test that needs it must be skipped there with {@link localOnly}).
 */
export function useTarget(): () => LocalCloud {
  let cloud: LocalCloud | undefined;
  const saved = { ...process.env };
  beforeAll(async () => {
    if (REMOTE) return;
    cloud = await startLocalCloud();
    delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
    Object.assign(process.env, cloud.env());
  }, 60_000);
  afterAll(async () => {
    if (REMOTE) await deleteCreated();
    await cloud?.stop();
    process.env = saved;
  }, 300_000);
  return () => {
    if (!cloud) throw new Error('the local cloud is not started (use it inside a local test)');
    return cloud;
  };
}

/**
 * True where a test needs the embedded cloud's processes (to kill them, or to run functions in
 * the local Lambda service); prints why it is skipped on a remote target. Use with
 * `describe.skipIf(localOnly('...'))`.
 */
export function localOnly(reason: string): boolean {
  if (REMOTE) process.stdout.write(`skipped on a remote target: ${reason}\n`);
  return REMOTE;
}

/** Creates a table of the contract's kind, active before it returns, and deleted remotely. */
export async function createTestTable(name: string, kind: TableKind): Promise<void> {
  const client = dynamoClient();
  await createTable(client, name, kind);
  if (!REMOTE) return;
  created.tables.add(name);
  await waitTableActive(client, name);
}

/** Creates a stream of `shards` shards, active before it returns, and deleted remotely. */
export async function createTestStream(name: string, shards: number): Promise<void> {
  const kinesis = kinesisClient();
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  if (REMOTE) created.streams.add(name);
  await waitStreamActive(kinesis, name);
}

/** Waits until a stream is ACTIVE (after a create, split or merge): seconds on AWS. */
export async function waitStreamActive(kinesis: KinesisClient, stream: string): Promise<void> {
  const deadline = Date.now() + (REMOTE ? 300_000 : 10_000);
  for (let i = 0; ; i++) {
    const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`stream ${stream} did not become active`);
    await sleep(Math.min(10 * 2 ** i, 2_000));
  }
}

async function waitTableActive(client: DynamoDBClient, table: string): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (let i = 0; ; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName: table }));
    if (d.Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`table ${table} did not become active`);
    await sleep(Math.min(10 * 2 ** i, 2_000));
  }
}

async function deleteCreated(): Promise<void> {
  const db = dynamoClient();
  const kinesis = kinesisClient();
  const failures: string[] = [];
  for (const table of created.tables) {
    await db
      .send(new DeleteTableCommand({ TableName: table }))
      .catch((e: Error) => failures.push(`table ${table}: ${e.message}`));
  }
  for (const stream of created.streams) {
    await kinesis
      .send(new DeleteStreamCommand({ StreamName: stream, EnforceConsumerDeletion: true }))
      .catch((e: Error) => failures.push(`stream ${stream}: ${e.message}`));
  }
  created.tables.clear();
  created.streams.clear();
  if (failures.length) {
    process.stderr.write(
      `could not delete test resources (delete them by hand):\n  ${failures.join('\n  ')}\n`,
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
