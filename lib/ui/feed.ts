/**
 * The recent batches of one job, kept as a fixed window and followed while anyone listens.
 *
 * The window holds at most `size` commits, oldest first, ending at the job's head: readers
 * trust batches up to the head (DESIGN: the batch protocol), so a commit written but not yet
 * under the head waits for the next poll. A poll reads the head, then only the commits after
 * the newest one held (at most `size` of them, newest first), so following a job costs two
 * small requests per poll however long it runs; a page left open for hours sees the same
 * bounded window.
 */
import type { BatchCommit, BatchPlan, TaskClaim } from '../aws/protocol.js';
import type { DynamoControlStore } from '../aws/stores/dynamo.js';

/** Who hears of new commits. */
export interface FeedListener {
  batches(commits: readonly BatchCommit[]): void;
  /** The tables could not be read (the message says why); the feed keeps trying. */
  problem(message: string): void;
}

export interface BatchFeedOptions {
  readonly control: DynamoControlStore<BatchPlan, TaskClaim, BatchCommit>;
  /** How many recent batches to keep. */
  readonly size: number;
  /** How often to poll while someone listens. */
  readonly pollMs: number;
}

/** A job's window of recent commits. */
export class BatchFeed {
  readonly size: number;
  readonly #control: BatchFeedOptions['control'];
  readonly #pollMs: number;
  #window: BatchCommit[] = [];
  #refreshing: Promise<readonly BatchCommit[]> | undefined;
  readonly #listeners = new Set<FeedListener>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(options: BatchFeedOptions) {
    this.size = options.size;
    this.#control = options.control;
    this.#pollMs = options.pollMs;
  }

  /** The commits held, oldest first. */
  get batches(): readonly BatchCommit[] {
    return this.#window;
  }

  /**
   * Reads the commits after the newest one held, up to the head; returns the new ones (oldest
   * first) and tells the listeners of them. Concurrent calls share one read.
   */
  refresh(): Promise<readonly BatchCommit[]> {
    this.#refreshing ??= this.#read().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #read(): Promise<readonly BatchCommit[]> {
    const head = await this.#control.getHead();
    if (head === undefined) return [];
    let newest = this.#window.at(-1)?.timeMs;
    // A head behind what is held: the job's tables were emptied and it started again.
    if (newest !== undefined && head < newest) {
      this.#window = [];
      newest = undefined;
    }
    if (newest !== undefined && head === newest) return [];
    const from = newest === undefined ? 0 : newest + 1;
    const fresh = (
      await this.#control.listCommits(from, head, this.size, { newestFirst: true })
    ).map((c) => c.value);
    fresh.reverse();
    if (fresh.length === 0) return [];
    this.#window = [...this.#window, ...fresh].slice(-this.size);
    // Whoever asked, every listener hears of them once.
    for (const l of this.#listeners) l.batches(fresh);
    return fresh;
  }

  /** Tells `listener` of each new commit from now on; returns the function that stops it. */
  listen(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    if (this.#timer === undefined && !this.#closed) this.#schedule(0);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(async () => {
      try {
        await this.refresh();
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        for (const l of this.#listeners) l.problem(message);
      }
      if (this.#listeners.size > 0 && !this.#closed) this.#schedule(this.#pollMs);
      else this.#timer = undefined;
    }, delayMs);
  }

  /** Stops polling and forgets the listeners. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
