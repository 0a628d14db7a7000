/**
 * The StreamingJob construct: the resources it synthesizes, asserted by their properties, and
 * the mistakes it rejects at synth time. One stack is synthesized (with real bundling) and
 * shared by the suite.
 */
import { fileURLToPath } from 'node:url';
import {
  App,
  aws_dynamodb as dynamodb,
  aws_kinesis as kinesis,
  Stack,
  aws_sns as sns,
} from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { StreamingJob, type StreamingJobProps } from '../../lib/constructs/index.js';
import { ENV } from '../../lib/contract/env.js';
import { TABLE_SCHEMAS } from '../../lib/contract/tables.js';
import clicksAndViews from './fixtures/clicks-and-views.js';
import fast from './fixtures/fast.js';

const JOB_MODULE = fileURLToPath(new URL('./fixtures/clicks-and-views.ts', import.meta.url));
const FAST_MODULE = fileURLToPath(new URL('./fixtures/fast.ts', import.meta.url));

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
  const construct = new StreamingJob(stack, 'Job', {
    job: clicksAndViews,
    jobModule: JOB_MODULE,
    sources: { clicks, views },
  });
  shared = { stack, construct, template: Template.fromStack(stack) };
  return shared;
}

/** A construct that is never synthesized (its validation throws, or its template is unread). */
function construct(props: Partial<StreamingJobProps>): StreamingJob {
  const stack = new Stack(new App(), 'Invalid');
  const clicks = new kinesis.Stream(stack, 'Clicks');
  const views = new kinesis.Stream(stack, 'Views');
  return new StreamingJob(stack, 'Job', {
    job: clicksAndViews,
    jobModule: JOB_MODULE,
    sources: { clicks, views },
    ...props,
  });
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => ({
  Ref: stack.getLogicalId(construct.node.defaultChild as never),
});

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
      expect(env[ENV.jobModule]).toBe('/var/task/job.mjs');
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
    template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
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
    expect(construct.alarms).toHaveLength(6);
    // The outputs name the dashboard and the tables applications read.
    const outputs = Object.values(template.findOutputs('*')).map((o) => o.Description);
    expect(outputs).toEqual(
      expect.arrayContaining([
        "The dashboard of job 'clicks-and-views'",
        "The results table of sink 'page-counts' of job 'clicks-and-views'",
      ]),
    );
  });

  it('sends alarm notifications to the given topic', () => {
    const stack = new Stack(new App(), 'Alarms');
    const topic = new sns.Topic(stack, 'Topic');
    const clicks = new kinesis.Stream(stack, 'Clicks');
    const views = new kinesis.Stream(stack, 'Views');
    new StreamingJob(stack, 'Job', {
      job: clicksAndViews,
      jobModule: JOB_MODULE,
      sources: { clicks, views },
      alarmTopic: topic,
    });
    const alarms = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(6);
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
    const props = { job: fast, jobModule: FAST_MODULE, sources: { clicks } };
    expect(() => new StreamingJob(stack, 'Fast', props)).toThrow(
      /StreamingJob Fast: the batch interval \(500ms\) is under 1s; every batch reads each shard, and Kinesis allows 5 reads per second per shard, shared with every other consumer: use a batch interval of at least 1s, or set acknowledgeShardReadLimit: true/,
    );
    expect(
      () => new StreamingJob(stack, 'Acknowledged', { ...props, acknowledgeShardReadLimit: true }),
    ).not.toThrow();
  });

  it('fails if the job module is not an absolute path', () => {
    expect(() => construct({ jobModule: 'examples/hashtags.ts' })).toThrow(
      /'jobModule' must be the absolute path/,
    );
  });
});
