/**
 * Deploying a synthesized CDK stack onto the embedded local cloud: the stack's CloudFormation
 * template and asset manifest, read from a cloud assembly directory (`cdk.out`), become the
 * streams, tables, functions and schedules they describe, so that what runs locally is what
 * `cdk deploy` would deploy, property for property.
 *
 *   const cloud = await startLocalCloud();
 *   const deployment = await deployStack(cloud, { assemblyDir: 'cdk.out', stackName: 'MyStack' });
 *   deployment.outputs.TableName;     // the stack's Outputs, resolved
 *   ...
 *   await deployment.destroy();       // clears the schedules, deletes what was created
 *
 * What is created (resources are created in dependency order, from Ref, Fn::GetAtt, Fn::Sub and
 * DependsOn, independent ones at the same time):
 *
 *   AWS::Kinesis::Stream      a stream with ShardCount shards, or ON_DEMAND (kinesis-local
 *                             gives an on-demand stream 4 shards, as Kinesis does at first);
 *                             RetentionPeriodHours and StreamEncryption applied
 *   AWS::DynamoDB::Table      keys, attribute definitions, billing mode and throughput,
 *                             global and local secondary indexes, stream specification
 *   AWS::Lambda::Function     a function of the local Lambda service running the code of the
 *                             stack's asset (Code.S3Key is `<hash>.zip`; the asset manifest maps
 *                             it to the directory `asset.<hash>` of the assembly), or inline
 *                             Code.ZipFile (written to `.local-inline/` in the assembly as the
 *                             CommonJS index.js Lambda makes of it); Handler, Environment,
 *                             MemorySize, Timeout and ReservedConcurrentExecutions as given
 *   AWS::Events::Rule         a timer per scheduled rule (`rate(N unit)`) that invokes its
 *                             Lambda targets asynchronously (InvocationType Event) with their
 *                             Input, or with EventBridge's "Scheduled Event" when none is given
 *
 * Accepted without effect, and listed as such: IAM roles and policies, log groups and metric
 * filters, alarms and dashboards, Lambda permissions, CDK metadata, SNS topics and KMS keys
 * (a table's or a stream's KMS key is ignored). Their Ref and Arn resolve to names and ARNs
 * of the usual shape, so outputs and environment variables that mention them still resolve.
 * Any other type, custom resources included, fails the deploy before anything is created,
 * naming the type, the resource and what is supported.
 *
 * Intrinsics: Ref (resources, parameters and the pseudo parameters), Fn::GetAtt, Fn::Join,
 * Fn::Sub (both forms), Fn::Select, Fn::Split, Fn::If with the Conditions section
 * (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition), Fn::FindInMap, Fn::Base64, Fn::GetAZs.
 * Parameters take their Default unless given; the `Rules` section (the CDK's
 * CheckBootstrapVersion) is not evaluated, and a parameter read from SSM (the CDK's
 * BootstrapVersion) only fails if something refers to it.
 *
 * What differs from CloudFormation:
 * - Schedules fire once right after the deploy (unless `fireSchedulesOnDeploy: false`), so a
 *   job starts without waiting a minute, and then every period after the deploy; `cron(...)`
 *   expressions are refused.
 * - Functions run on the Node.js that runs the cloud, whatever their Runtime says, and only
 *   Node.js runtimes are accepted. Lambda unpacks a function's code to /var/task: here the
 *   code stays in its asset directory, and an environment variable whose value is /var/task
 *   or a path under it is rewritten to the same path under the asset directory.
 * - A function's bundle may leave `@aws-sdk/*` to the runtime, as Lambda's Node.js runtime
 *   provides it; here it is resolved from the asset directory upwards, so the assembly must
 *   lie under a directory whose node_modules has the SDK (synthesize into the project, e.g.
 *   `cdk.out` or `.sparkless/`). The deploy checks this and says so when it is not the case.
 * - A table's TimeToLiveSpecification is set where the emulator can; dynalite has no TTL
 *   settings, so there it is only listed in the deployment (and nothing on the local cloud
 *   deletes expired items anyway).
 * - Ignored properties: point-in-time recovery, SSE and KMS keys, tags, contributor insights,
 *   deletion protection, table classes, Lambda architectures, roles, VPC and logging config.
 * - A failed deploy deletes everything it created, whatever the DeletionPolicy; `destroy()`
 *   keeps resources whose DeletionPolicy is Retain unless asked to delete them too.
 * - There is no update: deploy a changed template after destroying the previous deployment
 *   (names that the template fixes, such as FunctionName, must be free).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  KinesisClient,
  StartStreamEncryptionCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SparklessError } from '../core/errors.js';
import type { LocalCloud } from './cloud.js';
import type { FunctionDefinition } from './lambda.js';
import { parseFunctionName } from './lambda-api.js';

// ---------------------------------------------------------------------------------------
// Public types

export interface DeployStackOptions {
  /** The cloud assembly directory `cdk synth` wrote (its `-o`, by default `cdk.out`). */
  readonly assemblyDir: string;
  /** The stack's name (or its artifact id in the assembly). */
  readonly stackName: string;
  /** Called with a short message at each step. */
  readonly onProgress?: (message: string) => void;
  /** Values of the template's Parameters; the others take their Default. */
  readonly parameters?: Readonly<Record<string, string>>;
  /**
   * Fire every enabled schedule once as soon as the stack is deployed (default true), as if
   * its period had just ended, so that a job starts without waiting for the first period.
   */
  readonly fireSchedulesOnDeploy?: boolean;
}

/** Any resource of the deployment, by its logical id. */
export interface DeployedResource {
  readonly logicalId: string;
  readonly type: string;
  /** What `Ref` gives: the name of a stream, table, function or rule. */
  readonly physicalId: string;
  readonly arn?: string;
  /** `created` on the local cloud, or `accepted` as a resource without local effect. */
  readonly effect: 'created' | 'accepted';
}

export interface DeployedStream {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly mode: 'PROVISIONED' | 'ON_DEMAND';
  /** The open shards after creation. */
  readonly shards: number;
}

export interface DeployedTable {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly partitionKey: { readonly name: string; readonly type: string };
  readonly sortKey?: { readonly name: string; readonly type: string };
  readonly globalIndexes: readonly string[];
  readonly localIndexes: readonly string[];
  /** The template's TTL attribute (listed only: the local emulator has no TTL settings). */
  readonly timeToLiveAttribute?: string;
}

export interface DeployedFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The directory holding the function's code (Lambda's /var/task). */
  readonly codeDir: string;
  /** The definition registered with the local Lambda service. */
  readonly definition: FunctionDefinition;
}

export interface ScheduleTarget {
  readonly id: string;
  readonly functionName: string;
  /** The event as JSON text. */
  readonly input: string | undefined;
}

export interface DeployedSchedule {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly expression: string;
  readonly periodMs: number;
  readonly enabled: boolean;
  readonly targets: readonly ScheduleTarget[];
}

export interface DestroyOptions {
  /** Delete resources whose DeletionPolicy is Retain as well (default false). */
  readonly deleteRetained?: boolean;
}

export interface DestroyResult {
  /** Logical ids of what was deleted from the local cloud. */
  readonly deleted: readonly string[];
  /** Logical ids of what was kept because of its DeletionPolicy. */
  readonly retained: readonly string[];
}

/** A stack deployed on the local cloud. */
export interface LocalDeployment {
  readonly stackName: string;
  readonly region: string;
  readonly accountId: string;
  /** Every resource that is deployed (condition true), by logical id. */
  readonly resources: Readonly<Record<string, DeployedResource>>;
  readonly streams: readonly DeployedStream[];
  readonly tables: readonly DeployedTable[];
  readonly functions: readonly DeployedFunction[];
  readonly schedules: readonly DeployedSchedule[];
  /** Resources accepted without local effect. */
  readonly accepted: ReadonlyArray<{ readonly type: string; readonly logicalId: string }>;
  /** Resources left out because their Condition is false. */
  readonly skipped: readonly string[];
  /** The stack's Outputs, resolved. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Fires one schedule (or every enabled one) now, as its timer would. */
  fire(logicalId?: string): Promise<void>;
  /** Clears the schedules' timers; the rest stays deployed. Idempotent. */
  stop(): void;
  /** Clears the timers and deletes what the deploy created (see DestroyOptions). */
  destroy(options?: DestroyOptions): Promise<DestroyResult>;
}

/** The resource types that are created on the local cloud. */
export const CREATED_TYPES = [
  'AWS::Kinesis::Stream',
  'AWS::DynamoDB::Table',
  'AWS::Lambda::Function',
  'AWS::Events::Rule',
] as const;

/** The resource types accepted without local effect. */
export const ACCEPTED_TYPES = [
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::Logs::LogGroup',
  'AWS::Logs::MetricFilter',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::Lambda::Permission',
  'AWS::CDK::Metadata',
  'AWS::SNS::Topic',
  'AWS::KMS::Key',
] as const;

// ---------------------------------------------------------------------------------------
// Template shapes

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface ResourceDefinition {
  readonly Type: string;
  readonly Properties?: JsonObject;
  readonly DependsOn?: string | string[];
  readonly Condition?: string;
  readonly DeletionPolicy?: string;
  readonly Metadata?: JsonObject;
}

