/**
 * The receivers against kinesis-local through the local cloud: start positions, the records of
 * one batch per shard (the cut, the caps, the tip), retention gaps, expired iterators,
 * throttling, and resharding read exactly once.
 *
 * kinesis-local stamps records with the real time, so tests that need chosen arrival stamps
 * rewrite ApproximateArrivalTimestamp in GetRecords answers with a middleware on the client;
 * faults AWS would give (a trimmed position, an expired iterator, throttling) are injected the
 * same way, as the SDK's own exception classes.
 */
import {
  CreateStreamCommand,
  ExpiredIteratorException,
  InvalidArgumentException,
  type KinesisClient,
  MergeShardsCommand,
  ProvisionedThroughputExceededException,
  PutRecordsCommand,
  ResourceNotFoundException,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient } from '../../lib/aws/clients.js';
import {
  maxBytesForInterval,
  readSlice,
  resolveStart,
  type ShardPosition,
  type Slice,
} from '../../lib/aws/receiver.js';
import { listShards, type ShardInfo, shardsToRead } from '../../lib/aws/shards.js';
import { SparklessError } from '../../lib/core/errors.js';
import { type LocalCloud, startLocalCloud } from '../../lib/local/index.js';

let cloud: LocalCloud;
const savedEnv = { ...process.env };

beforeAll(async () => {
  cloud = await startLocalCloud();
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, cloud.env());
});

afterAll(async () => {
  await cloud?.stop();
  process.env = savedEnv;
});

// --- Helpers -----------------------------------------------------------------------------------

const SHARD0 = 'shardId-000000000000';
const FAR_FUTURE = () => Date.now() + 3_600_000;
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const values = (slice: Slice) => slice.records.map((r) => text(r.data));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let streams = 0;
/** A new stream with one shard (by default), active at once (the durations are 0 ms). */
async function newStream(shards = 1): Promise<string> {
  const name = `receiver-${++streams}`;
  await kinesisClient().send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  return name;
}

/**
 * Puts records, each value its own data, with the value as partition key unless all go to
 * the first shard (`firstShard`). Returns the sequence numbers in order.
 */
async function put(
  stream: string,
  data: readonly string[],
  options: { firstShard?: boolean; pad?: number } = {},
): Promise<string[]> {
  const out = await kinesisClient().send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: data.map((value) => ({
        Data: new TextEncoder().encode(value.padEnd(options.pad ?? 0, '.')),
        PartitionKey: options.firstShard ? 'k' : value,
        ...(options.firstShard ? { ExplicitHashKey: '0' } : {}),
      })),
    }),
  );
  expect(out.FailedRecordCount).toBe(0);
  return (out.Records ?? []).map((r) => r.SequenceNumber ?? '');
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

type Input = Record<string, unknown>;
type Output = Record<string, unknown> & { Records?: Array<Record<string, unknown>> };

/**
 * A client whose calls pass through `hook` first: it sees the command's name and input and
 * may change the input, answer or throw instead of calling `next`, or change the output.
 * `step: 'initialize'` runs once per call, outside the retry strategy; `'deserialize'` runs on
 * every attempt, inside it, so what it throws is retried as a service error would be.
 */
function hooked(
  hook: (command: string, input: Input, next: () => Promise<Output>) => Promise<Output>,
  step: 'initialize' | 'deserialize' = 'initialize',
): KinesisClient {
  const client = kinesisClient();
  // Typed loosely: the same middleware goes in either step, and sees every command's shapes.
  const middleware =
    (
      next: (args: { input: object }) => Promise<{ output: unknown }>,
      context: { commandName?: string },
    ) =>
    async (args: { input: object }) => {
      let result: { output: unknown } | undefined;
      const output = await hook(context.commandName ?? '', args.input as Input, async () => {
        result = await next(args);
        return result.output as Output;
      });
      return { ...(result ?? { response: {} }), output };
    };
  (client.middlewareStack.add as (m: unknown, o: object) => void)(middleware, {
    step,
    name: 'testHook',
  });
  return client;
}

