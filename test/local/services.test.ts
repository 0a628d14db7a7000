/**
 * Kinesis and DynamoDB through the local cloud's router, with the runtime's own SDK clients
 * configured only by the environment (AWS_ENDPOINT_URL and friends), as deployed code is.
 */

import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient, dynamoClient, kinesisClient } from '../../lib/aws/clients.js';
import { type LocalCloud, startLocalCloud } from '../../lib/local/index.js';

let cloud: LocalCloud;
const savedEnv = { ...process.env };
const progress: string[] = [];

beforeAll(async () => {
  cloud = await startLocalCloud({ onProgress: (message) => progress.push(message) });
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, cloud.env());
});

afterAll(async () => {
  await cloud?.stop();
  process.env = savedEnv;
});

/**
 * The addresses a process listens on (TCP), read from /proc: its socket inodes matched to
 * the LISTEN rows of /proc/net/tcp and tcp6. IPv6 rows come back as `[v6 <hex>]:port`.
 */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // Closed while reading.
    }
  }
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const row of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      const [address, portHex] = (cols[1] ?? '').split(':');
      if (cols[3] !== '0A' || !inodes.has(cols[9] ?? '') || address === undefined) continue;
      const port = Number.parseInt(portHex ?? '', 16);
      const host =
        address.length === 8
          ? [6, 4, 2, 0].map((i) => Number.parseInt(address.slice(i, i + 2), 16)).join('.')
          : `[v6 ${address}]`;
      found.push(`${host}:${port}`);
    }
  }
  return found.sort();
}

describe('local cloud: endpoints', () => {
  it.skipIf(process.platform !== 'linux')(
    'binds loopback only: kinesis-local (which would bind every interface) and dynalite',
    () => {
      const kinesis = listeningAddresses(cloud.kinesis.pid);
      // The plain-HTTP port and the TLS one, both on 127.0.0.1.
      expect(kinesis).toHaveLength(2);
      expect(kinesis.every((a) => a.startsWith('127.0.0.1:'))).toBe(true);
      expect(kinesis).toContain(cloud.kinesis.endpoint.replace('http://', ''));
      expect(listeningAddresses(cloud.dynamodb.pid)).toEqual([
        cloud.dynamodb.endpoint.replace('http://', ''),
      ]);
    },
  );

  it('reports its progress while starting', () => {
    expect(progress[0]).toBe('starting kinesis-local and dynalite');
    expect(progress).toContainEqual(expect.stringMatching(/^kinesis-local answering on http:/));
    expect(progress).toContainEqual(expect.stringMatching(/^dynalite listening on http:/));
    const ready = progress.at(-1) ?? '';
    expect(ready).toMatch(/^local cloud ready on http:\/\/127\.0\.0\.1:\d+ after \d+ ms$/);
    expect(ready).toContain(cloud.endpoint);
  });

  it('listens on loopback only, and env() carries what a client needs', () => {
    for (const endpoint of [cloud.endpoint, cloud.kinesis.endpoint, cloud.dynamodb.endpoint]) {
      expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    expect(cloud.env()).toEqual({
      AWS_ENDPOINT_URL: cloud.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
  });

  it('answers a request for no known service with a 400 that says what it serves', async () => {
    const response = await fetch(`${cloud.endpoint}/nothing-here`, {
      method: 'POST',
      headers: { 'x-amz-target': 'SQS_20121105.ListQueues' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { __type: string; message: string };
    expect(body.__type).toBe('UnknownOperationException');
    expect(body.message).toContain('SQS_20121105.ListQueues');
    expect(body.message).toContain('Kinesis_20131202.*');
  });
});

describe('local cloud: Kinesis through the router', () => {
  it('creates a stream, puts records and reads them back in order', async () => {
    const kinesis = kinesisClient();
    const StreamName = 'orders';
    await kinesis.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }));
    // CREATE_STREAM_DURATION is 0 ms, so the stream is ACTIVE by the next call.
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName }));
    expect(summary.StreamDescriptionSummary?.StreamStatus).toBe('ACTIVE');

    const values = Array.from({ length: 25 }, (_, i) => `order-${i}`);
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName,
        Records: values.map((value) => ({
          Data: new TextEncoder().encode(value),
          PartitionKey: value,
        })),
      }),
    );
    expect(put.FailedRecordCount).toBe(0);

    const shards = await kinesis.send(new ListShardsCommand({ StreamName }));
    expect(shards.Shards).toHaveLength(1);
    const iterator = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName,
        ShardId: shards.Shards?.[0]?.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const read = await kinesis.send(
      new GetRecordsCommand({ ShardIterator: iterator.ShardIterator, Limit: 100 }),
    );
    const got = (read.Records ?? []).map((r) => new TextDecoder().decode(r.Data));
    expect(got).toEqual(values);
    expect(read.MillisBehindLatest).toBe(0);
    // Sequence numbers grow within the shard.
    const sequences = (read.Records ?? []).map((r) => BigInt(r.SequenceNumber ?? '0'));
    expect(sequences).toEqual([...sequences].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });
});

describe('local cloud: DynamoDB through the router', () => {
  const TableName = 'state';

  beforeAll(async () => {
    await dynamoClient().send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'N' },
        ],
      }),
    );
  });

  it('creates a table that is active at once', async () => {
    const table = await dynamoClient().send(new DescribeTableCommand({ TableName }));
    expect(table.Table?.TableStatus).toBe('ACTIVE');
  });

  it('puts items and reads them back with consistent GetItem and Query', async () => {
    const db = documentClient();
    for (const sk of [3, 1, 2]) {
      await db.send(new PutCommand({ TableName, Item: { pk: 'job#1', sk, value: `v${sk}` } }));
    }
    await db.send(new PutCommand({ TableName, Item: { pk: 'job#2', sk: 1, value: 'other' } }));

    const item = await db.send(
      new GetCommand({ TableName, Key: { pk: 'job#1', sk: 2 }, ConsistentRead: true }),
    );
    expect(item.Item).toEqual({ pk: 'job#1', sk: 2, value: 'v2' });

    const query = await db.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: 'pk = :pk AND sk >= :from',
        ExpressionAttributeValues: { ':pk': 'job#1', ':from': 2 },
        ConsistentRead: true,
      }),
    );
    expect(query.Items?.map((i) => i.value)).toEqual(['v2', 'v3']);
  });

  it('rejects a conditional write whose condition fails with ConditionalCheckFailedException', async () => {
    const db = documentClient();
    const write = (v: number) =>
      db.send(
        new PutCommand({
          TableName,
          Item: { pk: 'head', sk: 0, v },
          ConditionExpression: 'attribute_not_exists(pk) OR v < :v',
          ExpressionAttributeValues: { ':v': v },
        }),
      );
    await write(5);
    await write(7);
    const stale = await write(6).catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(ConditionalCheckFailedException);
    expect((stale as ConditionalCheckFailedException).$metadata.httpStatusCode).toBe(400);
    const head = await db.send(
      new GetCommand({ TableName, Key: { pk: 'head', sk: 0 }, ConsistentRead: true }),
    );
    expect(head.Item?.v).toBe(7);
  });
});
