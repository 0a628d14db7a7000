/**
 * The contract suites against the DynamoDB stores, on dynalite through the local cloud, with
 * tables created from lib/contract's key schemas; then what only DynamoDB has: request counts,
 * TTL attributes, chunk items, expiry items and readState.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient } from '../../../lib/aws/clients.js';
import { RequestCounter } from '../../../lib/aws/stores/counter.js';
import {
  DynamoControlStore,
  DynamoDataStore,
  DynamoDeadLetterStore,
  DynamoResultsStore,
  DynamoStateStore,
  readState,
} from '../../../lib/aws/stores/dynamo.js';
import { encodeBlock, encodePayload } from '../../../lib/contract/encoding.js';
import { ATTR, dataKeys, stateKeys, type TableKind } from '../../../lib/contract/tables.js';
import { SparklessError } from '../../../lib/core/errors.js';
import { encodeKey, partitionOf } from '../../../lib/core/keys.js';
import { createTestTable, testName, useTarget } from '../../target.js';
import {
  describeControlStore,
  describeDataStore,
  describeDeadLetterStore,
  describeResultsStore,
  describeStateStore,
} from './contract.js';

let client: DynamoDBClient;
const TABLES: Record<TableKind, string> = {
  control: testName('job-control'),
  data: testName('job-data'),
  state: testName('job-state'),
  results: testName('job-results'),
  deadLetters: testName('job-dead-letters'),
};

useTarget();
beforeAll(async () => {
  client = dynamoClient();
  await Promise.all(
    (Object.keys(TABLES) as TableKind[]).map((kind) => createTestTable(TABLES[kind], kind)),
  );
}, 300_000);

afterAll(() => {
  client?.destroy();
});

let jobs = 0;
/** A new job name, so that each test starts from empty stores on the shared tables. */
const newJob = () => `job-${++jobs}`;

describeControlStore(
  'dynamo',
  async () => new DynamoControlStore({ client, table: TABLES.control, job: newJob() }),
);
describeDataStore(
  'dynamo',
  async () => new DynamoDataStore({ client, table: TABLES.data, job: newJob() }),
);
describeStateStore(
  'dynamo',
  async () => new DynamoStateStore({ client, table: TABLES.state, job: newJob() }),
);
describeResultsStore('dynamo', async () => {
  const table = testName(`results-${newJob()}`);
  await createTestTable(table, 'results');
  return { store: new DynamoResultsStore({ client }), table };
});
describeDeadLetterStore(
  'dynamo',
  async () => new DynamoDeadLetterStore({ client, table: TABLES.deadLetters, job: newJob() }),
);

