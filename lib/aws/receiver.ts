/**
 * The receivers: where a shard's first batch starts, and the records of one batch for one
 * shard (DESIGN: time and batches).
 *
 * A batch at time T holds, per shard, the records after the previous batch's end position, up
 * to and not including the first record stamped (ApproximateArrivalTimestamp) at or after T,
 * or up to the tip as read, and at most the record and byte caps:
 *
 *   sequence order  ->   r1    r2    r3    r4    r5    r6
 *   arrival stamp        T-9   T-5   T+1   T-2   T+3   ...
 *   batch T              [r1    r2]  cut: r3 is the first stamped >= T
 *   batch T+B                        [r3    r4    r5 ...   (r4, stamped before T, comes here)
 *
 * Positions are sequence numbers, never times: stamps are approximate and not monotonic, and a
 * record can become visible after a batch read past its place in time; either way it lands in
 * a later batch and is read exactly once.
 */
import {
  type ChildShard,
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { SparklessError } from '../core/errors.js';
import type { SliceRecord, StartPosition } from './protocol.js';
import { streamParams } from './shards.js';

export type { SliceRecord, StartPosition };

/**
 * A concrete place in a shard where a slice starts, as plans carry it:
 *
 * - `afterSequence`: just after a record read before (the usual case, from a previous batch);
 * - `atSequence`: at a record, included (where a start timestamp was found to begin);
 * - `atTrimHorizon`: at the oldest record the shard still holds;
 * - `atTimestampMs`: at the first record stamped at or after this time, while the shard has
 *   none yet (a start timestamp, or `latest`, resolved when nothing came after it).
 */
export type ShardPosition =
  | { readonly afterSequence: string }
  | { readonly atSequence: string }
  | { readonly atTrimHorizon: true }
  | { readonly atTimestampMs: number };

/** What a shard's read rate allows in one second: 2 MiB, the GetRecords limit per shard. */
export const SHARD_READ_BYTES_PER_SECOND = 2 * 1024 * 1024;

/** The most records one GetRecords call returns. */
const GET_RECORDS_MAX = 10_000;

/** How many times in a row an iterator may expire before the read gives up. */
const MAX_ITERATOR_RENEWALS = 5;

/**
 * The byte cap of a batch of `batchIntervalMs` per shard: what the shard's read rate (2 MiB/s)
 * allows over one interval, at least one second's worth. A bigger cap could not be read within
 * the interval without being throttled.
 */
export function maxBytesForInterval(batchIntervalMs: number): number {
  return SHARD_READ_BYTES_PER_SECOND * Math.max(1, Math.ceil(batchIntervalMs / 1000));
}

// --- Start positions ---------------------------------------------------------------------------

/**
 * Turns a job's start position into a concrete one for a shard's first plan, once; the plan
 * carries it until a record gives a sequence number.
 *
 * - `trimHorizon` stays the trim horizon (no call): retention moves it, and reading from it
 *   later still means "the oldest record there is".
 * - `atTimestamp` is looked up with an AT_TIMESTAMP iterator: the first record stamped at or
 *   after the time gives `atSequence`; when there is none yet, the time itself is carried
 *   (`atTimestampMs`) and later reads look again. A time older than the trim horizon gives
 *   the oldest record, as Kinesis documents for AT_TIMESTAMP.
 * - `latest` is `atTimestamp` at the time of the call (`now()`). Kinesis has no "sequence
 *   number of the newest record": a LATEST iterator is only good for five minutes and names no
 *   record, so it cannot be carried in a plan, and reading the whole shard to find its last
 *   record costs a full scan. The first record stamped at or after the resolve time is the
 *   first one after the newest record of that moment, up to the precision of the stamps.
 */
export async function resolveStart(
  kinesis: KinesisClient,
  stream: string,
  shardId: string,
  start: StartPosition,
  now: () => number = Date.now,
): Promise<ShardPosition> {
  switch (start.kind) {
    case 'trimHorizon':
      return { atTrimHorizon: true };
    case 'latest':
      return firstAtOrAfter(kinesis, stream, shardId, now(), now);
    case 'atTimestamp':
      if (!Number.isFinite(start.timestampMs)) {
        throw new SparklessError(
          'INVALID_ARGUMENT',
          `resolveStart: atTimestamp needs a finite epoch time in milliseconds, got ${start.timestampMs}`,
        );
      }
      return firstAtOrAfter(kinesis, stream, shardId, start.timestampMs, now);
    default: {
      const kind = (start as { kind?: unknown }).kind;
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `resolveStart: unknown start position kind '${String(kind)}'; use trimHorizon, latest or atTimestamp`,
      );
    }
  }
}

