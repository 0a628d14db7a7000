/**
 * Deploying synthesized stacks onto the local cloud: a small CDK app synthesized here, hand-written
 * templates for what the CDK does not emit, and the example stack of infra/app.ts synthesized by
 * the CDK CLI. What is deployed is checked through the AWS SDK clients, configured only by the
 * environment, as an application would see it.
 *
 * The assemblies are written under test-output/ in the project, so that functions resolve the
 * `@aws-sdk/*` packages their bundles leave to the Lambda runtime from the project's node_modules.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DescribeTableCommand, GetItemCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import {
  ResourceNotFoundException as FunctionNotFound,
  InvokeCommand,
} from '@aws-sdk/client-lambda';
import {
  App,
  CfnOutput,
  Duration,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_kinesis as kinesis,
  aws_lambda as lambda,
  Stack,
  aws_events_targets as targets,
} from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient, kinesisClient, lambdaClient } from '../../lib/aws/clients.js';
import { SparklessError } from '../../lib/core/errors.js';
import {
  type AsyncFailureEvent,
  deployStack,
  type InvokeEndEvent,
  type LocalCloud,
  type LocalDeployment,
  parseScheduleExpression,
  startLocalCloud,
} from '../../lib/local/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const handlerDir = fileURLToPath(new URL('./fixtures/deploy/handler', import.meta.url));
const workDir = join(
  root,
  'test-output',
  `deploy-${process.pid}-${randomBytes(4).toString('hex')}`,
);

let cloud: LocalCloud;
const savedEnv = { ...process.env };
const seenPids = new Set<number>();
const progress: string[] = [];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function invoke(name: string, event: unknown): Promise<Record<string, unknown>> {
  const out = await lambdaClient().send(
    new InvokeCommand({ FunctionName: name, Payload: JSON.stringify(event) }),
  );
  const payload = JSON.parse(new TextDecoder().decode(out.Payload)) as Record<string, unknown>;
  if (out.FunctionError !== undefined)
    throw new Error(`${name} failed: ${JSON.stringify(payload)}`);
  return payload;
}

async function tableNames(): Promise<string[]> {
  return (await dynamoClient().send(new ListTablesCommand({}))).TableNames ?? [];
}

async function streamNames(): Promise<string[]> {
  return (await kinesisClient().send(new ListStreamsCommand({}))).StreamNames ?? [];
}

/** Writes a hand-made template (and no manifest.json) into a directory of its own. */
function writeTemplate(stackName: string, template: unknown): string {
  const dir = join(workDir, `handwritten-${stackName}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${stackName}.template.json`), JSON.stringify(template, null, 2));
  return dir;
}

async function deployError(stackName: string, template: unknown): Promise<SparklessError> {
  const assemblyDir = writeTemplate(stackName, template);
  const error = await deployStack(cloud, { assemblyDir, stackName }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(SparklessError.is(error)).toBe(true);
  return error as SparklessError;
}

/** The small app: a stream, an on-demand stream, a table with TTL and an index, a function
 * reading all three from its environment, and a schedule invoking it. */
function synthSmallApp(outdir: string): void {
  const app = new App({ outdir });
  const stack = new Stack(app, 'DeployTest');
  const stream = new kinesis.Stream(stack, 'Events', { shardCount: 3 });
  new kinesis.Stream(stack, 'Overflow', { streamMode: kinesis.StreamMode.ON_DEMAND });
  const table = new dynamodb.Table(stack, 'Items', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.NUMBER },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'expires',
  });
  table.addGlobalSecondaryIndex({
    indexName: 'byKind',
    partitionKey: { name: 'kind', type: dynamodb.AttributeType.STRING },
  });
  const fn = new lambda.Function(stack, 'Handler', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromAsset(handlerDir),
    memorySize: 256,
    timeout: Duration.seconds(10),
    environment: {
      GREETING: 'hello from the template',
      TABLE_NAME: table.tableName,
      STREAM_ARN: stream.streamArn,
    },
  });
  table.grantReadWriteData(fn);
  new events.Rule(stack, 'Tick', {
    schedule: events.Schedule.rate(Duration.minutes(5)),
    targets: [
      new targets.LambdaFunction(fn, {
        event: events.RuleTargetInput.fromObject({ kind: 'tick', id: 'from-schedule' }),
      }),
    ],
  });
  new CfnOutput(stack, 'TableName', { value: table.tableName });
  new CfnOutput(stack, 'FunctionArn', { value: fn.functionArn });
  new CfnOutput(stack, 'StreamArn', { value: stream.streamArn });
  app.synth();
}