interface Template {
  readonly Parameters?: Record<string, JsonObject>;
  readonly Mappings?: Record<string, Record<string, Record<string, Json>>>;
  readonly Conditions?: Record<string, Json>;
  readonly Resources?: Record<string, ResourceDefinition>;
  readonly Outputs?: Record<string, { Value: Json; Condition?: string }>;
  readonly Transform?: Json;
}

interface AssetManifest {
  readonly files?: Record<
    string,
    {
      readonly source: { readonly path?: string; readonly packaging?: string; executable?: Json };
      readonly destinations?: Record<string, { readonly objectKey?: string }>;
    }
  >;
}

// ---------------------------------------------------------------------------------------
// Errors

function fail(code: string, message: string, cause?: unknown): never {
  throw new SparklessError(code, message, cause === undefined ? {} : { cause });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function list(items: readonly string[]): string {
  return items.length === 0 ? '(none)' : items.join(', ');
}

// ---------------------------------------------------------------------------------------
// Reading the assembly

interface StackFiles {
  readonly stackName: string;
  readonly templatePath: string;
  readonly assetManifestPath: string | undefined;
  readonly region: string | undefined;
  readonly account: string | undefined;
}

interface ManifestArtifact {
  readonly type?: string;
  readonly environment?: string;
  readonly displayName?: string;
  readonly dependencies?: string[];
  readonly properties?: { templateFile?: string; stackName?: string; file?: string };
}

function readJson<T>(path: string, what: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    return fail('DEPLOY_INVALID', `deployStack: cannot read ${what} ${path}: ${messageOf(error)}`);
  }
}

/** Finds the stack's template and asset manifest through manifest.json, or by file name. */
function findStack(assemblyDir: string, stackName: string): StackFiles {
  if (!existsSync(assemblyDir) || !statSync(assemblyDir).isDirectory()) {
    fail(
      'DEPLOY_INVALID',
      `deployStack: the assembly directory ${assemblyDir} does not exist; run 'cdk synth' (its -o option names the directory, cdk.out by default)`,
    );
  }
  const manifestPath = join(assemblyDir, 'manifest.json');
  if (existsSync(manifestPath)) {
    const manifest = readJson<{ artifacts?: Record<string, ManifestArtifact> }>(
      manifestPath,
      'the assembly manifest',
    );
    const artifacts = manifest.artifacts ?? {};
    const stacks = Object.entries(artifacts).filter(
      ([, a]) => a.type === 'aws:cloudformation:stack',
    );
    const found = stacks.find(
      ([id, a]) =>
        id === stackName || a.properties?.stackName === stackName || a.displayName === stackName,
    );
    if (found === undefined) {
      fail(
        'DEPLOY_INVALID',
        `deployStack: the assembly ${assemblyDir} has no stack '${stackName}'; its stacks: ${list(stacks.map(([id, a]) => a.properties?.stackName ?? id))}`,
      );
    }
    const [id, artifact] = found;
    const templateFile = artifact.properties?.templateFile ?? `${id}.template.json`;
    const assets = (artifact.dependencies ?? [])
      .map((dep) => artifacts[dep])
      .find((a) => a?.type === 'cdk:asset-manifest')?.properties?.file;
    const env = /^aws:\/\/([^/]+)\/(.+)$/.exec(artifact.environment ?? '');
    const account = env?.[1];
    const region = env?.[2];
    return {
      stackName: artifact.properties?.stackName ?? id,
      templatePath: join(assemblyDir, templateFile),
      assetManifestPath: assets === undefined ? undefined : join(assemblyDir, assets),
      region: region === undefined || region.startsWith('unknown-') ? undefined : region,
      account: account === undefined || account.startsWith('unknown-') ? undefined : account,
    };
  }
  const templatePath = join(assemblyDir, `${stackName}.template.json`);
  if (!existsSync(templatePath)) {
    const templates = readdirSync(assemblyDir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => f.slice(0, -'.template.json'.length));
    fail(
      'DEPLOY_INVALID',
      `deployStack: no template ${stackName}.template.json in ${assemblyDir}; the templates there: ${list(templates)}`,
    );
  }
  const assetsPath = join(assemblyDir, `${stackName}.assets.json`);
  return {
    stackName,
    templatePath,
    assetManifestPath: existsSync(assetsPath) ? assetsPath : undefined,
    region: undefined,
    account: undefined,
  };
}

// ---------------------------------------------------------------------------------------
// Intrinsic functions

/** AWS::NoValue: removes the property or list element it stands for. */
const NO_VALUE = Symbol('AWS::NoValue');
type Resolved = Json | typeof NO_VALUE | Resolved[] | { [key: string]: Resolved };

const INTRINSICS = new Set([
  'Ref',
  'Fn::GetAtt',
  'Fn::Join',
  'Fn::Sub',
  'Fn::Select',
  'Fn::Split',
  'Fn::If',
  'Fn::FindInMap',
  'Fn::Base64',
  'Fn::GetAZs',
  'Condition',
  'Fn::Equals',
  'Fn::And',
  'Fn::Or',
  'Fn::Not',
]);

const PSEUDO_PARAMETERS = new Set([
  'AWS::Region',
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::URLSuffix',
  'AWS::StackName',
  'AWS::StackId',
  'AWS::NoValue',
  'AWS::NotificationARNs',
]);

/** The one key of an object that is an intrinsic function call, or undefined. */
function intrinsicOf(value: Json): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const key = keys[0] as string;
  return key === 'Ref' || key === 'Condition' || key.startsWith('Fn::') ? key : undefined;
}

/** The names `${...}` in a Fn::Sub string refers to (literals `${!...}` excluded). */
function subNames(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
    const name = (match[1] as string).trim();
    if (!name.startsWith('!')) names.push(name);
  }
  return names;
}

/** A reference found in a template value. */
interface Reference {
  readonly target: string;
  /** Where it was found, e.g. `Properties.Environment.Variables.TABLE`. */
  readonly path: string;
  readonly kind: 'Ref' | 'Fn::GetAtt' | 'Fn::Sub';
}

/** Every Ref, Fn::GetAtt and Fn::Sub reference in a value, with where it is. */
function referencesIn(value: Json, path: string, out: Reference[] = []): Reference[] {
  if (value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) referencesIn(item, `${path}[${i}]`, out);
    return out;
  }
  const fn = intrinsicOf(value);
  if (fn === 'Ref' && typeof value.Ref === 'string') {
    out.push({ target: value.Ref, path, kind: 'Ref' });
    return out;
  }
  if (fn === 'Fn::GetAtt') {
    const args = value['Fn::GetAtt'];
    const target =
      typeof args === 'string'
        ? args.split('.')[0]
        : Array.isArray(args) && typeof args[0] === 'string'
          ? args[0]
          : undefined;
    if (target !== undefined) out.push({ target, path, kind: 'Fn::GetAtt' });
    if (Array.isArray(args)) referencesIn(args.slice(1), path, out);
    return out;
  }
  if (fn === 'Fn::Sub') {
    const args = value['Fn::Sub'];
    const text = typeof args === 'string' ? args : Array.isArray(args) ? args[0] : undefined;
    const vars = Array.isArray(args) && isObject(args[1]) ? args[1] : {};
    if (typeof text === 'string') {
      for (const name of subNames(text)) {
        const target = name.split('.')[0] as string;
        if (!(target in vars)) out.push({ target, path, kind: 'Fn::Sub' });
      }
    }
    referencesIn(vars, path, out);
    return out;
  }
  for (const [key, item] of Object.entries(value)) {
    referencesIn(item, path === '' ? key : `${path}.${key}`, out);
  }
  return out;
}