/** The first record stamped at or after `timestampMs`, or the time itself when there is none. */
async function firstAtOrAfter(
  kinesis: KinesisClient,
  stream: string,
  shardId: string,
  timestampMs: number,
  now: () => number,
): Promise<ShardPosition> {
  const carried: ShardPosition = { atTimestampMs: timestampMs };
  const iterator = await timestampIterator(kinesis, stream, shardId, timestampMs, now);
  if (iterator === undefined) return carried;
  const first = await firstRecord(kinesis, iterator);
  return first === undefined ? carried : { atSequence: first };
}

// --- Slices ------------------------------------------------------------------------------------

export interface ReadSliceOptions {
  /** The stream's name or ARN. */
  readonly stream: string;
  readonly shardId: string;
  /** Where the previous batch ended, or the resolved start of the shard's first batch. */
  readonly from: ShardPosition;
  /** The batch time T: the slice stops before the first record stamped at or after it. */
  readonly batchTimeMs: number;
  /** The most records the slice holds (the plan's record cap), at least 1. */
  readonly maxRecords: number;
  /**
   * The most bytes (data and partition key) the slice holds; a single record bigger than the
   * cap is still read alone, so a shard never stalls on it.
   * @default 2 MiB, one second of a shard's read rate; see {@link maxBytesForInterval}
   */
  readonly maxBytes?: number;
  /** The most records one GetRecords call asks for (default 10,000, the API's limit). */
  readonly pageSize?: number;
  /** The clock, for a start time not reached yet (default Date.now). */
  readonly now?: () => number;
}

/** The records of one batch for one shard, and where the next batch starts. */
export interface Slice {
  /** In sequence order. */
  readonly records: SliceRecord[];
  /**
   * The sequence number of the last record read, or the previous `afterSequence` when none was
   * (undefined when the slice started elsewhere and read nothing).
   */
  readonly endSequence?: string;
  /** Where the next batch of this shard starts. */
  readonly next: ShardPosition;
  /** The shard is closed and was read to its end (its last read gave no next iterator). */
  readonly shardEnded: boolean;
  /** The children the closed shard's last read named (empty unless `shardEnded`). */
  readonly childShards: string[];
  /** How far the last read page was from the tip. */
  readonly millisBehindLatest: number;
  /** The data and partition key bytes of `records`. */
  readonly bytes: number;
  /** Which cap stopped the slice before the cut or the tip, if one did. */
  readonly capped?: 'records' | 'bytes';
  /**
   * The requested position was older than the shard's retention: reading resumed at the
   * oldest record (`resumedAt`, absent when the shard holds none), and the records between
   * are lost to retention.
   */
  readonly trimmedGap?: { readonly requestedAfter: string; readonly resumedAt?: string };
}

/**
 * Reads the records of one batch for one shard: after `from`, up to and not including the
 * first record stamped at or after `batchTimeMs`, or up to the tip as read, and at most
 * `maxRecords` records and `maxBytes` bytes. A record past a cap is left for the next batch;
 * the end position stays before it.
 *
 * Pages are read until the cut, a cap, the shard's end or the tip: a page that ends before the
 * tip (MillisBehindLatest > 0, or as many records as asked for) is followed by the next one.
 * The tip is a page with fewer records than asked for and MillisBehindLatest = 0; records that
 * become visible after it land in a later batch.
 *
 * - Retention: when GetShardIterator refuses a start sequence number (AWS answers
 *   InvalidArgumentException naming the StartingSequenceNumber for one past retention;
 *   kinesis-local, which never trims, answers ResourceNotFoundException "Unable to find record
 *   with provided SequenceNumber" for any sequence number it does not hold), the oldest record
 *   still held is read: if it is newer than the position (or there is none), retention removed
 *   the position, reading resumes at the trim horizon and the gap is reported in `trimmedGap`.
 *   Any other refusal (a position ahead of the newest record, another shard's sequence number)
 *   is thrown. The API documents no error for this case, hence the check by sequence order
 *   rather than by message.
 * - Iterators expire five minutes after they are handed out: an expired one is replaced by one
 *   after the last record read (or at the slice's start), so a slow read loses nothing.
 * - Throttling (ProvisionedThroughputExceededException) is retried by the client's retry
 *   strategy (see clients.ts).
 */