const smallApp = join(workDir, 'small');

/** The example stack, synthesized by the CDK CLI (started at once; it takes a while). */
let exampleSynth: Promise<string> | undefined;
function synthExample(): Promise<string> {
  const outdir = join(workDir, 'example');
  exampleSynth ??= promisify(execFile)(
    join(root, 'node_modules', '.bin', 'cdk'),
    ['synth', 'SparklessRunningTotals', '--quiet', '-o', outdir],
    { cwd: root, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
  ).then(() => outdir);
  return exampleSynth;
}

beforeAll(async () => {
  void synthExample().catch(() => {});
  synthSmallApp(smallApp);
  cloud = await startLocalCloud({ lambda: { asyncRetryDelayMs: 50 } });
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, cloud.env());
  seenPids.add(cloud.kinesis.pid);
  seenPids.add(cloud.dynamodb.pid);
  cloud.lambda.on('environment-start', (e) => seenPids.add(e.pid));
});

afterAll(async () => {
  await exampleSynth?.catch(() => {});
  if (cloud !== undefined) {
    for (const pid of cloud.pids()) seenPids.add(pid);
    await cloud.stop();
  }
  process.env = savedEnv;
  rmSync(workDir, { recursive: true, force: true });
  expect([...seenPids].filter(isAlive)).toEqual([]);
});

