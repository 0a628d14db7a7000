/**
 * An estimate of what a job's DynamoDB traffic costs per million records, at AWS's published
 * on-demand prices. The batch metrics count the capacity units DynamoDB reported as consumed
 * (ReturnConsumedCapacity TOTAL) without telling reads from writes, so the estimate is a range:
 * every unit priced as a read request unit (the low end), and as a write request unit (the high
 * end). Kinesis, Lambda and storage are not included. Pure code: the page bundles it too.
 */

/** The region whose prices these are. */
export const PRICES_REGION = 'us-east-1';
/** When the prices below were read from AWS's pricing page (they are in force since 2024-11-01). */
export const PRICES_READ_ON = '2026-11-24';
/** Where AWS publishes them. */
export const PRICES_SOURCE = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';
/** DynamoDB on-demand, Standard table class, US East (N. Virginia): USD per million write request units. */
export const DYNAMODB_USD_PER_MILLION_WRITE_UNITS = 0.625;
/** DynamoDB on-demand, Standard table class, US East (N. Virginia): USD per million read request units. */
export const DYNAMODB_USD_PER_MILLION_READ_UNITS = 0.125;

/** The prices an estimate uses, with where and when they were read. */
export interface Prices {
  readonly region: string;
  readonly readOn: string;
  readonly source: string;
  readonly usdPerMillionWriteUnits: number;
  readonly usdPerMillionReadUnits: number;
}

/** AWS's published on-demand prices for DynamoDB, as read on {@link PRICES_READ_ON}. */
export const PRICES: Prices = Object.freeze({
  region: PRICES_REGION,
  readOn: PRICES_READ_ON,
  source: PRICES_SOURCE,
  usdPerMillionWriteUnits: DYNAMODB_USD_PER_MILLION_WRITE_UNITS,
  usdPerMillionReadUnits: DYNAMODB_USD_PER_MILLION_READ_UNITS,
});

/** The part of a batch's metrics the estimate reads. */
export interface CostInput {
  readonly recordsIn: number;
  readonly dynamoRequests: number;
  readonly consumedCapacityUnits: number;
}

/** What some batches' DynamoDB traffic would cost on AWS. */
export interface CostEstimate {
  readonly batches: number;
  readonly records: number;
  readonly requests: number;
  /** The capacity units priced: as reported, or one per request when none were reported. */
  readonly units: number;
  /**
   * Whether the endpoint reported no consumed capacity (some emulators do not), so that each
   * request was counted as one unit: the least a request of a small item consumes.
   */
  readonly unitsFromRequests: boolean;
  /** USD for the batches: every unit priced as a read, and as a write. */
  readonly usdLow: number;
  readonly usdHigh: number;
  /** USD per million records in (undefined when no record came in). */
  readonly perMillionRecordsLow: number | undefined;
  readonly perMillionRecordsHigh: number | undefined;
}

/** Estimates the DynamoDB cost of the given batches' metrics at the given prices. */
export function estimateCost(metrics: readonly CostInput[], prices: Prices = PRICES): CostEstimate {
  let records = 0;
  let requests = 0;
  let reported = 0;
  for (const m of metrics) {
    records += m.recordsIn;
    requests += m.dynamoRequests;
    reported += m.consumedCapacityUnits;
  }
  const unitsFromRequests = reported === 0 && requests > 0;
  const units = unitsFromRequests ? requests : reported;
  const usdLow = (units * prices.usdPerMillionReadUnits) / 1e6;
  const usdHigh = (units * prices.usdPerMillionWriteUnits) / 1e6;
  return {
    batches: metrics.length,
    records,
    requests,
    units,
    unitsFromRequests,
    usdLow,
    usdHigh,
    perMillionRecordsLow: records > 0 ? (usdLow / records) * 1e6 : undefined,
    perMillionRecordsHigh: records > 0 ? (usdHigh / records) * 1e6 : undefined,
  };
}
