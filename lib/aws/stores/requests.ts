/**
 * The DynamoDB requests the stores make, in one place: every read consistent, every request
 * asking for its consumed capacity and counted, unprocessed batch items retried, paginated
 * queries followed to the end.
 *
 * Single-item conditional writes only (dynalite and the protocol need no transactions);
 * BatchWriteItem only for writes that need no condition.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { SparklessError } from '../../core/errors.js';
import type { RequestCounter } from './counter.js';

/** A stored item, with plain JavaScript values (binary attributes as Uint8Array). */
export type Item = Record<string, unknown>;
/** What may be written or used as a key: an item, or an interface such as contract's ItemKey. */
export type ItemLike = object;

/** Items per BatchWriteItem request (DynamoDB's limit). */
export const BATCH_WRITE_ITEMS = 25;
/** Keys per BatchGetItem request (DynamoDB's limit). */
export const BATCH_GET_KEYS = 100;
/** Single-item requests in flight at once per call (state and result applies). */
export const PARALLEL_WRITES = 16;
/** Rounds of retrying unprocessed batch items before giving up. */
const UNPROCESSED_ROUNDS = 10;

/** A condition for a single-item write. */
export interface Condition {
  /** Undefined: the write is unconditional. */
  readonly expression?: string;
  readonly names?: Record<string, string>;
  readonly values?: Record<string, unknown>;
}

