/**
 * The StreamingJob construct: the resources it synthesizes, asserted by their properties, and
 * the mistakes it rejects at synth time. One stack is synthesized (with real bundling) and
 * shared by the suite.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  App,
  Duration,
  aws_dynamodb as dynamodb,
  aws_iam as iam,
  aws_kinesis as kinesis,
  aws_kms as kms,
  aws_lambda as lambda,
  Stack,
  aws_sns as sns,
} from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { StreamingJob, type StreamingJobProps } from '../../lib/constructs/index.js';
import { ENV } from '../../lib/contract/env.js';
import { TABLE_SCHEMAS } from '../../lib/contract/tables.js';
import clicksAndViews from './fixtures/clicks-and-views.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const JOB_MODULE = fixture('clicks-and-views.ts');

interface Synth {
  readonly stack: Stack;
  readonly construct: StreamingJob;
  readonly template: Template;
}

let shared: Synth | undefined;
/** The suite's one synthesized stack: two sources, a created results table and stream. */
function synth(): Synth {
  if (shared) return shared;
  const stack = new Stack(new App(), 'Test');
  const clicks = new kinesis.Stream(stack, 'Clicks', { shardCount: 2 });
  const views = new kinesis.Stream(stack, 'Views', { shardCount: 1 });
  const construct = new StreamingJob(stack, 'Job', { job: JOB_MODULE, sources: { clicks, views } });
  shared = { stack, construct, template: Template.fromStack(stack) };
  return shared;
}

/** A construct that is never synthesized (its validation throws, or its template is unread). */
function construct(props: Partial<StreamingJobProps>): StreamingJob {
  // Not bundled: the functions' code is never read here.
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Invalid');
  const clicks = new kinesis.Stream(stack, 'Clicks');
  const views = new kinesis.Stream(stack, 'Views');
  return new StreamingJob(stack, 'Job', { job: JOB_MODULE, sources: { clicks, views }, ...props });
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined) => {
  if (!construct) throw new Error('no such construct');
  return { Ref: stack.getLogicalId(construct.node.defaultChild as never) };
};

/** A stack with one job reading one stream `clicks`; its template, synthesized. */
function single(module: string, props: Partial<StreamingJobProps> = {}, source = 'clicks') {
  const stack = new Stack(new App(), 'Single');
  const stream = new kinesis.Stream(stack, 'Source');
  const construct = new StreamingJob(stack, 'Job', {
    job: fixture(module),
    sources: { [source]: stream },
    ...props,
  });
  return { stack, construct, template: Template.fromStack(stack) };
}

/** The statements of the policies attached to a function's role. */
function statementsOf(template: Template, stack: Stack, fn: lambda.IFunction) {
  const role = ref(stack, fn.role as never);
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([role]))
    .flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>,
    )
    .map((st) => ({
      actions: [st.Action].flat() as string[],
      resources: JSON.stringify(st.Resource),
    }));
}

