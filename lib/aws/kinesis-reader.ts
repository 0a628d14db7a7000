/**
 * The shard reader of the cloud runtime: the coordinator's and workers' port over Kinesis.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { SparklessError } from '../core/errors.js';
import type { ResolvedPosition, ShardReader, ShardTask, StartPosition } from './protocol.js';
import { readSlice, resolveStart, type ShardPosition } from './receiver.js';
import { listShards } from './shards.js';

/** Reads the streams the job's sources are mapped to. */
export class KinesisShardReader implements ShardReader {
  readonly #kinesis: KinesisClient;
  readonly #streams: Readonly<Record<string, string>>;
  readonly #maxBytes: number;

  /**
   * @param streams job source name -> stream name or ARN
   * @param maxBytes the byte cap of one slice (what the shard's read limit allows per batch)
   */
  constructor(kinesis: KinesisClient, streams: Readonly<Record<string, string>>, maxBytes: number) {
    this.#kinesis = kinesis;
    this.#streams = streams;
    this.#maxBytes = maxBytes;
  }

  #stream(source: string): string {
    const stream = this.#streams[source];
    if (!stream) {
      throw new SparklessError(
        'UNKNOWN_SOURCE',
        `no stream is mapped to source '${source}'; map it in the deployment (mapped: ${Object.keys(this.#streams).join(', ') || 'none'})`,
      );
    }
    return stream;
  }

  async listShards(source: string) {
    return (await listShards(this.#kinesis, this.#stream(source))).map((s) => ({
      shardId: s.shardId,
      parents: s.parents,
    }));
  }

  resolveStart(source: string, shardId: string, start: StartPosition): Promise<ResolvedPosition> {
    return resolveStart(this.#kinesis, this.#stream(source), shardId, start);
  }

  async readSlice(source: string, task: ShardTask, batchTimeMs: number, maxRecords: number) {
    const from: ShardPosition =
      task.after !== undefined
        ? { afterSequence: task.after }
        : (task.position ??
          (task.start?.kind === 'trimHorizon' || !task.start
            ? { atTrimHorizon: true }
            : await this.resolveStart(source, task.shardId, task.start)));
    const slice = await readSlice(this.#kinesis, {
      stream: this.#stream(source),
      shardId: task.shardId,
      from,
      batchTimeMs,
      maxRecords,
      maxBytes: this.#maxBytes,
    });
    return {
      records: slice.records,
      summary: {
        shardId: task.shardId,
        ...(slice.endSequence !== undefined ? { endSequence: slice.endSequence } : {}),
        shardEnded: slice.shardEnded,
        childShards: slice.childShards,
        millisBehindLatest: slice.millisBehindLatest,
        records: slice.records.length,
        bytes: slice.bytes,
        ...(slice.capped ? { capped: slice.capped } : {}),
        ...(slice.trimmedGap ? { trimmedGap: slice.trimmedGap } : {}),
        // Only a start that is not "after endSequence" (the trim horizon after a gap, a start
        // time still carried): plans then say `after`, the position of the last record read.
        ...(afterEnd(slice.next, slice.endSequence) ? {} : { next: slice.next }),
      },
    };
  }
}

/** Whether `next` is just after `endSequence`, which a plan says as `after`. */
function afterEnd(next: ResolvedPosition, endSequence: string | undefined): boolean {
  return 'afterSequence' in next && next.afterSequence === endSequence;
}