/** A client that stamps the records whose data `stampOf` knows with that arrival time. */
function stamping(stampOf: (value: string) => number | undefined): KinesisClient {
  return hooked(async (command, _input, next) => {
    const output = await next();
    if (command === 'GetRecordsCommand') {
      for (const record of output.Records ?? []) {
        const stamp = stampOf(text(record.Data as Uint8Array));
        if (stamp !== undefined) record.ApproximateArrivalTimestamp = new Date(stamp);
      }
    }
    return output;
  });
}

/** Reads batch after batch until a batch reads nothing; returns the slices. */
async function drain(
  client: KinesisClient,
  stream: string,
  from: ShardPosition,
  options: { maxRecords: number; maxBytes?: number; pageSize?: number },
): Promise<Slice[]> {
  const slices: Slice[] = [];
  let position = from;
  for (let i = 0; i < 50; i++) {
    const slice = await readSlice(client, {
      stream,
      shardId: SHARD0,
      from: position,
      batchTimeMs: FAR_FUTURE(),
      ...options,
    });
    slices.push(slice);
    if (slice.records.length === 0) return slices;
    position = slice.next;
  }
  throw new Error('drain: the shard never came to an end');
}

// --- Start positions ---------------------------------------------------------------------------

describe('resolveStart', () => {
  it('keeps the trim horizon as a position, which reads from the oldest record', async () => {
    const stream = await newStream();
    await put(stream, names('a', 3));
    const kinesis = kinesisClient();
    const start = await resolveStart(kinesis, stream, SHARD0, { kind: 'trimHorizon' });
    expect(start).toEqual({ atTrimHorizon: true });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: start,
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 100,
    });
    expect(values(slice)).toEqual(['a0', 'a1', 'a2']);
  });

  it('resolves a timestamp to the first record stamped at or after it', async () => {
    const stream = await newStream();
    const before = await put(stream, names('a', 3));
    await sleep(20);
    const between = Date.now();
    await sleep(20);
    const after = await put(stream, names('b', 3));
    const kinesis = kinesisClient();

    const atBetween = await resolveStart(kinesis, stream, SHARD0, {
      kind: 'atTimestamp',
      timestampMs: between,
    });
    expect(atBetween).toEqual({ atSequence: after[0] });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: atBetween,
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 100,
    });
    expect(values(slice)).toEqual(['b0', 'b1', 'b2']);
    expect(slice.endSequence).toBe(after[2]);

    // A time older than every record: the oldest one.
    const atOld = await resolveStart(kinesis, stream, SHARD0, {
      kind: 'atTimestamp',
      timestampMs: 1_000,
    });
    expect(atOld).toEqual({ atSequence: before[0] });
  });

  it('carries a timestamp with nothing after it, and later reads what comes after it', async () => {
    const stream = await newStream();
    await put(stream, names('a', 2));
    await sleep(20);
    const kinesis = kinesisClient();
    const timestampMs = Date.now();
    const start = await resolveStart(kinesis, stream, SHARD0, { kind: 'atTimestamp', timestampMs });
    expect(start).toEqual({ atTimestampMs: timestampMs });

    // Nothing yet: the slice is empty and the next batch starts at the same place.
    const empty = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: start,
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(empty.records).toEqual([]);
    expect(empty.next).toEqual(start);
    expect(empty.endSequence).toBeUndefined();

    const later = await put(stream, names('b', 2));
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: start,
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(values(slice)).toEqual(['b0', 'b1']);
    expect(slice.next).toEqual({ afterSequence: later[1] });
  });

  it('resolves latest to the resolve time: records already in the shard are skipped', async () => {
    const stream = await newStream();
    await put(stream, names('old', 4));
    // Records put in the same millisecond as the resolve would count as after it.
    await sleep(20);
    const kinesis = kinesisClient();
    const resolvedAt = Date.now();
    const start = await resolveStart(kinesis, stream, SHARD0, { kind: 'latest' });
    expect(start).toEqual({ atTimestampMs: expect.any(Number) });
    const { atTimestampMs } = start as { atTimestampMs: number };
    expect(atTimestampMs).toBeGreaterThanOrEqual(resolvedAt);
    expect(atTimestampMs).toBeLessThanOrEqual(Date.now());

    await put(stream, names('new', 3));
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: start,
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(values(slice)).toEqual(['new0', 'new1', 'new2']);

    // Once something came after the resolve time, latest names it by its sequence number.
    const again = await resolveStart(kinesis, stream, SHARD0, {
      kind: 'atTimestamp',
      timestampMs: atTimestampMs,
    });
    expect(again).toEqual({ atSequence: slice.records[0]?.sequenceNumber });
  });

  it('carries a start time the stream has not reached without asking kinesis-local', async () => {
    const stream = await newStream();
    await put(stream, names('a', 2));
    let calls = 0;
    const kinesis = hooked(async (_command, _input, next) => {
      calls += 1;
      return next();
    });
    const timestampMs = Date.now() + 60_000;
    const start = await resolveStart(kinesis, stream, SHARD0, { kind: 'atTimestamp', timestampMs });
    expect(start).toEqual({ atTimestampMs: timestampMs });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: start,
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(slice.records).toEqual([]);
    // kinesis-local refuses AT_TIMESTAMP in the future; neither call asked it.
    expect(calls).toBe(0);
  });

  it('rejects an unknown kind or a timestamp that is not a number', async () => {
    const stream = await newStream();
    const kinesis = kinesisClient();
    const bad = { kind: 'earliest' } as unknown as Parameters<typeof resolveStart>[3];
    const error = await resolveStart(kinesis, stream, SHARD0, bad).catch((e: unknown) => e);
    expect(SparklessError.is(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain("'earliest'");
    const nan = await resolveStart(kinesis, stream, SHARD0, {
      kind: 'atTimestamp',
      timestampMs: Number.NaN,
    }).catch((e: unknown) => e);
    expect(SparklessError.is(nan, 'INVALID_ARGUMENT')).toBe(true);
  });
});