/** Whether an error is DynamoDB's answer to a conditional write whose condition was false. */
export function isConditionFailed(e: unknown): boolean {
  return (e as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

type Capacity = { CapacityUnits?: number } | undefined;

function units(consumed: Capacity | Capacity[] | undefined): number | undefined {
  if (consumed === undefined) return undefined;
  if (Array.isArray(consumed)) {
    let total = 0;
    for (const c of consumed) total += c?.CapacityUnits ?? 0;
    return total;
  }
  return consumed.CapacityUnits;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The requests of the stores, over one client and one counter. */
export class DynamoRequests {
  readonly #doc: DynamoDBDocumentClient;
  readonly #counter: RequestCounter | undefined;

  constructor(client: DynamoDBClient, counter?: RequestCounter) {
    this.#doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    this.#counter = counter;
  }

  #record(operation: string, consumed: Capacity | Capacity[] | undefined): void {
    this.#counter?.record(operation, units(consumed));
  }

  /** Counts a request that failed: its capacity is not reported. */
  #failed(operation: string, e: unknown): void {
    this.#counter?.record(operation);
    if (isConditionFailed(e)) this.#counter?.recordConditionFailure(operation);
  }

  async get(
    table: string,
    key: ItemLike,
    projection?: readonly string[],
  ): Promise<Item | undefined> {
    const names = projection && Object.fromEntries(projection.map((a, i) => [`#p${i}`, a]));
    const out = await this.#send('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: table,
          Key: key,
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
          ...(names
            ? {
                ProjectionExpression: Object.keys(names).join(', '),
                ExpressionAttributeNames: names,
              }
            : {}),
        }),
      ),
    );
    return out.Item;
  }

  /**
   * Puts an item, under a condition if given. Returns whether it was written (false: the
   * condition was false) and, when asked, the item it replaced.
   */
  async put(
    table: string,
    item: ItemLike,
    condition?: Condition,
    returnOld = false,
  ): Promise<{ written: boolean; old?: Item }> {
    try {
      const out = await this.#send('PutItem', () =>
        this.#doc.send(
          new PutCommand({
            TableName: table,
            Item: item,
            ReturnConsumedCapacity: 'TOTAL',
            ...(returnOld ? { ReturnValues: 'ALL_OLD' } : {}),
            ...conditionParams(condition),
          }),
        ),
      );
      return out.Attributes ? { written: true, old: out.Attributes } : { written: true };
    } catch (e) {
      if (isConditionFailed(e)) return { written: false };
      throw e;
    }
  }

  /** Updates an item under a condition; returns the new item, or undefined if the condition was false. */
  async update(
    table: string,
    key: ItemLike,
    update: string,
    condition: Condition,
    names: Record<string, string>,
    values: Record<string, unknown>,
  ): Promise<Item | undefined> {
    const input: UpdateCommandInput = {
      TableName: table,
      Key: key,
      UpdateExpression: update,
      ConditionExpression: condition.expression,
      ExpressionAttributeNames: { ...names, ...condition.names },
      // DynamoDB refuses an empty map (a REMOVE with no condition has no values).
      ...(Object.keys(values).length || condition.values
        ? { ExpressionAttributeValues: { ...values, ...condition.values } }
        : {}),
      ReturnValues: 'ALL_NEW',
      ReturnConsumedCapacity: 'TOTAL',
    };
    try {
      const out = await this.#send('UpdateItem', () => this.#doc.send(new UpdateCommand(input)));
      return out.Attributes ?? {};
    } catch (e) {
      if (isConditionFailed(e)) return undefined;
      throw e;
    }
  }

  /** Deletes an item, under a condition if given; returns whether it was deleted. */
  async delete(table: string, key: ItemLike, condition?: Condition): Promise<boolean> {
    try {
      await this.#send('DeleteItem', () =>
        this.#doc.send(
          new DeleteCommand({
            TableName: table,
            Key: key,
            ReturnConsumedCapacity: 'TOTAL',
            ...conditionParams(condition),
          }),
        ),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw e;
    }
  }

  /**
   * A consistent Query, followed page by page until `limit` items (or the end). `Select:
   * COUNT` queries return no items; use {@link count}.
   */
  async query(
    input: Omit<QueryCommandInput, 'ConsistentRead' | 'ReturnConsumedCapacity' | 'Limit'>,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const remaining = limit - items.length;
      const out = await this.#send('Query', () =>
        this.#doc.send(
          new QueryCommand({
            ...input,
            ConsistentRead: true,
            ReturnConsumedCapacity: 'TOTAL',
            ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of out.Items ?? []) items.push(item);
      start = out.LastEvaluatedKey;
    } while (start !== undefined && items.length < limit);
    return items;
  }

  /** A consistent Query counting the matching items, page by page. */
  async count(
    input: Omit<QueryCommandInput, 'ConsistentRead' | 'ReturnConsumedCapacity' | 'Select'>,
  ): Promise<number> {
    let total = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.#send('Query', () =>
        this.#doc.send(
          new QueryCommand({
            ...input,
            Select: 'COUNT',
            ConsistentRead: true,
            ReturnConsumedCapacity: 'TOTAL',
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      total += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return total;
  }

  /** Consistent reads of many keys (100 per request), retrying unprocessed keys. */
  async batchGet(table: string, keys: readonly ItemLike[]): Promise<Item[]> {
    const items: Item[] = [];
    for (let at = 0; at < keys.length; at += BATCH_GET_KEYS) {
      let pending = keys.slice(at, at + BATCH_GET_KEYS) as Item[];
      for (let round = 0; pending.length > 0; round++) {
        if (round === UNPROCESSED_ROUNDS) throw unprocessed('BatchGetItem', table, pending.length);
        if (round > 0) await sleep(backoffMs(round));
        const out = await this.#send('BatchGetItem', () =>
          this.#doc.send(
            new BatchGetCommand({
              RequestItems: { [table]: { Keys: pending, ConsistentRead: true } },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          ),
        );
        for (const item of out.Responses?.[table] ?? []) items.push(item);
        pending = (out.UnprocessedKeys?.[table]?.Keys ?? []) as Item[];
      }
    }
    return items;
  }

  /**
   * Unconditional puts and deletes, 25 per request, retrying unprocessed items. Only for writes
   * that are idempotent as they are (the same key always gets the same item).
   */
  async batchWrite(
    table: string,
    puts: readonly ItemLike[],
    deletes: readonly ItemLike[] = [],
  ): Promise<void> {
    type WriteRequest = { PutRequest?: { Item: ItemLike }; DeleteRequest?: { Key: ItemLike } };
    const requests: WriteRequest[] = [
      ...puts.map((item) => ({ PutRequest: { Item: item } })),
      ...deletes.map((key) => ({ DeleteRequest: { Key: key } })),
    ];
    for (let at = 0; at < requests.length; at += BATCH_WRITE_ITEMS) {
      let pending = requests.slice(at, at + BATCH_WRITE_ITEMS);
      for (let round = 0; pending.length > 0; round++) {
        if (round === UNPROCESSED_ROUNDS) {
          throw unprocessed('BatchWriteItem', table, pending.length);
        }
        if (round > 0) await sleep(backoffMs(round));
        const out = await this.#send('BatchWriteItem', () =>
          this.#doc.send(
            new BatchWriteCommand({
              RequestItems: { [table]: pending as never },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          ),
        );
        pending = (out.UnprocessedItems?.[table] ?? []) as WriteRequest[];
      }
    }
  }

  async #send<T extends { ConsumedCapacity?: Capacity | Capacity[] }>(
    operation: string,
    call: () => Promise<T>,
  ): Promise<T> {
    let out: T;
    try {
      out = await call();
    } catch (e) {
      this.#failed(operation, e);
      throw e;
    }
    this.#record(operation, out.ConsumedCapacity);
    return out;
  }
}

function conditionParams(condition: Condition | undefined) {
  if (!condition) return {};
  return {
    ConditionExpression: condition.expression,
    ...(condition.names ? { ExpressionAttributeNames: condition.names } : {}),
    ...(condition.values ? { ExpressionAttributeValues: condition.values } : {}),
  };
}

function backoffMs(round: number): number {
  return Math.min(1_000, 20 * 2 ** round) * (0.5 + Math.random() / 2);
}

function unprocessed(operation: string, table: string, left: number): SparklessError {
  return new SparklessError(
    'DYNAMODB_THROTTLED',
    `${operation} on table ${table}: ${left} items were still unprocessed after ${UNPROCESSED_ROUNDS} rounds; the table is throttled (raise its capacity or use on-demand billing)`,
  );
}