/** Fails on the first intrinsic function the deployer does not implement, before any work. */
function checkIntrinsics(value: Json, where: string): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) checkIntrinsics(item, `${where}[${i}]`);
    return;
  }
  const fn = intrinsicOf(value);
  if (fn !== undefined && !INTRINSICS.has(fn)) {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack ${where}: ${fn} is not supported locally; supported intrinsics: ${list([...INTRINSICS])}`,
    );
  }
  for (const [key, item] of Object.entries(value)) {
    checkIntrinsics(item, fn === undefined ? `${where}.${key}` : where);
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** What a resolver needs to know of the deployment so far. */
interface ResolveContext {
  readonly stackName: string;
  readonly stackId: string;
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  readonly urlSuffix: string;
  readonly template: Template;
  /** Parameter values (a list type's value is a list); a function for those read lazily. */
  readonly parameters: ReadonlyMap<string, string | string[] | (() => never)>;
  condition(name: string, where: string): boolean;
  /** The Ref of a resource, or throws naming it. */
  ref(logicalId: string, where: string): string;
  /** An attribute of a resource, or throws naming it. */
  getAtt(logicalId: string, attribute: string, where: string): string;
}

/** Resolves every intrinsic in `value`; `where` names the place for error messages. */
function resolveValue(value: Json, ctx: ResolveContext, where: string): Resolved {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    return value
      .map((item, i) => resolveValue(item, ctx, `${where}[${i}]`))
      .filter((item) => item !== NO_VALUE);
  }
  const fn = intrinsicOf(value);
  if (fn === undefined) {
    const out: { [key: string]: Resolved } = {};
    for (const [key, item] of Object.entries(value)) {
      const resolved = resolveValue(item, ctx, `${where}.${key}`);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }
  const args = value[fn] as Json;
  const here = `${where} (${fn})`;
  const text = (v: Resolved, what: string): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return fail(
      'DEPLOY_INVALID',
      `deployStack: ${here}: ${what} must be a string, got ${JSON.stringify(v)}`,
    );
  };
  const arrayArgs = (n: number): Json[] => {
    if (!Array.isArray(args) || args.length < n) {
      fail(
        'DEPLOY_INVALID',
        `deployStack: ${here} takes a list of ${n} arguments, got ${JSON.stringify(args)}`,
      );
    }
    return args;
  };
  switch (fn) {
    case 'Ref': {
      const name = text(args, 'the name given to Ref');
      return refOf(name, ctx, here);
    }
    case 'Fn::GetAtt': {
      let target: string;
      let attribute: string;
      if (typeof args === 'string') {
        const dot = args.indexOf('.');
        target = args.slice(0, dot);
        attribute = args.slice(dot + 1);
      } else {
        const [t, a] = arrayArgs(2);
        target = text(t as Json, 'the logical id');
        attribute = text(resolveValue(a as Json, ctx, here), 'the attribute name');
      }
      return ctx.getAtt(target, attribute, here);
    }
    case 'Fn::Join': {
      const [separator, items] = arrayArgs(2);
      const resolved = resolveValue(items as Json, ctx, here);
      if (!Array.isArray(resolved)) {
        return fail(
          'DEPLOY_INVALID',
          `deployStack: ${here}: the values to join must be a list, got ${JSON.stringify(resolved)}`,
        );
      }
      return resolved
        .map((v) => text(v, 'each value joined'))
        .join(text(separator as Json, 'the separator'));
    }
    case 'Fn::Sub': {
      const [template, vars] = typeof args === 'string' ? [args, {}] : arrayArgs(1);
      const variables = new Map<string, string>();
      if (isObject(vars)) {
        for (const [name, v] of Object.entries(vars)) {
          variables.set(name, text(resolveValue(v, ctx, `${here}.${name}`), `variable ${name}`));
        }
      }
      return text(template as Json, 'the template string').replace(
        /\$\{([^}]*)\}/g,
        (_, raw: string) => {
          const name = raw.trim();
          if (name.startsWith('!')) return `\${${name.slice(1)}}`;
          const given = variables.get(name);
          if (given !== undefined) return given;
          const dot = name.indexOf('.');
          if (dot === -1) return text(refOf(name, ctx, here), `\${${name}}`);
          return ctx.getAtt(name.slice(0, dot), name.slice(dot + 1), here);
        },
      );
    }
    case 'Fn::Select': {
      const [index, items] = arrayArgs(2);
      const i = Number(text(resolveValue(index as Json, ctx, here), 'the index'));
      const resolved = resolveValue(items as Json, ctx, here);
      if (!Array.isArray(resolved) || !Number.isInteger(i) || i < 0 || i >= resolved.length) {
        return fail(
          'DEPLOY_INVALID',
          `deployStack: ${here}: index ${i} is not within the list ${JSON.stringify(resolved)}`,
        );
      }
      return resolved[i] as Resolved;
    }
    case 'Fn::Split': {
      const [separator, source] = arrayArgs(2);
      return text(resolveValue(source as Json, ctx, here), 'the string to split').split(
        text(separator as Json, 'the separator'),
      );
    }
    case 'Fn::If': {
      const [condition, whenTrue, whenFalse] = arrayArgs(3);
      const chosen = ctx.condition(text(condition as Json, 'the condition name'), here)
        ? whenTrue
        : whenFalse;
      return resolveValue(chosen as Json, ctx, here);
    }
    case 'Fn::FindInMap': {
      const [map, top, second] = arrayArgs(3).map((a) => text(resolveValue(a, ctx, here), 'a key'));
      const found = ctx.template.Mappings?.[map as string]?.[top as string]?.[second as string];
      if (found === undefined) {
        return fail(
          'DEPLOY_UNRESOLVED',
          `deployStack: ${here}: Mappings has no ${map}.${top}.${second}`,
        );
      }
      return resolveValue(found, ctx, here);
    }
    case 'Fn::Base64':
      return Buffer.from(text(resolveValue(args, ctx, here), 'the value')).toString('base64');
    case 'Fn::GetAZs': {
      const region = text(resolveValue(args, ctx, here), 'the region') || ctx.region;
      return ['a', 'b', 'c'].map((zone) => `${region}${zone}`);
    }
    case 'Condition':
      return ctx.condition(text(args, 'the condition name'), here);
    case 'Fn::Equals': {
      const [a, b] = arrayArgs(2).map((v) => resolveValue(v, ctx, here));
      return JSON.stringify(a) === JSON.stringify(b) || String(a) === String(b);
    }
    case 'Fn::And':
    case 'Fn::Or': {
      const values = arrayArgs(1).map((v) => resolveValue(v, ctx, here) === true);
      return fn === 'Fn::And' ? values.every(Boolean) : values.some(Boolean);
    }
    case 'Fn::Not': {
      const [v] = arrayArgs(1);
      return resolveValue(v as Json, ctx, here) !== true;
    }
    default:
      return fail(
        'DEPLOY_UNSUPPORTED',
        `deployStack: ${here}: ${fn} is not supported locally; supported intrinsics: ${list([...INTRINSICS])}`,
      );
  }
}

function refOf(name: string, ctx: ResolveContext, where: string): Resolved {
  switch (name) {
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::Partition':
      return ctx.partition;
    case 'AWS::URLSuffix':
      return ctx.urlSuffix;
    case 'AWS::StackName':
      return ctx.stackName;
    case 'AWS::StackId':
      return ctx.stackId;
    case 'AWS::NoValue':
      return NO_VALUE;
    case 'AWS::NotificationARNs':
      return [];
  }
  const parameter = ctx.parameters.get(name);
  if (typeof parameter === 'function') return parameter();
  if (parameter !== undefined) return parameter;
  return ctx.ref(name, where);
}

// ---------------------------------------------------------------------------------------
// Names

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** CloudFormation's generated physical names: `<stack>-<logicalId>-<RANDOM>`, within `max`. */
function generatedName(stackName: string, logicalId: string, max: number): string {
  const bytes = randomBytes(12);
  const suffix = [...bytes].map((b) => SUFFIX_ALPHABET[b % SUFFIX_ALPHABET.length]).join('');
  let stack = stackName;
  let id = logicalId;
  const room = max - suffix.length - 2;
  while (stack.length + id.length > room) {
    if (stack.length >= id.length) stack = stack.slice(0, -1);
    else id = id.slice(0, -1);
  }
  return `${stack}-${id}-${suffix}`;
}

/** Parses `rate(N unit)` into milliseconds; refuses anything else, saying why. */
export function parseScheduleExpression(expression: string, where = 'ScheduleExpression'): number {
  const rate = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(
    expression.trim(),
  );
  if (rate !== null) {
    const n = Number(rate[1]);
    const unit = rate[2] as string;
    if (n < 1) {
      fail('DEPLOY_INVALID', `deployStack: ${where} '${expression}': the rate must be at least 1`);
    }
    const unitMs = unit.startsWith('minute')
      ? 60_000
      : unit.startsWith('hour')
        ? 3_600_000
        : 86_400_000;
    return n * unitMs;
  }
  if (expression.trim().startsWith('cron(')) {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where} '${expression}': cron schedules are not supported locally; use a rate expression such as 'rate(1 minute)' (events.Schedule.rate(...))`,
    );
  }
  return fail(
    'DEPLOY_INVALID',
    `deployStack: ${where} '${expression}' is not a schedule expression; expected 'rate(N minute|minutes|hour|hours|day|days)'`,
  );
}

// ---------------------------------------------------------------------------------------
// Resource handlers

/** What a created resource gives to Ref and Fn::GetAtt, and how to delete it. */
interface Created {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly arn?: string;
  readonly delete?: () => Promise<void>;
}

interface CreateContext {
  readonly cloud: LocalCloud;
  readonly logicalId: string;
  readonly type: string;
  readonly definition: ResourceDefinition;
  readonly props: { [key: string]: Resolved };
  readonly stackName: string;
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  readonly clients: Clients;
  readonly assets: AssetLookup;
  readonly progress: (message: string) => void;
  readonly where: string;
  readonly deployment: DeploymentParts;
}

/** What the handlers add to the deployment as they create things. */
interface DeploymentParts {
  readonly streams: DeployedStream[];
  readonly tables: DeployedTable[];
  readonly functions: DeployedFunction[];
  readonly schedules: DeployedSchedule[];
  readonly accepted: Array<{ type: string; logicalId: string }>;
}

function str(ctx: CreateContext, key: string): string | undefined {
  const value = ctx.props[key];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return fail(
    'DEPLOY_INVALID',
    `deployStack: ${ctx.where}: ${key} must be a string, got ${JSON.stringify(value)}`,
  );
}

