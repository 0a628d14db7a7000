/**
 * The example stacks: one per example job, each with its source stream. infra/app.ts is the
 * CDK app that holds them; the tests add them to apps of their own.
 */
import { fileURLToPath } from 'node:url';
import { type App, aws_kinesis as kinesis, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { StreamingJob } from '../lib/constructs/index.js';

/** One example job reading one stream of its own. */
interface ExampleProps extends StackProps {
  /** The example's job module, relative to this file. */
  readonly module: string;
  /** The job's source name, and the shards of the stream created for it. */
  readonly source: string;
  readonly shards: number;
}

/** An example job with a Kinesis stream for its source. */
class ExampleStack extends Stack {
  constructor(scope: Construct, id: string, props: ExampleProps) {
    super(scope, id, props);
    const stream = new kinesis.Stream(this, 'Source', {
      shardCount: props.shards,
      encryption: kinesis.StreamEncryption.MANAGED,
    });
    new StreamingJob(this, 'Job', {
      job: fileURLToPath(new URL(props.module, import.meta.url)),
      sources: { [props.source]: stream },
    });
  }
}

/** Adds the example stacks to `app`. */
export function addExampleStacks(app: App): void {
  // Hashtag counts over a sliding window (Spark's TwitterPopularTags), the seed example.
  new ExampleStack(app, 'SparklessHashtags', {
    module: '../examples/hashtags.ts',
    source: 'tweets',
    shards: 2,
  });
  // Running totals per page, in a results table.
  new ExampleStack(app, 'SparklessRunningTotals', {
    module: '../examples/running-totals.ts',
    source: 'clicks',
    shards: 2,
  });
  // Web sessions with mapWithState and a timeout, to an output stream.
  new ExampleStack(app, 'SparklessSessions', {
    module: '../examples/sessions.ts',
    source: 'clicks',
    shards: 2,
  });
  // Sensor averages over a sliding window, in a results table.
  new ExampleStack(app, 'SparklessSensorAverages', {
    module: '../examples/sensor-averages.ts',
    source: 'readings',
    shards: 1,
  });
  // The top pages of a clickstream, with a sort inside transform.
  new ExampleStack(app, 'SparklessTopPages', {
    module: '../examples/top-pages.ts',
    source: 'clicks',
    shards: 2,
  });
}
