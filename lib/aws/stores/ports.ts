/**
 * The stores of the cloud runtime, as ports: what the coordinator and the workers need from
 * DynamoDB, with an in-memory implementation (memory.ts) and a DynamoDB one (dynamo.ts) that one
 * contract suite per port checks alike.
 *
 * The rules they share (DESIGN: the batch protocol on AWS):
 * - plans, claims, commits and panes are written once: a second writer gets the first one's;
 * - the lease and the head change only by conditional writes that move them forward;
 * - state and result writes are conditional on the item's own version (the batch time that
 *   wrote it), so re-applying an intent is a no-op and a stale write is ignored;
 * - every read is consistent, on the table's key (no Scan, no secondary index);
 * - payloads (blocks, intents, panes, partials) are bytes encoded by lib/contract's encoding;
 *   those over the item limit are stored as chunks, and a missing chunk is an error.
 *
 * Each store is scoped to one job; state and data methods take the operator's state name and
 * the partition.
 */
import type { DeadLetter } from '../../core/operators/guard.js';
import type { StateEntry } from '../../core/operators/store.js';

/** A value with the batch time it belongs to. */
export interface Timed<T> {
  readonly timeMs: number;
  readonly value: T;
}

/** The lease, as seen after trying to take it. */
export interface LeaseState {
  /** Whether the caller holds it now. */
  readonly acquired: boolean;
  /** The epoch of the lease: incremented each time it is taken. 0 when never taken. */
  readonly epoch: number;
  /** Who holds (or last held) it. */
  readonly holder: string | undefined;
  /** When it expires (epoch ms); a released lease has expired. */
  readonly expiresAtMs: number;
  /** Whether the job was asked to stop (see {@link ControlStore.requestStop}). */
  readonly stopRequested: boolean;
}

/** The lease after renewing it. */
export interface LeaseRenewal {
  /** Whether the caller still held it, and now holds it longer. */
  readonly renewed: boolean;
  /** Whether the job was asked to stop, read with the same request. */
  readonly stopRequested: boolean;
}

/** The control items of a job: lease, head, plans, claims and commits. */
export interface ControlStore<Plan = unknown, Claim = unknown, Commit = unknown> {
  /**
   * Takes the lease when nobody holds it or it expired before `nowMs`, incrementing its epoch.
   * Otherwise reports who holds it (the caller too, if it still does: take it again only after
   * it expires or is released).
   */
  acquireLease(owner: string, nowMs: number, ttlMs: number): Promise<LeaseState>;
  /** Extends the lease to `nowMs + ttlMs` if `owner` still holds it at `epoch`. */
  renewLease(owner: string, epoch: number, nowMs: number, ttlMs: number): Promise<LeaseRenewal>;
  /** Gives the lease up (it expires at once), if `owner` still holds it at `epoch`. */
  releaseLease(owner: string, epoch: number): Promise<boolean>;
  /**
   * Asks the job to stop: its coordinator finishes the batch in flight and ends, and later
   * ones end at once, until {@link clearStop}. Kept on the lease item, so that a coordinator
   * learns of it from the renewal it makes every batch anyway.
   */
  requestStop(atMs: number): Promise<void>;
  /** Lets the job run again after {@link requestStop}. */
  clearStop(): Promise<void>;

  /**
   * Writes what the job is (see the runtime's JobDescription), replacing what was there: the
   * coordinator does so when it takes the lease, so that tools can show the plan of the job
   * that runs without loading its code.
   */
  putDescription(description: unknown): Promise<void>;
  getDescription<T = unknown>(): Promise<T | undefined>;

  /** The time of the last committed batch, if any. */
  getHead(): Promise<number | undefined>;
  /** Moves the head to `timeMs` if it is behind it; returns whether it moved. */
  advanceHead(timeMs: number): Promise<boolean>;

  /** Writes the plan of a batch once; returns the stored plan (the first writer's). */
  putPlan(timeMs: number, plan: Plan): Promise<Plan>;
  getPlan(timeMs: number): Promise<Plan | undefined>;
  /** Up to `limit` plans of batches after `afterMs`, oldest first. */
  listPlans(afterMs: number, limit: number): Promise<Array<Timed<Plan>>>;