function num(ctx: CreateContext, key: string): number | undefined {
  const value = ctx.props[key];
  if (value === undefined) return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    fail(
      'DEPLOY_INVALID',
      `deployStack: ${ctx.where}: ${key} must be a number, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      fail('DEPLOY_FAILED', `deployStack: ${what} did not happen within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until `describe` answers that the resource does not exist: the emulators delete in the
 * background, and a deploy that says nothing is left must not leave it listed.
 */
function gone(what: string, describe: () => Promise<unknown>): Promise<boolean> {
  return until(
    `${what} being deleted`,
    () =>
      describe().then(
        () => false,
        (e: { name?: string }) => {
          if (e.name === 'ResourceNotFoundException') return true;
          throw e;
        },
      ),
    (isGone) => isGone,
  );
}

async function createStream(ctx: CreateContext): Promise<Created> {
  const name = str(ctx, 'Name') ?? generatedName(ctx.stackName, ctx.logicalId, 128);
  const modeDetails = ctx.props.StreamModeDetails;
  const mode =
    isObject(modeDetails) && modeDetails.StreamMode === 'ON_DEMAND' ? 'ON_DEMAND' : 'PROVISIONED';
  const shardCount = num(ctx, 'ShardCount');
  if (mode === 'PROVISIONED' && shardCount === undefined) {
    fail(
      'DEPLOY_INVALID',
      `deployStack: ${ctx.where}: a provisioned stream needs ShardCount; give shardCount, or streamMode ON_DEMAND`,
    );
  }
  const clients = ctx.clients;
  await clients.kinesis.send(
    new CreateStreamCommand({
      StreamName: name,
      ...(mode === 'ON_DEMAND'
        ? { StreamModeDetails: { StreamMode: 'ON_DEMAND' } }
        : { ShardCount: shardCount as number }),
    }),
  );
  const active = () =>
    until(
      `stream ${name} becoming ACTIVE`,
      () => clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name })),
      (d) => d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
    );
  let summary = await active();
  const retention = num(ctx, 'RetentionPeriodHours');
  if (retention !== undefined && retention > 24) {
    await clients.kinesis.send(
      new IncreaseStreamRetentionPeriodCommand({
        StreamName: name,
        RetentionPeriodHours: retention,
      }),
    );
    summary = await active();
  }
  const encryption = ctx.props.StreamEncryption;
  if (isObject(encryption) && encryption.EncryptionType === 'KMS') {
    await clients.kinesis.send(
      new StartStreamEncryptionCommand({
        StreamName: name,
        EncryptionType: 'KMS',
        KeyId: typeof encryption.KeyId === 'string' ? encryption.KeyId : 'alias/aws/kinesis',
      }),
    );
    summary = await active();
  }
  const arn =
    summary.StreamDescriptionSummary?.StreamARN ??
    `arn:${ctx.partition}:kinesis:${ctx.region}:${ctx.accountId}:stream/${name}`;
  const shards = summary.StreamDescriptionSummary?.OpenShardCount ?? shardCount ?? 0;
  ctx.deployment.streams.push({ logicalId: ctx.logicalId, name, arn, mode, shards });
  ctx.progress(
    `created stream ${name} (${ctx.logicalId}): ${shards} shards${mode === 'ON_DEMAND' ? ', on demand (4 shards locally, as Kinesis starts one)' : ''}`,
  );
  return {
    ref: name,
    arn,
    attributes: { Arn: arn },
    delete: async () => {
      await clients.kinesis.send(
        new DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true }),
      );
      await gone(`stream ${name}`, () =>
        clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name })),
      );
    },
  };
}

function keySchema(value: Resolved, where: string): KeySchemaElement[] {
  if (!Array.isArray(value) || value.length === 0) {
    return fail('DEPLOY_INVALID', `deployStack: ${where}: KeySchema must be a non-empty list`);
  }
  return value.map((k) => {
    if (!isObject(k) || typeof k.AttributeName !== 'string' || typeof k.KeyType !== 'string') {
      return fail(
        'DEPLOY_INVALID',
        `deployStack: ${where}: each key needs AttributeName and KeyType, got ${JSON.stringify(k)}`,
      );
    }
    return { AttributeName: k.AttributeName, KeyType: k.KeyType as 'HASH' | 'RANGE' };
  });
}

function throughput(
  value: Resolved,
): { ReadCapacityUnits: number; WriteCapacityUnits: number } | undefined {
  if (!isObject(value)) return undefined;
  return {
    ReadCapacityUnits: Number(value.ReadCapacityUnits),
    WriteCapacityUnits: Number(value.WriteCapacityUnits),
  };
}

function projection(value: Resolved): GlobalSecondaryIndex['Projection'] {
  if (!isObject(value)) return { ProjectionType: 'ALL' };
  return {
    ...(typeof value.ProjectionType === 'string'
      ? { ProjectionType: value.ProjectionType as 'ALL' | 'KEYS_ONLY' | 'INCLUDE' }
      : {}),
    ...(Array.isArray(value.NonKeyAttributes)
      ? { NonKeyAttributes: value.NonKeyAttributes.map(String) }
      : {}),
  };
}

async function createTable(ctx: CreateContext): Promise<Created> {
  const name = str(ctx, 'TableName') ?? generatedName(ctx.stackName, ctx.logicalId, 255);
  const where = ctx.where;
  const keys = keySchema(ctx.props.KeySchema as Resolved, `${where} KeySchema`);
  const definitions = ctx.props.AttributeDefinitions;
  if (!Array.isArray(definitions)) {
    fail('DEPLOY_INVALID', `deployStack: ${where}: AttributeDefinitions must be a list`);
  }
  const attributes: AttributeDefinition[] = definitions.map((d) => ({
    AttributeName: String(isObject(d) ? d.AttributeName : d),
    AttributeType: String(isObject(d) ? d.AttributeType : '') as 'S' | 'N' | 'B',
  }));
  const billing = str(ctx, 'BillingMode') ?? 'PROVISIONED';
  const provisioned = billing === 'PROVISIONED';
  const tableThroughput = throughput(ctx.props.ProvisionedThroughput as Resolved);
  if (provisioned && tableThroughput === undefined) {
    fail(
      'DEPLOY_INVALID',
      `deployStack: ${where}: a PROVISIONED table needs ProvisionedThroughput; give it, or BillingMode PAY_PER_REQUEST`,
    );
  }
  const gsis = Array.isArray(ctx.props.GlobalSecondaryIndexes)
    ? ctx.props.GlobalSecondaryIndexes
    : [];
  const lsis = Array.isArray(ctx.props.LocalSecondaryIndexes)
    ? ctx.props.LocalSecondaryIndexes
    : [];
  const global: GlobalSecondaryIndex[] = gsis.filter(isObject).map((index) => {
    const t = throughput(index.ProvisionedThroughput as Resolved);
    return {
      IndexName: String(index.IndexName),
      KeySchema: keySchema(
        index.KeySchema as Resolved,
        `${where} index ${String(index.IndexName)}`,
      ),
      Projection: projection(index.Projection as Resolved),
      ...(provisioned && t !== undefined ? { ProvisionedThroughput: t } : {}),
    };
  });
  const local: LocalSecondaryIndex[] = lsis.filter(isObject).map((index) => ({
    IndexName: String(index.IndexName),
    KeySchema: keySchema(index.KeySchema as Resolved, `${where} index ${String(index.IndexName)}`),
    Projection: projection(index.Projection as Resolved),
  }));
  const stream = ctx.props.StreamSpecification;
  const input: CreateTableCommandInput = {
    TableName: name,
    KeySchema: keys,
    AttributeDefinitions: attributes,
    BillingMode: billing as 'PROVISIONED' | 'PAY_PER_REQUEST',
    ...(provisioned ? { ProvisionedThroughput: tableThroughput } : {}),
    ...(global.length > 0 ? { GlobalSecondaryIndexes: global } : {}),
    ...(local.length > 0 ? { LocalSecondaryIndexes: local } : {}),
    ...(isObject(stream) && typeof stream.StreamViewType === 'string'
      ? {
          StreamSpecification: {
            StreamEnabled: true,
            StreamViewType: stream.StreamViewType as 'NEW_IMAGE',
          },
        }
      : {}),
  };
  const clients = ctx.clients;
  await clients.dynamodb.send(new CreateTableCommand(input));
  const described = await until(
    `table ${name} becoming ACTIVE`,
    () => clients.dynamodb.send(new DescribeTableCommand({ TableName: name })),
    (d) => d.Table?.TableStatus === 'ACTIVE',
  );
  const arn =
    described.Table?.TableArn ??
    `arn:${ctx.partition}:dynamodb:${ctx.region}:${ctx.accountId}:table/${name}`;

  let timeToLiveAttribute: string | undefined;
  const ttl = ctx.props.TimeToLiveSpecification;
  if (isObject(ttl) && ttl.Enabled === true && typeof ttl.AttributeName === 'string') {
    timeToLiveAttribute = ttl.AttributeName;
    try {
      await clients.dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
      ctx.progress(
        `table ${name}: TTL attribute '${ttl.AttributeName}' listed but not set: the local DynamoDB emulator has no TTL settings`,
      );
    }
  }

  const hash = keys.find((k) => k.KeyType === 'HASH');
  const range = keys.find((k) => k.KeyType === 'RANGE');
  const typeOf = (attribute: string | undefined) =>
    attributes.find((a) => a.AttributeName === attribute)?.AttributeType ?? '?';
  ctx.deployment.tables.push({
    logicalId: ctx.logicalId,
    name,
    arn,
    partitionKey: { name: hash?.AttributeName ?? '', type: typeOf(hash?.AttributeName) },
    ...(range === undefined
      ? {}
      : { sortKey: { name: range.AttributeName ?? '', type: typeOf(range.AttributeName) } }),
    globalIndexes: global.map((g) => g.IndexName as string),
    localIndexes: local.map((l) => l.IndexName as string),
    ...(timeToLiveAttribute === undefined ? {} : { timeToLiveAttribute }),
  });
  ctx.progress(`created table ${name} (${ctx.logicalId})`);
  const attrs: Record<string, string> = { Arn: arn };
  if (isObject(stream)) {
    attrs.StreamArn =
      described.Table?.LatestStreamArn ?? `${arn}/stream/${new Date().toISOString()}`;
  }
  return {
    ref: name,
    arn,
    attributes: attrs,
    delete: async () => {
      await clients.dynamodb.send(new DeleteTableCommand({ TableName: name }));
      await gone(`table ${name}`, () =>
        clients.dynamodb.send(new DescribeTableCommand({ TableName: name })),
      );
    },
  };
}

