/**
 * A shard reader over in-memory shards, applying DESIGN's slice rule, for protocol tests that run
 * the coordinator and workers in one process (the emulator-backed reader is tested on its own).
 */
import { encodeUtf8 } from 'sparkless';
import type { ShardReader, ShardTask, SliceRecord } from '../../lib/aws/protocol.js';

export class MemoryKinesis implements ShardReader {
  readonly shards = new Map<
    string,
    {
      source: string;
      parents: string[];
      records: SliceRecord[];
      closed: boolean;
      children: string[];
    }
  >();
  #seq = 0;

  addShard(source: string, shardId: string, parents: string[] = []) {
    this.shards.set(shardId, { source, parents, records: [], closed: false, children: [] });
    for (const p of parents) this.shards.get(p)?.children.push(shardId);
  }

  put(shardId: string, data: string, arrivalTimeMs: number) {
    const s = this.shards.get(shardId)!;
    if (s.closed) throw new Error(`shard ${shardId} is closed`);
    s.records.push({
      data: encodeUtf8(data),
      partitionKey: data,
      sequenceNumber: String(++this.#seq).padStart(20, '0'),
      arrivalTimeMs,
    });
  }

  close(shardId: string) {
    this.shards.get(shardId)!.closed = true;
  }

  async listShards(source: string) {
    return [...this.shards]
      .filter(([, s]) => s.source === source)
      .map(([shardId, s]) => ({ shardId, parents: s.parents }));
  }

  async readSlice(_source: string, task: ShardTask, batchTimeMs: number, maxRecords: number) {
    const s = this.shards.get(task.shardId)!;
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
