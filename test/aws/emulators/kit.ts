/**
 * The harness's ports on the real emulators: DynamoDB on dynalite and Kinesis on kinesis-local,
 * through one local cloud per test file, every client configured only by the environment that
 * `cloud.env()` gives.
 *
 * - {@link DynamoKit}: the protocol's stores as the functions build them ({@link StoreProtocol}
 *   over the DynamoDB stores and a Kinesis sink), on tables created from TABLE_SCHEMAS with
 *   names of their own per world, so that worlds never share state; one RequestCounter counts
 *   every request the protocol makes. What the checks read back goes through clients that are
 *   not counted.
 * - {@link KinesisKit}: streams per world, read by {@link KinesisShardReader}. kinesis-local
 *   stamps records with the real time, but the harness drives coordinators on a manual clock and
 *   chooses each record's arrival stamp: the reader's client rewrites ApproximateArrivalTimestamp
 *   in GetRecords answers with the stamp the test chose for that record (by stream and sequence
 *   number), as receiver.test.ts does. So batches cut where the test says, every run alike,
 *   without waiting for real time to pass.
 */

import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { DeleteCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DeadLetter, Job } from 'sparkless';
import { documentClient, dynamoClient, kinesisClient } from '../../../lib/aws/clients.js';
import type { CoordinatorSettings } from '../../../lib/aws/coordinator.js';
import { KinesisShardReader } from '../../../lib/aws/kinesis-reader.js';
import type { ProtocolStores } from '../../../lib/aws/protocol.js';
import { SHARD_READ_BYTES_PER_SECOND } from '../../../lib/aws/receiver.js';
import { listShards, type ShardInfo } from '../../../lib/aws/shards.js';
import { StoreProtocol } from '../../../lib/aws/store-protocol.js';
import { RequestCounter } from '../../../lib/aws/stores/counter.js';
import {
  DynamoControlStore,
  DynamoDataStore,
  DynamoDeadLetterStore,
  DynamoResultsStore,
  DynamoStateStore,
} from '../../../lib/aws/stores/dynamo.js';
import { batchLayout } from '../../../lib/aws/worker.js';
import type { SinkTarget } from '../../../lib/contract/env.js';
import { dataKeys } from '../../../lib/contract/tables.js';
import { createTestStream, createTestTable, testName } from '../../target.js';
import { B, type JobFactory, random, type ShardKit, type StoreKit, T0, World } from '../harness.js';

let worlds = 0;

// ---- DynamoDB ---------------------------------------------------------------------------------

/** The latest time a padded key can hold, for reading every dead letter. */
const ALL_TIME = 10 ** 15 - 1;

/**
 * The protocol's stores over the DynamoDB stores on dynalite, with tables of their own.
 * Usable once bound to the job (the world builds the job).
 */
export class DynamoKit implements StoreKit {
  /** Every request the protocol's stores make (not the checks' reads). */
  readonly counter = new RequestCounter();
  readonly tables: Readonly<Record<'control' | 'data' | 'state' | 'deadLetters', string>>;
  /** Results table per table sink, stream per stream sink. */
  readonly sinks: Record<string, SinkTarget> = {};
  readonly #prefix: string;
  #job: Job | undefined;
  #stores: StoreProtocol | undefined;

  constructor(prefix: string) {
    this.#prefix = prefix;
    this.tables = {
      control: `${prefix}-control`,
      data: `${prefix}-data`,
      state: `${prefix}-state`,
      deadLetters: `${prefix}-dead`,
    };
  }

