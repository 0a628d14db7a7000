/**
 * The StreamingJob construct: deploys one sparkless job to AWS as its tables, a worker and a
 * coordinator function, and the schedule that keeps the coordinator running.
 *
 *   import tweetsJob from '../examples/hashtags.js';
 *   const tweets = new kinesis.Stream(this, 'Tweets', { shardCount: 2 });
 *   new StreamingJob(this, 'Hashtags', {
 *     job: tweetsJob,
 *     jobModule: fileURLToPath(new URL('../examples/hashtags.ts', import.meta.url)),
 *     sources: { tweets },
 *   });
 *
 * The construct needs the job itself (to learn its sources, sinks and name while the stack is
 * built, and CDK constructors are synchronous) and the path of the module whose default export
 * it is (to bundle it). Both functions are bundled with a local esbuild, never Docker: the
 * handler as `index.mjs`, and the job module as `job.mjs` beside it, which the handler imports
 * at run time from the path in SPARKLESS_JOB_MODULE. Keeping the job a separate file keeps the
 * handlers' bundles the same for every job, and is how the embedded cloud loads a job too.
 */
import { isAbsolute } from 'node:path';
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
  aws_lambda as lambda,
  aws_logs as logs,
  Names,
  aws_lambda_nodejs as nodejs,
  RemovalPolicy,
  Stack,
  type aws_sns as sns,
  Token,
  aws_events_targets as targets,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { type RuntimeSettings, runtimeEnv, type SinkTarget } from '../contract/env.js';
import {
  BATCH_METRICS,
  type BatchMetricName,
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
} from '../contract/metrics.js';
import { TABLE_SCHEMAS, type TableSchema } from '../contract/tables.js';
import { formatMs } from '../core/duration.js';
import { isJob, type Job } from '../core/job.js';

/** The file name of the job module inside each function's bundle. */
const JOB_FILE = 'job.mjs';
/** Where Lambda unpacks a function's bundle. */
const TASK_ROOT = '/var/task';
/** The function handlers, relative to this file (the package ships `functions/` as source). */
const WORKER_ENTRY = new URL('../../functions/worker.ts', import.meta.url);
const COORDINATOR_ENTRY = new URL('../../functions/coordinator.ts', import.meta.url);

/** The properties of a {@link StreamingJob}. */
export interface StreamingJobProps {
  /**
   * The job to deploy: the default export of {@link jobModule}. Import it (under tsx, a
   * TypeScript module can be imported directly) before constructing the stack.
   */
  readonly job: Job;

  /**
   * The absolute path of the module whose default export is {@link job}. It is bundled with
   * esbuild into each function as `job.mjs`, which the functions load at cold start.
   */
  readonly jobModule: string;

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
   * How the runtime reads, plans and keeps things.
   *
   * @default - DEFAULT_SETTINGS of sparkless's contract (10,000 records and 8 MiB per shard
   * and batch, from the trim horizon)
   */
  readonly settings?: Partial<RuntimeSettings>;

  /**
   * The worker function's memory.
   *
   * @default 1024
   */
  readonly workerMemorySize?: number;

  /**
   * The coordinator function's memory.
   *
   * @default 512
   */
  readonly coordinatorMemorySize?: number;

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
   * Where the job's alarms (falling behind, errors, dead-lettered records, source lag) send
   * their notifications.
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
 * (with point-in-time recovery) and the results tables it creates are retained by default. The
 * state table is created for stateless jobs too: it is empty and costs nothing on demand, and a
 * job that later gains a stateful operator keeps the same deployment.
 *
 * Function names are chosen at synth time from the construct's path, since each function's
 * environment names both functions (a coordinator hands over to its successor).
 */
