/**
 * Shards in memory for the cloud runtime's benchmarks: a ShardReader over arrays that the
 * coordinator and the workers read as they read Kinesis (DESIGN's slice rule: the records after
 * the task's position that arrived before the batch time, at most `maxRecords` of them).
 *
 * Kinesis is not what these benchmarks measure, so no emulator reads the shards: a slice costs an
 * array slice, and a position is found through an index rather than a scan.
 */
import type { ShardReader, ShardTask, SliceRecord } from '../../lib/aws/protocol.js';

export class MemoryShards implements ShardReader {
  /** Per source, per shard id, the records in order. */
  readonly #streams = new Map<string, Map<string, SliceRecord[]>>();
  /** Sequence number -> index in its shard (sequence numbers are unique across shards). */
  readonly #index = new Map<string, number>();
  #seq = 0;

  /** A source with `shards` shards named `shard-<i>`; returns their ids. */
  addSource(source: string, shards: number): string[] {
    const ids = Array.from({ length: shards }, (_, i) => `shard-${i}`);
    this.#streams.set(source, new Map(ids.map((id) => [id, []])));
    return ids;
  }

  /** Appends a record to a shard; returns its sequence number. */
  put(
    source: string,
    shardId: string,
    data: Uint8Array,
    arrivalTimeMs: number,
    partitionKey = '-',
  ): string {
    const shard = this.#shard(source, shardId);
    const sequenceNumber = String(++this.#seq).padStart(20, '0');
    this.#index.set(sequenceNumber, shard.length);
    shard.push({ data, partitionKey, sequenceNumber, arrivalTimeMs });
    return sequenceNumber;
  }

  #shard(source: string, shardId: string): SliceRecord[] {
    const shard = this.#streams.get(source)?.get(shardId);
    if (!shard) throw new Error(`bench shards: source '${source}' has no shard ${shardId}`);
    return shard;
  }

  async listShards(source: string) {
    return [...(this.#streams.get(source)?.keys() ?? [])].map((shardId) => ({
      shardId,
      parents: [] as string[],
    }));
  }

  async readSlice(source: string, task: ShardTask, batchTimeMs: number, maxRecords: number) {
    const shard = this.#shard(source, task.shardId);
    const from = task.after === undefined ? 0 : (this.#index.get(task.after) ?? -1) + 1;
    let to = from;
    while (to < shard.length && to - from < maxRecords && shard[to]!.arrivalTimeMs < batchTimeMs)
      to++;
    const records = shard.slice(from, to);
    let bytes = 0;
    for (const r of records) bytes += r.data.length;
    const end = records.at(-1)?.sequenceNumber ?? task.after;
    return {
      records,
      summary: {
        shardId: task.shardId,
        ...(end !== undefined ? { endSequence: end } : {}),
        shardEnded: false,
        childShards: [],
        millisBehindLatest: 0,
        records: records.length,
        bytes,
      },
    };
  }
}
