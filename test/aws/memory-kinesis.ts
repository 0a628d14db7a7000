/**
 * A shard reader over in-memory shards, applying DESIGN's slice rule, for protocol tests that run
 * the coordinator and workers in one process (the emulator-backed reader is tested on its own).
 * Shard ids are per stream, as in Kinesis: two sources may both have a `shardId-000000000000`.
 */
import { encodeUtf8 } from 'sparkless';
import type { ShardReader, ShardTask, SliceRecord } from '../../lib/aws/protocol.js';

interface MemoryShard {
  readonly parents: string[];
  readonly records: SliceRecord[];
  readonly children: string[];
  closed: boolean;
  /** Left the listing (retention); its records stay readable here for the tests' own checks. */
  expired: boolean;
}

export class MemoryKinesis implements ShardReader {
  /** Per source, per shard id. */
  readonly streams = new Map<string, Map<string, MemoryShard>>();
  #seq = 0;

  #shard(source: string, shardId: string): MemoryShard {
    const s = this.streams.get(source)?.get(shardId);
    if (!s) throw new Error(`source '${source}' has no shard ${shardId}`);
    return s;
  }

  addShard(source: string, shardId: string, parents: string[] = []) {
    const stream = this.streams.get(source) ?? new Map<string, MemoryShard>();
    this.streams.set(source, stream);
    stream.set(shardId, { parents, records: [], children: [], closed: false, expired: false });
    for (const p of parents) stream.get(p)?.children.push(shardId);
  }

  /** Appends a record; returns its sequence number (increasing across all shards). */
  put(source: string, shardId: string, data: string | Uint8Array, arrivalTimeMs: number): string {
    const s = this.#shard(source, shardId);
    if (s.closed) throw new Error(`shard ${shardId} of '${source}' is closed`);
    const sequenceNumber = String(++this.#seq).padStart(20, '0');
    s.records.push({
      data: typeof data === 'string' ? encodeUtf8(data) : data,
      partitionKey: typeof data === 'string' ? data : sequenceNumber,
      sequenceNumber,
      arrivalTimeMs,
    });
    return sequenceNumber;
  }

  close(source: string, shardId: string) {
    this.#shard(source, shardId).closed = true;
  }

  /** Drops a closed shard from the listing, as Kinesis does once its records are past retention. */
  expire(source: string, shardId: string) {
    this.#shard(source, shardId).expired = true;
  }

  async listShards(source: string) {
    return [...(this.streams.get(source) ?? [])]
      .filter(([, s]) => !s.expired)
      .map(([shardId, s]) => ({ shardId, parents: s.parents }));
  }

  async readSlice(source: string, task: ShardTask, batchTimeMs: number, maxRecords: number) {
    const s = this.#shard(source, task.shardId);
    let i =
      task.after === undefined
        ? 0
        : s.records.findIndex((r) => r.sequenceNumber === task.after) + 1;
    const records: SliceRecord[] = [];
    while (i < s.records.length && records.length < maxRecords) {
      const r = s.records[i]!;
      if (r.arrivalTimeMs >= batchTimeMs) break;
      records.push(r);
      i++;
    }
    const shardEnded = s.closed && i === s.records.length;
    return {
      records,
      summary: {
        shardId: task.shardId,
        ...(records.length
          ? { endSequence: records.at(-1)!.sequenceNumber }
          : task.after
            ? { endSequence: task.after }
            : {}),
        shardEnded,
        childShards: shardEnded ? s.children : [],
        millisBehindLatest: 0,
        records: records.length,
        bytes: records.reduce((n, r) => n + r.data.length, 0),
      },
    };
  }
}