// --- Lambda functions

/** Maps a function's Code to a directory of the assembly. */
interface AssetLookup {
  readonly assemblyDir: string;
  readonly manifestPath: string | undefined;
  readonly manifest: AssetManifest | undefined;
}

/** The directory holding a function's code, from its asset or its inline ZipFile. */
function codeDirectory(ctx: CreateContext, code: Resolved): string {
  const where = ctx.where;
  if (!isObject(code)) {
    return fail('DEPLOY_INVALID', `deployStack: ${where}: Code must be given`);
  }
  if (typeof code.ImageUri === 'string') {
    return fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: container image functions (Code.ImageUri) are not supported locally; deploy the function from a directory asset (lambda.Code.fromAsset or NodejsFunction)`,
    );
  }
  if (typeof code.ZipFile === 'string') {
    // Lambda writes inline code to index.js, a CommonJS module.
    const dir = join(ctx.assets.assemblyDir, '.local-inline', `${ctx.stackName}-${ctx.logicalId}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.js'), code.ZipFile);
    writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    return dir;
  }
  const key = typeof code.S3Key === 'string' ? code.S3Key : undefined;
  const files = ctx.assets.manifest?.files ?? {};
  let asset: { hash: string; path?: string; packaging?: string; executable?: Json } | undefined;
  for (const [hash, file] of Object.entries(files)) {
    const keys = Object.values(file.destinations ?? {}).map((d) => d.objectKey);
    if (key !== undefined && (keys.includes(key) || key === `${hash}.zip`)) {
      asset = { hash, ...file.source };
      break;
    }
  }
  let path: string | undefined;
  if (asset !== undefined) {
    if (asset.executable !== undefined) {
      fail(
        'DEPLOY_UNSUPPORTED',
        `deployStack: ${where}: its code asset ${asset.hash} is built by a command at publish time, which the local deployer does not run; use a directory asset`,
      );
    }
    if (asset.path === undefined) {
      fail('DEPLOY_INVALID', `deployStack: ${where}: asset ${asset.hash} has no source path`);
    }
    const base =
      ctx.assets.manifestPath === undefined
        ? ctx.assets.assemblyDir
        : dirname(ctx.assets.manifestPath);
    path = resolve(base, asset.path);
  } else {
    const metadataPath = ctx.definition.Metadata?.['aws:asset:path'];
    if (typeof metadataPath === 'string') path = resolve(ctx.assets.assemblyDir, metadataPath);
  }
  if (path === undefined) {
    return fail(
      'DEPLOY_INVALID',
      `deployStack: ${where}: its Code (S3Key ${key ?? 'not given'}) matches no file asset of the assembly (${ctx.assets.manifestPath ?? 'no asset manifest'}); synthesize the stack again`,
    );
  }
  if (!existsSync(path)) {
    return fail(
      'DEPLOY_INVALID',
      `deployStack: ${where}: its code asset ${path} does not exist; synthesize again, with staging (without --no-staging)`,
    );
  }
  if (!statSync(path).isDirectory()) {
    return fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: its code asset ${path} is a file (a zip archive); the local cloud runs functions from directory assets (lambda.Code.fromAsset of a directory, or NodejsFunction)`,
    );
  }
  return path;
}

/** Lambda's Node.js runtime: `dir/module.export`, the module found as .js, .mjs or .cjs. */
function handlerEntry(
  where: string,
  codeDir: string,
  handler: string,
): { entry: string; name: string } {
  const slash = handler.lastIndexOf('/');
  const dir = slash === -1 ? '' : handler.slice(0, slash);
  const rest = handler.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) {
    return fail(
      'DEPLOY_INVALID',
      `deployStack: ${where}: Handler '${handler}' must be '<file>.<export>', such as 'index.handler'`,
    );
  }
  const name = rest.slice(dot + 1);
  if (name.includes('.')) {
    return fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: Handler '${handler}' names a nested export, which the local Lambda service does not support; export the handler at the top of its module`,
    );
  }
  const base = join(codeDir, dir, rest.slice(0, dot));
  for (const extension of ['.js', '.mjs', '.cjs']) {
    if (existsSync(base + extension)) return { entry: base + extension, name };
  }
  return fail(
    'DEPLOY_INVALID',
    `deployStack: ${where}: Handler '${handler}' needs ${base}.js, .mjs or .cjs, and there is none; the files there: ${list(existsSync(dirname(base)) ? readdirSync(dirname(base)) : [])}`,
  );
}

/**
 * Lambda's Node.js runtime provides `@aws-sdk/*`, so bundles leave it out; here it must be
 * found from the code's directory. Fails, naming the package, when it cannot be.
 */
