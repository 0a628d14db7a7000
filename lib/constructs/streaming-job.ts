/**
 * The StreamingJob construct: deploys one sparkless job to AWS as its tables, a worker and a
 * coordinator function, and the schedule that keeps the coordinator running.
 *
 *   const tweets = new kinesis.Stream(this, 'Tweets', { shardCount: 4 });
 *   new StreamingJob(this, 'Hashtags', {
 *     job: fileURLToPath(new URL('../examples/hashtags.ts', import.meta.url)),
 *     sources: { tweets },
 *   });
 *
 * The job module is bundled at synth time with the local esbuild (never Docker) and loaded in a
 * child process to read its plan (job-module.ts): its sources and sinks must match the props,
 * and it decides which tables exist, how long window panes are kept and how wide the worker
 * must be able to run. Each function carries the bundle as `job.mjs` beside its handler
 * (`index.mjs`), which loads it at cold start from SPARKLESS_JOB_MODULE, a path relative to the
 * function's task root. Keeping the job a file of its own keeps the handlers the same for every
 * job, and is how the embedded cloud loads a job too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ArnFormat,
  CfnOutput,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  Duration,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_iam as iam,
  aws_kinesis as kinesis,
  type aws_kms as kms,
  aws_lambda as lambda,
  aws_logs as logs,
  Names,
  aws_lambda_nodejs as nodejs,
  RemovalPolicy,
  Stack,
  Stage,
  type aws_sns as sns,
  Token,
  aws_events_targets as targets,
  Validations,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { DeploymentInfo } from '../contract/deployment.js';
import {
  DEFAULT_SETTINGS,
  type RuntimeSettings,
  runtimeEnv,
  type SinkTarget,
} from '../contract/env.js';
import {
  BATCH_METRICS,
  type BatchMetricName,
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
  SHARD_DIMENSION,
} from '../contract/metrics.js';
import { TABLE_SCHEMAS, type TableSchema } from '../contract/tables.js';
import { formatMs } from '../core/duration.js';
import type { JobPlan } from '../core/plan.js';
import { describeJobModule, JOB_FILE } from './job-module.js';

/** The function handlers: `functions/` of the package, which ships them as TypeScript. */
const PACKAGE_ROOT = packageRoot();
const WORKER_ENTRY = join(PACKAGE_ROOT, 'functions', 'worker.ts');
const COORDINATOR_ENTRY = join(PACKAGE_ROOT, 'functions', 'coordinator.ts');
/** How many bytes a shard serves per second (Kinesis's read limit), for sizing the worker. */
const SHARD_READ_BYTES_PER_SECOND = 2 * 1024 * 1024;
/** The error code the coordinator logs when a redeployed job no longer fits the stored state. */
const STATE_MISMATCH = 'STATE_MISMATCH';

/** The properties of a {@link StreamingJob}. */
export interface StreamingJobProps {
  /**
   * The absolute path of the job module: a file (TypeScript or JavaScript) whose default export
   * is the job, `export default job('name', { batchInterval }, (ctx) => ...)`. It is bundled
   * into each function, and loaded at synth time to read its plan.
   */
  readonly job: string;

  /**
   * The Kinesis stream of each source of the job, by the name the job gives it
   * (`ctx.kinesis('tweets', ...)` needs `sources: { tweets }`). Exactly the job's sources.
   */
  readonly sources: Readonly<Record<string, kinesis.IStream>>;

  /**
   * Existing tables for `saveToTable` sinks, by sink name. Each must have the string partition
   * key `pk` and no sort key.
   *
   * @default - a table is created for each `saveToTable` sink not named here
   */
  readonly resultTables?: Readonly<Record<string, dynamodb.ITable>>;

  /**
   * Existing Kinesis streams for `saveToStream` sinks, by sink name.
   *
   * @default - an on-demand stream is created for each `saveToStream` sink not named here
   */
  readonly outputStreams?: Readonly<Record<string, kinesis.IStream>>;

