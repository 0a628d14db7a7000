/**
 * Counts the DynamoDB requests the stores make and the capacity they consume, by operation
 * name (`GetItem`, `PutItem`, `Query`, `BatchWriteItem`, ...), so that tests and benchmarks can
 * check the cost shape of a batch (DESIGN: cost shape) and the runtime can report it.
 *
 * Every attempt the stores send counts, retries of unprocessed items included; the SDK's own
 * retries of throttled or failed calls are one request here.
 */

/** What a counter holds at one moment. */
export interface RequestCounts {
  /** Requests per operation. */
  readonly requests: Readonly<Record<string, number>>;
  /** Capacity units DynamoDB reported as consumed (ReturnConsumedCapacity TOTAL), per operation. */
  readonly capacity: Readonly<Record<string, number>>;
  /** Conditional writes that found their condition false, per operation. */
  readonly conditionFailures: Readonly<Record<string, number>>;
  /** Requests of every operation. */
  readonly total: number;
}

/** A mutable tally shared by the stores of one process (or one task, for per-task counts). */
export class RequestCounter {
  readonly #requests = new Map<string, number>();
  readonly #capacity = new Map<string, number>();
  readonly #conditionFailures = new Map<string, number>();

  /** Records one request of `operation` and the capacity it consumed, if reported. */
  record(operation: string, capacityUnits?: number): void {
    this.#requests.set(operation, (this.#requests.get(operation) ?? 0) + 1);
    if (capacityUnits !== undefined && Number.isFinite(capacityUnits)) {
      this.#capacity.set(operation, (this.#capacity.get(operation) ?? 0) + capacityUnits);
    }
  }

  /** Records that a conditional write of `operation` found its condition false. */
  recordConditionFailure(operation: string): void {
    this.#conditionFailures.set(operation, (this.#conditionFailures.get(operation) ?? 0) + 1);
  }

  /** Requests of one operation, or of all. */
  requests(operation?: string): number {
    if (operation !== undefined) return this.#requests.get(operation) ?? 0;
    let total = 0;
    for (const n of this.#requests.values()) total += n;
    return total;
  }

  /** Capacity units consumed by one operation, or by all. */
  capacity(operation?: string): number {
    if (operation !== undefined) return this.#capacity.get(operation) ?? 0;
    let total = 0;
    for (const n of this.#capacity.values()) total += n;
    return total;
  }

  /** A copy of the counts. */
  snapshot(): RequestCounts {
    return {
      requests: Object.fromEntries(this.#requests),
      capacity: Object.fromEntries(this.#capacity),
      conditionFailures: Object.fromEntries(this.#conditionFailures),
      total: this.requests(),
    };
  }

  /** The requests made since `before` (a snapshot), per operation, zeros left out. */
  since(before: RequestCounts): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [op, n] of this.#requests) {
      const d = n - (before.requests[op] ?? 0);
      if (d !== 0) out[op] = d;
    }
    return out;
  }

  reset(): void {
    this.#requests.clear();
    this.#capacity.clear();
    this.#conditionFailures.clear();
  }
}
