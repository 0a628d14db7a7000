/**
 * The stacks the local pipeline benchmark deploys: the test stack's job (running word totals,
 * test/aws/fixtures/wordcount.ts) over a stream of 1, 2 or 4 shards, one stack per shard count.
 * Function names are fixed at synth time from the stack's id, so each shard count has an id of
 * its own and all of them can be synthesized into one assembly.
 */
import { fileURLToPath } from 'node:url';
import { type App, aws_kinesis as kinesis, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { StreamingJob } from '../../lib/constructs/index.js';

/** The job module every bench stack deploys. */
export const BENCH_JOB = fileURLToPath(
  new URL('../../test/aws/fixtures/wordcount.ts', import.meta.url),
);

/** The stack id of the bench stack with `shards` shards. */
export const benchStackName = (shards: number): string => `SparklessBench${shards}Shards`;

/** Adds the bench stack with `shards` shards to `app`. */
export function addBenchStack(app: App, shards: number): Stack {
  const stack = new Stack(app, benchStackName(shards), {
    description: `sparkless: the local pipeline benchmark over ${shards} shard(s) (deleted after)`,
  });
  const lines = new kinesis.Stream(stack, 'Lines', {
    shardCount: shards,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  new StreamingJob(stack, 'Job', {
    job: BENCH_JOB,
    sources: { lines },
    stateRemovalPolicy: RemovalPolicy.DESTROY,
  });
  return stack;
}
