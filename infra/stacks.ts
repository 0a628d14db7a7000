/**
 * The example stacks: one per example job, each with its source stream. infra/app.ts is the
 * CDK app that holds them; `npm start` deploys one of them onto the embedded cloud, and the
 * tests add them to apps of their own.
 */
import { fileURLToPath } from 'node:url';
import { type App, aws_kinesis as kinesis, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { StreamingJob } from '../lib/constructs/index.js';

/** One example job reading one stream of its own. */
export interface Example {
  /** The stack's name. */
  readonly stack: string;
  /** The example's job module, relative to this file. */
  readonly module: string;
  /** The job's source name, and the shards of the stream created for it. */
  readonly source: string;
  readonly shards: number;
  /** What it shows. */
  readonly description: string;
}

/** The examples, by the job's name. */
export const EXAMPLES = {
  hashtags: {
    stack: 'SparklessHashtags',
    module: '../examples/hashtags.ts',
    source: 'tweets',
    shards: 2,
    description:
      "hashtag counts over a sliding window (Spark's TwitterPopularTags), the seed example",
  },
  'running-totals': {
    stack: 'SparklessRunningTotals',
    module: '../examples/running-totals.ts',
    source: 'clicks',
    shards: 2,
    description: 'running totals per page, in a results table',
  },
  sessions: {
    stack: 'SparklessSessions',
    module: '../examples/sessions.ts',
    source: 'clicks',
    shards: 2,
    description: 'web sessions with mapWithState and a timeout, to an output stream',
  },
  'sensor-averages': {
    stack: 'SparklessSensorAverages',
    module: '../examples/sensor-averages.ts',
    source: 'readings',
    shards: 1,
    description: 'sensor averages over a sliding window, in a results table',
  },
  'top-pages': {
    stack: 'SparklessTopPages',
    module: '../examples/top-pages.ts',
    source: 'clicks',
    shards: 2,
    description: 'the top pages of a clickstream, with a sort inside transform',
  },
} as const satisfies Record<string, Example>;

export type ExampleName = keyof typeof EXAMPLES;

/** The absolute path of an example's job module. */
export function exampleModule(example: Example): string {
  return fileURLToPath(new URL(example.module, import.meta.url));
}

/** An example job with a Kinesis stream for its source. */
export class ExampleStack extends Stack {
  readonly job: StreamingJob;

  constructor(scope: Construct, example: Example, props?: StackProps & { shards?: number }) {
    super(scope, example.stack, props);
    const stream = new kinesis.Stream(this, 'Source', {
      shardCount: props?.shards ?? example.shards,
      encryption: kinesis.StreamEncryption.MANAGED,
    });
    this.job = new StreamingJob(this, 'Job', {
      job: exampleModule(example),
      sources: { [example.source]: stream },
    });
  }
}

/** Adds the example stacks to `app`. */
export function addExampleStacks(app: App): void {
  for (const example of Object.values(EXAMPLES)) new ExampleStack(app, example);
}