/** Every item of one partition key, read directly. */
async function itemsOf(table: string, pk: string): Promise<Record<string, unknown>[]> {
  const doc = DynamoDBDocumentClient.from(client);
  const out = await doc.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

const entry = (key: string, value: unknown, updatedMs: number) => ({
  encodedKey: encodeKey(key),
  entry: { key, value, updatedMs },
});

describe('dynamo stores: request counts (the cost shape)', () => {
  it('a state apply of N keys costs N conditional PutItems, with expiry 2 batch writes more per 25', async () => {
    const counter = new RequestCounter();
    const store = new DynamoStateStore({ client, table: TABLES.state, job: newJob(), counter });
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    let before = counter.snapshot();
    await store.apply(
      's',
      0,
      keys.map((k) => entry(k, 1, 1_000)),
      1_000,
    );
    expect(counter.since(before)).toEqual({ PutItem: 30 });

    before = counter.snapshot();
    await store.apply(
      'm',
      0,
      keys.map((k) => entry(k, 1, 1_000)),
      1_000,
      { expiry: true },
    );
    // New expiry items first (2 batches of up to 25), then one conditional put per key.
    expect(counter.since(before)).toEqual({ BatchWriteItem: 2, PutItem: 30 });

    before = counter.snapshot();
    await store.apply(
      'm',
      0,
      keys.map((k) => entry(k, 2, 2_000)),
      2_000,
      { expiry: true },
    );
    // ... and the old expiry items deleted in batches.
    expect(counter.since(before)).toEqual({ BatchWriteItem: 4, PutItem: 30 });

    before = counter.snapshot();
    const got = await store.getMany(
      's',
      0,
      [...keys, ...keys, ...keys.map((k) => `${k}x`)].map((k) => encodeKey(k)),
    );
    expect(got.size).toBe(30);
    expect(counter.since(before)).toEqual({ BatchGetItem: 1 });

    before = counter.snapshot();
    await store.list('s', 0);
    expect(counter.since(before)).toEqual({ Query: 1 });
    expect(counter.capacity('PutItem')).toBeGreaterThan(0);
  });

  it('re-applying a batch costs the same puts and changes nothing', async () => {
    const counter = new RequestCounter();
    const store = new DynamoStateStore({ client, table: TABLES.state, job: newJob(), counter });
    const changes = Array.from({ length: 10 }, (_, i) => entry(`k${i}`, i, 1_000));
    await store.apply('s', 0, changes, 1_000);
    const before = counter.snapshot();
    expect(await store.apply('s', 0, changes, 1_000)).toEqual({ written: 0, skipped: 10 });
    expect(counter.since(before)).toEqual({ PutItem: 10 });
    expect(counter.snapshot().conditionFailures).toEqual({ PutItem: 10 });
  });

  it('a map task writes its blocks 25 items per request, not one per record or partition', async () => {
    const counter = new RequestCounter();
    const store = new DynamoDataStore({ client, table: TABLES.data, job: newJob(), counter });
    const blocks = Array.from({ length: 30 }, (_, partition) => ({
      partition,
      payload: encodeBlock(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])),
    }));
    await store.putBlocks(1_000, 'w', 0, 'a', blocks);
    expect(counter.snapshot().requests).toEqual({ BatchWriteItem: 2 });
    await store.listBlocks(1_000, 'w', 7);
    expect(counter.requests('Query')).toBe(1);
  });

  it('lists a partition of more than 1 MB in several pages', async () => {
    const counter = new RequestCounter();
    const store = new DynamoStateStore({ client, table: TABLES.state, job: newJob(), counter });
    const value = 'v'.repeat(4_000);
    await store.apply(
      's',
      0,
      Array.from({ length: 300 }, (_, i) => entry(`k${i}`, value, 1)),
      1_000,
    );
    const before = counter.snapshot();
    expect((await store.list('s', 0)).size).toBe(300);
    expect(counter.since(before).Query).toBeGreaterThanOrEqual(2);
  });

  it('control items cost one request each, two when another writer won', async () => {
    const counter = new RequestCounter();
    const store = new DynamoControlStore({ client, table: TABLES.control, job: newJob(), counter });
    await store.putPlan(1_000, { a: 1 });
    expect(counter.snapshot().requests).toEqual({ PutItem: 1 });
    await store.putClaim(1_000, 0, 0, { a: 1 });
    await store.putClaim(1_000, 0, 0, { a: 2 });
    expect(counter.snapshot().requests).toEqual({ PutItem: 3, GetItem: 1 });
    await store.advanceHead(1_000);
    expect(counter.requests('UpdateItem')).toBe(1);
  });
});