function checkRuntimePackages(where: string, entry: string): void {
  const text = readFileSync(entry, 'utf8');
  const specifiers = new Set<string>();
  const pattern =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["'](@aws-sdk\/[A-Za-z0-9._-]+)/g;
  for (const match of text.matchAll(pattern)) specifiers.add(match[1] as string);
  const require = createRequire(entry);
  for (const specifier of specifiers) {
    try {
      require.resolve(specifier);
    } catch {
      fail(
        'DEPLOY_INVALID',
        `deployStack: ${where}: its code imports ${specifier}, which Lambda's Node.js runtime provides but which cannot be found from ${dirname(entry)}; synthesize the assembly into a directory under a project whose node_modules has it (e.g. the project's cdk.out or .sparkless/)`,
      );
    }
  }
}

/** Lambda unpacks a function's code to /var/task; here it stays in its directory. */
function rewriteTaskRoot(value: string, codeDir: string): string {
  if (value === '/var/task') return codeDir;
  if (value.startsWith('/var/task/')) return join(codeDir, value.slice('/var/task/'.length));
  return value;
}

async function createFunction(ctx: CreateContext): Promise<Created> {
  const where = ctx.where;
  const packageType = str(ctx, 'PackageType');
  if (packageType === 'Image') {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: container image functions are not supported locally; deploy the function from a directory asset`,
    );
  }
  const runtime = str(ctx, 'Runtime');
  if (runtime === undefined || !runtime.startsWith('nodejs')) {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: Runtime ${runtime ?? '(none)'} is not supported locally; only Node.js runtimes (nodejs*) run on the local Lambda service`,
    );
  }
  const layers = ctx.props.Layers;
  if (Array.isArray(layers) && layers.length > 0) {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: Lambda layers are not supported locally; bundle what the layer holds into the function`,
    );
  }
  const handler = str(ctx, 'Handler');
  if (handler === undefined) fail('DEPLOY_INVALID', `deployStack: ${where}: Handler must be given`);
  const name = str(ctx, 'FunctionName') ?? generatedName(ctx.stackName, ctx.logicalId, 64);
  if (ctx.cloud.lambda.functions().some((f) => f.name === name)) {
    fail(
      'DEPLOY_FAILED',
      `deployStack: ${where}: a function named ${name} already exists on the local cloud; destroy the deployment that created it first`,
    );
  }
  const codeDir = codeDirectory(ctx, ctx.props.Code as Resolved);
  const { entry, name: exportName } = handlerEntry(where, codeDir, handler);
  checkRuntimePackages(where, entry);

  const environment: Record<string, string> = {};
  const env = ctx.props.Environment;
  const variables = isObject(env) ? env.Variables : undefined;
  if (isObject(variables)) {
    for (const [key, value] of Object.entries(variables)) {
      if (value === null || typeof value === 'object') {
        fail(
          'DEPLOY_INVALID',
          `deployStack: ${where}: environment variable ${key} must be a string, got ${JSON.stringify(value)}`,
        );
      }
      environment[key] = rewriteTaskRoot(String(value), codeDir);
    }
  }
  const timeoutSeconds = num(ctx, 'Timeout') ?? 3;
  const reserved = num(ctx, 'ReservedConcurrentExecutions');
  const definition: FunctionDefinition = {
    name,
    entry,
    handler: exportName,
    environment,
    timeoutMs: timeoutSeconds * 1000,
    memoryMb: num(ctx, 'MemorySize') ?? 128,
    ...(reserved === undefined ? {} : { reservedConcurrency: reserved }),
  };
  try {
    ctx.cloud.lambda.register(definition);
  } catch (error) {
    fail('DEPLOY_FAILED', `deployStack: ${where}: ${messageOf(error)}`, error);
  }
  const arn = ctx.cloud.lambda.arnOf(name);
  ctx.deployment.functions.push({ logicalId: ctx.logicalId, name, arn, codeDir, definition });
  const major = process.versions.node.split('.')[0];
  ctx.progress(
    `created function ${name} (${ctx.logicalId}): ${handler} in ${codeDir}, ${definition.memoryMb} MB, ${timeoutSeconds} s` +
      (runtime === `nodejs${major}.x`
        ? ''
        : `; runs on Node.js ${process.versions.node}, not ${runtime}`),
  );
  const lambda = ctx.cloud.lambda;
  return {
    ref: name,
    arn,
    attributes: { Arn: arn },
    delete: () => lambda.unregister(name),
  };
}

// --- Schedules

interface ScheduleState {
  readonly schedule: DeployedSchedule;
  timer?: NodeJS.Timeout;
}

function createRule(ctx: CreateContext, schedules: Map<string, ScheduleState>): Created {
  const where = ctx.where;
  const name = str(ctx, 'Name') ?? generatedName(ctx.stackName, ctx.logicalId, 64);
  const arn = `arn:${ctx.partition}:events:${ctx.region}:${ctx.accountId}:rule/${name}`;
  const expression = str(ctx, 'ScheduleExpression');
  if (expression === undefined) {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack: ${where}: only scheduled rules (ScheduleExpression) run locally; event pattern rules have no events to match here`,
    );
  }
  const periodMs = parseScheduleExpression(expression, `${where} ScheduleExpression`);
  const ruleState = str(ctx, 'State') ?? 'ENABLED';
  const targets: ScheduleTarget[] = [];
  const given = Array.isArray(ctx.props.Targets) ? ctx.props.Targets : [];
  for (const target of given) {
    if (!isObject(target)) continue;
    const id = String(target.Id ?? '');
    const targetArn = String(target.Arn ?? '');
    if (!/^arn:[^:]+:lambda:/.test(targetArn)) {
      fail(
        'DEPLOY_UNSUPPORTED',
        `deployStack: ${where}: target ${id} (${targetArn}) is not a Lambda function; only Lambda targets are supported locally`,
      );
    }
    if (target.InputPath !== undefined || target.InputTransformer !== undefined) {
      fail(
        'DEPLOY_UNSUPPORTED',
        `deployStack: ${where}: target ${id}: InputPath and InputTransformer are not supported locally; give the event as Input (events.RuleTargetInput.fromObject)`,
      );
    }
    targets.push({
      id,
      functionName: parseFunctionName(targetArn).name,
      input: typeof target.Input === 'string' ? target.Input : undefined,
    });
  }
  const schedule: DeployedSchedule = {
    logicalId: ctx.logicalId,
    name,
    arn,
    expression,
    periodMs,
    enabled: ruleState !== 'DISABLED',
    targets,
  };
  ctx.deployment.schedules.push(schedule);
  const state: ScheduleState = { schedule };
  schedules.set(ctx.logicalId, state);
  ctx.progress(
    `created schedule ${name} (${ctx.logicalId}): ${expression}${schedule.enabled ? '' : ', disabled'}, targets ${list(targets.map((t) => t.functionName))}`,
  );
  return {
    ref: name,
    arn,
    attributes: { Arn: arn },
    delete: async () => {
      clearInterval(state.timer);
      state.timer = undefined;
    },
  };
}

/** EventBridge's event for a scheduled rule without Input. */
function scheduledEvent(schedule: DeployedSchedule, region: string, accountId: string): string {
  return JSON.stringify({
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: accountId,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [schedule.arn],
    detail: {},
  });
}

// --- Accepted without effect

/** The name property of each accepted type, and the ARN its Arn attribute gives. */
const ACCEPTED: Readonly<
  Record<
    string,
    {
      readonly nameProperty?: string;
      readonly refIsArn?: boolean;
      readonly arn?: (name: string, p: string, r: string, a: string) => string;
      readonly attributes?: readonly string[];
    }
  >
> = {
  'AWS::IAM::Role': {
    nameProperty: 'RoleName',
    arn: (n, p, _r, a) => `arn:${p}:iam::${a}:role/${n}`,
    attributes: ['RoleId'],
  },
  'AWS::IAM::Policy': { nameProperty: 'PolicyName' },
  'AWS::Logs::LogGroup': {
    nameProperty: 'LogGroupName',
    arn: (n, p, r, a) => `arn:${p}:logs:${r}:${a}:log-group:${n}:*`,
  },
  'AWS::Logs::MetricFilter': { nameProperty: 'FilterName' },
  'AWS::CloudWatch::Alarm': {
    nameProperty: 'AlarmName',
    arn: (n, p, r, a) => `arn:${p}:cloudwatch:${r}:${a}:alarm:${n}`,
  },
  'AWS::CloudWatch::Dashboard': { nameProperty: 'DashboardName' },
  'AWS::Lambda::Permission': {},
  'AWS::CDK::Metadata': {},
  'AWS::SNS::Topic': {
    nameProperty: 'TopicName',
    refIsArn: true,
    arn: (n, p, r, a) => `arn:${p}:sns:${r}:${a}:${n}`,
    attributes: ['TopicArn', 'TopicName'],
  },
  'AWS::KMS::Key': {
    arn: (n, p, r, a) => `arn:${p}:kms:${r}:${a}:key/${n}`,
    attributes: ['KeyId'],
  },
};

function acceptResource(ctx: CreateContext): Created {
  const spec = ACCEPTED[ctx.type] ?? {};
  const given = spec.nameProperty === undefined ? undefined : str(ctx, spec.nameProperty);
  const name =
    given ??
    (ctx.type === 'AWS::KMS::Key'
      ? randomUUID()
      : generatedName(ctx.stackName, ctx.logicalId, 128));
  const arn = spec.arn?.(name, ctx.partition, ctx.region, ctx.accountId);
  const attributes: Record<string, string> = {};
  if (arn !== undefined) attributes.Arn = arn;
  for (const attribute of spec.attributes ?? []) {
    attributes[attribute] =
      attribute === 'TopicArn'
        ? (arn as string)
        : attribute === 'RoleId'
          ? `AROA${name.slice(0, 16).toUpperCase()}`
          : name;
  }
  ctx.deployment.accepted.push({ type: ctx.type, logicalId: ctx.logicalId });
  return {
    ref: spec.refIsArn && arn !== undefined ? arn : name,
    attributes,
    ...(arn === undefined ? {} : { arn }),
  };
}

// ---------------------------------------------------------------------------------------
// Deploying

const CLIENT_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/**
 * The deployer's own clients of the cloud, made when first used and closed after the deploy
 * and after a destroy, so that a deployment holds no connections in between.
 */
class Clients {
  readonly #endpoint: string;
  readonly #region: string;
  #kinesis: KinesisClient | undefined;
  #dynamodb: DynamoDBClient | undefined;

  constructor(endpoint: string, region: string) {
    this.#endpoint = endpoint;
    this.#region = region;
  }

  #config() {
    return {
      endpoint: this.#endpoint,
      region: this.#region,
      credentials: CLIENT_CREDENTIALS,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000 }),
      maxAttempts: 3,
    };
  }

  get kinesis(): KinesisClient {
    this.#kinesis ??= new KinesisClient(this.#config());
    return this.#kinesis;
  }

  get dynamodb(): DynamoDBClient {
    this.#dynamodb ??= new DynamoDBClient(this.#config());
    return this.#dynamodb;
  }

  close(): void {
    this.#kinesis?.destroy();
    this.#dynamodb?.destroy();
    this.#kinesis = undefined;
    this.#dynamodb = undefined;
  }
}

function isCustomResource(type: string): boolean {
  return type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
}

function partitionOf(region: string): { partition: string; urlSuffix: string } {
  if (region.startsWith('cn-')) return { partition: 'aws-cn', urlSuffix: 'amazonaws.com.cn' };
  if (region.startsWith('us-gov-')) return { partition: 'aws-us-gov', urlSuffix: 'amazonaws.com' };
  return { partition: 'aws', urlSuffix: 'amazonaws.com' };
}