  get job(): Job {
    if (!this.#job) throw new Error('DynamoKit: not bound to a job yet');
    return this.#job;
  }

  get stores(): ProtocolStores {
    if (!this.#stores) throw new Error('DynamoKit: not bound to a job yet');
    return this.#stores;
  }

  /** Creates the job's tables and sink streams, and the stores over them. */
  async bind(job: Job): Promise<void> {
    this.#job = job;
    await createTestTable(this.tables.control, 'control');
    await createTestTable(this.tables.data, 'data');
    await createTestTable(this.tables.state, 'state');
    await createTestTable(this.tables.deadLetters, 'deadLetters');
    for (const sink of job.graph.sinks.values()) {
      if (sink.kind === 'table') {
        const table = `${this.#prefix}-table-${sink.name}`;
        await createTestTable(table, 'results');
        this.sinks[sink.name] = { kind: 'table', table };
      } else {
        const stream = `${this.#prefix}-sink-${sink.name}`;
        await createTestStream(stream, 1);
        this.sinks[sink.name] = { kind: 'stream', stream };
      }
    }
    const client = dynamoClient();
    const counter = this.counter;
    const options = { client, job: job.name, counter };
    this.#stores = new StoreProtocol(
      job,
      {
        control: new DynamoControlStore({ ...options, table: this.tables.control }),
        data: new DynamoDataStore({ ...options, table: this.tables.data }),
        state: new DynamoStateStore({ ...options, table: this.tables.state }),
        results: new DynamoResultsStore({ client, counter }),
        deadLetters: new DynamoDeadLetterStore({ ...options, table: this.tables.deadLetters }),
      },
      this.sinks,
      kinesisClient(),
    );
  }

  /** The physical name of a sink's table or stream. */
  sinkName(sink: string): string {
    const target = this.sinks[sink];
    if (!target) throw new Error(`DynamoKit: no sink '${sink}'`);
    return target.kind === 'table' ? target.table : target.stream;
  }

  async stateOf(stateName: string): Promise<Array<[unknown, unknown]>> {
    const spec = this.job.plan.stateful.find((s) => s.name === stateName);
    if (!spec) throw new Error(`DynamoKit: the job has no stateful operator '${stateName}'`);
    const store = new DynamoStateStore({
      client: dynamoClient(),
      table: this.tables.state,
      job: this.job.name,
    });
    const out: Array<[unknown, unknown]> = [];
    for (let p = 0; p < spec.partitions; p++)
      for (const e of (await store.list(stateName, p)).values()) out.push([e.key, e.value]);
    return out;
  }

  async results(sink: string): Promise<Array<{ key: unknown; value: unknown; timeMs: number }>> {
    const out = await documentClient().send(
      new ScanCommand({ TableName: this.sinkName(sink), ConsistentRead: true }),
    );
    return (out.Items ?? []).map((i) => ({
      key: i.key as unknown,
      value: i.value as unknown,
      timeMs: i.timeMs as number,
    }));
  }

  /** Every record of a stream sink as its JSON text says, repeats included, in stream order. */
  async rawStreamRecords(sink: string): Promise<unknown[]> {
    const records = await readStream(kinesisClient(), this.sinkName(sink));
    return records.map((r) => JSON.parse(new TextDecoder().decode(r)) as unknown);
  }

  async streamRecords(sink: string) {
    return (await this.rawStreamRecords(sink)) as Array<{
      timeMs: number;
      stage: number;
      partition: number;
      index: number;
      record: unknown;
    }>;
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const store = new DynamoDeadLetterStore({
      client: dynamoClient(),
      table: this.tables.deadLetters,
      job: this.job.name,
    });
    return (await store.list(0, ALL_TIME)).map((l) => l.letter);
  }

  /** Deletes with DeleteItem every block item one attempt of a task wrote for a batch. */
  async deleteBlocks(timeMs: number, task: number, attempt: string): Promise<number> {
    const doc = documentClient();
    const job = this.job.name;
    let n = 0;
    for (const stage of batchLayout(this.job, timeMs).stages) {
      for (const write of stage.writes) {
        for (let p = 0; p < (write.reader.partitions ?? 1); p++) {
          const first = dataKeys.block(job, timeMs, write.id, p, task, attempt, 0);
          const out = await doc.send(
            new QueryCommand({
              TableName: this.tables.data,
              ConsistentRead: true,
              KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
              ExpressionAttributeValues: {
                ':pk': first.pk,
                ':prefix': first.sk.slice(0, first.sk.lastIndexOf('#') + 1),
              },
            }),
          );
          for (const item of out.Items ?? []) {
            await doc.send(
              new DeleteCommand({ TableName: this.tables.data, Key: { pk: item.pk, sk: item.sk } }),
            );
            n++;
          }
        }
      }
    }
    return n;
  }
}

// ---- Kinesis ----------------------------------------------------------------------------------

/** Every record's data in every shard of a stream, shard by shard, each in sequence order. */
async function readStream(kinesis: KinesisClient, stream: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const shard of await listShards(kinesis, stream)) {
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shard.shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of page.Records ?? []) out.push(r.Data ?? new Uint8Array(0));
      if (!page.Records?.length && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

type Output = { Records?: Array<Record<string, unknown>>; [k: string]: unknown };

/**
 * A Kinesis client whose GetRecords answers carry the arrival stamps in `stamps` (by stream and
 * sequence number) instead of the emulator's, and that counts its calls in `requests`.
 * Iterators are followed to know each page's stream; records the map does not know keep their
 * real stamps.
 */
function stampingClient(
  stamps: ReadonlyMap<string, number>,
  requests: Map<string, number>,
): KinesisClient {
  const client = kinesisClient();
  const streamOf = new Map<string, string>();
  const middleware =
    (
      next: (args: { input: Record<string, unknown> }) => Promise<{ output: Output }>,
      context: { commandName?: string },
    ) =>
    async (args: { input: Record<string, unknown> }) => {
      const name = (context.commandName ?? '').replace(/Command$/, '');
      requests.set(name, (requests.get(name) ?? 0) + 1);
      const result = await next(args);
      const { input } = args;
      const output = result.output;
      if (context.commandName === 'GetShardIteratorCommand') {
        streamOf.set(output.ShardIterator as string, input.StreamName as string);
      } else if (context.commandName === 'GetRecordsCommand') {
        const iterator = input.ShardIterator as string;
        const stream = streamOf.get(iterator);
        streamOf.delete(iterator);
        if (stream !== undefined) {
          if (typeof output.NextShardIterator === 'string')
            streamOf.set(output.NextShardIterator, stream);
          for (const record of output.Records ?? []) {
            const stamp = stamps.get(`${stream}/${record.SequenceNumber as string}`);
            if (stamp !== undefined) record.ApproximateArrivalTimestamp = new Date(stamp);
          }
        }
      }
      return result;
    };
  (client.middlewareStack.add as (m: unknown, o: object) => void)(middleware, {
    step: 'initialize',
    name: 'chosenArrivalStamps',
  });
  return client;
}

/** One record to put, with the arrival stamp its reads will show. */
export interface StampedRecord {
  readonly data: string | Uint8Array;
  readonly at: number;
}

/**
 * Source streams on kinesis-local, one per job source, with the arrival stamps the test chooses.
 * Shard ids are the stream's own (`shardId-000000000000`...); new shards come from the Kinesis
 * API (SplitShard, MergeShards), and `addShard` only checks that the stream lists them.
 */
export class KinesisKit implements ShardKit {
  readonly streams: Record<string, string> = {};
  /** Chosen arrival stamps by `<stream>/<sequence number>`. */
  readonly stamps = new Map<string, number>();
  /** The client the reader uses: GetRecords shows the chosen stamps. */
  readonly client: KinesisClient;
  /** The reader's requests, by Kinesis operation (`GetRecords`, `ListShards`...). */
  readonly requests = new Map<string, number>();
  readonly reader: KinesisShardReader;
  readonly #prefix: string;
  readonly #shards = new Map<string, ShardInfo[]>();

  constructor(prefix: string, maxBytes = SHARD_READ_BYTES_PER_SECOND) {
    this.#prefix = prefix;
    this.client = stampingClient(this.stamps, this.requests);
    this.reader = new KinesisShardReader(this.client, this.streams, maxBytes);
  }

  /** Creates a stream of `shards` shards for each source; returns their shard ids by source. */
  async createStreams(shards: Readonly<Record<string, number>>): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const [source, n] of Object.entries(shards)) {
      const stream = `${this.#prefix}-${source}`;
      await createTestStream(stream, n);
      this.streams[source] = stream;
      out[source] = (await this.#list(source)).map((s) => s.shardId);
    }
    return out;
  }

  stream(source: string): string {
    const stream = this.streams[source];
    if (!stream) throw new Error(`KinesisKit: no stream for source '${source}'`);
    return stream;
  }

  async #list(source: string): Promise<ShardInfo[]> {
    const shards = await listShards(kinesisClient(), this.stream(source));
    this.#shards.set(source, shards);
    return shards;
  }

