/**
 * The shards of a stream and which of them a batch reads (DESIGN: the batch protocol on AWS,
 * resharding).
 *
 * A split closes one shard and opens two children; a merge closes two adjacent shards and
 * opens one child. A closed shard keeps its records until retention removes them, and a
 * child's records all come after its parents' in time, so a reader keeps each key's records in
 * order only if it reads every parent to its end before the child. So a shard enters a plan
 * when every parent has ended (its last read found no next iterator) or has left the listing
 * (retention removed it: nothing of it can be read any more), and an ended shard never enters
 * again.
 *
 *   before        split 0 -> 1, 2        merge 1 + 2 -> 3
 *   [   0   ]     [ 0 closed ]            [ 0 closed ]
 *                 [ 1 ][ 2 ]              [ 1 closed ][ 2 closed ]
 *                                         [       3        ]
 *   plan: 0       0, then (0 ended) 1 2   1 2, then (both ended) 3
 */
import { type KinesisClient, ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';

/** One shard of a stream as ListShards describes it, open or closed. */
export interface ShardInfo {
  readonly shardId: string;
  /** The shard this one was split from, or the first of the two it was merged from. */
  readonly parentShardId?: string;
  /** The second shard of a merge. */
  readonly adjacentParentShardId?: string;
  /** Both parents, when there are any (the shape the coordinator's port takes). */
  readonly parents: readonly string[];
  readonly startingSequence?: string;
  /**
   * Set once the shard is closed (by a split, a merge or a shard count change). AWS gives the
   * last sequence number the shard can hold; kinesis-local gives 2^63 - 1, so never read it as
   * the sequence of the last record.
   */
  readonly endingSequence?: string;
  readonly hashKeyRange?: { readonly startingHashKey: string; readonly endingHashKey: string };
}

/** Whether a stream is named by its name or by its ARN, as the Kinesis API takes either. */
export function streamParams(stream: string): { StreamName: string } | { StreamARN: string } {
  return stream.startsWith('arn:') ? { StreamARN: stream } : { StreamName: stream };
}

/**
 * Every shard of a stream, closed shards included, in the order ListShards gives them (by
 * shard id), following every page. `stream` is a stream name or ARN; `pageSize` is the
 * most shards per ListShards call (default: the API's, 1,000).
 */
export async function listShards(
  kinesis: KinesisClient,
  stream: string,
  options: { readonly pageSize?: number } = {},
): Promise<ShardInfo[]> {
  const shards: ShardInfo[] = [];
  const size = options.pageSize === undefined ? {} : { MaxResults: options.pageSize };
  let nextToken: string | undefined;
  do {
    // With a NextToken the stream must not be named again: the token carries it.
    const page = await kinesis.send(
      new ListShardsCommand(
        nextToken === undefined
          ? { ...streamParams(stream), ...size }
          : { NextToken: nextToken, ...size },
      ),
    );
    for (const shard of page.Shards ?? []) shards.push(shardInfo(shard));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return shards;
}

function shardInfo(shard: Shard): ShardInfo {
  const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  const range = shard.SequenceNumberRange;
  const keys = shard.HashKeyRange;
  return {
    shardId: shard.ShardId ?? '',
    ...(shard.ParentShardId ? { parentShardId: shard.ParentShardId } : {}),
    ...(shard.AdjacentParentShardId ? { adjacentParentShardId: shard.AdjacentParentShardId } : {}),
    parents,
    ...(range?.StartingSequenceNumber ? { startingSequence: range.StartingSequenceNumber } : {}),
    ...(range?.EndingSequenceNumber ? { endingSequence: range.EndingSequenceNumber } : {}),
    ...(keys?.StartingHashKey && keys.EndingHashKey
      ? {
          hashKeyRange: {
            startingHashKey: keys.StartingHashKey,
            endingHashKey: keys.EndingHashKey,
          },
        }
      : {}),
  };
}

/**
 * The shards a plan reads, in listing order.
 *
 * - A shard in `ended` (its last read found the shard closed and fully read) is never read
 *   again.
 * - A shard in `known` (already in a plan) stays while it has not ended.
 * - Any other shard enters once every parent (ParentShardId and AdjacentParentShardId) is in
 *   `ended` or is no longer in the listing; a parent that no longer exists counts as ended.
 *   With nothing known and nothing ended (the first plan) these are the shards whose parents
 *   are all gone, the oldest generation still listed.
 *
 * Only listed shards are returned: a known shard that left the listing cannot be read.
 */
export function shardsToRead(
  allShards: readonly ShardInfo[],
  ended: ReadonlySet<string>,
  known: ReadonlySet<string>,
): string[] {
  const listed = new Set(allShards.map((s) => s.shardId));
  const parentDone = (p: string) => ended.has(p) || !listed.has(p);
  return allShards
    .filter((s) => !ended.has(s.shardId))
    .filter((s) => known.has(s.shardId) || s.parents.every(parentDone))
    .map((s) => s.shardId);
}