/** Parameter values: given, else the Default; SSM-typed ones fail only when used. */
function parameterValues(
  template: Template,
  given: Readonly<Record<string, string>>,
  stackName: string,
): Map<string, string | string[] | (() => never)> {
  const declared = template.Parameters ?? {};
  const unknown = Object.keys(given).filter((name) => !(name in declared));
  if (unknown.length > 0) {
    fail(
      'DEPLOY_INVALID',
      `deployStack ${stackName}: parameters ${list(unknown)} are not in the template; its parameters: ${list(Object.keys(declared))}`,
    );
  }
  const values = new Map<string, string | string[] | (() => never)>();
  for (const [name, definition] of Object.entries(declared)) {
    const type = String(definition.Type ?? 'String');
    const value =
      given[name] ?? (definition.Default === undefined ? undefined : String(definition.Default));
    if (type.startsWith('AWS::SSM::Parameter::Value<') && given[name] === undefined) {
      values.set(name, () =>
        fail(
          'DEPLOY_UNRESOLVED',
          `deployStack ${stackName}: parameter ${name} is read from SSM parameter ${String(definition.Default)}, which the local cloud does not have; pass its value: parameters: { ${name}: '...' }`,
        ),
      );
      continue;
    }
    if (value === undefined) {
      fail(
        'DEPLOY_INVALID',
        `deployStack ${stackName}: parameter ${name} has no Default; pass its value: parameters: { ${name}: '...' }`,
      );
    }
    const allowed = definition.AllowedValues;
    if (Array.isArray(allowed) && !allowed.map(String).includes(value)) {
      fail(
        'DEPLOY_INVALID',
        `deployStack ${stackName}: parameter ${name} is '${value}', which is not one of its AllowedValues ${list(allowed.map(String))}`,
      );
    }
    const isList = type === 'CommaDelimitedList' || type.startsWith('List<');
    values.set(name, isList ? value.split(',').map((v) => v.trim()) : value);
  }
  return values;
}

/** Topological order of the resources (dependencies first), or a cycle named in full. */
function creationOrder(
  dependencies: ReadonlyMap<string, ReadonlySet<string>>,
  stackName: string,
): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]): void => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(id)), id];
      fail(
        'DEPLOY_INVALID',
        `deployStack ${stackName}: circular dependency between resources: ${cycle.join(' -> ')}`,
      );
    }
    state.set(id, 'visiting');
    for (const dep of dependencies.get(id) ?? []) visit(dep, [...path, id]);
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of dependencies.keys()) visit(id, []);
  return order;
}

/**
 * Deploys a synthesized stack onto the local cloud: creates its streams, tables, functions and
 * schedules from the template and the assets of the assembly, and resolves its Outputs.
 * Everything the template asks for is checked before anything is created; if creating fails,
 * what was created is deleted and the error says what failed.
 */