  /**
   * What happens to the state table, and the results tables the construct creates, when the
   * construct is removed from the stack. The control, data and dead-letter tables hold nothing
   * a restarted job needs and are always destroyed.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly stateRemovalPolicy?: RemovalPolicy;

  /**
   * A customer managed KMS key for the tables and the output streams the construct creates.
   *
   * @default - tables are encrypted with the AWS managed key, streams with Kinesis's
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How the runtime reads, plans and keeps things.
   *
   * @default - DEFAULT_SETTINGS of sparkless's contract (10,000 records and 8 MiB per shard
   * and batch, from the trim horizon), with the data TTL raised to twice the job's longest
   * window where that is longer than a week
   */
  readonly settings?: Partial<RuntimeSettings>;

  /**
   * The worker function's memory, in MB.
   *
   * @default - 1024, or more when one shard's slice of a batch can exceed 64 MiB
   */
  readonly workerMemorySize?: number;

  /**
   * How long one task may run.
   *
   * @default - three batch intervals plus 30 seconds, and at least a minute
   */
  readonly workerTimeout?: Duration;

  /**
   * The coordinator function's memory, in MB.
   *
   * @default 512
   */
  readonly coordinatorMemorySize?: number;

  /**
   * The functions' instruction set.
   *
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;

  /**
   * X-Ray tracing of the functions.
   *
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;

  /**
   * Concurrent executions reserved for the worker. A batch runs the tasks of a stage at once,
   * one per shard or partition, so this must be at least the job's widest stage.
   *
   * @default - none reserved: the worker shares the account's unreserved concurrency (new
   * accounts have a small quota, and reserving takes from it)
   */
  readonly workerReservedConcurrency?: number;

  /**
   * Provisioned (pre-initialized) executions of the worker, on an alias `live` that the
   * coordinator then invokes, to take cold starts out of batch times.
   *
   * @default - none (billed whether used or not)
   */
  readonly workerProvisionedConcurrency?: number;

  /**
   * How long the functions' logs are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Deploys a job whose batch interval is under one second. Every batch reads each shard at
   * least once, and Kinesis allows five reads per second per shard, shared by every consumer of
   * the stream, so such a job leaves little to the others and may be throttled.
   *
   * @default false - a batch interval under one second is refused
   */
  readonly acknowledgeShardReadLimit?: boolean;