export async function readSlice(kinesis: KinesisClient, options: ReadSliceOptions): Promise<Slice> {
  const { stream, shardId, from, batchTimeMs } = options;
  const maxRecords = positiveInteger('maxRecords', options.maxRecords);
  const maxBytes = positiveInteger('maxBytes', options.maxBytes ?? SHARD_READ_BYTES_PER_SECOND);
  const pageSize = Math.min(
    GET_RECORDS_MAX,
    positiveInteger('pageSize', options.pageSize ?? GET_RECORDS_MAX),
  );
  const now = options.now ?? Date.now;
  if (!Number.isFinite(batchTimeMs)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `readSlice: batchTimeMs must be a finite epoch time in milliseconds, got ${batchTimeMs}`,
    );
  }

  const records: SliceRecord[] = [];
  let bytes = 0;
  let capped: 'records' | 'bytes' | undefined;
  let millisBehindLatest = 0;
  let shardEnded = false;
  let childShards: string[] = [];

  const opened = await openIterator(kinesis, stream, shardId, from, now);
  // Where this slice really starts: the trim horizon after a gap, `from` otherwise.
  const start: ShardPosition = opened.gap ? { atTrimHorizon: true } : from;
  const finish = (): Slice => {
    const last = records.at(-1)?.sequenceNumber;
    const endSequence =
      last ?? ('afterSequence' in start && !opened.gap ? start.afterSequence : undefined);
    return {
      records,
      ...(endSequence !== undefined ? { endSequence } : {}),
      next: last !== undefined ? { afterSequence: last } : start,
      shardEnded,
      childShards,
      millisBehindLatest,
      bytes,
      ...(capped ? { capped } : {}),
      ...(opened.gap ? { trimmedGap: opened.gap } : {}),
    };
  };
  let iterator = opened.iterator;
  if (iterator === undefined) return finish();

  let renewals = 0;
  for (;;) {
    // One more record than the cap allows, to tell a capped slice from one that ended there.
    const limit = Math.min(pageSize, maxRecords - records.length + 1);
    let page: GetRecordsCommandOutput;
    try {
      page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
      renewals = 0;
    } catch (error) {
      if (!isExpiredIterator(error) || ++renewals > MAX_ITERATOR_RENEWALS) throw error;
      const last = records.at(-1)?.sequenceNumber;
      const resume: ShardPosition = last !== undefined ? { afterSequence: last } : start;
      const reopened = await openIterator(kinesis, stream, shardId, resume, now);
      if (reopened.gap) {
        // Retention overtook the read itself: nothing more of this slice can be trusted to
        // follow on from what was read, so it ends here and the next batch reports the gap.
        return finish();
      }
      if (reopened.iterator === undefined) return finish();
      iterator = reopened.iterator;
      continue;
    }

    millisBehindLatest = page.MillisBehindLatest ?? 0;
    const got = page.Records ?? [];
    for (const record of got) {
      const arrivalTimeMs = record.ApproximateArrivalTimestamp?.getTime() ?? 0;
      if (arrivalTimeMs >= batchTimeMs) return finish();
      if (records.length >= maxRecords) {
        capped = 'records';
        return finish();
      }
      const data = record.Data ?? new Uint8Array(0);
      const partitionKey = record.PartitionKey ?? '';
      const size = data.byteLength + utf8Length(partitionKey);
      if (records.length > 0 && bytes + size > maxBytes) {
        capped = 'bytes';
        return finish();
      }
      records.push({
        data,
        partitionKey,
        sequenceNumber: record.SequenceNumber ?? '',
        arrivalTimeMs,
      });
      bytes += size;
    }

    if (page.NextShardIterator === undefined || page.NextShardIterator === null) {
      shardEnded = true;
      childShards = childIds(page.ChildShards);
      return finish();
    }
    if (millisBehindLatest === 0 && got.length < limit) return finish();
    iterator = page.NextShardIterator;
  }
}

// --- Iterators ---------------------------------------------------------------------------------

interface Opened {
  /** Undefined when there is nothing to read yet (a start time not reached). */
  readonly iterator?: string;
  readonly gap?: { readonly requestedAfter: string; readonly resumedAt?: string };
}

