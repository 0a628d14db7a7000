/**
 * The embedded local cloud: kinesis-local, dynalite and the local Lambda service behind one
 * router on loopback. Every SDK client reaches all three through `AWS_ENDPOINT_URL`, the
 * functions included, so code under test never names an endpoint.
 *
 *   const cloud = await startLocalCloud();
 *   Object.assign(process.env, cloud.env());
 *   cloud.lambda.register({ name: 'worker', entry: '/abs/path/worker.ts' });
 *   ...
 *   await cloud.stop();
 */
import { type Dynalite, type DynaliteOptions, startDynalite } from './dynamo.js';
import { type KinesisLocal, type KinesisLocalOptions, startKinesisLocal } from './kinesis.js';
import { type FunctionDefinition, LambdaService, type LambdaServiceOptions } from './lambda.js';
import { type Router, startRouter } from './router.js';

export interface LocalCloudOptions {
  /** The region clients and functions use (default us-east-1). */
  readonly region?: string;
  /** The router's port (default 0: one the system picks). */
  readonly port?: number;
  /** Called with a short message at each step of starting and stopping. */
  readonly onProgress?: (message: string) => void;
  /** How long each emulator may take to start (default 30 s). */
  readonly startTimeoutMs?: number;
  readonly kinesis?: Omit<KinesisLocalOptions, 'region' | 'startTimeoutMs'>;
  readonly dynamodb?: Omit<DynaliteOptions, 'startTimeoutMs'>;
  readonly lambda?: Omit<LambdaServiceOptions, 'endpoint' | 'region' | 'credentials'>;
  /** Functions to register once the cloud is up. */
  readonly functions?: readonly FunctionDefinition[];
}

export interface LocalCloud {
  /** The router: the one endpoint for every service. */
  readonly endpoint: string;
  readonly region: string;
  readonly kinesis: { readonly endpoint: string; readonly pid: number };
  readonly dynamodb: { readonly endpoint: string; readonly pid: number };
  readonly lambda: LambdaService;
  /** What an SDK client needs to use this cloud: endpoint, region and (dummy) credentials. */
  env(): Record<string, string>;
  /** The pids of the emulators and of the live Lambda environments. */
  pids(): number[];
  /** Stops everything; resolves once every child process has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Dummy credentials: nothing checks them, but the SDK wants some to sign with. */
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/** Starts the local cloud: the emulators concurrently, then the router and the Lambda service. */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const region = options.region ?? 'us-east-1';
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const since = () => `${Date.now() - started} ms`;
  const timeout =
    options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs };

  progress('starting kinesis-local and dynalite');
  const [kinesisResult, dynamoResult, routerResult] = await Promise.allSettled([
    startKinesisLocal({ ...options.kinesis, ...timeout, region }).then((k) => {
      progress(`kinesis-local answering on ${k.endpoint} (pid ${k.pid}) after ${since()}`);
      return k;
    }),
    startDynalite({ ...options.dynamodb, ...timeout }).then((d) => {
      progress(`dynalite listening on ${d.endpoint} (pid ${d.pid}) after ${since()}`);
      return d;
    }),
    startRouter(options.port === undefined ? {} : { port: options.port }),
  ]);

  const failures: string[] = [];
  for (const [name, result] of [
    ['kinesis-local', kinesisResult],
    ['dynalite', dynamoResult],
    ['router', routerResult],
  ] as const) {
    if (result.status === 'rejected') {
      const message = (result.reason as Error)?.message ?? String(result.reason);
      failures.push(message.includes(name) ? message : `${name}: ${message}`);
    }
  }
  if (failures.length > 0) {
    const running: Array<KinesisLocal | Dynalite | Router> = [];
    for (const result of [kinesisResult, dynamoResult, routerResult]) {
      if (result.status === 'fulfilled') running.push(result.value);
    }
    await Promise.all(running.map((service) => service.stop()));
    progress('start failed; stopped what had started');
    throw new Error(`the local cloud could not start:\n${failures.join('\n')}`);
  }
  const kinesis = (kinesisResult as PromiseFulfilledResult<KinesisLocal>).value;
  const dynamo = (dynamoResult as PromiseFulfilledResult<Dynalite>).value;
  const router = (routerResult as PromiseFulfilledResult<Router>).value;

  const lambda = new LambdaService({
    ...options.lambda,
    endpoint: router.endpoint,
    region,
    credentials: CREDENTIALS,
  });
  router.targets.kinesis = kinesis.endpoint;
  router.targets.dynamodb = dynamo.endpoint;
  router.targets.lambda = lambda;
  for (const definition of options.functions ?? []) lambda.register(definition);
  progress(`local cloud ready on ${router.endpoint} after ${since()}`);

  let stopping: Promise<void> | undefined;
  return {
    endpoint: router.endpoint,
    region,
    kinesis: { endpoint: kinesis.endpoint, pid: kinesis.pid },
    dynamodb: { endpoint: dynamo.endpoint, pid: dynamo.pid },
    lambda,
    env: () => ({
      AWS_ENDPOINT_URL: router.endpoint,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    }),
    pids: () => [
      kinesis.pid,
      dynamo.pid,
      ...lambda.functions().flatMap((fn) => lambda.pids(fn.name)),
    ],
    stop: () => {
      stopping ??= (async () => {
        progress('stopping the local cloud');
        const began = Date.now();
        await Promise.all([lambda.stop(), router.stop(), kinesis.stop(), dynamo.stop()]);
        progress(`local cloud stopped in ${Date.now() - began} ms`);
      })();
      return stopping;
    },
  };
}