  async #shard(source: string, shardId: string): Promise<ShardInfo> {
    const known = this.#shards.get(source)?.find((s) => s.shardId === shardId);
    const found = known ?? (await this.#list(source)).find((s) => s.shardId === shardId);
    if (!found) throw new Error(`KinesisKit: stream ${this.stream(source)} has no ${shardId}`);
    return found;
  }

  async addShard(source: string, shardId: string, parents: readonly string[] = []): Promise<void> {
    const shard = (await this.#list(source)).find((s) => s.shardId === shardId);
    if (!shard) {
      throw new Error(
        `KinesisKit: ${shardId} is not in stream ${this.stream(source)}; make it with SplitShard or MergeShards`,
      );
    }
    if ([...shard.parents].sort().join() !== [...parents].sort().join()) {
      throw new Error(
        `KinesisKit: ${shardId} has parents [${shard.parents.join(', ')}], not [${parents.join(', ')}]`,
      );
    }
  }

  /** Appends records to one shard (PutRecords, with the shard's starting hash key); returns their sequence numbers. */
  async putMany(
    source: string,
    shardId: string,
    records: readonly StampedRecord[],
  ): Promise<string[]> {
    const stream = this.stream(source);
    const shard = await this.#shard(source, shardId);
    const hashKey = shard.hashKeyRange!.startingHashKey;
    const kinesis = kinesisClient();
    const seqs: string[] = [];
    for (let i = 0; i < records.length; i += 500) {
      const page = records.slice(i, i + 500);
      const out = await kinesis.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: page.map((r) => ({
            Data: typeof r.data === 'string' ? new TextEncoder().encode(r.data) : r.data,
            PartitionKey: 'k',
            ExplicitHashKey: hashKey,
          })),
        }),
      );
      if (out.FailedRecordCount) throw new Error(`PutRecords: ${out.FailedRecordCount} failed`);
      out.Records!.forEach((r, j) => {
        if (r.ShardId !== shardId)
          throw new Error(`PutRecords: went to ${r.ShardId}, not ${shardId}`);
        const seq = r.SequenceNumber!;
        if (seqs.length && BigInt(seq) <= BigInt(seqs.at(-1)!))
          throw new Error('PutRecords: sequence numbers out of put order');
        seqs.push(seq);
        this.stamps.set(`${stream}/${seq}`, page[j]!.at);
      });
    }
    return seqs;
  }

  async put(
    source: string,
    shardId: string,
    data: string | Uint8Array,
    arrivalTimeMs: number,
  ): Promise<string> {
    return (await this.putMany(source, shardId, [{ data, at: arrivalTimeMs }]))[0]!;
  }

  async close(): Promise<void> {
    throw new Error('KinesisKit: close a shard with SplitShard or MergeShards');
  }

  async expire(): Promise<void> {
    throw new Error('KinesisKit: kinesis-local never expires shards');
  }
}