// --- The cut -----------------------------------------------------------------------------------

describe('readSlice: the cut at the first record stamped at or after T', () => {
  it('cuts at the first stamp >= T in sequence order, even when later records are stamped earlier', async () => {
    const stream = await newStream();
    // sequence:  r0   r1   r2   r3   r4   r5
    // stamp:     100  200  300  250  400  150
    const stamps: Record<string, number> = { r0: 100, r1: 200, r2: 300, r3: 250, r4: 400, r5: 150 };
    const seqs = await put(stream, Object.keys(stamps));
    const kinesis = stamping((v) => stamps[v]);
    const read = (from: ShardPosition, batchTimeMs: number) =>
      readSlice(kinesis, { stream, shardId: SHARD0, from, batchTimeMs, maxRecords: 100 });

    //          T=300      T=400      T=500      T=600
    // batch:   r0 r1      r2 r3      r4 r5      (none)
    const b300 = await read({ atTrimHorizon: true }, 300);
    expect(values(b300)).toEqual(['r0', 'r1']);
    expect(b300.endSequence).toBe(seqs[1]);
    expect(b300.capped).toBeUndefined();
    expect(b300.records.map((r) => r.arrivalTimeMs)).toEqual([100, 200]);

    // r3 is stamped before 400 and r5 before 500 and even before 300: each still waits for
    // the batch that reaches it in sequence order.
    const b400 = await read(b300.next, 400);
    expect(values(b400)).toEqual(['r2', 'r3']);
    const b500 = await read(b400.next, 500);
    expect(values(b500)).toEqual(['r4', 'r5']);
    const b600 = await read(b500.next, 600);
    expect(b600.records).toEqual([]);
    expect(b600.endSequence).toBe(seqs[5]);
    expect(b600.next).toEqual({ afterSequence: seqs[5] });
  });

  it('reads nothing when the first record is stamped at T', async () => {
    const stream = await newStream();
    await put(stream, ['x', 'y']);
    const kinesis = stamping((v) => (v === 'x' ? 1_000 : 10));
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { atTrimHorizon: true },
      batchTimeMs: 1_000,
      maxRecords: 10,
    });
    expect(slice.records).toEqual([]);
    expect(slice.next).toEqual({ atTrimHorizon: true });
  });

  it('puts a record that becomes visible after a batch read past its stamp in the next batch', async () => {
    const stream = await newStream();
    const stamps: Record<string, number> = { r0: 100, r1: 200, late: 150 };
    await put(stream, ['r0', 'r1']);
    const kinesis = stamping((v) => stamps[v]);
    const first = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { atTrimHorizon: true },
      batchTimeMs: 1_000,
      maxRecords: 10,
    });
    expect(values(first)).toEqual(['r0', 'r1']);
    // Stamped 150, before the batch at 1000 that was already read: it comes at 2000.
    await put(stream, ['late']);
    const second = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: first.next,
      batchTimeMs: 2_000,
      maxRecords: 10,
    });
    expect(values(second)).toEqual(['late']);
    expect(second.records[0]?.arrivalTimeMs).toBe(150);
  });
});