describe('deployStack: a synthesized CDK app', () => {
  let deployment: LocalDeployment;

  beforeAll(async () => {
    deployment = await deployStack(cloud, {
      assemblyDir: smallApp,
      stackName: 'DeployTest',
      onProgress: (message) => progress.push(message),
    });
  });

  it('creates the streams with their shards, named as CloudFormation names them', async () => {
    expect(deployment.streams.map((s) => s.logicalId).sort()).toEqual([
      expect.stringMatching(/^Events/),
      expect.stringMatching(/^Overflow/),
    ]);
    const events = deployment.streams.find((s) => s.logicalId.startsWith('Events'));
    const overflow = deployment.streams.find((s) => s.logicalId.startsWith('Overflow'));
    expect(events?.name).toMatch(/^DeployTest-Events[0-9A-F]{8}-[A-Z0-9]{12}$/);
    const kinesis = kinesisClient();
    const summary = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: events?.name }),
    );
    expect(summary.StreamDescriptionSummary).toMatchObject({
      StreamStatus: 'ACTIVE',
      OpenShardCount: 3,
      StreamARN: events?.arn,
      // The CDK encrypts streams with Kinesis's own key by default, and so does the deploy.
      EncryptionType: 'KMS',
      KeyId: 'alias/aws/kinesis',
    });
    const onDemand = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: overflow?.name }),
    );
    expect(onDemand.StreamDescriptionSummary?.StreamModeDetails?.StreamMode).toBe('ON_DEMAND');
    expect(onDemand.StreamDescriptionSummary?.OpenShardCount).toBe(4);
    expect(overflow).toMatchObject({ mode: 'ON_DEMAND', shards: 4 });
    expect(deployment.outputs.StreamArn).toBe(events?.arn);
  });

  it('creates the table with its keys and index, and lists its TTL attribute', async () => {
    expect(deployment.tables).toHaveLength(1);
    const table = deployment.tables[0];
    expect(table).toMatchObject({
      partitionKey: { name: 'pk', type: 'S' },
      sortKey: { name: 'sk', type: 'N' },
      globalIndexes: ['byKind'],
      timeToLiveAttribute: 'expires',
    });
    expect(deployment.outputs.TableName).toBe(table?.name);
    const described = await dynamoClient().send(
      new DescribeTableCommand({ TableName: table?.name }),
    );
    expect(described.Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(described.Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(described.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['byKind']);
    expect(described.Table?.TableArn).toBe(table?.arn);
  });

  it('runs the function with the environment and memory of the template', async () => {
    expect(deployment.functions).toHaveLength(1);
    const fn = deployment.functions[0];
    expect(deployment.outputs.FunctionArn).toBe(fn?.arn);
    const out = await invoke(fn?.name as string, {});
    expect(out).toMatchObject({
      greeting: 'hello from the template',
      table: deployment.tables[0]?.name,
      stream: deployment.streams.find((s) => s.logicalId.startsWith('Events'))?.arn,
      memory: '256',
      functionName: fn?.name,
    });
    expect(out.remainingMs).toBeGreaterThan(9_000);
  });

  it('fires the schedule with its input right after the deploy, and again on fire()', async () => {
    expect(deployment.schedules).toHaveLength(1);
    expect(deployment.schedules[0]).toMatchObject({
      expression: 'rate(5 minutes)',
      periodMs: 300_000,
      enabled: true,
      targets: [{ functionName: deployment.functions[0]?.name }],
    });
    const db = dynamoClient();
    const ticks = async () => {
      const item = await db.send(
        new GetItemCommand({
          TableName: deployment.tables[0]?.name,
          Key: { pk: { S: 'from-schedule' }, sk: { N: '0' } },
          ConsistentRead: true,
        }),
      );
      return item.Item?.ticks?.N === undefined ? 0 : Number(item.Item.ticks.N);
    };
    await eventually('the first scheduled run', async () =>
      (await ticks()) >= 1 ? true : undefined,
    );
    expect(await ticks()).toBe(1);
    await deployment.fire();
    await eventually('the second run', async () => ((await ticks()) === 2 ? true : undefined));
  });

  it('lists the resources accepted without effect', () => {
    const accepted = deployment.accepted.map((a) => a.type);
    expect(accepted).toEqual(
      expect.arrayContaining(['AWS::IAM::Role', 'AWS::IAM::Policy', 'AWS::Lambda::Permission']),
    );
    for (const a of deployment.accepted) {
      expect(deployment.resources[a.logicalId]?.effect).toBe('accepted');
    }
    const created = Object.values(deployment.resources).filter((r) => r.effect === 'created');
    expect(created.map((r) => r.type).sort()).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::Events::Rule',
      'AWS::Kinesis::Stream',
      'AWS::Kinesis::Stream',
      'AWS::Lambda::Function',
    ]);
  });

  it('destroys what it created, keeping what the template retains', async () => {
    const tableName = deployment.tables[0]?.name as string;
    const functionName = deployment.functions[0]?.name as string;
    const result = await deployment.destroy();
    // The CDK retains tables and streams by default (DeletionPolicy Retain).
    expect([...result.retained].sort()).toEqual(
      [deployment.tables[0]?.logicalId, ...deployment.streams.map((s) => s.logicalId)].sort(),
    );
    expect(await tableNames()).toContain(tableName);
    await expect(invoke(functionName, {})).rejects.toBeInstanceOf(FunctionNotFound);
    // The table's retained item is the only trace of the schedule: it runs no more.
    expect(await deployment.destroy()).toBe(result);
  });

  it('deploys a changed template as changed: memory and an environment variable', async () => {
    const path = join(smallApp, 'DeployTest.template.json');
    interface FunctionResource {
      Type: string;
      Properties: { MemorySize: number; Environment: { Variables: Record<string, unknown> } };
    }
    const template = JSON.parse(readFileSync(path, 'utf8')) as {
      Resources: Record<string, FunctionResource>;
    };
    const [id, fn] = Object.entries(template.Resources).find(
      ([, r]) => r.Type === 'AWS::Lambda::Function',
    ) as [string, FunctionResource];
    fn.Properties.MemorySize = 512;
    fn.Properties.Environment.Variables.GREETING = 'changed in the template';
    writeFileSync(path, JSON.stringify(template));

    const changed = await deployStack(cloud, {
      assemblyDir: smallApp,
      stackName: 'DeployTest',
      fireSchedulesOnDeploy: false,
    });
    try {
      const deployed = changed.functions[0];
      expect(deployed?.logicalId).toBe(id);
      expect(deployed?.definition.memoryMb).toBe(512);
      const out = await invoke(deployed?.name as string, {});
      expect(out).toMatchObject({ greeting: 'changed in the template', memory: '512' });
      // A new deployment: new generated names.
      expect(changed.tables[0]?.name).not.toBe(deployment.tables[0]?.name);
    } finally {
      const result = await changed.destroy({ deleteRetained: true });
      expect(result.retained).toEqual([]);
    }
    expect(await tableNames()).not.toContain(changed.tables[0]?.name);
    expect(await streamNames()).not.toContain(changed.streams[0]?.name);
  });
});