describe('StreamingJob', () => {
  it('creates the control, data, state, dead-letter and results tables, on demand and encrypted', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::DynamoDB::Table', 5);
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
    });
    // The results table has the partition key only.
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    });
  });

  it('gives the tables whose schema has a TTL attribute that attribute, and no other table one', () => {
    const { template, stack, construct } = synth();
    const tables = template.findResources('AWS::DynamoDB::Table');
    const withTtl = Object.entries(tables)
      .filter(([, t]) => t.Properties.TimeToLiveSpecification)
      .map(([id, t]) => [id, t.Properties.TimeToLiveSpecification]);
    expect(TABLE_SCHEMAS.data.timeToLiveAttribute).toBe('ttl');
    expect(TABLE_SCHEMAS.deadLetters.timeToLiveAttribute).toBe('ttl');
    expect(withTtl.sort()).toEqual(
      [construct.dataTable, construct.deadLetterTable]
        .map((t) => [ref(stack, t).Ref, { AttributeName: 'ttl', Enabled: true }])
        .sort(),
    );
  });

  it('keeps the state and results tables point-in-time recoverable and retained', () => {
    const { template, stack, construct } = synth();
    const tables = template.findResources('AWS::DynamoDB::Table');
    const state = tables[ref(stack, construct.stateTable).Ref];
    expect(state?.Properties.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
    expect(state?.DeletionPolicy).toBe('Retain');
    const control = tables[ref(stack, construct.controlTable).Ref];
    expect(control?.DeletionPolicy).toBe('Delete');
    const results = construct.resultTables['page-counts'] as dynamodb.Table;
    expect(tables[ref(stack, results).Ref]?.DeletionPolicy).toBe('Retain');
  });

  it("names every source and sink in both functions' environment", () => {
    const { template, stack, construct } = synth();
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { [ENV.jobName]: 'clicks-and-views' } } },
    });
    expect(Object.keys(functions)).toHaveLength(2);
    for (const fn of Object.values(functions)) {
      const env = fn.Properties.Environment.Variables;
      expect(env[ENV.jobModule]).toBe('job.mjs');
      expect(env[ENV.controlTable]).toEqual(ref(stack, construct.controlTable));
      expect(env[ENV.stateTable]).toEqual(ref(stack, construct.stateTable));
      expect(env[ENV.workerFunction]).toMatch(/^Test-Job-[0-9A-F]{8}-worker$/);
      expect(env[ENV.coordinatorFunction]).toMatch(/^Test-Job-[0-9A-F]{8}-coord$/);
      const sources = JSON.stringify(env[ENV.sources]);
      const sinks = JSON.stringify(env[ENV.sinks]);
      for (const id of ['Clicks', 'Views']) {
        expect(sources).toContain(
          stack.getLogicalId(stack.node.findChild(id).node.defaultChild as never),
        );
      }
      expect(sources).toMatch(/\\"clicks\\":.*\\"views\\":/);
      expect(sinks).toMatch(/\\"page-counts\\":\{\\"kind\\":\\"table\\"/);
      expect(sinks).toMatch(/\\"page-events\\":\{\\"kind\\":\\"stream\\"/);
    }
  });

  it('runs both functions on the newest Node.js runtime with source maps', () => {
    synth().template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
    });
  });

  it('starts the coordinator every minute with a coordinate event', () => {
    const { template, stack, construct } = synth();
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({
          Arn: {
            'Fn::GetAtt': [
              stack.getLogicalId(construct.coordinatorFunction.node.defaultChild as never),
              'Arn',
            ],
          },
          Input: JSON.stringify({
            kind: 'coordinate',
            job: 'clicks-and-views',
            reason: 'schedule',
          }),
        }),
      ],
    });
  });

  it('grants each function what it uses: only the worker writes results, output and dead letters', () => {
    const { template, stack, construct } = synth();
    const worker = statementsOf(template, stack, construct.workerFunction);
    const coordinator = statementsOf(template, stack, construct.coordinatorFunction);
    const on = (
      statements: typeof worker,
      resource: { node: { defaultChild?: unknown } } | undefined,
      action: string,
    ) =>
      statements.some(
        (st) => st.actions.includes(action) && st.resources.includes(ref(stack, resource).Ref),
      );
    const results = construct.resultTables['page-counts'] as dynamodb.Table;
    const output = construct.outputStreams['page-events'] as kinesis.Stream;
    for (const table of [construct.controlTable, construct.dataTable, construct.stateTable]) {
      expect(on(worker, table, 'dynamodb:UpdateItem')).toBe(true);
      expect(on(coordinator, table, 'dynamodb:DeleteItem')).toBe(true);
    }
    expect(on(worker, construct.deadLetterTable, 'dynamodb:PutItem')).toBe(true);
    expect(on(worker, construct.deadLetterTable, 'dynamodb:GetItem')).toBe(false);
    expect(on(worker, results, 'dynamodb:UpdateItem')).toBe(true);
    expect(on(worker, output, 'kinesis:PutRecords')).toBe(true);
    for (const r of [construct.deadLetterTable, results, output]) {
      expect(coordinator.some((st) => st.resources.includes(ref(stack, r).Ref))).toBe(false);
    }
    expect(worker.some((st) => st.actions.includes('lambda:InvokeFunction'))).toBe(false);
    const clicks = stack.node.findChild('Clicks') as kinesis.Stream;
    expect(on(worker, clicks, 'kinesis:GetRecords')).toBe(true);
    expect(on(coordinator, clicks, 'kinesis:GetRecords')).toBe(true);
    // No statement has a wildcard action, and no resource is a bare '*'.
    for (const st of [...worker, ...coordinator]) {
      expect(st.actions.some((a) => a.endsWith(':*'))).toBe(false);
      expect(st.resources).not.toBe('"*"');
    }
  });

  it('grants the functions the exact tables and streams, and the coordinator the functions', () => {
    const { template, stack, construct } = synth();
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    for (const table of [
      construct.controlTable,
      construct.dataTable,
      construct.stateTable,
      construct.deadLetterTable,
    ]) {
      expect(policies).toContain(`"Fn::GetAtt":["${ref(stack, table).Ref}","Arn"]`);
    }
    expect(policies).toContain(
      `"Fn::GetAtt":["${stack.getLogicalId(stack.node.findChild('Clicks').node.defaultChild as never)}","Arn"]`,
    );
    expect(policies).toContain('kinesis:PutRecords');
    // The coordinator may invoke the two functions the environment names, and nothing else may.
    const invokers = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>)
        .filter((st) => st.Action === 'lambda:InvokeFunction')
        .map((st) => ({ roles: p.Properties.Roles, resources: JSON.stringify(st.Resource) })),
    );
    expect(invokers).toHaveLength(1);
    expect(invokers[0]?.roles).toEqual([ref(stack, construct.coordinatorFunction.role as never)]);
    const env = Object.values(template.findResources('AWS::Lambda::Function'))[0]?.Properties
      .Environment.Variables;
    expect(invokers[0]?.resources).toContain(`:function:${env[ENV.workerFunction]}"`);
    expect(invokers[0]?.resources).toContain(`:function:${env[ENV.coordinatorFunction]}"`);
  });

  it('alarms on falling behind, errors, dead letters and source lag, and draws a dashboard', () => {
    const { template, construct } = synth();
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
    // The coordinator's metrics, by job: the alarm on falling behind reads its scheduling delay.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Sparkless',
      MetricName: 'SchedulingDelay',
      Dimensions: [{ Name: 'Job', Value: 'clicks-and-views' }],
      Threshold: 10 * 2000,
      EvaluationPeriods: 3,
    });
    for (const name of ['TaskErrors', 'DeadLetteredRecords', 'MaxMillisBehindLatest']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: name });
    }
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const title of [
      'Input records per minute',
      'Processing time (ms)',
      'Scheduling and total delay (ms)',
    ]) {
      expect(body).toContain(title);
    }
    expect(body).toContain('batch interval');
    // Lag per shard, by a search over the per-shard metric the coordinator logs.
    expect(body).toContain('Lag behind the tip per shard (ms)');
    expect(body).toMatch(
      /SEARCH\('\{Sparkless,Job,Shard\} MetricName=.{1,8}MillisBehindLatest.{1,8} Job=.{1,8}clicks-and-views/,
    );
    expect(construct.alarms).toHaveLength(7);
    // The outputs name the dashboard and the tables applications read.
    const outputs = Object.values(template.findOutputs('*')).map((o) => o.Description);
    expect(outputs).toEqual(
      expect.arrayContaining([
        "The dashboard of job 'clicks-and-views'",
        "The results table of sink 'page-counts' of job 'clicks-and-views'",
      ]),
    );
  });

  it('outputs where the job lives, for the tools: its tables, functions, streams and sinks', () => {
    const { template, stack, construct } = synth();
    const [output] = Object.values(template.findOutputs('*')).filter((o) =>
      String(o.Description).startsWith("Where job 'clicks-and-views' lives"),
    );
    const value = JSON.stringify(output?.Value);
    expect(value).toContain('\\"sparkless\\":1');
    expect(value).toContain('\\"batchIntervalMs\\":2000');
    for (const table of [construct.controlTable, construct.stateTable, construct.deadLetterTable]) {
      expect(value).toContain(JSON.stringify(ref(stack, table)));
    }
    expect(value).toMatch(/-coord\\"/);
  });

  it('sends alarm notifications to the given topic', () => {
    const stack = new Stack(new App(), 'Alarms');
    const topic = new sns.Topic(stack, 'Topic');
    const clicks = new kinesis.Stream(stack, 'Clicks');
    const views = new kinesis.Stream(stack, 'Views');
    new StreamingJob(stack, 'Job', {
      job: JOB_MODULE,
      sources: { clicks, views },
      alarmTopic: topic,
    });
    const alarms = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(7);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([
        { Ref: stack.getLogicalId(topic.node.defaultChild as never) },
      ]);
    }
  });

  it('fails if a source of the job is missing', () => {
    const stack = new Stack(new App(), 'Missing');
    expect(() => construct({ sources: { clicks: new kinesis.Stream(stack, 'Clicks') } })).toThrow(
      /'sources' must name exactly the job's sources 'clicks', 'views': missing 'views'/,
    );
  });

  it('fails if a source is not one of the job', () => {
    const stack = new Stack(new App(), 'Extra');
    const stream = () => new kinesis.Stream(stack, `S${stack.node.children.length}`);
    expect(() =>
      construct({ sources: { clicks: stream(), views: stream(), likes: stream() } }),
    ).toThrow(/unknown 'likes'/);
  });

  it('fails if an existing results table is given for a sink the job does not have', () => {
    const stack = new Stack(new App(), 'Sink');
    const table = dynamodb.Table.fromTableName(stack, 'T', 'totals');
    expect(() => construct({ resultTables: { totals: table } })).toThrow(
      /'resultTables' names 'totals', which the job has no saveToTable sink of; its saveToTable sinks: 'page-counts'/,
    );
  });

  it('fails if the batch interval is under one second, unless the shard read limit is acknowledged', () => {
    const stack = new Stack(new App(), 'Fast');
    const clicks = new kinesis.Stream(stack, 'Clicks');
    const props = { job: fixture('fast.ts'), sources: { clicks } };
    expect(() => new StreamingJob(stack, 'Fast', props)).toThrow(
      /StreamingJob Fast: the batch interval \(500ms\) is under 1s; every batch reads each shard, and Kinesis allows 5 reads per second per shard, shared with every other consumer: use a batch interval of at least 1s, or set acknowledgeShardReadLimit: true/,
    );
    expect(
      () => new StreamingJob(stack, 'Acknowledged', { ...props, acknowledgeShardReadLimit: true }),
    ).not.toThrow();
  });

  it('fails if the job module is not an absolute path', () => {
    expect(() => construct({ job: 'examples/hashtags.ts' })).toThrow(
      /'job' must be the absolute path of the job module .*, got 'examples\/hashtags.ts'/,
    );
  });

  it('fails if the job module is not a file', () => {
    expect(() => construct({ job: fixture('no-such-job.ts') })).toThrow(
      /'job' must be the path of the job module .*no-such-job.ts is not a file/,
    );
  });

  it("fails if the job module's default export is not a job", () => {
    expect(() => construct({ job: fixture('not-a-job.ts') })).toThrow(
      /not-a-job.ts could not be loaded: its default export is not a job/,
    );
  });

  it('fails if the job module does not bundle, naming the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparkless-construct-'));
    const broken = join(dir, 'broken.ts');
    writeFileSync(broken, "import { nothing } from './missing.js';\nexport default nothing;\n");
    expect(() => construct({ job: broken })).toThrow(
      /broken.ts does not bundle: .*Could not resolve "\.\/missing\.js"/s,
    );
  });

  it('fails if the reserved worker concurrency is below the widest stage', () => {
    // clicks-and-views shuffles into the default 4 partitions.
    expect(() => construct({ workerReservedConcurrency: 3 })).toThrow(
      /'workerReservedConcurrency' \(3\) is below the 4 tasks the job's widest stage runs at once/,
    );
    expect(() => construct({ workerReservedConcurrency: 0 })).toThrow(
      /'workerReservedConcurrency' must be a whole number of at least 1, got 0/,
    );
  });

  it("fails if the coordinator's lease is shorter than three batch intervals", () => {
    expect(() => construct({ settings: { leaseTtlMs: 5_000 } })).toThrow(
      /settings.leaseTtlMs \(5s\) is under three batch intervals \(6s\)/,
    );
    expect(() => construct({ settings: { leaseTtlMs: 6_000 } })).not.toThrow();
  });

  it('fails if memory is out of range', () => {
    expect(() => construct({ workerMemorySize: 64 })).toThrow(
      /'workerMemorySize' must be a whole number of MB from 128 to 10240, got 64/,
    );
  });
});