// --- Caps and the tip --------------------------------------------------------------------------

describe('readSlice: caps and the tip', () => {
  it('stops at the record cap and goes on from there in the next batch', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 10));
    const kinesis = kinesisClient();
    const slices = await drain(kinesis, stream, { atTrimHorizon: true }, { maxRecords: 4 });
    expect(slices.map(values)).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r4', 'r5', 'r6', 'r7'],
      ['r8', 'r9'],
      [],
    ]);
    expect(slices.map((s) => s.capped)).toEqual(['records', 'records', undefined, undefined]);
    expect(slices.map((s) => s.endSequence)).toEqual([seqs[3], seqs[7], seqs[9], seqs[9]]);
  });

  it('is not capped when exactly the cap was left, and pages smaller than the cap', async () => {
    const stream = await newStream();
    await put(stream, names('r', 4));
    const slices = await drain(
      kinesisClient(),
      stream,
      { atTrimHorizon: true },
      { maxRecords: 4, pageSize: 3 },
    );
    expect(slices.map(values)).toEqual([['r0', 'r1', 'r2', 'r3'], []]);
    expect(slices[0]?.capped).toBeUndefined();
  });

  it('stops at the byte cap (data and partition key), and reads one record bigger than the cap alone', async () => {
    const stream = await newStream();
    // Six records of 100 data bytes and a 1-byte partition key, then one of 1,000 bytes.
    await put(stream, names('r', 6), { firstShard: true, pad: 100 });
    await put(stream, ['big'], { firstShard: true, pad: 1_000 });
    await put(stream, ['after'], { firstShard: true, pad: 100 });
    const slices = await drain(
      kinesisClient(),
      stream,
      { atTrimHorizon: true },
      { maxRecords: 100, maxBytes: 350 },
    );
    const heads = slices.map((s) => values(s).map((v) => v.replace(/\.+$/, '')));
    expect(heads).toEqual([['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['big'], ['after'], []]);
    expect(slices.map((s) => s.bytes)).toEqual([303, 303, 1_001, 101, 0]);
    expect(slices.map((s) => s.capped)).toEqual(['bytes', 'bytes', 'bytes', undefined, undefined]);
  });

  it('sizes the default byte cap to the shard read rate over the interval', () => {
    expect(maxBytesForInterval(1_000)).toBe(2 * 1024 * 1024);
    expect(maxBytesForInterval(500)).toBe(2 * 1024 * 1024);
    expect(maxBytesForInterval(10_000)).toBe(20 * 1024 * 1024);
  });

  it('reads page after page to the tip, past a page that ends before it', async () => {
    const stream = await newStream();
    await put(stream, names('r', 25));
    const pages: Array<{ limit: unknown; got: number; behind: unknown }> = [];
    let injected = false;
    const kinesis = hooked(async (command, input, next) => {
      if (command !== 'GetRecordsCommand') return next();
      if (!injected) {
        // AWS answers some pages empty though records follow (MillisBehindLatest > 0), with a
        // next iterator at the same place.
        injected = true;
        pages.push({ limit: input.Limit, got: 0, behind: 3_000 });
        return { Records: [], MillisBehindLatest: 3_000, NextShardIterator: input.ShardIterator };
      }
      const output = await next();
      pages.push({ limit: input.Limit, got: output.Records?.length ?? 0, behind: 0 });
      return output;
    });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { atTrimHorizon: true },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 1_000,
      pageSize: 4,
    });
    expect(values(slice)).toEqual(names('r', 25));
    expect(slice.millisBehindLatest).toBe(0);
    expect(slice.shardEnded).toBe(false);
    // The empty page, six full pages of 4, and the tip: a short page at MillisBehindLatest 0.
    expect(pages.map((p) => p.got)).toEqual([0, 4, 4, 4, 4, 4, 4, 1]);
    expect(pages.every((p) => p.limit === 4)).toBe(true);
  });

  it('reads an empty shard as an empty slice that stays where it was', async () => {
    const stream = await newStream();
    const kinesis = kinesisClient();
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { atTrimHorizon: true },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(slice).toEqual({
      records: [],
      next: { atTrimHorizon: true },
      shardEnded: false,
      childShards: [],
      millisBehindLatest: 0,
      bytes: 0,
    });

    const [only] = await put(stream, ['one']);
    const after = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { afterSequence: only! },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(after.records).toEqual([]);
    expect(after.endSequence).toBe(only);
    expect(after.next).toEqual({ afterSequence: only });
  });

  it('rejects caps that are not whole numbers of at least one', async () => {
    const stream = await newStream();
    const read = (over: { maxRecords?: number; maxBytes?: number }) =>
      readSlice(kinesisClient(), {
        stream,
        shardId: SHARD0,
        from: { atTrimHorizon: true },
        batchTimeMs: FAR_FUTURE(),
        maxRecords: 10,
        ...over,
      }).catch((e: unknown) => e);
    const zero = await read({ maxRecords: 0 });
    expect(SparklessError.is(zero, 'INVALID_ARGUMENT')).toBe(true);
    expect((zero as Error).message).toContain('maxRecords must be a whole number of at least 1');
    expect(SparklessError.is(await read({ maxBytes: 1.5 }), 'INVALID_ARGUMENT')).toBe(true);
  });
});

