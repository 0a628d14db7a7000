/**
 * The CDK app of the examples: one stack per example job, each with its source streams.
 * `npm run synth` synthesizes them offline; `npx cdk deploy <stack>` deploys one.
 */
import { fileURLToPath } from 'node:url';
import { App, aws_kinesis as kinesis, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import hashtags from '../examples/hashtags.js';
import runningTotals from '../examples/running-totals.js';
import sensorAverages from '../examples/sensor-averages.js';
import sessions from '../examples/sessions.js';
import topPages from '../examples/top-pages.js';
import { StreamingJob } from '../lib/constructs/index.js';
import type { Job } from '../lib/core/job.js';

/** One example job reading one stream of its own. */
interface ExampleProps extends StackProps {
  readonly job: Job;
  /** The example's module, relative to this file. */
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
      job: props.job,
      jobModule: fileURLToPath(new URL(props.module, import.meta.url)),
      sources: { [props.source]: stream },
    });
  }
}

const app = new App();
// Hashtag counts over a sliding window (Spark's TwitterPopularTags), the seed example.
new ExampleStack(app, 'SparklessHashtags', {
  job: hashtags,
  module: '../examples/hashtags.ts',
  source: 'tweets',
  shards: 2,
});
// Running totals per page, in a results table.
new ExampleStack(app, 'SparklessRunningTotals', {
  job: runningTotals,
  module: '../examples/running-totals.ts',
  source: 'clicks',
  shards: 2,
});
// Web sessions with mapWithState and a timeout, to an output stream.
new ExampleStack(app, 'SparklessSessions', {
  job: sessions,
  module: '../examples/sessions.ts',
  source: 'clicks',
  shards: 2,
});
// Sensor averages over a sliding window, in a results table.
new ExampleStack(app, 'SparklessSensorAverages', {
  job: sensorAverages,
  module: '../examples/sensor-averages.ts',
  source: 'readings',
  shards: 1,
});
// The top pages of a clickstream, with a sort inside transform.
new ExampleStack(app, 'SparklessTopPages', {
  job: topPages,
  module: '../examples/top-pages.ts',
  source: 'clicks',
  shards: 2,
});
app.synth();