/** A shard iterator at `position`, moving to the trim horizon when retention passed it. */
async function openIterator(
  kinesis: KinesisClient,
  stream: string,
  shardId: string,
  position: ShardPosition,
  now: () => number,
): Promise<Opened> {
  const base = { ...streamParams(stream), ShardId: shardId };
  if ('atTrimHorizon' in position) {
    return { iterator: await getIterator(kinesis, { ...base, ShardIteratorType: 'TRIM_HORIZON' }) };
  }
  if ('atTimestampMs' in position) {
    const iterator = await timestampIterator(kinesis, stream, shardId, position.atTimestampMs, now);
    return iterator === undefined ? {} : { iterator };
  }
  const [type, sequence] =
    'afterSequence' in position
      ? (['AFTER_SEQUENCE_NUMBER', position.afterSequence] as const)
      : (['AT_SEQUENCE_NUMBER', position.atSequence] as const);
  try {
    return {
      iterator: await getIterator(kinesis, {
        ...base,
        ShardIteratorType: type,
        StartingSequenceNumber: sequence,
      }),
    };
  } catch (error) {
    const oldest = await trimmedPast(kinesis, stream, shardId, sequence, error);
    const iterator = await getIterator(kinesis, { ...base, ShardIteratorType: 'TRIM_HORIZON' });
    return {
      iterator,
      gap: { requestedAfter: sequence, ...(oldest !== undefined ? { resumedAt: oldest } : {}) },
    };
  }
}

/**
 * Whether `error`, the refusal of an iterator at `sequence`, means retention removed it: the
 * refusal is one Kinesis gives for a sequence number it does not hold, and the oldest record
 * still held is newer (or there is none). Resolves to that oldest record; throws `error` when
 * the position was not trimmed.
 */
async function trimmedPast(
  kinesis: KinesisClient,
  stream: string,
  shardId: string,
  sequence: string,
  error: unknown,
): Promise<string | undefined> {
  const name = nameOf(error);
  const message = error instanceof Error ? error.message : '';
  // A sequence number of another shard ("It encodes shardId-...") is a caller's mistake, and
  // so is one that is not a number at all.
  const refusal =
    (name === 'InvalidArgumentException' || name === 'ResourceNotFoundException') &&
    !/encodes shardId/i.test(message) &&
    /^\d+$/.test(sequence);
  if (!refusal) throw error;
  const horizon = await getIterator(kinesis, {
    ...streamParams(stream),
    ShardId: shardId,
    ShardIteratorType: 'TRIM_HORIZON',
  });
  const oldest = await firstRecord(kinesis, horizon);
  if (oldest !== undefined && BigInt(oldest) <= BigInt(sequence)) throw error;
  return oldest;
}

async function getIterator(
  kinesis: KinesisClient,
  input: GetShardIteratorCommandInput,
): Promise<string> {
  const out = await kinesis.send(new GetShardIteratorCommand(input));
  if (!out.ShardIterator) {
    throw new Error(`GetShardIterator gave no iterator for shard ${input.ShardId}`);
  }
  return out.ShardIterator;
}

/**
 * An AT_TIMESTAMP iterator, or undefined for a time the stream has not reached: such a time can
 * have no record yet, and kinesis-local refuses it ("Timestamp cannot be in the future").
 */
async function timestampIterator(
  kinesis: KinesisClient,
  stream: string,
  shardId: string,
  timestampMs: number,
  now: () => number,
): Promise<string | undefined> {
  if (timestampMs > now()) return undefined;
  try {
    return await getIterator(kinesis, {
      ...streamParams(stream),
      ShardId: shardId,
      ShardIteratorType: 'AT_TIMESTAMP',
      Timestamp: new Date(timestampMs),
    });
  } catch (error) {
    // The server's clock may be behind ours.
    if (nameOf(error) === 'InvalidArgumentException' && /future/i.test(String(error))) {
      return undefined;
    }
    throw error;
  }
}

/** The sequence number of the first record from `iterator` on, reading past empty pages. */
async function firstRecord(kinesis: KinesisClient, iterator: string): Promise<string | undefined> {
  let current: string | undefined = iterator;
  while (current !== undefined) {
    const page: GetRecordsCommandOutput = await kinesis.send(
      new GetRecordsCommand({ ShardIterator: current, Limit: 1 }),
    );
    const first = page.Records?.[0]?.SequenceNumber;
    if (first !== undefined) return first;
    if ((page.MillisBehindLatest ?? 0) === 0) return undefined;
    current = page.NextShardIterator ?? undefined;
  }
  return undefined;
}

// --- Helpers -----------------------------------------------------------------------------------

function childIds(children: ChildShard[] | undefined): string[] {
  return (children ?? []).map((c) => c.ShardId ?? '').filter((id) => id !== '');
}

function isExpiredIterator(error: unknown): boolean {
  return error instanceof ExpiredIteratorException || nameOf(error) === 'ExpiredIteratorException';
}

function nameOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null
    ? (error as { name?: string }).name
    : undefined;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `readSlice: ${name} must be a whole number of at least 1, got ${value}`,
    );
  }
  return value;
}

const encoder = new TextEncoder();
function utf8Length(text: string): number {
  return encoder.encode(text).byteLength;
}