export async function deployStack(
  cloud: LocalCloud,
  options: DeployStackOptions,
): Promise<LocalDeployment> {
  const progress = options.onProgress ?? (() => {});
  const assemblyDir = resolve(options.assemblyDir);
  const files = findStack(assemblyDir, options.stackName);
  const stackName = files.stackName;
  const region = cloud.region;
  const accountId = cloud.lambda.accountId;
  if (files.region !== undefined && files.region !== region) {
    fail(
      'DEPLOY_INVALID',
      `deployStack ${stackName}: the stack is for region ${files.region}, but the local cloud runs ${region}; start the cloud with startLocalCloud({ region: '${files.region}' })`,
    );
  }
  if (files.account !== undefined && files.account !== accountId) {
    progress(
      `stack ${stackName} is for account ${files.account}; the local cloud's account is ${accountId}`,
    );
  }
  const template = readJson<Template>(files.templatePath, 'the template');
  if (template.Transform !== undefined) {
    fail(
      'DEPLOY_UNSUPPORTED',
      `deployStack ${stackName}: the template uses Transform ${JSON.stringify(template.Transform)}, which the local deployer does not expand; deploy a template without transforms`,
    );
  }
  const assetManifest =
    files.assetManifestPath === undefined
      ? undefined
      : readJson<AssetManifest>(files.assetManifestPath, 'the asset manifest');
  const resources = template.Resources ?? {};
  const { partition, urlSuffix } = partitionOf(region);
  const stackId = `arn:${partition}:cloudformation:${region}:${accountId}:stack/${stackName}/${randomUUID()}`;

  // --- Check everything before creating anything.
  const supported = new Set<string>([...CREATED_TYPES, ...ACCEPTED_TYPES]);
  for (const [logicalId, resource] of Object.entries(resources)) {
    const type = resource?.Type;
    if (typeof type !== 'string') {
      fail('DEPLOY_INVALID', `deployStack ${stackName}: resource ${logicalId} has no Type`);
    }
    if (isCustomResource(type)) {
      fail(
        'DEPLOY_UNSUPPORTED',
        `deployStack ${stackName}: resource ${logicalId} is a custom resource (${type}); custom resources are not supported locally, since their provider would have to run during the deploy. Supported types: ${list([...CREATED_TYPES])}; accepted without effect: ${list([...ACCEPTED_TYPES])}`,
      );
    }
    if (!supported.has(type)) {
      fail(
        'DEPLOY_UNSUPPORTED',
        `deployStack ${stackName}: resource ${logicalId} has type ${type}, which is not supported locally. Supported types: ${list([...CREATED_TYPES])}; accepted without effect: ${list([...ACCEPTED_TYPES])}`,
      );
    }
    if (type === 'AWS::Events::Rule') {
      const expression = resource.Properties?.ScheduleExpression;
      if (typeof expression === 'string') {
        parseScheduleExpression(expression, `${logicalId} (${type}) ScheduleExpression`);
      }
    }
  }
  const parameters = parameterValues(template, options.parameters ?? {}, stackName);

  const createdResources = new Map<string, Created>();
  const conditionValues = new Map<string, boolean | 'evaluating'>();
  const ctx: ResolveContext = {
    stackName,
    stackId,
    region,
    accountId,
    partition,
    urlSuffix,
    template,
    parameters,
    condition: (name, where) => {
      const known = conditionValues.get(name);
      if (known === 'evaluating') {
        fail('DEPLOY_INVALID', `deployStack ${stackName}: condition ${name} refers to itself`);
      }
      if (known !== undefined) return known;
      const definition = template.Conditions?.[name];
      if (definition === undefined) {
        return fail(
          'DEPLOY_UNRESOLVED',
          `deployStack ${stackName}: ${where} uses condition ${name}, which the template's Conditions do not define; its conditions: ${list(Object.keys(template.Conditions ?? {}))}`,
        );
      }
      conditionValues.set(name, 'evaluating');
      const value = resolveValue(definition, ctx, `condition ${name}`) === true;
      conditionValues.set(name, value);
      return value;
    },
    ref: (logicalId, where) => {
      const created = createdResources.get(logicalId);
      if (created !== undefined) return created.ref;
      return unresolved(logicalId, where);
    },
    getAtt: (logicalId, attribute, where) => {
      const created = createdResources.get(logicalId);
      if (created === undefined) return unresolved(logicalId, where);
      const value = created.attributes[attribute];
      if (value === undefined) {
        return fail(
          'DEPLOY_UNRESOLVED',
          `deployStack ${stackName}: ${where} asks for attribute ${attribute} of ${logicalId} (${resources[logicalId]?.Type}), which it does not have locally; its attributes: ${list(Object.keys(created.attributes))}`,
        );
      }
      return value;
    },
  };
  const unresolved = (logicalId: string, where: string): never => {
    if (resources[logicalId] !== undefined) {
      return fail(
        'DEPLOY_UNRESOLVED',
        `deployStack ${stackName}: ${where} refers to ${logicalId}, which is not deployed (its condition ${resources[logicalId]?.Condition} is false)`,
      );
    }
    return fail(
      'DEPLOY_UNRESOLVED',
      `deployStack ${stackName}: ${where} refers to ${logicalId}, which is neither a resource, a parameter nor a pseudo parameter of the template`,
    );
  };

  const active: string[] = [];
  const skipped: string[] = [];
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Condition === undefined || ctx.condition(resource.Condition, logicalId)) {
      active.push(logicalId);
    } else {
      skipped.push(logicalId);
    }
  }
  const activeSet = new Set(active);
  const dependencies = new Map<string, Set<string>>();
  for (const logicalId of active) {
    const resource = resources[logicalId] as ResourceDefinition;
    const deps = new Set<string>();
    checkIntrinsics(
      resource.Properties ?? {},
      `${stackName}: ${logicalId} (${resource.Type}) Properties`,
    );
    for (const reference of referencesIn(resource.Properties ?? {}, 'Properties')) {
      const target = reference.target;
      if (PSEUDO_PARAMETERS.has(target) || parameters.has(target)) continue;
      if (resources[target] === undefined) {
        fail(
          'DEPLOY_UNRESOLVED',
          `deployStack ${stackName}: ${logicalId} (${resource.Type}) ${reference.path}: ${reference.kind} refers to ${target}, which is neither a resource, a parameter nor a pseudo parameter of the template; its resources: ${list(Object.keys(resources))}`,
        );
      }
      if (activeSet.has(target)) deps.add(target);
    }
    const dependsOn = resource.DependsOn;
    for (const dep of typeof dependsOn === 'string' ? [dependsOn] : (dependsOn ?? [])) {
      if (resources[dep] === undefined) {
        fail(
          'DEPLOY_UNRESOLVED',
          `deployStack ${stackName}: ${logicalId} DependsOn ${dep}, which is not a resource of the template`,
        );
      }
      if (activeSet.has(dep)) deps.add(dep);
    }
    deps.delete(logicalId);
    dependencies.set(logicalId, deps);
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    checkIntrinsics(output.Value, `${stackName}: output ${name}`);
    for (const reference of referencesIn(output.Value, `Outputs.${name}`)) {
      const target = reference.target;
      if (
        !PSEUDO_PARAMETERS.has(target) &&
        !parameters.has(target) &&
        resources[target] === undefined
      ) {
        fail(
          'DEPLOY_UNRESOLVED',
          `deployStack ${stackName}: output ${name}: ${reference.kind} refers to ${target}, which is neither a resource, a parameter nor a pseudo parameter of the template`,
        );
      }
    }
  }
  const order = creationOrder(dependencies, stackName);

  // --- Create.
  const clients = new Clients(cloud.endpoint, region);
  const creationSequence: string[] = [];
  const schedules = new Map<string, ScheduleState>();
  const parts: DeploymentParts = {
    streams: [],
    tables: [],
    functions: [],
    schedules: [],
    accepted: [],
  };
  const assets: AssetLookup = {
    assemblyDir,
    manifestPath: files.assetManifestPath,
    manifest: assetManifest,
  };
  progress(`deploying ${stackName}: ${active.length} resources from ${files.templatePath}`);
  const started = Date.now();

  const create = async (logicalId: string): Promise<void> => {
    const resource = resources[logicalId] as ResourceDefinition;
    const type = resource.Type;
    const where = `${logicalId} (${type})`;
    const props = resolveValue(resource.Properties ?? {}, ctx, `${where} Properties`);
    const createContext: CreateContext = {
      cloud,
      logicalId,
      type,
      definition: resource,
      props: props as { [key: string]: Resolved },
      stackName,
      region,
      accountId,
      partition,
      clients,
      assets,
      progress,
      where,
      deployment: parts,
    };
    let created: Created;
    switch (type) {
      case 'AWS::Kinesis::Stream':
        created = await createStream(createContext);
        break;
      case 'AWS::DynamoDB::Table':
        created = await createTable(createContext);
        break;
      case 'AWS::Lambda::Function':
        created = await createFunction(createContext);
        break;
      case 'AWS::Events::Rule':
        created = createRule(createContext, schedules);
        break;
      default:
        created = acceptResource(createContext);
    }
    createdResources.set(logicalId, created);
    creationSequence.push(logicalId);
  };

  // Each resource starts once its dependencies exist; independent ones run concurrently.
  const pending = new Map<string, Promise<void>>();
  for (const logicalId of order) {
    const deps = [...(dependencies.get(logicalId) ?? [])].map(
      (d) => pending.get(d) as Promise<void>,
    );
    pending.set(
      logicalId,
      Promise.all(deps).then(() =>
        create(logicalId).catch((error: unknown) => {
          if (SparklessError.is(error)) throw error;
          // An emulator's refusal: say which resource it was about.
          const type = (resources[logicalId] as ResourceDefinition).Type;
          return fail(
            'DEPLOY_FAILED',
            `deployStack ${stackName}: creating ${logicalId} (${type}) failed: ${messageOf(error)}`,
            error,
          );
        }),
      ),
    );
  }
  const results = await Promise.allSettled(pending.values());
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  let outputs: Record<string, string> = {};
  let outputError: unknown;
  if (failure === undefined) {
    try {
      outputs = resolveOutputs(template, ctx, stackName);
    } catch (error) {
      outputError = error;
    }
  }
  if (failure !== undefined || outputError !== undefined) {
    const reason = failure?.reason ?? outputError;
    const removed = await deleteResources(creationSequence, createdResources, () => true);
    clients.close();
    progress(
      `deploy of ${stackName} failed; deleted the ${removed.deleted.length} resources it had created`,
    );
    const message = messageOf(reason);
    if (SparklessError.is(reason)) {
      throw new SparklessError(reason.code, `${message} (nothing of the stack is left deployed)`, {
        cause: reason,
      });
    }
    fail(
      'DEPLOY_FAILED',
      `deployStack ${stackName}: ${message} (nothing of the stack is left deployed)`,
      reason,
    );
  }

  const resourceList: Record<string, DeployedResource> = {};
  for (const logicalId of active) {
    const created = createdResources.get(logicalId) as Created;
    const type = (resources[logicalId] as ResourceDefinition).Type;
    resourceList[logicalId] = {
      logicalId,
      type,
      physicalId: created.ref,
      ...(created.arn === undefined ? {} : { arn: created.arn }),
      effect: (ACCEPTED_TYPES as readonly string[]).includes(type) ? 'accepted' : 'created',
    };
  }

  // --- Schedules.
  const stopTimers = () => {
    for (const state of schedules.values()) {
      clearInterval(state.timer);
      state.timer = undefined;
    }
  };
  const fireOne = async (state: ScheduleState): Promise<void> => {
    const schedule = state.schedule;
    for (const target of schedule.targets) {
      const payload = target.input ?? scheduledEvent(schedule, region, accountId);
      try {
        await cloud.lambda.invokeText(target.functionName, payload, { type: 'Event' });
      } catch (error) {
        const code = (error as { code?: string }).code;
        progress(
          `schedule ${schedule.name}: could not invoke ${target.functionName}: ${messageOf(error)}`,
        );
        // The cloud has stopped: nothing will ever answer again.
        if (code === 'ServiceException') stopTimers();
      }
    }
  };
  for (const state of schedules.values()) {
    if (!state.schedule.enabled) continue;
    state.timer = setInterval(() => void fireOne(state), state.schedule.periodMs);
    state.timer.unref();
  }
  clients.close();
  progress(`deployed ${stackName} in ${Date.now() - started} ms`);
  if (options.fireSchedulesOnDeploy ?? true) {
    for (const state of schedules.values()) {
      if (!state.schedule.enabled) continue;
      progress(
        `schedule ${state.schedule.name}: first run now, rather than after ${state.schedule.expression}`,
      );
      await fireOne(state);
    }
  }

  let destroying: Promise<DestroyResult> | undefined;
  const deployment: LocalDeployment = {
    stackName,
    region,
    accountId,
    resources: resourceList,
    streams: parts.streams,
    tables: parts.tables,
    functions: parts.functions,
    schedules: parts.schedules,
    accepted: parts.accepted,
    skipped,
    outputs,
    fire: async (logicalId) => {
      if (logicalId === undefined) {
        for (const state of schedules.values()) if (state.schedule.enabled) await fireOne(state);
        return;
      }
      const state = schedules.get(logicalId);
      if (state === undefined) {
        fail(
          'INVALID_ARGUMENT',
          `deployment ${stackName}: ${logicalId} is not a schedule of the stack; its schedules: ${list([...schedules.keys()])}`,
        );
      }
      await fireOne(state);
    },
    stop: stopTimers,
    destroy: (destroyOptions = {}) => {
      destroying ??= (async () => {
        deployment.stop();
        const retainedPolicy = (id: string) =>
          ['Retain', 'RetainExceptOnCreate'].includes(
            (resources[id] as ResourceDefinition).DeletionPolicy ?? 'Delete',
          );
        const result = await deleteResources(
          creationSequence,
          createdResources,
          (id) => destroyOptions.deleteRetained === true || !retainedPolicy(id),
        );
        clients.close();
        progress(
          `destroyed ${stackName}: deleted ${result.deleted.length} resources` +
            (result.retained.length > 0
              ? `, kept ${list(result.retained)} (DeletionPolicy Retain)`
              : ''),
        );
        return result;
      })();
      return destroying;
    },
  };
  return deployment;
}

function resolveOutputs(
  template: Template,
  ctx: ResolveContext,
  stackName: string,
): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    if (output.Condition !== undefined && !ctx.condition(output.Condition, `output ${name}`))
      continue;
    const value = resolveValue(output.Value, ctx, `output ${name}`);
    if (value === NO_VALUE) continue;
    if (value === null || typeof value === 'object') {
      fail(
        'DEPLOY_INVALID',
        `deployStack ${stackName}: output ${name} must be a string, got ${JSON.stringify(value)}`,
      );
    }
    outputs[name] = String(value);
  }
  return outputs;
}

/** Deletes created resources, the last created first; `shouldDelete` picks which. */
async function deleteResources(
  sequence: readonly string[],
  created: ReadonlyMap<string, Created>,
  shouldDelete: (logicalId: string) => boolean,
): Promise<DestroyResult> {
  const deleted: string[] = [];
  const retained: string[] = [];
  for (const logicalId of [...sequence].reverse()) {
    const remove = created.get(logicalId)?.delete;
    if (remove === undefined) continue;
    if (!shouldDelete(logicalId)) {
      retained.push(logicalId);
      continue;
    }
    try {
      await remove();
    } catch {
      // Gone already, or the cloud is stopping: nothing left to delete.
    }
    deleted.push(logicalId);
  }
  return { deleted, retained };
}
