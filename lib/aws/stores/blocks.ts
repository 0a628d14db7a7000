/**
 * Reading the blocks a reduce task's writers claimed, from the chunks listed for its partition.
 *
 * A partition's listing holds every attempt that wrote blocks, claimed or not (a lost attempt's
 * blocks stay until the batch's data is deleted). Only the claimed attempt of each writer
 * counts, and all of its claimed chunks must be there: a missing claimed chunk is an error,
 * never an empty input.
 */
import { joinChunks } from '../../contract/encoding.js';
import type { BlockChunk } from './ports.js';

/** A writer task's claim, as far as one partition's blocks go. */
export interface ClaimedWriter {
  readonly task: number;
  readonly attempt: string;
  /** Chunks claimed for this partition; 0 when the task's block for it was empty. */
  readonly chunks: number;
}

/**
 * The block payloads of the claimed writers, in the order given, leaving out writers whose
 * block was empty. Throws (CHUNK_MISSING) when a claimed chunk is not in the listing.
 */
export function claimedBlocks(
  listing: readonly BlockChunk[],
  writers: readonly ClaimedWriter[],
  where: { readonly timeMs: number; readonly writeId: string; readonly partition: number },
): Uint8Array[] {
  const byAttempt = new Map<string, Map<number, Uint8Array>>();
  for (const item of listing) {
    const id = `${item.task}#${item.attempt}`;
    let chunks = byAttempt.get(id);
    if (!chunks) {
      chunks = new Map();
      byAttempt.set(id, chunks);
    }
    chunks.set(item.chunk, item.bytes);
  }
  const out: Uint8Array[] = [];
  for (const writer of writers) {
    if (writer.chunks === 0) continue;
    out.push(
      joinChunks(
        byAttempt.get(`${writer.task}#${writer.attempt}`) ?? new Map(),
        writer.chunks,
        `block of task ${writer.task} (attempt ${writer.attempt}) for partition ${where.partition} of ${where.writeId} at batch ${where.timeMs}`,
      ),
    );
  }
  return out;
}