// --- Retention, expiry, throttling ---------------------------------------------------------------

describe('readSlice: trimmed positions, expired iterators, throttling', () => {
  it('moves a position older than the oldest record to the trim horizon and reports the gap (kinesis-local)', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 3));
    // kinesis-local answers ResourceNotFoundException for a sequence number it does not hold;
    // one older than its oldest record is what retention leaves behind.
    const trimmed = (BigInt(seqs[0]!) - 1n).toString();
    const slice = await readSlice(kinesisClient(), {
      stream,
      shardId: SHARD0,
      from: { afterSequence: trimmed },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(values(slice)).toEqual(['r0', 'r1', 'r2']);
    expect(slice.trimmedGap).toEqual({ requestedAfter: trimmed, resumedAt: seqs[0] });
    expect(slice.next).toEqual({ afterSequence: seqs[2] });
  });

  it('moves a trimmed position to the trim horizon when AWS refuses it with InvalidArgumentException', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 6));
    // Retention removed r0..r2: sequence numbers before r3 are refused, as AWS does, and the
    // trim horizon is r3.
    const horizon = BigInt(seqs[3]!);
    const calls: string[] = [];
    const kinesis = hooked(async (command, input, next) => {
      if (command !== 'GetShardIteratorCommand') return next();
      calls.push(`${input.ShardIteratorType}`);
      const sequence = input.StartingSequenceNumber as string | undefined;
      if (sequence !== undefined && BigInt(sequence) < horizon) {
        throw new InvalidArgumentException({
          message: `StartingSequenceNumber ${sequence} used in GetShardIterator on shard ${SHARD0} in stream ${stream} is no longer available`,
          $metadata: { httpStatusCode: 400 },
        });
      }
      if (input.ShardIteratorType === 'TRIM_HORIZON') {
        input.ShardIteratorType = 'AT_SEQUENCE_NUMBER';
        input.StartingSequenceNumber = seqs[3];
      }
      return next();
    });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { afterSequence: seqs[0]! },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 2,
    });
    expect(values(slice)).toEqual(['r3', 'r4']);
    expect(slice.trimmedGap).toEqual({ requestedAfter: seqs[0], resumedAt: seqs[3] });
    expect(slice.endSequence).toBe(seqs[4]);
    expect(slice.capped).toBe('records');
    // Refused, then the oldest record looked up, then read from the trim horizon.
    expect(calls).toEqual(['AFTER_SEQUENCE_NUMBER', 'TRIM_HORIZON', 'TRIM_HORIZON']);
  });

  it('reports a gap with nothing to resume at when retention emptied the shard', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 2));
    const kinesis = hooked(async (command, input, next) => {
      if (command === 'GetShardIteratorCommand' && input.StartingSequenceNumber !== undefined) {
        throw new InvalidArgumentException({ message: 'expired', $metadata: {} });
      }
      // Everything was trimmed: the trim horizon is where the next record will go.
      if (command === 'GetShardIteratorCommand') input.ShardIteratorType = 'LATEST';
      return next();
    });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { afterSequence: seqs[1]! },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    });
    expect(slice.records).toEqual([]);
    expect(slice.trimmedGap).toEqual({ requestedAfter: seqs[1] });
    expect(slice.endSequence).toBeUndefined();
    expect(slice.next).toEqual({ atTrimHorizon: true });
  });

  it('throws a refusal that is not retention: a position past the newest record, another shard', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 2));
    const ahead = (BigInt(seqs[1]!) + 1_000n).toString();
    const error = await readSlice(kinesisClient(), {
      stream,
      shardId: SHARD0,
      from: { afterSequence: ahead },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);

    const foreign = hooked(async (command, input, next) => {
      if (command === 'GetShardIteratorCommand' && input.StartingSequenceNumber !== undefined) {
        throw new InvalidArgumentException({
          message: `Invalid StartingSequenceNumber. It encodes shardId-000000000007, while it was used in a call to a shard with ${SHARD0}`,
          $metadata: {},
        });
      }
      return next();
    });
    const refused = await readSlice(foreign, {
      stream,
      shardId: SHARD0,
      from: { afterSequence: '1' },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 10,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InvalidArgumentException);
  });

  it('replaces an expired iterator after the last record read, losing and repeating nothing', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 10));
    const iterators: string[] = [];
    let reads = 0;
    const kinesis = hooked(async (command, input, next) => {
      if (command === 'GetShardIteratorCommand') {
        iterators.push(`${input.ShardIteratorType} ${input.StartingSequenceNumber ?? ''}`.trim());
      }
      if (command === 'GetRecordsCommand' && ++reads === 2) {
        throw new ExpiredIteratorException({
          message:
            'Iterator expired. The iterator was created at time ... while right now it is ...',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next();
    });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { atTrimHorizon: true },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 100,
      pageSize: 3,
    });
    expect(values(slice)).toEqual(names('r', 10));
    expect(iterators).toEqual(['TRIM_HORIZON', `AFTER_SEQUENCE_NUMBER ${seqs[2]}`]);
  });

  it('replaces an iterator that expired before any record was read at the slice start', async () => {
    const stream = await newStream();
    const seqs = await put(stream, names('r', 4));
    const iterators: string[] = [];
    let reads = 0;
    const kinesis = hooked(async (command, input, next) => {
      if (command === 'GetShardIteratorCommand') {
        iterators.push(`${input.ShardIteratorType} ${input.StartingSequenceNumber ?? ''}`.trim());
      }
      if (command === 'GetRecordsCommand' && ++reads === 1) {
        throw new ExpiredIteratorException({ message: 'Iterator expired', $metadata: {} });
      }
      return next();
    });
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { afterSequence: seqs[0]! },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 100,
    });
    expect(values(slice)).toEqual(['r1', 'r2', 'r3']);
    expect(iterators).toEqual([
      `AFTER_SEQUENCE_NUMBER ${seqs[0]}`,
      `AFTER_SEQUENCE_NUMBER ${seqs[0]}`,
    ]);
  });

  it('succeeds through throttling, which the client retry strategy retries', async () => {
    const stream = await newStream();
    await put(stream, names('r', 5));
    let attempts = 0;
    let throttled = 0;
    const kinesis = hooked(async (command, _input, next) => {
      if (command === 'GetRecordsCommand' && ++attempts <= 2) {
        throttled += 1;
        throw new ProvisionedThroughputExceededException({
          message: 'Rate exceeded for shard shardId-000000000000',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next();
    }, 'deserialize');
    const slice = await readSlice(kinesis, {
      stream,
      shardId: SHARD0,
      from: { atTrimHorizon: true },
      batchTimeMs: FAR_FUTURE(),
      maxRecords: 100,
    });
    expect(values(slice)).toEqual(names('r', 5));
    expect(throttled).toBe(2);
    // The first GetRecords took three attempts; nothing was read twice.
    expect(attempts).toBe(3);
  });
});

// --- Resharding --------------------------------------------------------------------------------

describe('shardsToRead', () => {
  const shard = (shardId: string, ...parents: string[]): ShardInfo => ({
    shardId,
    parents,
    ...(parents[0] ? { parentShardId: parents[0] } : {}),
    ...(parents[1] ? { adjacentParentShardId: parents[1] } : {}),
  });
  // 0 split into 1 and 2, which merged into 3.
  const all = [shard('s0'), shard('s1', 's0'), shard('s2', 's0'), shard('s3', 's1', 's2')];
  const none = new Set<string>();

  it('starts with the oldest generation listed', () => {
    expect(shardsToRead(all, none, none)).toEqual(['s0']);
    // Retention removed s0: its children have no listed parent, so they start.
    expect(shardsToRead(all.slice(1), none, none)).toEqual(['s1', 's2']);
  });

  it('lets children in once every parent ended, and never reads an ended shard again', () => {
    expect(shardsToRead(all, new Set(['s0']), new Set(['s0']))).toEqual(['s1', 's2']);
    // One parent of the merge ended: its child waits for the other.
    expect(shardsToRead(all, new Set(['s0', 's1']), new Set(['s0', 's1', 's2']))).toEqual(['s2']);
    expect(shardsToRead(all, new Set(['s0', 's1', 's2']), new Set(['s0', 's1', 's2']))).toEqual([
      's3',
    ]);
  });

  it('counts a parent that left the listing as ended, and keeps shards already known', () => {
    // s1 left the listing (retention), s2 ended: s3 enters.
    const listed = all.filter((s) => s.shardId !== 's1');
    expect(shardsToRead(listed, new Set(['s2']), new Set(['s2']))).toEqual(['s0', 's3']);
    // A known shard stays even if a parent is still being read (it was let in before).
    expect(shardsToRead(all, none, new Set(['s0', 's3']))).toEqual(['s0', 's3']);
  });
});

describe('resharding on kinesis-local', () => {
  it('lists every shard with its parents, page by page', async () => {
    const stream = await newStream();
    const kinesis = kinesisClient();
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: SHARD0,
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await kinesis.send(
      new MergeShardsCommand({
        StreamName: stream,
        ShardToMerge: 'shardId-000000000001',
        AdjacentShardToMerge: 'shardId-000000000002',
      }),
    );
    const listed = await listShards(kinesis, stream, { pageSize: 2 });
    expect(listed.map((s) => [s.shardId, s.parents])).toEqual([
      ['shardId-000000000000', []],
      ['shardId-000000000001', ['shardId-000000000000']],
      ['shardId-000000000002', ['shardId-000000000000']],
      ['shardId-000000000003', ['shardId-000000000001', 'shardId-000000000002']],
    ]);
    expect(listed[3]).toMatchObject({
      parentShardId: 'shardId-000000000001',
      adjacentParentShardId: 'shardId-000000000002',
    });
    expect(listed.map((s) => s.endingSequence !== undefined)).toEqual([true, true, true, false]);
    expect(listed.every((s) => s.startingSequence !== undefined)).toBe(true);
  });

  it('reads every record exactly once across a split and a merge, parents before children', async () => {
    const stream = await newStream();
    const kinesis = kinesisClient();
    const positions = new Map<string, ShardPosition>();
    const known = new Set<string>();
    const ended = new Set<string>();
    const endedAt = new Map<string, number>();
    const firstPlannedAt = new Map<string, number>();
    const lastChildren = new Map<string, string[]>();
    const read: Array<{ value: string; shardId: string; batch: number; sequence: string }> = [];
    let batch = 0;

    /** One batch: plan the shards by the rule, read each one's slice, note what ended. */
    const runBatch = async () => {
      batch += 1;
      const plan = shardsToRead(await listShards(kinesis, stream), ended, known);
      for (const shardId of plan) {
        if (!firstPlannedAt.has(shardId)) firstPlannedAt.set(shardId, batch);
        known.add(shardId);
        const slice = await readSlice(kinesis, {
          stream,
          shardId,
          from: positions.get(shardId) ?? { atTrimHorizon: true },
          batchTimeMs: FAR_FUTURE(),
          maxRecords: 3,
        });
        for (const r of slice.records) {
          read.push({ value: text(r.data), shardId, batch, sequence: r.sequenceNumber });
        }
        positions.set(shardId, slice.next);
        if (slice.shardEnded) {
          ended.add(shardId);
          endedAt.set(shardId, batch);
          lastChildren.set(shardId, slice.childShards);
        } else {
          expect(slice.childShards).toEqual([]);
        }
      }
      return plan;
    };

    const a = names('a', 8);
    const b = names('b', 8);
    const c = names('c', 8);
    await put(stream, a);
    await runBatch();
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: SHARD0,
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await put(stream, b);
    await runBatch();
    await kinesis.send(
      new MergeShardsCommand({
        StreamName: stream,
        ShardToMerge: 'shardId-000000000001',
        AdjacentShardToMerge: 'shardId-000000000002',
      }),
    );
    await put(stream, c);
    // Until a batch reads nothing and every closed shard has ended.
    for (let i = 0; i < 20; i++) {
      const before = read.length;
      await runBatch();
      if (read.length === before && ended.size === 3) break;
    }

    // Exactly once: every value read, none twice.
    expect(read.map((r) => r.value).sort()).toEqual([...a, ...b, ...c].sort());
    expect(new Set(read.map((r) => r.sequence)).size).toBe(read.length);

    // The closed parents reported their children on their last read.
    expect(Object.fromEntries(lastChildren)).toEqual({
      'shardId-000000000000': ['shardId-000000000001', 'shardId-000000000002'],
      'shardId-000000000001': ['shardId-000000000003'],
      'shardId-000000000002': ['shardId-000000000003'],
    });
    expect(ended.has('shardId-000000000003')).toBe(false);

    // A child enters only in a batch after each of its parents ended, so every parent record
    // is read before any record of its children.
    const parents: Record<string, string[]> = {
      'shardId-000000000001': ['shardId-000000000000'],
      'shardId-000000000002': ['shardId-000000000000'],
      'shardId-000000000003': ['shardId-000000000001', 'shardId-000000000002'],
    };
    for (const [child, ps] of Object.entries(parents)) {
      for (const p of ps) {
        expect(firstPlannedAt.get(child)).toBeGreaterThan(endedAt.get(p)!);
        const lastOfParent = Math.max(...read.filter((r) => r.shardId === p).map((r) => r.batch));
        const firstOfChild = Math.min(
          ...read.filter((r) => r.shardId === child).map((r) => r.batch),
        );
        expect(firstOfChild).toBeGreaterThan(lastOfParent);
      }
    }
    // The split happened while shard 0 was mid-read, so the reads really interleaved batches.
    expect(read.filter((r) => r.shardId === SHARD0).map((r) => r.value)).toEqual(a);
    expect(new Set(read.filter((r) => r.shardId === SHARD0).map((r) => r.batch)).size).toBe(3);
    // The children of the split got b; the merged shard got c, in put order.
    expect(read.filter((r) => r.shardId === 'shardId-000000000003').map((r) => r.value)).toEqual(c);
  });
});