describe('StreamingJob, per plan', () => {
  it('creates no state table for a stateless job, nor names one', () => {
    const { template, construct } = single('stateless.ts', {}, 'lines');
    expect(construct.stateTable).toBeUndefined();
    // Control, data and dead letters; the output stream is created, the state table is not.
    template.resourceCountIs('AWS::DynamoDB::Table', 3);
    template.resourceCountIs('AWS::Kinesis::Stream', 2);
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables[ENV.stateTable]).toBeUndefined();
    }
    expect(Object.keys(template.findOutputs('*')).some((k) => k.includes('StateTable'))).toBe(
      false,
    );
    expect(() => construct.grantReadState(new iam.AnyPrincipal())).toThrow(
      /job 'stateless' has no stateful operators, so no state table/,
    );
  });

  it('keeps window panes twice the longest window when that is longer than the default TTL', () => {
    const { template } = single('long-window.ts');
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const settings = JSON.parse(fn?.Properties.Environment.Variables[ENV.settings]);
    expect(settings.dataTtlMs).toBe(2 * 120 * 3_600_000);
  });

  it('fails if the data TTL given would let window panes expire', () => {
    expect(() => single('long-window.ts', { settings: { dataTtlMs: 3_600_000 } })).toThrow(
      /settings.dataTtlMs \(1h\) is shorter than twice the job's longest window \(120h\)/,
    );
  });

  it('bundles the job into each function as job.mjs, beside the handler', () => {
    const { stack, construct } = synth();
    const app = stack.node.root as App;
    const template = synth().template;
    for (const fn of [construct.workerFunction, construct.coordinatorFunction]) {
      const resource = template.findResources('AWS::Lambda::Function')[ref(stack, fn).Ref] as {
        Properties: { Code: { S3Key: string } };
      };
      const hash = resource.Properties.Code.S3Key.replace(/\.zip$/, '');
      const dir = join(app.outdir, `asset.${hash}`);
      expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
      expect(existsSync(join(dir, 'job.mjs.map'))).toBe(true);
      // The bundled job is the job: same name, same stateful plan.
      const loaded = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          'const m = await import(process.argv[1]); process.stdout.write(JSON.stringify([m.default.name, m.default.plan.stateHash]));',
          `file://${join(dir, 'job.mjs')}`,
        ],
        { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      );
      expect(JSON.parse(loaded)).toEqual([clicksAndViews.name, clicksAndViews.plan.stateHash]);
    }
    expect(construct.plan.stateHash).toBe(clicksAndViews.plan.stateHash);
  });

  it('alarms when the coordinator refuses a job that no longer fits its state', () => {
    const { template, stack, construct } = synth();
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: ref(stack, construct.coordinatorFunction.logGroup as never),
      FilterPattern: '{ $.code = "STATE_MISMATCH" }',
      MetricTransformations: [
        Match.objectLike({
          MetricNamespace: 'Sparkless',
          MetricName: 'StateMismatch',
          Dimensions: [{ Key: 'Job', Value: '$.job' }],
        }),
      ],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StateMismatch',
      Dimensions: [{ Name: 'Job', Value: 'clicks-and-views' }],
      AlarmDescription: Match.stringLikeRegexp('stateful operators .* changed'),
    });
  });
});