export class StreamingJob extends Construct {
  /** The job's name, as given to `job(name, ...)`. */
  public readonly jobName: string;
  /** Lease, head, plans, claims and commits. */
  public readonly controlTable: dynamodb.Table;
  /** Shuffle blocks, intents, window panes and partials (with a TTL backstop). */
  public readonly dataTable: dynamodb.Table;
  /** Keyed state of the job's stateful operators. */
  public readonly stateTable: dynamodb.Table;
  /** Records and keys that could not be processed. */
  public readonly deadLetterTable: dynamodb.Table;
  /** The table of each `saveToTable` sink, by sink name (created or given). */
  public readonly resultTables: Readonly<Record<string, dynamodb.ITable>>;
  /** The stream of each `saveToStream` sink, by sink name (created or given). */
  public readonly outputStreams: Readonly<Record<string, kinesis.IStream>>;
  /** Runs one task of one batch. */
  public readonly workerFunction: nodejs.NodejsFunction;
  /** Plans batches and hands work to the worker. */
  public readonly coordinatorFunction: nodejs.NodejsFunction;
  /** Starts the coordinator every minute (an invocation that finds it running ends at once). */
  public readonly schedule: events.Rule;
  /** The job's alarms: falling behind, task errors, dead-lettered records, source lag. */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** A dashboard of the job's batches, in the manner of Spark's Streaming tab. */
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: StreamingJobProps) {
    super(scope, id);
    if (!isJob(props.job)) {
      throw new Error(
        `StreamingJob ${id}: 'job' must be a job (the default export of the job module, made by job(name, ...)), got ${typeof props.job}`,
      );
    }
    if (typeof props.jobModule !== 'string' || !isAbsolute(props.jobModule)) {
      throw new Error(
        `StreamingJob ${id}: 'jobModule' must be the absolute path of the job's module, got ${String(props.jobModule)}`,
      );
    }
    validateMemory(id, 'workerMemorySize', props.workerMemorySize);
    validateMemory(id, 'coordinatorMemorySize', props.coordinatorMemorySize);
    if (props.job.batchIntervalMs < 1000 && !props.acknowledgeShardReadLimit) {
      throw new Error(
        `StreamingJob ${id}: the batch interval (${formatMs(props.job.batchIntervalMs)}) is under 1s; every batch reads each shard, and Kinesis allows 5 reads per second per shard, shared with every other consumer: use a batch interval of at least 1s, or set acknowledgeShardReadLimit: true`,
      );
    }
    const plan = props.job.plan;
    this.jobName = props.job.name;
    validateNames(
      id,
      'sources',
      plan.sources.map((s) => s.name),
      Object.keys(props.sources ?? {}),
    );
    const tableSinks = plan.sinks.filter((s) => s.kind === 'table').map((s) => s.name);
    const streamSinks = plan.sinks.filter((s) => s.kind === 'stream').map((s) => s.name);
    validateSubset(id, 'resultTables', 'saveToTable', tableSinks, props.resultTables);
    validateSubset(id, 'outputStreams', 'saveToStream', streamSinks, props.outputStreams);

    const retained = props.stateRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.controlTable = this.table('ControlTable', TABLE_SCHEMAS.control, RemovalPolicy.DESTROY);
    this.dataTable = this.table('DataTable', TABLE_SCHEMAS.data, RemovalPolicy.DESTROY);
    this.stateTable = this.table('StateTable', TABLE_SCHEMAS.state, retained, true);
    this.deadLetterTable = this.table(
      'DeadLetterTable',
      TABLE_SCHEMAS.deadLetters,
      RemovalPolicy.DESTROY,
    );

    const resultTables: Record<string, dynamodb.ITable> = {};
    for (const sink of tableSinks) {
      resultTables[sink] =
        props.resultTables?.[sink] ??
        this.table(`Results-${sink}`, TABLE_SCHEMAS.results, retained, true);
    }
    this.resultTables = resultTables;
    const outputStreams: Record<string, kinesis.IStream> = {};
    for (const sink of streamSinks) {
      outputStreams[sink] =
        props.outputStreams?.[sink] ??
        new kinesis.Stream(this, `Output-${sink}`, {
          streamMode: kinesis.StreamMode.ON_DEMAND,
          encryption: kinesis.StreamEncryption.MANAGED,
        });
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
    const workerName = Names.uniqueResourceName(this, { maxLength: 57, separator: '-' });
    const functionNames = { worker: `${workerName}-worker`, coordinator: `${workerName}-coord` };
    const environment = runtimeEnv({
      jobName: this.jobName,
      jobModule: `${TASK_ROOT}/${JOB_FILE}`,
      tables: {
        control: this.controlTable.tableName,
        data: this.dataTable.tableName,
        state: this.stateTable.tableName,
        deadLetters: this.deadLetterTable.tableName,
      },
      functions: functionNames,
      sources,
      sinks,
      ...(props.settings ? { settings: props.settings } : {}),
    });

    const common = (entry: URL, name: string, logsId: string) => ({
      entry: fileURLToPath(entry),
      functionName: name,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      environment: { ...environment, NODE_OPTIONS: '--enable-source-maps' },
      logGroup: new logs.LogGroup(this, logsId, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
      bundling: jobBundling(props.jobModule),
    });
    this.workerFunction = new nodejs.NodejsFunction(this, 'Worker', {
      ...common(WORKER_ENTRY, functionNames.worker, 'WorkerLogs'),
      description: `sparkless job ${this.jobName}: runs one task of one batch`,
      memorySize: props.workerMemorySize ?? 1024,
      timeout: Duration.seconds(Math.max(60, (3 * plan.batchIntervalMs) / 1000 + 30)),
    });
    this.coordinatorFunction = new nodejs.NodejsFunction(this, 'Coordinator', {
      ...common(COORDINATOR_ENTRY, functionNames.coordinator, 'CoordinatorLogs'),
      description: `sparkless job ${this.jobName}: plans batches and hands them to the worker`,
      memorySize: props.coordinatorMemorySize ?? 512,
      timeout: Duration.minutes(15),
    });

    for (const fn of [this.workerFunction, this.coordinatorFunction]) {
      for (const table of [
        this.controlTable,
        this.dataTable,
        this.stateTable,
        this.deadLetterTable,
        ...Object.values(resultTables),
      ]) {
        table.grantReadWriteData(fn);
      }
      for (const stream of Object.values(props.sources)) stream.grantRead(fn);
      for (const stream of Object.values(outputStreams)) stream.grantWrite(fn);
    }
    // The coordinator invokes the worker and, to hand over, itself; by name, as above.
    const stack = Stack.of(this);
    this.coordinatorFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [functionNames.worker, functionNames.coordinator].map((name) =>
          stack.formatArn({
            service: 'lambda',
            resource: 'function',
            resourceName: name,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ),
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

    const B = props.job.batchIntervalMs;
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
            title: 'DynamoDB requests and capacity units per minute',
            left: [this.metric('DynamoDBRequests', { statistic: 'Sum', period })],
            right: [this.metric('ConsumedCapacityUnits', { statistic: 'Sum', period })],
            width: 24,
          }),
        ],
      ],
    });

    const region = Stack.of(this).region;
    new CfnOutput(this, 'DashboardUrl', {
      description: `The dashboard of job '${this.jobName}'`,
      value: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`,
    });
    new CfnOutput(this, 'StateTableName', {
      description: `The keyed state of job '${this.jobName}' (read it with readState from sparkless/aws)`,
      value: this.stateTable.tableName,
    });
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

  /** Lets `grantee` read the job's keyed state (e.g. an application serving it). */
  public grantReadState(grantee: iam.IGrantable): iam.Grant {
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

  private table(
    id: string,
    schema: TableSchema,
    removalPolicy: RemovalPolicy,
    pointInTimeRecovery = false,
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
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: pointInTimeRecovery },
      removalPolicy,
    });
  }
}

/**
 * Bundling of a function with the job module beside its handler: esbuild, locally, as ESM
 * (the handler imports the job with a dynamic `import()`), with source maps and the AWS SDK
 * left to the Lambda runtime.
 */
function jobBundling(jobModule: string): nodejs.BundlingOptions {
  return {
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    target: 'node24',
    sourceMap: true,
    sourceMapMode: nodejs.SourceMapMode.DEFAULT,
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
          'npx --no-install esbuild',
          '--bundle',
          quote(jobModule),
          '--platform=node',
          '--format=esm',
          '--target=node24',
          '--conditions=source',
          '--external:@aws-sdk/*',
          '--sourcemap',
          `--banner:js=${quote("import { createRequire as __sparklessRequire } from 'node:module'; const require = __sparklessRequire(import.meta.url);")}`,
          `--outfile=${quote(`${outputDir}/${JOB_FILE}`)}`,
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
  id: string,
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
    `StreamingJob ${id}: '${prop}' must name exactly the job's sources ${list(expected)}: ${problems.join('; ')}`,
  );
}

/** Throws if `given` names a sink the job does not have (of that kind). */
function validateSubset(
  id: string,
  prop: string,
  operator: string,
  sinks: readonly string[],
  given: Readonly<Record<string, unknown>> | undefined,
): void {
  const extra = Object.keys(given ?? {}).filter((n) => !sinks.includes(n));
  if (extra.length) {
    throw new Error(
      `StreamingJob ${id}: '${prop}' names ${list(extra)}, which the job has no ${operator} sink of; its ${operator} sinks: ${list(sinks)}`,
    );
  }
}

function validateMemory(id: string, prop: string, value: number | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < 128 || value > 10_240) {
    throw new Error(
      `StreamingJob ${id}: '${prop}' must be a whole number of MB from 128 to 10240, got ${value}`,
    );
  }
}