  /** Writes the claim of a task once; returns the stored claim (the winner's). */
  putClaim(timeMs: number, stage: number, task: number, claim: Claim): Promise<Claim>;
  getClaim(timeMs: number, stage: number, task: number): Promise<Claim | undefined>;
  /** The claims of a batch (of one stage, if given), by stage then task. */
  listClaims(
    timeMs: number,
    stage?: number,
  ): Promise<Array<{ readonly stage: number; readonly task: number; readonly claim: Claim }>>;

  /** Writes the commit of a batch once; returns the stored commit (the first writer's). */
  putCommit(timeMs: number, commit: Commit): Promise<Commit>;
  getCommit(timeMs: number): Promise<Commit | undefined>;
  /** Up to `limit` commits of batches in [fromMs, toMs], oldest first (or newest first). */
  listCommits(
    fromMs: number,
    toMs: number,
    limit: number,
    options?: { readonly newestFirst?: boolean },
  ): Promise<Array<Timed<Commit>>>;

  /** Deletes the plan, the claims and the commit of a batch (past the control retention). */
  deleteBatch(timeMs: number): Promise<void>;
  /**
   * Deletes the control items of up to `limit` of the oldest batches at or before `upToMs`
   * (those with a plan); returns their times.
   */
  deleteUpTo(upToMs: number, limit: number): Promise<number[]>;
}

/** One stored chunk of a block. */
export interface BlockChunk {
  readonly task: number;
  readonly attempt: string;
  readonly chunk: number;
  readonly bytes: Uint8Array;
}

/** A block payload to write, for one target partition. */
export interface BlockPayload {
  readonly partition: number;
  readonly payload: Uint8Array;
}

/** The shuffles of a batch, to find its blocks for deletion. */
export interface ShuffleLayout {
  readonly writeId: string;
  readonly partitions: number;
}

/** Shuffle blocks, intents, window panes and partials. */
export interface DataStore {
  /**
   * Writes one chunk of a block: the target partition's records from one task attempt.
   * Idempotent: the same key always gets the same bytes (an attempt never writes twice).
   */
  putBlock(
    timeMs: number,
    writeId: string,
    partition: number,
    task: number,
    attempt: string,
    chunk: number,
    bytes: Uint8Array,
  ): Promise<void>;
  /**
   * Writes a task attempt's blocks (one payload per non-empty target partition), each split into
   * chunks under the item limit, batched; returns the chunk count of each, in order.
   */
  putBlocks(
    timeMs: number,
    writeId: string,
    task: number,
    attempt: string,
    blocks: readonly BlockPayload[],
  ): Promise<number[]>;
  /** Every chunk written for one target partition, by task, attempt and chunk. */
  listBlocks(timeMs: number, writeId: string, partition: number): Promise<BlockChunk[]>;

  /** Writes a task attempt's intent (chunked when large). */
  putIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
    payload: Uint8Array,
  ): Promise<void>;
  /** The intent of a task attempt; undefined if none was written; an error if a chunk is gone. */
  getIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
  ): Promise<Uint8Array | undefined>;

  /** Writes the pane ending at `endMs` once (the first writer's pane stays). */
  putPane(stateName: string, partition: number, endMs: number, payload: Uint8Array): Promise<void>;
  getPane(stateName: string, partition: number, endMs: number): Promise<Uint8Array | undefined>;
  /** Writes the partial of batch `timeMs` (idempotent). */
  putPartial(
    stateName: string,
    partition: number,
    timeMs: number,
    payload: Uint8Array,
  ): Promise<void>;
  /** The partials of batches in (fromExclusiveMs, toInclusiveMs], in time order. */
  listPartials(
    stateName: string,
    partition: number,
    fromExclusiveMs: number,
    toInclusiveMs: number,
  ): Promise<Array<Timed<Uint8Array>>>;

  /** Deletes every block (all attempts) of a batch's shuffles; returns the items deleted. */
  deleteBlocks(timeMs: number, shuffles: readonly ShuffleLayout[]): Promise<number>;
  /** Deletes every intent of a batch; returns the items deleted. */
  deleteIntents(timeMs: number): Promise<number>;
  /** Deletes the blocks and intents of a batch; returns the items deleted. */
  deleteBatch(timeMs: number, shuffles: readonly ShuffleLayout[]): Promise<number>;
  /** Deletes the panes ending at or before `upToMs`; returns the items deleted. */
  deletePanes(stateName: string, partition: number, upToMs: number): Promise<number>;
  /** Deletes the partials of batches at or before `upToMs`; returns the items deleted. */
  deletePartials(stateName: string, partition: number, upToMs: number): Promise<number>;
}