describe('dynamo stores: items as stored', () => {
  it('gives every data item a TTL backstop after its batch time', async () => {
    const job = newJob();
    const store = new DynamoDataStore({ client, table: TABLES.data, job, ttlMs: 60_000 });
    const T = 1_700_000_000_000;
    await store.putBlocks(T, 'w', 0, 'a', [{ partition: 0, payload: encodeBlock([1]) }]);
    await store.putBlock(T, 'w', 0, 1, 'b', 0, encodeBlock([2]));
    await store.putIntent(T, 1, 0, 'a', encodePayload({}));
    await store.putPane('win', 0, T, encodePayload([]));
    await store.putPartial('win', 0, T, encodePayload([]));
    const items = [
      ...(await itemsOf(TABLES.data, dataKeys.blocks(job, T, 'w', 0))),
      ...(await itemsOf(TABLES.data, dataKeys.intents(job, T))),
      ...(await itemsOf(TABLES.data, dataKeys.panes(job, 'win', 0))),
      ...(await itemsOf(TABLES.data, dataKeys.partials(job, 'win', 0))),
    ];
    expect(items).toHaveLength(5);
    for (const item of items) expect(item[ATTR.ttl]).toBe((T + 60_000) / 1000);
  });

  it('fails clearly when a chunk of an intent is gone', async () => {
    const job = newJob();
    const store = new DynamoDataStore({ client, table: TABLES.data, job });
    const payload = encodePayload('x'.repeat(800 * 1024));
    await store.putIntent(1_000, 1, 4, 'a', payload);
    const doc = DynamoDBDocumentClient.from(client);
    await doc.send(
      new DeleteCommand({ TableName: TABLES.data, Key: dataKeys.intent(job, 1_000, 1, 4, 'a', 1) }),
    );
    const read = store.getIntent(1_000, 1, 4, 'a');
    await expect(read).rejects.toThrow(
      /intent of task 4 of stage 1 \(attempt a\) at 1000: chunk 1 of 3 is missing/,
    );
    await expect(store.getIntent(1_000, 1, 4, 'a')).rejects.toSatisfy((e) =>
      SparklessError.is(e, 'CHUNK_MISSING'),
    );
  });

  it('keeps one expiry item per key, removing stale ones it finds', async () => {
    const job = newJob();
    const store = new DynamoStateStore({ client, table: TABLES.state, job });
    const expiry = { expiry: true };
    await store.apply('m', 0, [entry('a', 1, 1_000), entry('b', 1, 1_000)], 1_000, expiry);
    await store.apply(
      'm',
      0,
      [entry('a', 2, 2_000), { encodedKey: encodeKey('b'), entry: null }],
      2_000,
      expiry,
    );
    // A stale write (of an older batch) leaves nothing behind.
    await store.apply('m', 0, [entry('a', 0, 500)], 500, expiry);
    const sks = async () =>
      (await itemsOf(TABLES.state, stateKeys.expiries(job, 'm', 0))).map((i) => i.sk);
    expect(await sks()).toEqual([`00000000000200${'0'}#${encodeKey('a')}`]);

    // A crash between a state write and the delete of the old expiry item leaves it behind:
    // listExpiring skips it, and deletes it since the key was rewritten by a later batch.
    const doc = DynamoDBDocumentClient.from(client);
    await store.apply('m', 0, [entry('c', 1, 1_000)], 1_000, expiry);
    await store.apply('m', 0, [entry('c', 2, 3_000)], 3_000, expiry);
    const { PutCommand } = await import('@aws-sdk/lib-dynamodb');
    await doc.send(
      new PutCommand({
        TableName: TABLES.state,
        Item: { ...stateKeys.expiry(job, 'm', 0, 1_000, encodeKey('c')), [ATTR.version]: 1_000 },
      }),
    );
    expect(await sks()).toHaveLength(3);
    expect([...(await store.listExpiring('m', 0, 2_500)).keys()]).toEqual([encodeKey('a')]);
    expect(await sks()).toHaveLength(2);
  });

  it('deletes the chunks of a large value when it is replaced or removed', async () => {
    const job = newJob();
    const store = new DynamoStateStore({ client, table: TABLES.state, job });
    const big = 'y'.repeat(900 * 1024);
    await store.apply('s', 0, [entry('big', big, 1_000)], 1_000);
    const chunks = () => itemsOf(TABLES.state, stateKeys.chunks(job, 's', 0));
    expect(await chunks()).toHaveLength(3);
    // A stale write of a large value leaves no chunks behind.
    await store.apply('s', 0, [entry('big', `${big}z`, 500)], 500);
    expect(await chunks()).toHaveLength(3);
    await store.apply('s', 0, [entry('big', big, 2_000)], 2_000);
    expect((await chunks()).map((c) => c.sk)).toEqual(
      [0, 1, 2].map((i) => stateKeys.chunk(job, 's', 0, encodeKey('big'), 2_000, i).sk),
    );
    await store.apply('s', 0, [{ encodedKey: encodeKey('big'), entry: null }], 3_000);
    expect(await chunks()).toEqual([]);
  });
});

describe('readState', () => {
  it('reads one key of an operator the way an application would', async () => {
    const job = newJob();
    const store = new DynamoStateStore({ client, table: TABLES.state, job });
    const partitions = 4;
    const keys: Array<string | [string, number]> = [
      '#aws',
      '#cdk',
      ['user', 7],
      `long-${'é'.repeat(800)}`,
    ];
    for (const [i, key] of keys.entries()) {
      await store.apply(
        'counts',
        partitionOf(key, partitions),
        [{ encodedKey: encodeKey(key), entry: { key, value: { n: i }, updatedMs: 1_000 } }],
        1_000,
      );
    }
    expect(new Set(keys.map((k) => partitionOf(k, partitions))).size).toBeGreaterThan(1);
    for (const [i, key] of keys.entries()) {
      expect(await readState(client, TABLES.state, job, 'counts', partitions, key)).toEqual({
        n: i,
      });
    }
    expect(
      await readState(client, TABLES.state, job, 'counts', partitions, '#none'),
    ).toBeUndefined();
    await store.apply(
      'counts',
      partitionOf('#aws', partitions),
      [{ encodedKey: encodeKey('#aws'), entry: null }],
      2_000,
    );
    expect(
      await readState(client, TABLES.state, job, 'counts', partitions, '#aws'),
    ).toBeUndefined();
    const big = 'z'.repeat(500 * 1024);
    await store.apply('counts', partitionOf('#big', partitions), [entry('#big', big, 1)], 3_000);
    expect(await readState(client, TABLES.state, job, 'counts', partitions, '#big')).toBe(big);
  });
});