describe('deployStack: function code', () => {
  it('runs inline code as CommonJS, with /var/task paths pointing at its code', async () => {
    const assemblyDir = writeTemplate('Inline', {
      Resources: {
        Fn: {
          Type: 'AWS::Lambda::Function',
          Properties: {
            Runtime: 'nodejs24.x',
            Handler: 'index.handler',
            Code: {
              ZipFile:
                'exports.handler = async () => ({ data: process.env.DATA, root: process.env.LAMBDA_TASK_ROOT, require: typeof require });',
            },
            Environment: { Variables: { DATA: '/var/task/data.json', OTHER: '/var/taskforce' } },
          },
        },
      },
    });
    const deployment = await deployStack(cloud, { assemblyDir, stackName: 'Inline' });
    try {
      const fn = deployment.functions[0];
      expect(fn?.name).toMatch(/^Inline-Fn-[A-Z0-9]{12}$/);
      expect(fn?.definition.environment?.OTHER).toBe('/var/taskforce');
      expect(await invoke(fn?.name as string, {})).toEqual({
        data: join(fn?.codeDir as string, 'data.json'),
        root: fn?.codeDir,
        require: 'function',
      });
    } finally {
      await deployment.destroy();
    }
  });

  it('fails when the code cannot find the AWS SDK that Lambda would provide', async () => {
    // An assembly outside the project: nothing up the tree has node_modules/@aws-sdk.
    const outside = mkdtempSync(join(tmpdir(), 'sparkless-deploy-'));
    try {
      mkdirSync(join(outside, 'asset.abc'));
      writeFileSync(
        join(outside, 'asset.abc', 'index.mjs'),
        "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport const handler = async () => typeof DynamoDBClient;\n",
      );
      writeFileSync(
        join(outside, 'Outside.template.json'),
        JSON.stringify({
          Resources: {
            Fn: {
              Type: 'AWS::Lambda::Function',
              Metadata: { 'aws:asset:path': 'asset.abc' },
              Properties: {
                Runtime: 'nodejs24.x',
                Handler: 'index.handler',
                Code: { S3Bucket: 'assets', S3Key: 'abc.zip' },
              },
            },
          },
        }),
      );
      const error = await deployStack(cloud, { assemblyDir: outside, stackName: 'Outside' }).catch(
        (e: unknown) => e as Error,
      );
      expect((error as Error).message).toContain(
        `Fn (AWS::Lambda::Function): its code imports @aws-sdk/client-dynamodb, which Lambda's Node.js runtime provides but which cannot be found from ${join(outside, 'asset.abc')}`,
      );
      expect(cloud.lambda.functions().map((f) => f.name)).not.toContainEqual(
        expect.stringMatching(/^Outside-/),
      );
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('deployStack: templates it refuses', () => {
  const table = {
    Type: 'AWS::DynamoDB::Table',
    Properties: {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    },
  };

  it('fails on a resource type it does not support, naming it, and creates nothing', async () => {
    const before = await tableNames();
    const error = await deployError('WithBucket', {
      Resources: { Table: table, Uploads: { Type: 'AWS::S3::Bucket', Properties: {} } },
    });
    expect(error.code).toBe('DEPLOY_UNSUPPORTED');
    expect(error.message).toContain('resource Uploads has type AWS::S3::Bucket');
    expect(error.message).toContain('Supported types: AWS::Kinesis::Stream, AWS::DynamoDB::Table');
    expect(error.message).toContain('accepted without effect: AWS::IAM::Role');
    expect(await tableNames()).toEqual(before);
  });

  it('fails on a custom resource', async () => {
    const error = await deployError('WithCustom', {
      Resources: {
        Seed: { Type: 'Custom::SeedTable', Properties: { ServiceToken: 'arn:aws:lambda:x' } },
      },
    });
    expect(error.message).toContain('Seed is a custom resource (Custom::SeedTable)');
  });

  it('fails on a Ref to nothing, naming the resource, the property and the reference', async () => {
    const before = await tableNames();
    const error = await deployError('WithDanglingRef', {
      Resources: {
        Table: table,
        Topic: {
          Type: 'AWS::SNS::Topic',
          Properties: {
            DisplayName: { 'Fn::Join': ['-', [{ Ref: 'Table' }, { Ref: 'Missing' }]] },
          },
        },
      },
    });
    expect(error.code).toBe('DEPLOY_UNRESOLVED');
    expect(error.message).toContain(
      'Topic (AWS::SNS::Topic) Properties.DisplayName.Fn::Join[1][1]: Ref refers to Missing, which is neither a resource, a parameter nor a pseudo parameter of the template; its resources: Table, Topic',
    );
    expect(await tableNames()).toEqual(before);
  });

  it('fails on a GetAtt of an attribute the resource does not have, deleting what it created', async () => {
    const before = await tableNames();
    const error = await deployError('WithBadAttribute', {
      Resources: {
        Table: table,
        Topic: {
          Type: 'AWS::SNS::Topic',
          Properties: { DisplayName: { 'Fn::GetAtt': ['Table', 'StreamArn'] } },
        },
      },
    });
    expect(error.message).toContain(
      'asks for attribute StreamArn of Table (AWS::DynamoDB::Table), which it does not have locally; its attributes: Arn',
    );
    expect(error.message).toContain('nothing of the stack is left deployed');
    expect(await tableNames()).toEqual(before);
  });

  it('fails on an intrinsic function it does not implement, before creating anything', async () => {
    const before = await tableNames();
    const error = await deployError('WithImport', {
      Resources: {
        Table: table,
        Topic: {
          Type: 'AWS::SNS::Topic',
          Properties: { DisplayName: { 'Fn::ImportValue': 'shared-name' } },
        },
      },
    });
    expect(error.code).toBe('DEPLOY_UNSUPPORTED');
    expect(error.message).toContain(
      'deployStack WithImport: Topic (AWS::SNS::Topic) Properties.DisplayName: Fn::ImportValue is not supported locally; supported intrinsics: Ref, Fn::GetAtt',
    );
    expect(await tableNames()).toEqual(before);
  });

  it('names the resource an emulator refused, and deletes what it had created', async () => {
    const before = await tableNames();
    const error = await deployError('WithBadKey', {
      Resources: {
        Table: table,
        Other: {
          Type: 'AWS::DynamoDB::Table',
          DependsOn: 'Table',
          Properties: {
            // The key is not among the attribute definitions: DynamoDB refuses the table.
            KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
          },
        },
      },
    });
    expect(error.code).toBe('DEPLOY_FAILED');
    expect(error.message).toMatch(
      /^deployStack WithBadKey: creating Other \(AWS::DynamoDB::Table\) failed: .+ \(nothing of the stack is left deployed\)$/,
    );
    expect(await tableNames()).toEqual(before);
  });

  it('fails on a cron schedule, and on a schedule expression that is not one', async () => {
    const rule = (expression: string) => ({
      Resources: {
        Rule: { Type: 'AWS::Events::Rule', Properties: { ScheduleExpression: expression } },
      },
    });
    const cron = await deployError('WithCron', rule('cron(0 12 * * ? *)'));
    expect(cron.message).toContain(
      "cron schedules are not supported locally; use a rate expression such as 'rate(1 minute)'",
    );
    expect(() => parseScheduleExpression('rate(1 fortnight)')).toThrow(/expected 'rate\(N minute/);
    expect(parseScheduleExpression('rate(2 hours)')).toBe(7_200_000);
    expect(parseScheduleExpression('rate(1 day)')).toBe(86_400_000);
  });

  it('names the stacks an assembly has when the one asked for is not there', async () => {
    const error = await deployStack(cloud, { assemblyDir: smallApp, stackName: 'Nope' }).catch(
      (e: unknown) => e as Error,
    );
    expect((error as Error).message).toContain("has no stack 'Nope'; its stacks: DeployTest");
  });
});

describe('deployStack: intrinsics, parameters and conditions', () => {
  const template = {
    Parameters: {
      Stage: { Type: 'String', Default: 'dev', AllowedValues: ['dev', 'prod'] },
      Zones: { Type: 'CommaDelimitedList', Default: 'a,b' },
      BootstrapVersion: {
        Type: 'AWS::SSM::Parameter::Value<String>',
        Default: '/cdk-bootstrap/hnb659fds/version',
      },
    },
    Conditions: {
      IsProd: { 'Fn::Equals': [{ Ref: 'Stage' }, 'prod'] },
      NotProd: { 'Fn::Not': [{ Condition: 'IsProd' }] },
    },
    Rules: {
      CheckBootstrapVersion: {
        Assertions: [
          { Assert: { 'Fn::Not': [{ 'Fn::Contains': [['1'], { Ref: 'BootstrapVersion' }] }] } },
        ],
      },
    },
    Mappings: { Sizes: { dev: { Retention: '7' }, prod: { Retention: '30' } } },
    Resources: {
      Key: { Type: 'AWS::KMS::Key', Properties: {} },
      Alerts: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 'alerts' } },
      Logs: {
        Type: 'AWS::Logs::LogGroup',
        Properties: {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub
          LogGroupName: { 'Fn::Sub': '/app/${AWS::StackName}/${Stage}' },
          RetentionInDays: { 'Fn::FindInMap': ['Sizes', { Ref: 'Stage' }, 'Retention'] },
        },
      },
      ProdAlarm: {
        Type: 'AWS::CloudWatch::Alarm',
        Condition: 'IsProd',
        Properties: { AlarmName: 'prod-alarm' },
      },
    },
    Outputs: {
      Joined: { Value: { 'Fn::Join': [':', [{ Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }]] } },
      Sub: {
        Value: {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub
          'Fn::Sub': ['${Name}.${AWS::URLSuffix}/${!Literal}/${Alerts.TopicName}', { Name: 'x' }],
        },
      },
      Second: { Value: { 'Fn::Select': [1, { 'Fn::Split': [',', 'p,q,r'] }] } },
      Zone: { Value: { 'Fn::Select': [0, { Ref: 'Zones' }] } },
      Chosen: { Value: { 'Fn::If': ['IsProd', 'big', 'small'] } },
      TopicRef: { Value: { Ref: 'Alerts' } },
      KeyArn: { Value: { 'Fn::GetAtt': ['Key', 'Arn'] } },
      LogGroup: { Value: { Ref: 'Logs' } },
      Partition: { Value: { Ref: 'AWS::Partition' } },
      Alarm: { Condition: 'IsProd', Value: { Ref: 'ProdAlarm' } },
      NotProd: { Condition: 'NotProd', Value: 'yes' },
    },
  };

  it('resolves them as CloudFormation does, with defaults', async () => {
    const assemblyDir = writeTemplate('Intrinsics', template);
    const deployment = await deployStack(cloud, { assemblyDir, stackName: 'Intrinsics' });
    const region = cloud.region;
    const account = cloud.lambda.accountId;
    expect(deployment.outputs).toEqual({
      Joined: `${region}:${account}`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: what Fn::Sub makes of ${!Literal}
      Sub: 'x.amazonaws.com/${Literal}/alerts',
      Second: 'q',
      Zone: 'a',
      Chosen: 'small',
      TopicRef: `arn:aws:sns:${region}:${account}:alerts`,
      KeyArn: expect.stringMatching(
        new RegExp(`^arn:aws:kms:${region}:${account}:key/[0-9a-f-]{36}$`),
      ),
      LogGroup: '/app/Intrinsics/dev',
      Partition: 'aws',
      NotProd: 'yes',
    });
    expect(deployment.skipped).toEqual(['ProdAlarm']);
    expect(deployment.accepted.map((a) => a.logicalId)).toEqual(['Key', 'Alerts', 'Logs']);
    await deployment.destroy();
  });

  it('takes parameters, and refuses unknown ones and values not allowed', async () => {
    const assemblyDir = writeTemplate('Intrinsics', template);
    const prod = await deployStack(cloud, {
      assemblyDir,
      stackName: 'Intrinsics',
      parameters: { Stage: 'prod' },
    });
    expect(prod.outputs).toMatchObject({
      Chosen: 'big',
      Alarm: 'prod-alarm',
      LogGroup: '/app/Intrinsics/prod',
    });
    expect(prod.outputs.NotProd).toBeUndefined();
    expect(prod.skipped).toEqual([]);
    await expect(
      deployStack(cloud, { assemblyDir, stackName: 'Intrinsics', parameters: { Stag: 'x' } }),
    ).rejects.toThrow(
      'parameters Stag are not in the template; its parameters: Stage, Zones, BootstrapVersion',
    );
    await expect(
      deployStack(cloud, { assemblyDir, stackName: 'Intrinsics', parameters: { Stage: 'qa' } }),
    ).rejects.toThrow("parameter Stage is 'qa', which is not one of its AllowedValues dev, prod");
  });
});

describe('deployStack: the example stack of infra/app.ts', () => {
  it('deploys its tables, streams, functions and schedule, and the job runs without failing', async () => {
    const assemblyDir = await synthExample();
    const failures: string[] = [];
    const onEnd = (e: InvokeEndEvent) => {
      if (e.error) failures.push(`${e.function}: ${e.error.errorType}: ${e.error.errorMessage}`);
    };
    const onAsyncFailure = (e: AsyncFailureEvent) =>
      failures.push(`${e.function}: ${e.error.errorMessage}`);
    cloud.lambda.on('invoke-end', onEnd);
    cloud.lambda.on('async-failure', onAsyncFailure);
    const deployment = await deployStack(cloud, {
      assemblyDir,
      stackName: 'SparklessRunningTotals',
    });
    try {
      const count = (type: string) =>
        Object.values(deployment.resources).filter((r) => r.type === type).length;
      expect(deployment.streams.length).toBeGreaterThanOrEqual(1);
      expect(deployment.tables.length).toBeGreaterThanOrEqual(3);
      expect(count('AWS::DynamoDB::Table')).toBe(deployment.tables.length);
      expect(deployment.functions).toHaveLength(2);
      expect(deployment.schedules).toHaveLength(1);
      expect(deployment.schedules[0]?.expression).toBe('rate(1 minute)');
      const target = deployment.schedules[0]?.targets[0]?.functionName;
      expect(deployment.functions.map((f) => f.name)).toContain(target);
      for (const t of deployment.tables) expect(await tableNames()).toContain(t.name);
      for (const s of deployment.streams) expect(await streamNames()).toContain(s.name);
      // Every output resolved to something.
      for (const value of Object.values(deployment.outputs)) expect(value).not.toBe('');

      // The schedule's first run started the coordinator, which runs batches through the
      // worker: wait for a worker invocation to finish.
      const workers = deployment.functions.filter((f) => f.name !== target).map((f) => f.name);
      await eventually(
        'a worker invocation',
        async () =>
          cloud.lambda
            .logs(workers[0])
            .some((line) => line.stream === 'platform' && line.text.startsWith('REPORT'))
            ? true
            : undefined,
        30_000,
      );
      expect(failures).toEqual([]);
    } finally {
      // Also ends the coordinator's run and any task in flight (as Runtime.ExitError).
      await deployment.destroy({ deleteRetained: true });
      cloud.lambda.off('invoke-end', onEnd);
      cloud.lambda.off('async-failure', onAsyncFailure);
    }
  }, 180_000);
});