/** One change to a key's state: its new entry, or null when it was removed. */
export interface StateChange {
  readonly encodedKey: string;
  readonly entry: StateEntry | null;
}

/** What an apply did. */
export interface ApplyResult {
  /** Changes written. */
  readonly written: number;
  /** Changes skipped because the item's version was already at or past the batch. */
  readonly skipped: number;
}

/** Keyed state: one item per key, per stateful operator and partition. */
export interface StateStore {
  /** One key's entry (consistent), or undefined when absent or removed. */
  get(stateName: string, partition: number, encodedKey: string): Promise<StateEntry | undefined>;
  /** The entries of the given keys that exist (consistent), by encoded key. */
  getMany(
    stateName: string,
    partition: number,
    encodedKeys: readonly string[],
  ): Promise<Map<string, StateEntry>>;
  /** Every entry of the partition (consistent, paginated), by encoded key. */
  list(stateName: string, partition: number): Promise<Map<string, StateEntry>>;
  /**
   * The entries last updated before `beforeMs`, among those applied with `expiry: true`
   * (mapWithState timeouts), by encoded key. Read from expiry items, never by a Scan.
   */
  listExpiring(
    stateName: string,
    partition: number,
    beforeMs: number,
  ): Promise<Map<string, StateEntry>>;
  /**
   * Applies a batch's changes, each conditional on its key's version being older than
   * `timeMs`: a change already applied, or older than what is stored, is skipped. A removal is
   * a tombstone (read as absent) until {@link purgeTombstones}. With `expiry`, the key's expiry
   * item follows its `updatedMs`.
   */
  apply(
    stateName: string,
    partition: number,
    changes: readonly StateChange[],
    timeMs: number,
    options?: { readonly expiry?: boolean },
  ): Promise<ApplyResult>;
  /** Whether the operator's initial state was loaded into the partition. */
  isInitialized(stateName: string, partition: number): Promise<boolean>;
  /** Records that the operator's initial state was loaded into the partition (idempotent). */
  markInitialized(stateName: string, partition: number, timeMs: number): Promise<void>;
  /** Deletes the tombstones written by batches at or before `upToMs`; returns how many. */
  purgeTombstones(stateName: string, partition: number, upToMs: number): Promise<number>;
  /** How many keys the partition holds (tombstones excluded). */
  countKeys(stateName: string, partition: number): Promise<number>;
}

/** One key's latest value for a results table. */
export interface ResultEntry {
  readonly encodedKey: string;
  readonly key: unknown;
  readonly value: unknown;
}

/** A key's stored result. */
export interface StoredResult {
  readonly key: unknown;
  readonly value: unknown;
  readonly timeMs: number;
}

/** The results tables of saveToTable sinks: the latest value per key with its batch time. */
export interface ResultsStore {
  /**
   * Writes each entry unless the key holds a result of batch `timeMs` or later: re-applying a
   * batch is a no-op, so the table shows each batch's effect exactly once.
   */
  apply(
    table: string,
    entries: readonly ResultEntry[],
    timeMs: number,
    /** The writer's place within the batch: a later writer of the same batch wins. @default 0 */
    order?: number,
  ): Promise<ApplyResult>;
  get(table: string, encodedKey: string): Promise<StoredResult | undefined>;
}

/** A dead letter with where it was produced, which makes its key (idempotent writes). */
export interface StoredDeadLetter {
  readonly timeMs: number;
  readonly stage: number;
  readonly task: number;
  /** Its position among the task's dead letters. */
  readonly index: number;
  readonly letter: DeadLetter;
}

/** Records and keys that could not be processed. */
export interface DeadLetterStore {
  /** Writes dead letters; writing one again (same time, stage, task, index) changes nothing. */
  put(letters: readonly StoredDeadLetter[]): Promise<void>;
  /** The dead letters of batches in [fromMs, toMs], by time, stage, task and index. */
  list(fromMs: number, toMs: number, limit?: number): Promise<StoredDeadLetter[]>;
}
