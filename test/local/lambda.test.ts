/**
 * The local Lambda service through the router, with `@aws-sdk/client-lambda` unchanged and
 * configured only by the environment. Handlers are in ./fixtures.
 */

import { fileURLToPath } from 'node:url';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  GetFunctionCommand,
  InvokeCommand,
  type InvokeCommandOutput,
  ResourceNotFoundException,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient, dynamoClient, lambdaClient } from '../../lib/aws/clients.js';
import {
  type AsyncFailureEvent,
  type InvokeStartEvent,
  LambdaService,
  LambdaServiceError,
  type LocalCloud,
  startLocalCloud,
} from '../../lib/local/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

let cloud: LocalCloud;
const savedEnv = { ...process.env };
/** Every pid the cloud started, so that the last test can check they are all gone. */
const seenPids = new Set<number>();

beforeAll(async () => {
  cloud = await startLocalCloud({ lambda: { asyncRetryDelayMs: 50 } });
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, cloud.env());
  seenPids.add(cloud.kinesis.pid);
  seenPids.add(cloud.dynamodb.pid);
  cloud.lambda.on('environment-start', (e) => seenPids.add(e.pid));
  const lambda = cloud.lambda;
  lambda.register({
    name: 'echo',
    entry: fixture('echo.ts'),
    environment: { GREETING: 'hello' },
  });
  lambda.register({ name: 'fail', entry: fixture('fail.ts') });
  lambda.register({ name: 'sleep', entry: fixture('sleep.ts'), timeoutMs: 10_000 });
  lambda.register({ name: 'slow', entry: fixture('sleep.ts'), timeoutMs: 1_000 });
  lambda.register({
    name: 'limited',
    entry: fixture('sleep.ts'),
    timeoutMs: 10_000,
    reservedConcurrency: 1,
  });
  lambda.register({ name: 'writer', entry: fixture('writer.ts'), timeoutMs: 10_000 });
});

afterAll(async () => {
  await cloud?.stop();
  process.env = savedEnv;
});

const decode = (payload: Uint8Array | undefined): unknown =>
  JSON.parse(new TextDecoder().decode(payload));

function invoke(
  name: string,
  event: unknown,
  extra: Partial<ConstructorParameters<typeof InvokeCommand>[0]> = {},
  client = lambdaClient(),
): Promise<InvokeCommandOutput> {
  return client.send(
    new InvokeCommand({ FunctionName: name, Payload: JSON.stringify(event), ...extra }),
  );
}