// ---- worlds -----------------------------------------------------------------------------------

/** A harness world over the emulators, with its kits. */
export interface EmulatorWorld {
  readonly w: World;
  readonly db: DynamoKit;
  readonly kinesis: KinesisKit;
}

/** A world over new tables and streams: `shards` shards per source, registered in the world. */
export async function emulatorWorld(
  factory: JobFactory,
  opts: {
    readonly shards: Readonly<Record<string, number>>;
    readonly settings?: Partial<CoordinatorSettings>;
  },
): Promise<EmulatorWorld> {
  const prefix = testName(`e${++worlds}`);
  const db = new DynamoKit(prefix);
  const kinesis = new KinesisKit(prefix);
  const w = new World(factory, db, kinesis, opts.settings ?? {});
  await db.bind(w.job);
  const ids = await kinesis.createStreams(opts.shards);
  for (const [source, shardIds] of Object.entries(ids))
    for (const shardId of shardIds) await w.addShard(source, shardId);
  return { w, db, kinesis };
}

/** Puts records into one shard with one PutRecords call per 500, and logs them in the world. */
export async function putAll(
  e: EmulatorWorld,
  source: string,
  shardId: string,
  records: readonly StampedRecord[],
): Promise<string[]> {
  const seqs = await e.kinesis.putMany(source, shardId, records);
  for (const [i, sequenceNumber] of seqs.entries()) {
    e.w.puts.push({
      source,
      shardId,
      sequenceNumber,
      data: records[i]!.data,
      arrivalTimeMs: records[i]!.at,
    });
  }
  return seqs;
}

/**
 * The harness's `feed` with puts in bulk (kinesis-local takes ~10 ms a request): records spread
 * over batches 1..`batches` (read by the batches at T0 + b * B) and the source's shards, arrival
 * stamps inside their batch, about one in eight out of order within its shard; none in `empty`.
 */
export async function feed(
  e: EmulatorWorld,
  source: string,
  records: ReadonlyArray<string | Uint8Array>,
  opts: { batches: number; seed: number; empty?: readonly number[] },
): Promise<void> {
  const rnd = random(opts.seed);
  const shards = e.w.shardsOf(source);
  const batches = Array.from({ length: opts.batches }, (_, i) => i + 1).filter(
    (b) => !opts.empty?.includes(b),
  );
  const perShard = new Map<string, StampedRecord[]>();
  for (const data of records) {
    const b = batches[Math.floor(rnd() * batches.length)]!;
    const shard = shards[Math.floor(rnd() * shards.length)]!;
    const at = T0 + (b - 1) * B + Math.floor(rnd() * B);
    perShard.set(shard, [...(perShard.get(shard) ?? []), { data, at }]);
  }
  for (const [shard, list] of perShard) {
    list.sort((a, b) => a.at - b.at);
    for (let i = 0; i + 1 < list.length; i++) {
      if (rnd() < 0.125) [list[i], list[i + 1]] = [list[i + 1]!, list[i]!];
    }
    await putAll(e, source, shard, list);
  }
}
