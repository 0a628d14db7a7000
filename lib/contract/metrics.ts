/**
 * The CloudWatch metrics of a job: what the coordinator logs in embedded metric format with each
 * commit, and what the construct's alarms and dashboard read. One list, for both sides.
 */

/** The namespace of every sparkless metric. */
export const METRIC_NAMESPACE = 'Sparkless';
/** The dimension that names the job. */
export const METRIC_DIMENSION = 'Job';

/** The metrics of a batch, by name, with their CloudWatch unit. */
export const BATCH_METRICS = {
  InputRecords: 'Count',
  InputBytes: 'Bytes',
  ProcessingTime: 'Milliseconds',
  SchedulingDelay: 'Milliseconds',
  TotalDelay: 'Milliseconds',
  DeadLetteredRecords: 'Count',
  TaskErrors: 'Count',
  TaskRetries: 'Count',
  MaxMillisBehindLatest: 'Milliseconds',
  RetentionGaps: 'Count',
  DynamoDBRequests: 'Count',
  ConsumedCapacityUnits: 'Count',
} as const;

export type BatchMetricName = keyof typeof BATCH_METRICS;

/** The dimension that names a shard, as `<source>/<shardId>`, of the per-shard metrics. */
export const SHARD_DIMENSION = 'Shard';

/** The metrics of each shard in a batch (dimensions Job and Shard). */
export const SHARD_METRICS = {
  MillisBehindLatest: 'Milliseconds',
  ShardInputRecords: 'Count',
} as const;