describe('StreamingJob, options', () => {
  it('encrypts the tables and created streams with a given key', () => {
    const stack = new Stack(new App(), 'Keyed');
    const key = new kms.Key(stack, 'Key');
    const clicks = new kinesis.Stream(stack, 'Clicks');
    const views = new kinesis.Stream(stack, 'Views');
    new StreamingJob(stack, 'Job', {
      job: JOB_MODULE,
      sources: { clicks, views },
      encryptionKey: key,
    });
    const template = Template.fromStack(stack);
    const keyArn = { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as never), 'Arn'] };
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn },
    });
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: keyArn },
    });
  });

  it('sets architecture, tracing, timeout and concurrency only as asked', () => {
    const plain = synth().template;
    for (const fn of Object.values(plain.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
      expect(fn.Properties.TracingConfig).toBeUndefined();
    }
    plain.resourceCountIs('AWS::Lambda::Alias', 0);

    const { template, stack, construct } = single(
      'stateless.ts',
      {
        architecture: lambda.Architecture.X86_64,
        tracing: lambda.Tracing.ACTIVE,
        workerTimeout: Duration.seconds(90),
        workerReservedConcurrency: 8,
        workerProvisionedConcurrency: 2,
      },
      'lines',
    );
    const worker =
      template.findResources('AWS::Lambda::Function')[ref(stack, construct.workerFunction).Ref];
    expect(worker?.Properties).toMatchObject({
      Architectures: ['x86_64'],
      TracingConfig: { Mode: 'Active' },
      Timeout: 90,
      ReservedConcurrentExecutions: 8,
    });
    template.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
    // The coordinator invokes the alias, and may.
    const env = worker?.Properties.Environment.Variables;
    expect(env[ENV.workerFunction]).toMatch(/-worker:live$/);
    const invoke = statementsOf(template, stack, construct.coordinatorFunction).find((st) =>
      st.actions.includes('lambda:InvokeFunction'),
    );
    expect(invoke?.resources).toContain(`:function:${env[ENV.workerFunction]}"`);
  });

  it('keeps the logical ids of the stateful tables whatever else changes', () => {
    const ids = (props: Partial<StreamingJobProps>) => {
      const c = construct(props);
      const stack = Stack.of(c);
      return [c.stateTable, c.resultTables['page-counts'] as dynamodb.Table].map(
        (t) => ref(stack, t).Ref,
      );
    };
    const before = ids({});
    expect(ids({ workerMemorySize: 2048, settings: { maxRecordsPerBatch: 500 } })).toEqual(before);
    expect(before[0]).toMatch(/^JobStateTable[0-9A-F]{8}$/);
  });

  it('deploys several jobs in one stack, each with its own names', () => {
    const stack = new Stack(new App(), 'Several');
    const clicks = new kinesis.Stream(stack, 'Clicks');
    const views = new kinesis.Stream(stack, 'Views');
    const a = new StreamingJob(stack, 'A', { job: JOB_MODULE, sources: { clicks, views } });
    const b = new StreamingJob(stack, 'B', { job: fixture('long-window.ts'), sources: { clicks } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Lambda::Function', 4);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 2);
    const names = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (f) => f.Properties.FunctionName,
    );
    expect(new Set(names).size).toBe(4);
    expect(a.jobName).toBe('clicks-and-views');
    expect(b.jobName).toBe('long-window');
  });
});