  /**
   * Where the job's alarms (falling behind, errors, dead-lettered records, source lag, a
   * refused redeploy) send their notifications.
   *
   * @default - the alarms are created without actions
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * One sparkless job on AWS: a coordinator function that plans batches and a worker function
 * that runs their tasks, the DynamoDB tables they keep the job in, and a schedule that starts
 * the coordinator every minute if none is running.
 *
 * Tables: control, data and dead letters are destroyed with the construct; the state table
 * (with point-in-time recovery, and only for a job with stateful operators) and the results
 * tables it creates are retained by default.
 *
 * Function names are chosen at synth time from the construct's path, since each function's
 * environment names both functions (a coordinator hands over to its successor).
 */
export class StreamingJob extends Construct {
  /** The job's name, as given to `job(name, ...)`. */
  public readonly jobName: string;
  /** The job's plan, read from the job module at synth time. */
  public readonly plan: JobPlan;
  /** Lease, head, plans, claims and commits. */
  public readonly controlTable: dynamodb.Table;
  /** Shuffle blocks, intents, window panes and partials (with a TTL backstop). */
  public readonly dataTable: dynamodb.Table;
  /** Keyed state of the job's stateful operators; undefined for a job without any. */
  public readonly stateTable?: dynamodb.Table;
  /** Records and keys that could not be processed. */
  public readonly deadLetterTable: dynamodb.Table;
  /** The table of each `saveToTable` sink, by sink name (created or given). */
  public readonly resultTables: Readonly<Record<string, dynamodb.ITable>>;
  /** The stream of each `saveToStream` sink, by sink name (created or given). */
  public readonly outputStreams: Readonly<Record<string, kinesis.IStream>>;
  /** Runs one task of one batch. */
  public readonly workerFunction: nodejs.NodejsFunction;
  /** The alias the coordinator invokes when the worker has provisioned concurrency. */
  public readonly workerAlias?: lambda.Alias;
  /** Plans batches and hands work to the worker. */
  public readonly coordinatorFunction: nodejs.NodejsFunction;
  /** Starts the coordinator every minute (an invocation that finds it running ends at once). */
  public readonly schedule: events.Rule;
  /**
   * The job's alarms: falling behind, task and function errors, dead-lettered records, source
   * lag, and a redeployed job refused because its stateful plan no longer fits the state.
   */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** A dashboard of the job's batches, in the manner of Spark's Streaming tab. */
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: StreamingJobProps) {
    super(scope, id);
    const who = `StreamingJob ${id}`;
    if (typeof props.job !== 'string' || !isAbsolute(props.job)) {
      throw new Error(
        `${who}: 'job' must be the absolute path of the job module (e.g. fileURLToPath(new URL('./jobs/hashtags.ts', import.meta.url))), got ${describe(props.job)}`,
      );
    }
    validateMemory(who, 'workerMemorySize', props.workerMemorySize);
    validateMemory(who, 'coordinatorMemorySize', props.coordinatorMemorySize);
    validateCount(who, 'workerReservedConcurrency', props.workerReservedConcurrency, 1);
    validateCount(who, 'workerProvisionedConcurrency', props.workerProvisionedConcurrency, 1);

    const outDir = Stage.of(this)?.outdir;
    if (!outDir) throw new Error(`${who}: must be created inside a CDK App (a Stage)`);
    const described = describeJobModule(props.job, outDir, who);
    const plan = described.plan;
    this.plan = plan;
    this.jobName = plan.job;
    const B = plan.batchIntervalMs;
    if (B < 1000 && !props.acknowledgeShardReadLimit) {
      throw new Error(
        `${who}: the batch interval (${formatMs(B)}) is under 1s; every batch reads each shard, and Kinesis allows 5 reads per second per shard, shared with every other consumer: use a batch interval of at least 1s, or set acknowledgeShardReadLimit: true`,
      );
    }
    validateNames(
      who,
      'sources',
      plan.sources.map((s) => s.name),
      Object.keys(props.sources ?? {}),
    );
    const tableSinks = plan.sinks.filter((s) => s.kind === 'table').map((s) => s.name);
    const streamSinks = plan.sinks.filter((s) => s.kind === 'stream').map((s) => s.name);
    validateSubset(who, 'resultTables', 'saveToTable', tableSinks, props.resultTables);
    validateSubset(who, 'outputStreams', 'saveToStream', streamSinks, props.outputStreams);
    const widest = widestStage(plan);
    if (
      props.workerReservedConcurrency !== undefined &&
      !Token.isUnresolved(props.workerReservedConcurrency) &&
      props.workerReservedConcurrency < widest
    ) {
      throw new Error(
        `${who}: 'workerReservedConcurrency' (${props.workerReservedConcurrency}) is below the ${widest} tasks the job's widest stage runs at once (its partitions), so batches would wait for throttled tasks: reserve at least ${widest}, plus one per shard of the sources`,
      );
    }
    const settings = withDataTtl(who, plan, props.settings);
    const lease = settings.leaseTtlMs;
    if (lease !== undefined && !Token.isUnresolved(lease) && lease < 3 * B) {
      throw new Error(
        `${who}: settings.leaseTtlMs (${formatMs(lease)}) is under three batch intervals (${formatMs(3 * B)}), so the coordinator's lease could lapse between its renewals: set it to at least ${3 * B} ms, or leave it out`,
      );
    }

    const retained = props.stateRemovalPolicy ?? RemovalPolicy.RETAIN;
    const key = props.encryptionKey;
    this.controlTable = this.table(
      'ControlTable',
      TABLE_SCHEMAS.control,
      RemovalPolicy.DESTROY,
      key,
    );
    this.dataTable = this.table('DataTable', TABLE_SCHEMAS.data, RemovalPolicy.DESTROY, key);
    if (plan.stateful.length > 0) {
      this.stateTable = this.table('StateTable', TABLE_SCHEMAS.state, retained, key);
    }
    this.deadLetterTable = this.table(
      'DeadLetterTable',
      TABLE_SCHEMAS.deadLetters,
      RemovalPolicy.DESTROY,
      key,
    );

    const resultTables: Record<string, dynamodb.ITable> = {};
    for (const sink of tableSinks) {
      resultTables[sink] =
        props.resultTables?.[sink] ??
        this.table(`Results-${sink}`, TABLE_SCHEMAS.results, retained, key);
    }
    this.resultTables = resultTables;
    const outputStreams: Record<string, kinesis.IStream> = {};
    for (const sink of streamSinks) {
      outputStreams[sink] = props.outputStreams?.[sink] ?? this.outputStream(sink, key);
    }
    this.outputStreams = outputStreams;

    const sinks: Record<string, SinkTarget> = {};
    for (const [name, table] of Object.entries(resultTables)) {
      sinks[name] = { kind: 'table', table: table.tableName };
    }
    for (const [name, stream] of Object.entries(outputStreams)) {
      sinks[name] = { kind: 'stream', stream: stream.streamName };
    }
    const sources: Record<string, string> = {};
    for (const [name, stream] of Object.entries(props.sources)) sources[name] = stream.streamName;

    // Concrete names: each function's environment names both, which Refs could not do
    // without a circular dependency.
    const baseName = Names.uniqueResourceName(this, { maxLength: 57, separator: '-' });
    const functionNames = { worker: `${baseName}-worker`, coordinator: `${baseName}-coord` };
    const provisioned = props.workerProvisionedConcurrency;
    const WORKER_ALIAS = 'live';
    const deploymentTables = {
      control: this.controlTable.tableName,
      data: this.dataTable.tableName,
      ...(this.stateTable ? { state: this.stateTable.tableName } : {}),
      deadLetters: this.deadLetterTable.tableName,
    };
    const deploymentFunctions = {
      worker: provisioned ? `${functionNames.worker}:${WORKER_ALIAS}` : functionNames.worker,
      coordinator: functionNames.coordinator,
    };
    const environment = runtimeEnv({
      jobName: this.jobName,
      // Relative: the runtime resolves it against the function's task root.
      jobModule: JOB_FILE,
      tables: deploymentTables,
      functions: deploymentFunctions,
      sources,
      sinks,
      settings,
    });

    const common = (
      entry: string,
      name: string,
      logsId: string,
      logGroup = new logs.LogGroup(this, logsId, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    ) => ({
      entry,
      functionName: name,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      tracing: props.tracing ?? lambda.Tracing.DISABLED,
      environment: { ...environment, NODE_OPTIONS: '--enable-source-maps' },
      logGroup,
      role: this.role(`${logsId.replace(/Logs$/, '')}Role`, logGroup),
      bundling: jobBundling(described.bundleDir),
    });
    this.workerFunction = new nodejs.NodejsFunction(this, 'Worker', {
      ...common(WORKER_ENTRY, functionNames.worker, 'WorkerLogs'),
      description: `sparkless job ${this.jobName}: runs one task of one batch`,
      memorySize: props.workerMemorySize ?? workerMemory(plan, settings),
      timeout: props.workerTimeout ?? Duration.seconds(Math.max(60, (3 * B) / 1000 + 30)),
      ...(props.workerReservedConcurrency !== undefined
        ? { reservedConcurrentExecutions: props.workerReservedConcurrency }
        : {}),
    });
    if (provisioned) {
      this.workerAlias = new lambda.Alias(this, 'WorkerAlias', {
        aliasName: WORKER_ALIAS,
        version: this.workerFunction.currentVersion,
        provisionedConcurrentExecutions: provisioned,
      });
    }
    this.coordinatorFunction = new nodejs.NodejsFunction(this, 'Coordinator', {
      ...common(COORDINATOR_ENTRY, functionNames.coordinator, 'CoordinatorLogs'),
      description: `sparkless job ${this.jobName}: plans batches and hands them to the worker`,
      memorySize: props.coordinatorMemorySize ?? 512,
      timeout: Duration.minutes(15),
    });

    // Least privilege, per function. Both read the sources (the coordinator lists shards and
    // resolves start positions) and keep the control, data and state tables (the coordinator
    // deletes a committed batch's data and purges tombstones). Only the worker writes results,
    // output records and dead letters; only the coordinator invokes functions.
    for (const fn of [this.workerFunction, this.coordinatorFunction]) {
      for (const table of [this.controlTable, this.dataTable, this.stateTable]) {
        table?.grantReadWriteData(fn);
      }
      for (const stream of Object.values(props.sources)) stream.grantRead(fn);
    }
    this.deadLetterTable.grantWriteData(this.workerFunction);
    for (const table of Object.values(resultTables)) table.grantWriteData(this.workerFunction);
    for (const stream of Object.values(outputStreams)) stream.grantWrite(this.workerFunction);
    this.acknowledgeFindings(props);
    // The coordinator invokes the worker (or its alias) and, to hand over, itself; by name,
    // as above.
    const stack = Stack.of(this);
    const functionArn = (name: string) =>
      stack.formatArn({
        service: 'lambda',
        resource: 'function',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    this.coordinatorFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [
          functionArn(functionNames.worker),
          ...(provisioned ? [functionArn(`${functionNames.worker}:${WORKER_ALIAS}`)] : []),
          functionArn(functionNames.coordinator),
        ],
      }),
    );

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `Starts the coordinator of sparkless job ${this.jobName} if none is running`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(this.coordinatorFunction, {
          event: events.RuleTargetInput.fromObject({
            kind: 'coordinate',
            job: this.jobName,
            reason: 'schedule',
          }),
          retryAttempts: 0,
        }),
      ],
    });

    // A redeployed job whose stateful plan no longer fits the stored state is refused by the
    // coordinator, which logs the code; count those lines.
    new logs.MetricFilter(this, 'StateMismatchFilter', {
      logGroup: this.coordinatorFunction.logGroup,
      filterPattern: logs.FilterPattern.stringValue('$.code', '=', STATE_MISMATCH),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'StateMismatch',
      dimensions: { [METRIC_DIMENSION]: '$.job' },
      metricValue: '1',
    });
    const period = Duration.minutes(1);
    const alarm = (
      name: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      description: string,
      periods = 1,
    ) => {
      const a = new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: periods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `sparkless job '${this.jobName}': ${description}`,
      });
      if (props.alarmTopic) a.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
      return a;
    };
    this.alarms = [
      alarm(
        'FallingBehind',
        this.metric('SchedulingDelay', { statistic: 'Maximum', period }),
        10 * B,
        `batches start more than ten batch intervals (${10 * B} ms) late: the job is falling behind`,
        3,
      ),
      alarm(
        'TaskErrors',
        this.metric('TaskErrors', { statistic: 'Sum', period }),
        0,
        'tasks failed (they are retried; see the coordinator log)',
      ),
      alarm(
        'WorkerErrors',
        this.metricWorkerErrors({ statistic: 'Sum', period }),
        0,
        'the worker function failed',
      ),
      alarm(
        'CoordinatorErrors',
        this.metricCoordinatorErrors({ statistic: 'Sum', period }),
        0,
        'the coordinator function failed (the schedule restarts it); a changed job is refused here, with the reason in its log',
      ),
      alarm(
        'DeadLetters',
        this.metric('DeadLetteredRecords', { statistic: 'Sum', period }),
        0,
        'records or keys went to the dead-letter table',
      ),
      alarm(
        'StateMismatch',
        new cloudwatch.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: 'StateMismatch',
          dimensionsMap: { [METRIC_DIMENSION]: this.jobName },
          statistic: 'Sum',
          period,
        }),
        0,
        "the coordinator refuses the deployed job: its stateful operators (kind, name, partitions, window, slide or timeout) changed, so the stored state does not fit; the coordinator's log has the message. Deploy the job that wrote the state, or reset the state",
      ),
      alarm(
        'SourceLag',
        this.metric('MaxMillisBehindLatest', { statistic: 'Maximum', period }),
        60_000,
        'a shard is more than a minute behind its tip',
        3,
      ),
    ];

    // What Spark's Streaming tab shows, per batch: input rate, processing time against the batch
    // interval, scheduling and total delay, and how far the shards are behind.
    const interval = { value: B, label: 'batch interval', color: '#d62728' };
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `sparkless-${this.jobName}-${Names.uniqueId(this).slice(-8)}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Input records per minute',
            left: [this.metric('InputRecords', { statistic: 'Sum', period })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Processing time (ms)',
            left: [this.metric('ProcessingTime', { statistic: 'Maximum', period })],
            leftAnnotations: [interval],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Scheduling and total delay (ms)',
            left: [
              this.metric('SchedulingDelay', { statistic: 'Maximum', period }),
              this.metric('TotalDelay', { statistic: 'Maximum', period }),
            ],
            leftAnnotations: [interval],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Lag behind the tip (ms), dead letters and task errors',
            left: [this.metric('MaxMillisBehindLatest', { statistic: 'Maximum', period })],
            right: [
              this.metric('DeadLetteredRecords', { statistic: 'Sum', period }),
              this.metric('TaskErrors', { statistic: 'Sum', period }),
            ],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lag behind the tip per shard (ms)',
            left: [this.metricSourceLagPerShard({ period })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'DynamoDB requests and capacity units per minute',
            left: [this.metric('DynamoDBRequests', { statistic: 'Sum', period })],
            right: [this.metric('ConsumedCapacityUnits', { statistic: 'Sum', period })],
            width: 12,
          }),
        ],
      ],
    });

    const deployment: DeploymentInfo = {
      sparkless: 1,
      jobName: this.jobName,
      batchIntervalMs: B,
      stateful: plan.stateful.map((s) => ({
        name: s.name,
        kind: s.kind,
        partitions: s.partitions,
      })),
      tables: deploymentTables,
      functions: deploymentFunctions,
      sources,
      sinks,
    };
    new CfnOutput(this, 'Deployment', {
      description: `Where job '${this.jobName}' lives, for sparkless's tools (JSON)`,
      value: stack.toJsonString(deployment),
    });
    const region = Stack.of(this).region;
    new CfnOutput(this, 'DashboardUrl', {
      description: `The dashboard of job '${this.jobName}'`,
      value: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`,
    });
    if (this.stateTable) {
      new CfnOutput(this, 'StateTableName', {
        description: `The keyed state of job '${this.jobName}' (read it with readState from sparkless/aws)`,
        value: this.stateTable.tableName,
      });
    }
    for (const [sink, table] of Object.entries(this.resultTables)) {
      new CfnOutput(this, `Results${sink.replace(/[^A-Za-z0-9]/g, '')}`, {
        description: `The results table of sink '${sink}' of job '${this.jobName}'`,
        value: table.tableName,
      });
    }
  }

  /**
   * One of the job's batch metrics, which the coordinator logs with every commit (CloudWatch
   * embedded metric format, namespace Sparkless, dimension Job).
   */
  public metric(name: BatchMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { [METRIC_DIMENSION]: this.jobName },
      unit: BATCH_METRICS[name] as cloudwatch.Unit,
      ...props,
    });
  }

  /** How late batches start after their batch time (Spark's scheduling delay). */
  public metricSchedulingDelay(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('SchedulingDelay', props);
  }

  /** How long batches take from their start to their commit (Spark's processing time). */
  public metricProcessingTime(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ProcessingTime', props);
  }

  /** Records read per batch. */
  public metricInputRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('InputRecords', props);
  }

  /** Records and keys sent to the dead-letter table. */
  public metricDeadLetteredRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DeadLetteredRecords', props);
  }

  /** How far the furthest-behind shard is from its tip. */
  public metricSourceLag(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('MaxMillisBehindLatest', props);
  }

  /**
   * How far each shard is behind its tip: one series per shard (dimensions Job and Shard,
   * `<source>/<shardId>`), found by a CloudWatch search so that resharding needs no redeploy.
   */
  public metricSourceLagPerShard(props?: { period?: Duration }): cloudwatch.MathExpression {
    const period = props?.period ?? Duration.minutes(1);
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${METRIC_NAMESPACE},${METRIC_DIMENSION},${SHARD_DIMENSION}} MetricName="MillisBehindLatest" ${METRIC_DIMENSION}="${this.jobName}"', 'Maximum', ${period.toSeconds()})`,
      label: '',
      period,
    });
  }

  /** Lets `grantee` read the job's keyed state (e.g. an application serving it). */
  public grantReadState(grantee: iam.IGrantable): iam.Grant {
    if (!this.stateTable) {
      throw new Error(
        `StreamingJob ${this.node.id}: job '${this.jobName}' has no stateful operators, so no state table to grant reading; grant its results tables with grantReadResults instead`,
      );
    }
    return this.stateTable.grantReadData(grantee);
  }

  /** Lets `grantee` read the results table of `saveToTable` sink `sink`. */
  public grantReadResults(grantee: iam.IGrantable, sink: string): iam.Grant {
    const table = this.resultTables[sink];
    if (!table) {
      throw new Error(
        `StreamingJob ${this.node.id}: job '${this.jobName}' has no saveToTable sink '${sink}'; its table sinks: ${list(Object.keys(this.resultTables))}`,
      );
    }
    return table.grantReadData(grantee);
  }

  /** Lets `grantee` read the dead letters (records and keys the job could not process). */
  public grantReadDeadLetters(grantee: iam.IGrantable): iam.Grant {
    return this.deadLetterTable.grantReadData(grantee);
  }

  /** The worker's errors (failed task attempts; retried, then dead-lettered). */
  public metricWorkerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.workerFunction.metricErrors(props);
  }

  /** The coordinator's errors (a failed coordinator is restarted by the schedule). */
  public metricCoordinatorErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.coordinatorFunction.metricErrors(props);
  }

  /** An on-demand stream for a `saveToStream` sink. */
  private outputStream(sink: string, key: kms.IKey | undefined): kinesis.Stream {
    const stream = new kinesis.Stream(this, `Output-${sink}`, {
      streamMode: kinesis.StreamMode.ON_DEMAND,
      ...(key
        ? { encryption: kinesis.StreamEncryption.KMS, encryptionKey: key }
        : { encryption: kinesis.StreamEncryption.MANAGED }),
    });
    if (key) {
      Validations.of(stream).acknowledge({
        id: 'AwsSolutions::AwsSolutions-KDS3',
        reason: 'The stream is encrypted with the customer managed key given as encryptionKey.',
      });
    }
    return stream;
  }

  /**
   * Acknowledges, with the reason, the AwsSolutions findings (cdk-nag) that follow from the
   * design or from an option the user chose; everything else is fixed, not acknowledged.
   */
  private acknowledgeFindings(props: StreamingJobProps): void {
    for (const fn of [this.workerFunction, this.coordinatorFunction]) {
      const role = fn.role;
      if (!role) continue;
      const reason =
        "From aws-cdk-lib's grant methods for an encrypted table or stream: the KMS action families are granted on that key only.";
      Validations.of(role).acknowledge(
        { id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason },
        { id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason },
      );
      if ((props.tracing ?? lambda.Tracing.DISABLED) !== lambda.Tracing.DISABLED) {
        Validations.of(role).acknowledge({
          id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
          reason:
            "Tracing was asked for: X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions.",
        });
      }
    }
  }

  /**
   * A function's role: it may write to its own log group and nothing else until granted (the
   * managed AWSLambdaBasicExecutionRole would let it write to every log group).
   */
  private role(id: string, logGroup: logs.ILogGroup): iam.Role {
    const role = new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `A function of sparkless job ${this.jobName}`,
    });
    logGroup.grantWrite(role);
    return role;
  }

  private table(
    id: string,
    schema: TableSchema,
    removalPolicy: RemovalPolicy,
    encryptionKey: kms.IKey | undefined,
  ): dynamodb.Table {
    const attribute = (a: { name: string }) => ({
      name: a.name,
      type: dynamodb.AttributeType.STRING,
    });
    return new dynamodb.Table(this, id, {
      partitionKey: attribute(schema.partitionKey),
      ...(schema.sortKey ? { sortKey: attribute(schema.sortKey) } : {}),
      ...(schema.timeToLiveAttribute ? { timeToLiveAttribute: schema.timeToLiveAttribute } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...(encryptionKey
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      // Every table: the control table holds the head and commits, the data table window
      // panes, the dead-letter table what could not be processed, and state and results are
      // the job's output. Recovery is priced by size, and these are small but for state.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });
  }
}

/**
 * Bundling of a function with the job beside its handler: esbuild, locally, as ESM (the handler
 * imports the job with a dynamic `import()`), with source maps and the AWS SDK left to the
 * Lambda runtime. The job's bundle, made once at synth time, is copied in after the handler's.
 */
function jobBundling(jobBundleDir: string): nodejs.BundlingOptions {
  return {
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    // The oldest Node.js sparkless runs on, so that the embedded cloud (which runs bundles on
    // its own Node.js) runs exactly these bundles too; Lambda's newer runtime runs them alike.
    target: 'node20',
    sourceMap: true,
    sourceMapMode: nodejs.SourceMapMode.DEFAULT,
    logLevel: nodejs.LogLevel.WARNING,
    externalModules: ['@aws-sdk/*'],
    mainFields: ['module', 'main'],
    esbuildArgs: { '--conditions': 'source' },
    // Some bundled CommonJS packages call require(); give the ESM bundle one.
    banner:
      "import { createRequire as __sparklessRequire } from 'node:module'; const require = __sparklessRequire(import.meta.url);",
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => [
        [
          quote(process.execPath),
          '-e',
          quote('require("node:fs").cpSync(process.argv[1], process.argv[2], { recursive: true })'),
          quote(jobBundleDir),
          quote(outputDir),
        ].join(' '),
      ],
    },
  };
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function list(names: readonly string[]): string {
  return names.length ? names.map((n) => `'${n}'`).join(', ') : '(none)';
}

/** Throws unless `given` names exactly `expected`, saying which are missing and which unknown. */
function validateNames(
  who: string,
  prop: string,
  expected: readonly string[],
  given: readonly string[],
): void {
  const missing = expected.filter((n) => !given.includes(n));
  const extra = given.filter((n) => !expected.includes(n));
  if (missing.length === 0 && extra.length === 0) return;
  const problems = [
    ...(missing.length ? [`missing ${list(missing)}`] : []),
    ...(extra.length ? [`unknown ${list(extra)}`] : []),
  ];
  throw new Error(
    `${who}: '${prop}' must name exactly the job's sources ${list(expected)}: ${problems.join('; ')}`,
  );
}

/** Throws if `given` names a sink the job does not have (of that kind). */
function validateSubset(
  who: string,
  prop: string,
  operator: string,
  sinks: readonly string[],
  given: Readonly<Record<string, unknown>> | undefined,
): void {
  const extra = Object.keys(given ?? {}).filter((n) => !sinks.includes(n));
  if (extra.length) {
    throw new Error(
      `${who}: '${prop}' names ${list(extra)}, which the job has no ${operator} sink of; its ${operator} sinks: ${list(sinks)}`,
    );
  }
}

function validateMemory(who: string, prop: string, value: number | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < 128 || value > 10_240) {
    throw new Error(
      `${who}: '${prop}' must be a whole number of MB from 128 to 10240, got ${value}`,
    );
  }
}

function validateCount(who: string, prop: string, value: number | undefined, min: number): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${who}: '${prop}' must be a whole number of at least ${min}, got ${value}`);
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** The most tasks one stage of the job runs at once, not counting shards (unknown here). */
function widestStage(plan: JobPlan): number {
  return Math.max(1, ...plan.stages.map((s) => s.partitions ?? 1));
}

/**
 * The settings with a data TTL that outlives the job's windows: panes live in the data table,
 * and a window reads them until it has slid past, so the TTL backstop must be longer than the
 * longest window. Twice, to leave room for a job catching up.
 */
function withDataTtl(
  who: string,
  plan: JobPlan,
  settings: Partial<RuntimeSettings> | undefined,
): Partial<RuntimeSettings> {
  const window = Math.max(0, ...plan.stateful.map((s) => s.windowMs ?? 0));
  const given = settings?.dataTtlMs;
  if (given !== undefined && given < 2 * window) {
    throw new Error(
      `${who}: settings.dataTtlMs (${formatMs(given)}) is shorter than twice the job's longest window (${formatMs(window)}), so window panes could expire while still needed: set it to at least ${2 * window} ms, or leave it out`,
    );
  }
  if (given !== undefined || 2 * window <= DEFAULT_SETTINGS.dataTtlMs) return settings ?? {};
  return { ...settings, dataTtlMs: 2 * window };
}

/**
 * The worker's memory: 1024 MB, or 16 MB per MiB of the largest slice one shard can give a
 * batch (a slice is decoded, combined and shuffled in memory), whichever is more.
 */
function workerMemory(plan: JobPlan, settings: Partial<RuntimeSettings>): number {
  const sliceBytes = Math.min(
    settings.maxBytesPerBatch ?? DEFAULT_SETTINGS.maxBytesPerBatch,
    (SHARD_READ_BYTES_PER_SECOND * plan.batchIntervalMs) / 1000,
  );
  const mb = Math.ceil((16 * sliceBytes) / (1024 * 1024) / 64) * 64;
  return Math.min(10_240, Math.max(1024, mb));
}

/** The root of the sparkless package, from its source or its build alike. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
      if (name === 'sparkless') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error('sparkless/constructs: cannot find the sparkless package around this module');
    }
    dir = parent;
  }
}
