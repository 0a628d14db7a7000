/**
 * Building the runtime a function runs over from its environment, once per cold start: the job,
 * the SDK clients (endpoints from the standard variables only), the stores, the shard reader and
 * the task invoker.
 */

import { isAbsolute, resolve } from 'node:path';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ENV, type RuntimeConfig, readRuntimeEnv } from '../contract/env.js';
import { SparklessError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { dynamoClient, kinesisClient, lambdaClient } from './clients.js';
import type { Runtime } from './handlers.js';
import { LambdaTaskInvoker } from './invoker.js';
import { loadJob } from './job-loader.js';
import { KinesisShardReader } from './kinesis-reader.js';
import { maxBytesForInterval } from './receiver.js';
import { StoreProtocol } from './store-protocol.js';
import { RequestCounter } from './stores/counter.js';
import {
  DynamoControlStore,
  DynamoDataStore,
  DynamoDeadLetterStore,
  DynamoResultsStore,
  DynamoStateStore,
} from './stores/dynamo.js';

/** How long a coordinator runs before handing over: most of Lambda's 15 minutes. */
const RUN_FOR_MS = 13 * 60_000;

/**
 * Refuses an environment that cannot hold the job: stateful operators without a state table,
 * or data whose TTL backstop would delete window panes while the window still needs them.
 */
export function checkDeployment(job: Job, config: RuntimeConfig): void {
  const stateful = job.plan.stateful;
  if (stateful.length > 0 && !config.tables.state) {
    throw new SparklessError(
      'INVALID_ENVIRONMENT',
      `job '${job.name}' keeps state (${stateful.map((s) => `'${s.name}'`).join(', ')}) but ${ENV.stateTable} is not set; deploy the job with the StreamingJob construct of this version, which creates the state table`,
    );
  }
  const window = longestWindowMs(job);
  if (config.settings.dataTtlMs < 2 * window) {
    throw new SparklessError(
      'INVALID_ENVIRONMENT',
      `job '${job.name}' has a window of ${window} ms, but dataTtlMs (${config.settings.dataTtlMs} ms) would let its panes expire; set dataTtlMs to at least twice the longest window (${2 * window} ms)`,
    );
  }
  const lease = config.settings.leaseTtlMs;
  if (lease !== undefined && lease < 3 * job.batchIntervalMs) {
    throw new SparklessError(
      'INVALID_ENVIRONMENT',
      `job '${job.name}' has a batch interval of ${job.batchIntervalMs} ms, but leaseTtlMs (${lease} ms) would expire between the coordinator's renewals; set leaseTtlMs to at least three batch intervals (${3 * job.batchIntervalMs} ms), or leave it out`,
    );
  }
}

/** How long a coordinator's lease lasts: the setting, or ten batch intervals and at least a minute. */
export function leaseTtlMs(job: Job, config: RuntimeConfig): number {
  return config.settings.leaseTtlMs ?? Math.max(60_000, 10 * job.batchIntervalMs);
}

/** The longest window of a job's stateful operators (0 when it has none). */
export function longestWindowMs(job: Job): number {
  return Math.max(0, ...job.plan.stateful.map((s) => s.windowMs ?? 0));
}

/** Builds the runtime from environment variables (see lib/contract/env.ts). */
export async function runtimeFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Runtime> {
  const config = readRuntimeEnv(env);
  // A relative path is the job's file inside the function's bundle (Lambda's task root).
  const modulePath = isAbsolute(config.jobModule)
    ? config.jobModule
    : resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), config.jobModule);
  const job = await loadJob(modulePath);
  if (job.name !== config.jobName) {
    throw new SparklessError(
      'INVALID_ENVIRONMENT',
      `the job module ${modulePath} defines job '${job.name}', but ${ENV.jobName} is '${config.jobName}'; deploy the module of that job`,
    );
  }
  checkDeployment(job, config);
  const db = dynamoClient();
  const kinesis = kinesisClient();
  const lambda = lambdaClient();
  const counter = new RequestCounter();
  const s = config.settings;
  const stores = new StoreProtocol(
    job,
    {
      control: new DynamoControlStore({
        client: db,
        table: config.tables.control,
        job: job.name,
        counter,
      }),
      data: new DynamoDataStore({
        client: db,
        table: config.tables.data,
        job: job.name,
        counter,
        ttlMs: s.dataTtlMs,
      }),
      // checkDeployment made sure a job with state has a table for it.
      state: new DynamoStateStore({
        client: db,
        table: config.tables.state ?? '',
        job: job.name,
        counter,
      }),
      results: new DynamoResultsStore({ client: db, counter }),
      deadLetters: new DynamoDeadLetterStore({
        client: db,
        table: config.tables.deadLetters,
        job: job.name,
        counter,
      }),
    },
    config.sinks,
    kinesis,
  );
  // A task may take up to the batch interval, and never less than a few seconds to start.
  const taskTimeoutMs = Math.max(10_000, 3 * job.batchIntervalMs);
  return {
    job,
    stores,
    counter,
    // Never more per batch than a shard's read limit allows over one interval.
    reader: new KinesisShardReader(
      kinesis,
      config.sources,
      Math.min(s.maxBytesPerBatch, maxBytesForInterval(job.batchIntervalMs)),
    ),
    invoker: new LambdaTaskInvoker(lambda, config.functions.worker, taskTimeoutMs),
    settings: {
      maxRecords: s.maxRecordsPerBatch,
      ...(s.graceMs !== undefined ? { graceMs: s.graceMs } : {}),
      startPosition: s.startPosition,
      runForMs: RUN_FOR_MS,
      leaseTtlMs: leaseTtlMs(job, config),
      maxTaskAttempts: 3,
      batchesKept: s.intentsKept,
      controlRetentionMs: s.controlRetentionMs,
    },
    handOver: async () => {
      await lambda.send(
        new InvokeCommand({
          FunctionName: config.functions.coordinator,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(
            JSON.stringify({ kind: 'coordinate', job: job.name, reason: 'successor' }),
          ),
        }),
      );
    },
  };
}
