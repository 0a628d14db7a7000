/**
 * The CDK app of the examples: one stack per example job, each with its source streams.
 * `npm run synth` synthesizes them offline; `npx cdk deploy <stack>` deploys one.
 */
import { fileURLToPath } from 'node:url';
import { App, aws_kinesis as kinesis, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import hashtags from '../examples/hashtags.js';
import { StreamingJob } from '../lib/constructs/index.js';

/** The hashtags example (Spark's TwitterPopularTags) reading a two-shard stream of tweets. */
class HashtagsStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const tweets = new kinesis.Stream(this, 'Tweets', {
      shardCount: 2,
      encryption: kinesis.StreamEncryption.MANAGED,
    });
    new StreamingJob(this, 'Hashtags', {
      job: hashtags,
      jobModule: fileURLToPath(new URL('../examples/hashtags.ts', import.meta.url)),
      sources: { tweets },
    });
  }
}

const app = new App();
new HashtagsStack(app, 'SparklessHashtags');
app.synth();
