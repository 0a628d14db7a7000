/**
 * The coordinator's metrics in CloudWatch embedded metric format: one line per batch with the
 * batch metrics (dimension Job), and one per shard with its lag and records (Job and Shard),
 * the names the construct's alarms and dashboard read (lib/contract/metrics.ts).
 */
import { describe, expect, it } from 'vitest';
import { emf } from '../../lib/aws/coordinator.js';
import type { BatchMetrics } from '../../lib/aws/protocol.js';
import { BATCH_METRICS, SHARD_METRICS } from '../../lib/contract/metrics.js';

const metrics: BatchMetrics = {
  recordsIn: 30,
  bytesIn: 900,
  shards: [
    { source: 'clicks', shardId: 'shardId-000', records: 20, bytes: 600, millisBehindLatest: 5 },
    { source: 'clicks', shardId: 'shardId-001', records: 10, bytes: 300, millisBehindLatest: 70 },
  ],
  recordsOut: {},
  stages: [],
  schedulingDelayMs: 12,
  processingMs: 340,
  totalDelayMs: 352,
  deadLettered: 1,
  taskErrors: 0,
  taskRetries: 0,
  retentionGaps: 0,
  keysInState: {},
  dynamoRequests: 44,
  consumedCapacityUnits: 50,
};

describe('embedded metric format', () => {
  it('logs the batch under Job, and each shard under Job and Shard', () => {
    const [batch, ...shards] = emf('clicks', 4_000, metrics);
    expect(batch?._aws).toEqual({
      Timestamp: 4_000,
      CloudWatchMetrics: [
        {
          Namespace: 'Sparkless',
          Dimensions: [['Job']],
          Metrics: Object.entries(BATCH_METRICS).map(([Name, Unit]) => ({ Name, Unit })),
        },
      ],
    });
    expect(batch).toMatchObject({
      Job: 'clicks',
      BatchTime: 4_000,
      InputRecords: 30,
      ProcessingTime: 340,
      MaxMillisBehindLatest: 70,
      DeadLetteredRecords: 1,
    });
    expect(shards).toHaveLength(2);
    expect(shards[1]).toMatchObject({
      _aws: {
        Timestamp: 4_000,
        CloudWatchMetrics: [
          {
            Namespace: 'Sparkless',
            Dimensions: [['Job', 'Shard']],
            Metrics: Object.entries(SHARD_METRICS).map(([Name, Unit]) => ({ Name, Unit })),
          },
        ],
      },
      Job: 'clicks',
      Shard: 'clicks/shardId-001',
      MillisBehindLatest: 70,
      ShardInputRecords: 10,
    });
  });
});