/** The next invoke-start of a function; subscribe before invoking. */
function nextStart(fn: string): Promise<InvokeStartEvent & { atMs: number }> {
  return new Promise((resolve) => {
    const listener = (event: InvokeStartEvent) => {
      if (event.function !== fn) return;
      cloud.lambda.off('invoke-start', listener);
      resolve({ ...event, atMs: Date.now() });
    };
    cloud.lambda.on('invoke-start', listener);
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ESRCH');
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Echo {
  event: unknown;
  pid: number;
  requestId: string;
  functionName: string;
  invokedFunctionArn: string;
  remainingMs: number;
  env: Record<string, string | undefined>;
}

interface Slept {
  pid: number;
  startMs: number;
  endMs: number;
}

describe('local Lambda: synchronous invocations', () => {
  it('returns the handler result, run with Lambda context and environment', async () => {
    const response = await invoke('echo', { order: 42 });
    expect(response.StatusCode).toBe(200);
    expect(response.FunctionError).toBeUndefined();
    expect(response.ExecutedVersion).toBe('$LATEST');
    const echo = decode(response.Payload) as Echo;
    expect(echo.event).toEqual({ order: 42 });
    expect(echo.requestId).toBe(response.$metadata.requestId);
    expect(echo.functionName).toBe('echo');
    expect(echo.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:echo');
    expect(echo.remainingMs).toBeGreaterThan(0);
    expect(echo.remainingMs).toBeLessThanOrEqual(3_000);
    expect(echo.env).toEqual({
      AWS_ENDPOINT_URL: cloud.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: 'echo',
      GREETING: 'hello',
    });
  });

  it('reuses a warm environment: one pid serves sequential calls', async () => {
    const first = decode((await invoke('echo', { n: 1 })).Payload) as Echo;
    const second = decode((await invoke('echo', { n: 2 })).Payload) as Echo;
    expect(second.pid).toBe(first.pid);
    expect(cloud.lambda.pids('echo')).toEqual([first.pid]);
  });

  it('captures log lines per invocation, and returns them with LogType Tail', async () => {
    const response = await invoke('echo', { logged: true }, { LogType: 'Tail' });
    const requestId = response.$metadata.requestId as string;
    const lines = cloud.lambda.logs('echo', { requestId });
    expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual([
      'echo {"logged":true}',
    ]);
    expect(lines.map((l) => l.text)).toContain(`END RequestId: ${requestId}`);
    const tail = Buffer.from(response.LogResult ?? '', 'base64').toString('utf8');
    expect(tail).toContain('echo {"logged":true}');
    expect(tail).toContain(`START RequestId: ${requestId}`);
  });

  it('answers 404 ResourceNotFoundException for an unknown function', async () => {
    const error = await invoke('no-such-function', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect((error as ResourceNotFoundException).$metadata.httpStatusCode).toBe(404);
    expect((error as Error).message).toContain('function:no-such-function');
  });

  it('answers 400 InvalidRequestContentException to a payload that is not JSON', async () => {
    const response = await fetch(`${cloud.endpoint}/2015-03-31/functions/echo/invocations`, {
      method: 'POST',
      body: '{"order": ',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('InvalidRequestContentException');
    expect(((await response.json()) as { message: string }).message).toMatch(
      /^Could not parse request body into json/,
    );
  });

  it('answers 204 to a DryRun without running anything', async () => {
    const before = cloud.lambda.logs('fail').length;
    const response = await invoke('fail', {}, { InvocationType: 'DryRun' });
    expect(response.StatusCode).toBe(204);
    expect(cloud.lambda.logs('fail')).toHaveLength(before);
  });

  it("reports a thrown error as FunctionError 'Unhandled' with Lambda's error payload", async () => {
    const response = await invoke('fail', { id: '42' });
    expect(response.StatusCode).toBe(200);
    expect(response.FunctionError).toBe('Unhandled');
    const error = decode(response.Payload) as {
      errorType: string;
      errorMessage: string;
      stackTrace: string[];
    };
    expect(error.errorType).toBe('InvalidOrder');
    expect(error.errorMessage).toBe('order 42 has no items');
    expect(error.stackTrace.some((line) => line.includes('fail.ts'))).toBe(true);
  });

  it('ends an invocation at the function timeout and replaces its environment', async () => {
    const started = nextStart('slow');
    const response = await invoke('slow', { ms: 5_000 });
    const { pid } = await started;
    expect(response.FunctionError).toBe('Unhandled');
    const error = decode(response.Payload) as { errorType: string; errorMessage: string };
    expect(error.errorType).toBe('Sandbox.Timedout');
    expect(error.errorMessage).toContain('Task timed out after 1.00 seconds');
    await waitFor(`pid ${pid} to exit`, () => (isAlive(pid) ? undefined : true));
    const next = decode((await invoke('slow', { ms: 1 })).Payload) as Slept;
    expect(next.pid).not.toBe(pid);
  });
});

describe('local Lambda: concurrency', () => {
  it('runs two invocations at once, in two environments', async () => {
    const [a, b] = (await Promise.all([
      invoke('sleep', { ms: 800 }).then((r) => decode(r.Payload)),
      invoke('sleep', { ms: 800 }).then((r) => decode(r.Payload)),
    ])) as [Slept, Slept];
    expect(a.pid).not.toBe(b.pid);
    // The intervals overlap: each started before the other ended.
    expect(a.startMs).toBeLessThan(b.endMs);
    expect(b.startMs).toBeLessThan(a.endMs);
  });

  it('fails only the invocation whose environment is killed; a concurrent one finishes', async () => {
    const firstStarted = nextStart('sleep');
    const victim = invoke('sleep', { ms: 5_000 });
    const { pid: victimPid, requestId } = await firstStarted;
    expect(cloud.lambda.pidOf(requestId)).toBe(victimPid);

    const secondStarted = nextStart('sleep');
    const survivor = invoke('sleep', { ms: 600 });
    const { pid: survivorPid } = await secondStarted;
    expect(survivorPid).not.toBe(victimPid);

    process.kill(victimPid, 'SIGKILL');
    const killed = await victim;
    expect(killed.FunctionError).toBe('Unhandled');
    const error = decode(killed.Payload) as { errorType: string; errorMessage: string };
    expect(error.errorType).toBe('Runtime.ExitError');
    expect(error.errorMessage).toContain('signal: killed');

    const finished = await survivor;
    expect(finished.FunctionError).toBeUndefined();
    expect((decode(finished.Payload) as Slept).pid).toBe(survivorPid);
    expect(isAlive(survivorPid)).toBe(true);
    expect(cloud.lambda.pids('sleep')).not.toContain(victimPid);
  });

  it('throttles synchronous calls over the reserved concurrency with 429; queues async ones', async () => {
    const starts: Array<InvokeStartEvent & { atMs: number }> = [];
    const record = (event: InvokeStartEvent) => {
      if (event.function === 'limited') starts.push({ ...event, atMs: Date.now() });
    };
    cloud.lambda.on('invoke-start', record);
    try {
      const firstStarted = nextStart('limited');
      const first = invoke('limited', { ms: 1_000 });
      await firstStarted;

      const noRetries = lambdaClient({ maxAttempts: 1 });
      const throttled = await invoke('limited', { ms: 1 }, {}, noRetries).catch((e: unknown) => e);
      expect(throttled).toBeInstanceOf(TooManyRequestsException);
      expect((throttled as TooManyRequestsException).$metadata.httpStatusCode).toBe(429);
      expect((throttled as TooManyRequestsException).Reason).toBe(
        'ReservedFunctionConcurrentInvocationLimitExceeded',
      );

      const queued = await invoke('limited', { ms: 1 }, { InvocationType: 'Event' }, noRetries);
      expect(queued.StatusCode).toBe(202);
      const done = (decode((await first).Payload) as Slept).endMs;
      await cloud.lambda.drain();
      // The first and the queued one ran; the throttled one never did; the queued one ran
      // only once the first had finished.
      expect(starts).toHaveLength(2);
      expect(starts[1]?.type).toBe('Event');
      expect(starts[1]?.atMs).toBeGreaterThanOrEqual(done);
    } finally {
      cloud.lambda.off('invoke-start', record);
    }
  });
});

describe('local Lambda: the account-wide limit', () => {
  it('throttles any function once the concurrency limit is in use', async () => {
    // A service of its own (no emulators needed), invoked in-process.
    const service = new LambdaService({ concurrencyLimit: 1 });
    service.on('environment-start', (e) => seenPids.add(e.pid));
    try {
      service.register({ name: 'a', entry: fixture('sleep.ts'), timeoutMs: 10_000 });
      service.register({ name: 'b', entry: fixture('sleep.ts'), timeoutMs: 10_000 });
      const started = new Promise((resolve) => service.once('invoke-start', resolve));
      const running = service.invoke('a', { ms: 300 });
      await started;
      const error = await service.invoke('b', { ms: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LambdaServiceError);
      expect((error as LambdaServiceError).code).toBe('TooManyRequestsException');
      expect((error as LambdaServiceError).extra.Reason).toBe('ConcurrentInvocationLimitExceeded');
      expect((await running).statusCode).toBe(200);
      // Once the first is done, the limit is free again; the idle environment of 'a' makes
      // way for one of 'b'.
      const after = await service.invoke('b', { ms: 1 });
      expect(after.functionError).toBeUndefined();
      expect(service.pids('b')).toHaveLength(1);
    } finally {
      await service.stop();
    }
  });
});

describe('local Lambda: GetFunction', () => {
  it("answers GetFunction with the function's configuration, for the SDK's waiters", async () => {
    const got = await lambdaClient().send(new GetFunctionCommand({ FunctionName: 'slow' }));
    expect(got.Configuration?.FunctionName).toBe('slow');
    expect(got.Configuration?.Timeout).toBe(1);
    expect(got.Configuration?.State).toBe('Active');
    expect(got.Configuration?.Handler).toBe('sleep.handler');
  });
});

describe('local Lambda: asynchronous invocations', () => {
  it('answers 202 and runs the function, which reaches DynamoDB through AWS_ENDPOINT_URL', async () => {
    const TableName = 'side-effects';
    await dynamoClient().send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      }),
    );
    const response = await invoke(
      'writer',
      { table: TableName, id: 'async-1' },
      { InvocationType: 'Event' },
    );
    expect(response.StatusCode).toBe(202);
    expect(response.Payload?.length ?? 0).toBe(0);
    const db = documentClient();
    const item = await waitFor('the item written by the function', async () => {
      const got = await db.send(
        new GetCommand({ TableName, Key: { pk: 'async-1' }, ConsistentRead: true }),
      );
      return got.Item;
    });
    expect(cloud.lambda.pids('writer')).toContain(item.pid);
  });

  it('retries a failing asynchronous invocation twice, then reports it', async () => {
    const failed = new Promise<AsyncFailureEvent>((resolve) =>
      cloud.lambda.once('async-failure', resolve),
    );
    const starts: InvokeStartEvent[] = [];
    const record = (event: InvokeStartEvent) => {
      if (event.function === 'fail') starts.push(event);
    };
    cloud.lambda.on('invoke-start', record);
    try {
      const response = await invoke('fail', { id: '7' }, { InvocationType: 'Event' });
      expect(response.StatusCode).toBe(202);
      const failure = await failed;
      expect(failure.function).toBe('fail');
      expect(failure.attempts).toBe(3);
      expect(failure.error.errorMessage).toBe('order 7 has no items');
      expect(starts.map((s) => s.attempt)).toEqual([1, 2, 3]);
      expect(new Set(starts.map((s) => s.requestId)).size).toBe(1);
    } finally {
      cloud.lambda.off('invoke-start', record);
    }
  });
});

describe('local Lambda: registration', () => {
  it('rejects a relative entry and a missing one, naming the function', () => {
    expect(() => cloud.lambda.register({ name: 'bad', entry: 'fixtures/echo.ts' })).toThrow(
      "function 'bad': entry must be an absolute path",
    );
    expect(() => cloud.lambda.register({ name: 'bad', entry: fixture('missing.ts') })).toThrow(
      /function 'bad': entry '.*missing\.ts' does not exist/,
    );
  });
});

describe('local cloud: stop', () => {
  it('leaves no child process alive', async () => {
    expect(seenPids.size).toBeGreaterThan(5);
    for (const pid of cloud.pids()) seenPids.add(pid);
    await cloud.stop();
    const alive = [...seenPids].filter(isAlive);
    expect(alive).toEqual([]);
  });
});
