/**
 * The local Lambda service: Lambda's Invoke API over worker processes, so that
 * `@aws-sdk/client-lambda` works against it unchanged (through the router, or on its own).
 * The HTTP side is in lambda-api.ts; this is the scheduling of invocations:
 *
 *   RequestResponse  -> the function's result, or on a function error its payload
 *                       { errorType, errorMessage, stackTrace } with FunctionError 'Unhandled'
 *   Event            -> 202 at once; run when there is capacity, retried on failure
 *   DryRun           -> 204
 *   unknown function -> 404 ResourceNotFoundException
 *   over the limit   -> 429 TooManyRequestsException for synchronous calls; asynchronous
 *                       ones wait in the function's queue, as on Lambda
 *
 * Each concurrent execution environment is a process of its own (runner.ts), forked on
 * demand, kept warm and reused, so invocations of one function run in parallel and a crash
 * or a kill ends one invocation only: it gets `Runtime.ExitError`, the others finish. A
 * timeout kills the environment and answers `Task timed out after N seconds`; the next
 * invocation gets a fresh one. Limits follow Lambda's model: a function with reserved
 * concurrency gets exactly that; the others share what the account limit leaves.
 *
 * `restart()` replaces every process at once, as when the hosts under a function are replaced:
 * running invocations fail as if their environment crashed, and fresh environments take over.
 *
 * What differs from Lambda: environments are not frozen between invocations (timers keep
 * running), `memoryMb` is reported to the handler but not enforced, and failed asynchronous
 * invocations are retried after seconds rather than minutes.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ASYNC_PAYLOAD_LIMIT,
  handleLambdaRequest,
  type InvokeOptions,
  type InvokeOutput,
  LambdaServiceError,
  parseFunctionName,
  SYNC_PAYLOAD_LIMIT,
} from './lambda-api.js';
import { baseEnvironment, kill, track } from './processes.js';
import {
  type ErrorPayload,
  type InvokeMessage,
  RUNNER_FLAG,
  type RunnerConfig,
  type RunnerMessage,
} from './runner.js';

export type { InvocationType, InvokeOptions, InvokeOutput } from './lambda-api.js';
export { LambdaServiceError, parseFunctionName } from './lambda-api.js';
export type { ErrorPayload } from './runner.js';

/** A function as the service runs it. */
export interface FunctionDefinition {
  /** The function's name: letters, digits, `-` and `_`, at most 64 characters. */
  readonly name: string;
  /** Absolute path of the handler's module (TypeScript is fine). */
  readonly entry: string;
  /** The handler's export name (default `handler`). */
  readonly handler?: string;
  /** The function's own environment variables. */
  readonly environment?: Readonly<Record<string, string>>;
  /** How long an invocation may run (default 3 s, Lambda's default). */
  readonly timeoutMs?: number;
  /** Reported to the handler as `context.memoryLimitInMB` (default 128); not enforced. */
  readonly memoryMb?: number;
  /** Concurrent executions set aside for this function; 0 throttles every invocation. */
  readonly reservedConcurrency?: number;
}

export interface LambdaServiceOptions {
  /** `AWS_ENDPOINT_URL` for the functions (the router's address); settable later. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly accountId?: string;
  /** The credentials functions get (dummy values: nothing checks them). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Concurrent executions across all functions (the account limit; default 16). */
  readonly concurrencyLimit?: number;
  /** An environment idle this long is stopped (default 10 minutes). */
  readonly idleTimeoutMs?: number;
  /** How long loading a function's module may take (default 30 s). */
  readonly initTimeoutMs?: number;
  /** Retries of a failed asynchronous invocation (default 2, as Lambda). */
  readonly asyncRetries?: number;
  /** Delay before the first retry, doubled for each next one (default 1 s). */
  readonly asyncRetryDelayMs?: number;
  /** Echo functions' log lines: `true` writes them to stderr, or give a function. */
  readonly echo?: boolean | ((line: LogLine) => void);
  /** Log lines kept per function (default 10,000). */
  readonly maxLogLines?: number;
  /** Node options of the environments (default: TypeScript through tsx, `source` exports). */
  readonly execArgv?: readonly string[];
  /** Working directory of the environments (default: this process's). */
  readonly cwd?: string;
}

/** One line a function printed, or one of the service's START / END / REPORT lines. */
export interface LogLine {
  readonly function: string;
  readonly requestId: string | undefined;
  readonly pid: number;
  readonly stream: 'stdout' | 'stderr' | 'platform';
  readonly text: string;
  readonly timeMs: number;
}

export interface InvokeStartEvent {
  readonly function: string;
  readonly requestId: string;
  readonly pid: number;
  readonly type: 'RequestResponse' | 'Event';
  readonly attempt: number;
  /** The event as JSON text, so that a test can pick which invocation to interfere with. */
  readonly payload: string;
}

export interface InvokeEndEvent {
  readonly function: string;
  readonly requestId: string;
  readonly pid: number;
  readonly durationMs: number;
  readonly error?: ErrorPayload;
}

export interface EnvironmentEvent {
  readonly function: string;
  readonly pid: number;
}

export interface EnvironmentExitEvent extends EnvironmentEvent {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface AsyncFailureEvent {
  readonly function: string;
  readonly requestId: string;
  readonly attempts: number;
  readonly error: ErrorPayload;
}

export interface LambdaServiceEvents {
  'invoke-start': [InvokeStartEvent];
  'invoke-end': [InvokeEndEvent];
  'environment-start': [EnvironmentEvent];
  'environment-exit': [EnvironmentExitEvent];
  'async-failure': [AsyncFailureEvent];
  log: [LogLine];
}

/** What `restart()` did. */
export interface RestartResult {
  /** The pids of the environments killed. */
  readonly killed: readonly number[];
  /** The pids of the environments started in their place, initialized. */
  readonly started: readonly number[];
}

/** One execution environment as `environments()` shows it. */
export interface EnvironmentInfo {
  readonly pid: number;
  readonly busy: boolean;
  readonly requestId: string | undefined;
}

// ---------------------------------------------------------------------------------------

const TAIL_BYTES = 4096;
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

type Outcome = { readonly ok: true; readonly payload: string } | ErrorOutcome;
type ErrorOutcome = { readonly ok: false; readonly error: ErrorPayload };

interface Invocation {
  readonly requestId: string;
  readonly fn: FunctionState;
  readonly payload: string;
  readonly type: 'RequestResponse' | 'Event';
  readonly clientContext: string | undefined;
  attempt: number;
  settled: boolean;
  env?: Environment;
  startMs?: number;
  timer?: NodeJS.Timeout;
  tail?: string[];
  done: (outcome: Outcome) => void;
}

interface Environment {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly fn: FunctionState;
  ready: boolean;
  /** Killed or superseded: never handed another invocation. */
  retired: boolean;
  initError?: ErrorPayload;
  initTimer?: NodeJS.Timeout;
  invocation?: Invocation;
  lastUsedMs: number;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  disconnected: boolean;
  /** A moment has passed since the exit: stop waiting for the channel to report closing. */
  exitGraceOver?: boolean;
  gone: boolean;
  readonly received: { stdout: number; stderr: number };
  readonly partial: { stdout: string; stderr: string };
  readonly decoders: { stdout: StringDecoder; stderr: StringDecoder };
  /** A result waiting for the log lines written before it. */
  pendingResult?: { message: RunnerMessage & { type: 'result' }; timer: NodeJS.Timeout };
  /** Called once the environment is initialized or gone (see `restart()`). */
  settledWaiters?: Array<() => void>;
}

interface FunctionState {
  def: Required<Omit<FunctionDefinition, 'reservedConcurrency'>> & {
    readonly reservedConcurrency: number | undefined;
  };
  readonly envs: Set<Environment>;
  /** Idle environments, the most recently used last. */
  readonly idle: Environment[];
  /** Asynchronous invocations waiting for capacity. */
  readonly queue: Invocation[];
  busy: number;
  readonly logs: LogLine[];
}

const requireHere = createRequire(import.meta.url);

/** The runner module beside this one: runner.ts from source, runner.js from a build. */
function runnerPath(): string {
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), `runner${extname(here)}`);
}

function defaultExecArgv(): string[] {
  return ['--conditions=source', '--import', pathToFileURL(requireHere.resolve('tsx')).href];
}

function signalText(signal: NodeJS.Signals): string {
  const names: Partial<Record<NodeJS.Signals, string>> = {
    SIGKILL: 'killed',
    SIGTERM: 'terminated',
    SIGSEGV: 'segmentation fault',
    SIGABRT: 'aborted',
    SIGINT: 'interrupt',
  };
  return names[signal] ?? signal.toLowerCase();
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** The local Lambda service. Invoke through `handle` (HTTP) or `invoke` (in-process). */
export class LambdaService extends EventEmitter<LambdaServiceEvents> {
  /** `AWS_ENDPOINT_URL` for environments started from now on. */
  endpoint: string | undefined;
  readonly region: string;
  readonly accountId: string;
  readonly #credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly #limit: number;
  readonly #idleTimeoutMs: number;
  readonly #initTimeoutMs: number;
  readonly #asyncRetries: number;
  readonly #asyncRetryDelayMs: number;
  readonly #echo: ((line: LogLine) => void) | undefined;
  readonly #maxLogLines: number;
  readonly #execArgv: readonly string[];
  readonly #cwd: string;
  readonly #runner = runnerPath();
  readonly #functions = new Map<string, FunctionState>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  readonly #reaper: NodeJS.Timeout;
  #pendingAsync = 0;
  #drainWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(options: LambdaServiceOptions = {}) {
    super();
    this.endpoint = options.endpoint;
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.#credentials = options.credentials ?? { accessKeyId: 'test', secretAccessKey: 'test' };
    this.#limit = options.concurrencyLimit ?? 16;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 10 * 60_000;
    this.#initTimeoutMs = options.initTimeoutMs ?? 30_000;
    this.#asyncRetries = options.asyncRetries ?? 2;
    this.#asyncRetryDelayMs = options.asyncRetryDelayMs ?? 1_000;
    const echo = options.echo;
    this.#echo =
      echo === true
        ? (line) => process.stderr.write(`[${line.function}] ${line.text}\n`)
        : typeof echo === 'function'
          ? echo
          : undefined;
    this.#maxLogLines = options.maxLogLines ?? 10_000;
    this.#execArgv = options.execArgv ?? defaultExecArgv();
    this.#cwd = options.cwd ?? process.cwd();
    if (!Number.isInteger(this.#limit) || this.#limit < 1) {
      throw new Error(`concurrencyLimit must be a positive integer, got ${this.#limit}`);
    }
    this.#reaper = setInterval(() => this.#reapIdle(), Math.min(this.#idleTimeoutMs, 30_000));
    this.#reaper.unref();
  }

  // -------------------------------------------------------------------------------------
  // Functions

  /**
   * Adds a function, or replaces one of the same name: its environments are retired (idle
   * ones at once, busy ones when their invocation ends), so the next invocation runs the
   * new definition.
   */
  register(definition: FunctionDefinition): void {
    this.#assertRunning();
    const { name, entry } = definition;
    if (!NAME_PATTERN.test(name)) {
      throw new Error(
        `function name '${name}' must be 1-64 letters, digits, hyphens or underscores`,
      );
    }
    if (!isAbsolute(entry)) {
      throw new Error(`function '${name}': entry must be an absolute path, got '${entry}'`);
    }
    if (!existsSync(entry)) {
      throw new Error(`function '${name}': entry '${entry}' does not exist`);
    }
    const timeoutMs = definition.timeoutMs ?? 3_000;
    if (!(timeoutMs > 0)) {
      throw new Error(`function '${name}': timeoutMs must be positive, got ${timeoutMs}`);
    }
    const reserved = definition.reservedConcurrency;
    if (reserved !== undefined) {
      const others = this.#reservedTotal(name);
      if (!Number.isInteger(reserved) || reserved < 0 || others + reserved > this.#limit) {
        throw new Error(
          `function '${name}': reservedConcurrency ${reserved} must be a whole number and, with ` +
            `the ${others} reserved by other functions, at most the concurrency limit ` +
            `${this.#limit}`,
        );
      }
    }
    const def = {
      name,
      entry,
      handler: definition.handler ?? 'handler',
      environment: { ...definition.environment },
      timeoutMs,
      memoryMb: definition.memoryMb ?? 128,
      reservedConcurrency: reserved,
    };
    const existing = this.#functions.get(name);
    if (existing !== undefined) {
      existing.def = def;
      for (const env of existing.envs) this.#retire(env);
      this.#pump();
      return;
    }
    this.#functions.set(name, {
      def,
      envs: new Set(),
      idle: [],
      queue: [],
      busy: 0,
      logs: [],
    });
  }

  /** Removes a function, stopping its environments; queued invocations are dropped. */
  async unregister(name: string): Promise<void> {
    const fn = this.#functions.get(name);
    if (fn === undefined) return;
    this.#functions.delete(name);
    fn.queue.length = 0;
    await Promise.all([...fn.envs].map((env) => this.#kill(env)));
  }

  functions(): FunctionDefinition[] {
    return [...this.#functions.values()].map((fn) => ({ ...fn.def }));
  }

  /** A function's definition with its defaults filled in; 404 when there is none. */
  definition(name: string): Required<Omit<FunctionDefinition, 'reservedConcurrency'>> & {
    readonly reservedConcurrency: number | undefined;
  } {
    const fn = this.#functions.get(name);
    if (fn === undefined) {
      throw new LambdaServiceError(
        'ResourceNotFoundException',
        404,
        `Function not found: ${this.arnOf(name)}`,
      );
    }
    return { ...fn.def, environment: { ...fn.def.environment } };
  }

  arnOf(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.accountId}:function:${name}`;
  }

  // -------------------------------------------------------------------------------------
  // Introspection, for tests that inject faults

  /** The live execution environments of a function. */
  environments(name: string): EnvironmentInfo[] {
    const fn = this.#functions.get(name);
    if (fn === undefined) return [];
    return [...fn.envs]
      .filter((env) => !env.gone)
      .map((env) => ({
        pid: env.pid,
        busy: env.invocation !== undefined,
        requestId: env.invocation?.requestId,
      }));
  }

  /** The pids of a function's live execution environments. */
  pids(name: string): number[] {
    return this.environments(name).map((env) => env.pid);
  }

  /** The pid of the environment running an invocation, while it runs. */
  pidOf(requestId: string): number | undefined {
    for (const fn of this.#functions.values()) {
      for (const env of fn.envs) {
        if (env.invocation?.requestId === requestId && !env.gone) return env.pid;
      }
    }
    return undefined;
  }

  /** A function's log lines (all functions' when no name is given), oldest first. */
  logs(name?: string, filter: { requestId?: string } = {}): LogLine[] {
    const fns = name === undefined ? [...this.#functions.values()] : [this.#functions.get(name)];
    const lines = fns.flatMap((fn) => fn?.logs ?? []);
    if (name === undefined) lines.sort((a, b) => a.timeMs - b.timeMs);
    return filter.requestId === undefined
      ? lines
      : lines.filter((line) => line.requestId === filter.requestId);
  }

  /** Resolves when no invocation runs, waits or waits for a retry. */
  drain(): Promise<void> {
    if (this.#isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  // -------------------------------------------------------------------------------------
  // Invoking

  /**
   * Invokes a function in-process, as the HTTP API does. Throws LambdaServiceError for what
   * the API answers with an error status (404, 429, 413, 400).
   */
  async invoke(name: string, event: unknown, options: InvokeOptions = {}): Promise<InvokeOutput> {
    const payload = event === undefined ? '{}' : JSON.stringify(event);
    return this.invokeText(name, payload, options);
  }

  /**
   * Invokes a function with its event as JSON text (empty means `{}`). `name` may be a name,
   * `name:qualifier`, a partial or a full ARN; only the `$LATEST` qualifier exists here.
   */
  async invokeText(
    rawName: string,
    payload: string,
    options: InvokeOptions & { readonly qualifier?: string } = {},
  ): Promise<InvokeOutput> {
    const qualifier = options.qualifier;
    if (this.#stopped) {
      throw new LambdaServiceError('ServiceException', 503, 'the local Lambda service is stopped');
    }
    const parsed = parseFunctionName(rawName);
    const name = parsed.name;
    const q = qualifier ?? parsed.qualifier;
    const fn = this.#functions.get(name);
    if (fn === undefined || (q !== undefined && q !== '$LATEST')) {
      const known = [...this.#functions.keys()].join(', ') || 'none';
      throw new LambdaServiceError(
        'ResourceNotFoundException',
        404,
        `Function not found: ${this.arnOf(name)}${q === undefined ? '' : `:${q}`} ` +
          `(functions registered locally: ${known})`,
      );
    }
    const type = options.type ?? 'RequestResponse';
    const limit = type === 'Event' ? ASYNC_PAYLOAD_LIMIT : SYNC_PAYLOAD_LIMIT;
    if (Buffer.byteLength(payload) > limit) {
      throw new LambdaServiceError(
        'RequestTooLargeException',
        413,
        `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
      );
    }
    const requestId = randomUUID();
    if (type === 'DryRun') return { requestId, statusCode: 204, payload: '' };
    const text = payload.trim() === '' ? '{}' : payload;

    if (type === 'Event') {
      this.#pendingAsync += 1;
      const invocation = this.#newInvocation(fn, requestId, text, 'Event', options, (outcome) =>
        this.#asyncDone(invocation, outcome),
      );
      if (!this.#tryStart(invocation)) fn.queue.push(invocation);
      return { requestId, statusCode: 202, payload: '' };
    }

    return new Promise<InvokeOutput>((resolve, reject) => {
      const invocation = this.#newInvocation(
        fn,
        requestId,
        text,
        'RequestResponse',
        options,
        (outcome) => {
          const logResult =
            invocation.tail === undefined
              ? undefined
              : Buffer.from(Buffer.from(invocation.tail.join('\n')).subarray(-TAIL_BYTES)).toString(
                  'base64',
                );
          const tail = logResult === undefined ? {} : { logResult };
          if (outcome.ok) {
            if (Buffer.byteLength(outcome.payload) > SYNC_PAYLOAD_LIMIT) {
              const error = {
                errorType: 'Function.ResponseSizeTooLarge',
                errorMessage: `Response payload size exceeded maximum allowed payload size (${SYNC_PAYLOAD_LIMIT} bytes).`,
              };
              resolve({
                requestId,
                statusCode: 200,
                payload: JSON.stringify(error),
                functionError: 'Unhandled',
                ...tail,
              });
              return;
            }
            resolve({ requestId, statusCode: 200, payload: outcome.payload, ...tail });
          } else {
            resolve({
              requestId,
              statusCode: 200,
              payload: JSON.stringify(outcome.error),
              functionError: 'Unhandled',
              ...tail,
            });
          }
        },
      );
      if (!this.#tryStart(invocation)) {
        const reserved = fn.def.reservedConcurrency !== undefined;
        reject(
          new LambdaServiceError('TooManyRequestsException', 429, 'Rate Exceeded.', {
            Reason: reserved
              ? 'ReservedFunctionConcurrentInvocationLimitExceeded'
              : 'ConcurrentInvocationLimitExceeded',
          }),
        );
      }
    });
  }

  #newInvocation(
    fn: FunctionState,
    requestId: string,
    payload: string,
    type: 'RequestResponse' | 'Event',
    options: InvokeOptions,
    done: (outcome: Outcome) => void,
  ): Invocation {
    const invocation: Invocation = {
      requestId,
      fn,
      payload,
      type,
      clientContext: options.clientContext,
      attempt: 1,
      settled: false,
      done,
    };
    if (options.tail === true && type === 'RequestResponse') invocation.tail = [];
    return invocation;
  }

  #asyncDone(invocation: Invocation, outcome: Outcome): void {
    if (outcome.ok || this.#stopped || !this.#functions.has(invocation.fn.def.name)) {
      this.#asyncSettled();
      return;
    }
    if (invocation.attempt > this.#asyncRetries) {
      this.emit('async-failure', {
        function: invocation.fn.def.name,
        requestId: invocation.requestId,
        attempts: invocation.attempt,
        error: outcome.error,
      });
      this.#asyncSettled();
      return;
    }
    const delay = this.#asyncRetryDelayMs * 2 ** (invocation.attempt - 1);
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      const fn = this.#functions.get(invocation.fn.def.name);
      if (this.#stopped || fn === undefined) {
        this.#asyncSettled();
        return;
      }
      const retry: Invocation = {
        ...invocation,
        fn,
        attempt: invocation.attempt + 1,
        settled: false,
        env: undefined,
        startMs: undefined,
        timer: undefined,
        done: (next) => this.#asyncDone(retry, next),
      };
      if (!this.#tryStart(retry)) fn.queue.push(retry);
    }, delay);
    this.#retryTimers.add(timer);
  }

  #asyncSettled(): void {
    this.#pendingAsync -= 1;
    this.#checkDrained();
  }

  // -------------------------------------------------------------------------------------
  // Scheduling

  #reservedTotal(except?: string): number {
    let total = 0;
    for (const fn of this.#functions.values()) {
      if (fn.def.name !== except) total += fn.def.reservedConcurrency ?? 0;
    }
    return total;
  }

  #hasCapacity(fn: FunctionState): boolean {
    const reserved = fn.def.reservedConcurrency;
    if (reserved !== undefined) return fn.busy < reserved;
    let unreservedBusy = 0;
    for (const other of this.#functions.values()) {
      if (other.def.reservedConcurrency === undefined) unreservedBusy += other.busy;
    }
    return unreservedBusy < this.#limit - this.#reservedTotal();
  }

  /** Starts an invocation if the limits allow it, on a warm environment when there is one. */
  #tryStart(invocation: Invocation): boolean {
    const fn = invocation.fn;
    if (this.#stopped || !this.#hasCapacity(fn)) return false;
    let env = fn.idle.pop();
    while (env !== undefined && (env.retired || env.gone)) env = fn.idle.pop();
    if (env === undefined) {
      this.#makeRoom();
      env = this.#spawn(fn);
    }
    fn.busy += 1;
    env.invocation = invocation;
    invocation.env = env;
    if (env.ready) this.#send(env, invocation);
    return true;
  }

  /** Keeps the number of processes within the limit by stopping the longest-idle one. */
  #makeRoom(): void {
    let live = 0;
    let oldest: Environment | undefined;
    for (const fn of this.#functions.values()) {
      for (const env of fn.envs) {
        if (env.retired) continue;
        live += 1;
        if (
          env.invocation === undefined &&
          (oldest === undefined || env.lastUsedMs < oldest.lastUsedMs)
        ) {
          oldest = env;
        }
      }
    }
    if (live >= this.#limit && oldest !== undefined) void this.#kill(oldest);
  }

  /** Starts queued asynchronous invocations while there is capacity. */
  #pump(): void {
    for (const fn of this.#functions.values()) {
      while (fn.queue.length > 0 && this.#tryStart(fn.queue[0] as Invocation)) fn.queue.shift();
    }
    this.#checkDrained();
  }

  #reapIdle(): void {
    const now = Date.now();
    for (const fn of this.#functions.values()) {
      for (const env of [...fn.idle]) {
        if (now - env.lastUsedMs > this.#idleTimeoutMs) void this.#kill(env);
      }
    }
  }

  #isDrained(): boolean {
    if (this.#pendingAsync > 0) return false;
    for (const fn of this.#functions.values()) if (fn.busy > 0) return false;
    return true;
  }

  #checkDrained(): void {
    if (this.#drainWaiters.length === 0 || !this.#isDrained()) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // -------------------------------------------------------------------------------------
  // Environments

  #environmentVariables(fn: FunctionState, logStreamName: string): Record<string, string> {
    const def = fn.def;
    return {
      ...baseEnvironment(),
      TZ: 'UTC',
      ...(this.endpoint === undefined ? {} : { AWS_ENDPOINT_URL: this.endpoint }),
      ...def.environment,
      // Lambda's reserved variables, which a function's own environment cannot override.
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.region,
      AWS_ACCESS_KEY_ID: this.#credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.#credentials.secretAccessKey,
      AWS_LAMBDA_FUNCTION_NAME: def.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(def.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${def.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_EXECUTION_ENV: `AWS_Lambda_nodejs${process.versions.node.split('.')[0]}.x`,
      LAMBDA_TASK_ROOT: dirname(def.entry),
      _HANDLER: `${basename(def.entry, extname(def.entry))}.${def.handler}`,
    };
  }

  #spawn(fn: FunctionState): Environment {
    const def = fn.def;
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    const logStreamName = `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
    const config: RunnerConfig = {
      entry: def.entry,
      handler: def.handler,
      functionName: def.name,
      memoryMb: def.memoryMb,
      logGroupName: `/aws/lambda/${def.name}`,
      logStreamName,
    };
    const child = fork(this.#runner, [RUNNER_FLAG, JSON.stringify(config)], {
      execArgv: [...this.#execArgv],
      env: this.#environmentVariables(fn, logStreamName),
      cwd: this.#cwd,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group, so that stopping it also stops what it started (tsx's
      // esbuild service, or anything the function spawned).
      detached: true,
    });
    const pid = child.pid as number;
    track(child, { group: true });
    const env: Environment = {
      pid,
      child,
      fn,
      ready: false,
      retired: false,
      lastUsedMs: Date.now(),
      disconnected: false,
      gone: false,
      received: { stdout: 0, stderr: 0 },
      partial: { stdout: '', stderr: '' },
      decoders: { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') },
    };
    fn.envs.add(env);
    env.initTimer = setTimeout(() => {
      env.initError = {
        errorType: 'Runtime.InitTimeout',
        errorMessage: `Init timed out after ${seconds(this.#initTimeoutMs)} seconds`,
      };
      void this.#kill(env);
    }, this.#initTimeoutMs);

    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]?.on('data', (chunk: Buffer) => this.#onOutput(env, stream, chunk));
    }
    child.on('message', (message: RunnerMessage) => this.#onMessage(env, message));
    child.on('exit', (code, signal) => {
      env.exit = { code, signal };
      env.retired = true;
      // Messages sent before the exit are delivered before the channel reports closing;
      // should that report never come, stop waiting for it after a moment.
      setTimeout(() => {
        env.exitGraceOver = true;
        this.#gone(env);
      }, 1_000).unref();
      this.#gone(env);
    });
    child.on('disconnect', () => {
      env.disconnected = true;
      this.#gone(env);
    });
    child.on('error', () => {
      // A failed send or kill; the exit event follows.
    });
    this.emit('environment-start', { function: def.name, pid });
    return env;
  }

  #onMessage(env: Environment, message: RunnerMessage): void {
    if (message.type === 'ready') {
      clearTimeout(env.initTimer);
      env.ready = true;
      this.#settled(env);
      const invocation = env.invocation;
      if (invocation !== undefined && !invocation.settled) this.#send(env, invocation);
    } else if (message.type === 'init-error') {
      clearTimeout(env.initTimer);
      env.initError = message.error;
      this.#platformLog(
        env,
        `INIT_FAILED ${message.error.errorType}: ${message.error.errorMessage}`,
      );
      void this.#kill(env);
    } else if (message.type === 'result') {
      if (
        message.written.stdout > env.received.stdout ||
        message.written.stderr > env.received.stderr
      ) {
        // Wait (briefly) for the output written before the result, so that it is logged
        // under this invocation.
        const timer = setTimeout(() => this.#deliverPending(env), 200);
        env.pendingResult = { message, timer };
        return;
      }
      this.#deliver(env, message);
    }
  }

  #deliverPending(env: Environment): void {
    const pending = env.pendingResult;
    if (pending === undefined) return;
    env.pendingResult = undefined;
    clearTimeout(pending.timer);
    this.#deliver(env, pending.message);
  }

  #deliver(env: Environment, message: RunnerMessage & { type: 'result' }): void {
    const invocation = env.invocation;
    if (invocation === undefined || invocation.requestId !== message.requestId) return;
    const outcome: Outcome = message.ok
      ? { ok: true, payload: message.payload ?? 'null' }
      : { ok: false, error: message.error ?? { errorType: 'Error', errorMessage: 'unknown' } };
    this.#finish(invocation, outcome);
  }

  #send(env: Environment, invocation: Invocation): void {
    const def = env.fn.def;
    const startMs = Date.now();
    invocation.startMs = startMs;
    invocation.timer = setTimeout(() => {
      this.#finish(invocation, {
        ok: false,
        error: {
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${invocation.requestId} Error: Task timed out after ${seconds(def.timeoutMs)} seconds`,
        },
      });
    }, def.timeoutMs);
    this.#platformLog(env, `START RequestId: ${invocation.requestId} Version: $LATEST`);
    this.emit('invoke-start', {
      function: def.name,
      requestId: invocation.requestId,
      pid: env.pid,
      type: invocation.type,
      attempt: invocation.attempt,
      payload: invocation.payload,
    });
    const message: InvokeMessage = {
      type: 'invoke',
      requestId: invocation.requestId,
      payload: invocation.payload,
      deadlineMs: startMs + def.timeoutMs,
      invokedFunctionArn: this.arnOf(def.name),
      ...(invocation.clientContext === undefined
        ? {}
        : { clientContext: invocation.clientContext }),
    };
    try {
      env.child.send(message, (error) => {
        if (error !== null && error !== undefined) void this.#kill(env);
      });
    } catch {
      // The channel is closed: the environment is going, and its exit ends this invocation.
      void this.#kill(env);
    }
  }

  /** Ends an invocation once; frees (or, on failure of the environment, retires) its env. */
  #finish(invocation: Invocation, outcome: Outcome): void {
    if (invocation.settled) return;
    invocation.settled = true;
    clearTimeout(invocation.timer);
    const env = invocation.env;
    const fn = invocation.fn;
    const def = fn.def;
    if (env !== undefined) {
      env.invocation = undefined;
      fn.busy -= 1;
      const durationMs = invocation.startMs === undefined ? 0 : Date.now() - invocation.startMs;
      if (!outcome.ok && outcome.error.errorType === 'Sandbox.Timedout') {
        this.#platformLog(
          env,
          `${new Date().toISOString()} ${outcome.error.errorMessage}`,
          invocation,
        );
        this.#retire(env, true);
      }
      this.#platformLog(env, `END RequestId: ${invocation.requestId}`, invocation);
      this.#platformLog(
        env,
        `REPORT RequestId: ${invocation.requestId}\tDuration: ${durationMs.toFixed(2)} ms\t` +
          `Memory Size: ${def.memoryMb} MB`,
        invocation,
      );
      this.emit('invoke-end', {
        function: def.name,
        requestId: invocation.requestId,
        pid: env.pid,
        durationMs,
        ...(outcome.ok ? {} : { error: outcome.error }),
      });
      if (!env.retired && !env.gone) {
        env.lastUsedMs = Date.now();
        fn.idle.push(env);
      } else if (!env.gone) {
        void this.#kill(env);
      }
    }
    invocation.done(outcome);
    this.#pump();
  }

  /** Marks an environment as never to be reused; kills it now if idle or if `now`. */
  #retire(env: Environment, now = false): void {
    env.retired = true;
    const index = env.fn.idle.indexOf(env);
    if (index !== -1) env.fn.idle.splice(index, 1);
    if (now || env.invocation === undefined) void this.#kill(env);
  }

  #kill(env: Environment): Promise<void> {
    env.retired = true;
    const index = env.fn.idle.indexOf(env);
    if (index !== -1) env.fn.idle.splice(index, 1);
    return kill(env.child);
  }

  /** Called on exit and on disconnect; acts once both happened (or a moment after exit). */
  #gone(env: Environment): void {
    if (env.gone || env.exit === undefined) return;
    if (!env.disconnected && env.child.connected && !env.exitGraceOver) return;
    this.#finalize(env);
  }

  #finalize(env: Environment): void {
    if (env.gone) return;
    env.gone = true;
    env.retired = true;
    clearTimeout(env.initTimer);
    this.#deliverPending(env);
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = env.partial[stream] + env.decoders[stream].end();
      env.partial[stream] = '';
      if (rest !== '') this.#log(env, stream, rest);
    }
    this.#settled(env);
    const fn = env.fn;
    fn.envs.delete(env);
    const index = fn.idle.indexOf(env);
    if (index !== -1) fn.idle.splice(index, 1);
    const exit = env.exit ?? { code: null, signal: null };
    const invocation = env.invocation;
    if (invocation !== undefined && !invocation.settled) {
      const status =
        exit.signal !== null ? `signal: ${signalText(exit.signal)}` : `exit status ${exit.code}`;
      const error: ErrorPayload = env.initError ?? {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${invocation.requestId} Error: Runtime exited with error: ${status}`,
      };
      this.#finish(invocation, { ok: false, error });
    }
    this.emit('environment-exit', {
      function: fn.def.name,
      pid: env.pid,
      code: exit.code,
      signal: exit.signal,
    });
    this.#pump();
  }

  /** Calls whoever waits for an environment to be initialized or gone. */
  #settled(env: Environment): void {
    const waiters = env.settledWaiters ?? [];
    env.settledWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  /** Resolves once an environment is initialized or gone (whichever comes first). */
  #whenSettled(env: Environment): Promise<void> {
    if (env.ready || env.gone) return Promise.resolve();
    return new Promise((resolve) => {
      env.settledWaiters ??= [];
      env.settledWaiters.push(resolve);
    });
  }

  // -------------------------------------------------------------------------------------
  // Logs

  #onOutput(env: Environment, stream: 'stdout' | 'stderr', chunk: Buffer): void {
    env.received[stream] += chunk.length;
    const text = env.partial[stream] + env.decoders[stream].write(chunk);
    const lines = text.split('\n');
    env.partial[stream] = lines.pop() ?? '';
    for (const line of lines) this.#log(env, stream, line);
    const pending = env.pendingResult;
    if (
      pending !== undefined &&
      env.received.stdout >= pending.message.written.stdout &&
      env.received.stderr >= pending.message.written.stderr
    ) {
      // Lines cut at the end of the chunk belong to this invocation too.
      for (const s of ['stdout', 'stderr'] as const) {
        if (env.partial[s] !== '') {
          this.#log(env, s, env.partial[s]);
          env.partial[s] = '';
        }
      }
      this.#deliverPending(env);
    }
  }

  #platformLog(env: Environment, text: string, invocation?: Invocation): void {
    this.#log(env, 'platform', text, invocation);
  }

  #log(
    env: Environment,
    stream: LogLine['stream'],
    text: string,
    invocation: Invocation | undefined = env.invocation,
  ): void {
    const line: LogLine = {
      function: env.fn.def.name,
      requestId: invocation?.requestId,
      pid: env.pid,
      stream,
      text,
      timeMs: Date.now(),
    };
    const logs = env.fn.logs;
    logs.push(line);
    if (logs.length > this.#maxLogLines) logs.splice(0, logs.length - this.#maxLogLines);
    invocation?.tail?.push(text);
    this.#echo?.(line);
    this.emit('log', line);
  }

  // -------------------------------------------------------------------------------------
  // HTTP

  /**
   * Answers one request of Lambda's REST API (the router hands over every path under
   * /2015-03-31/functions/). Never throws: failures become Lambda's error responses.
   */
  handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    return handleLambdaRequest(this, request, response);
  }

  // -------------------------------------------------------------------------------------

  #assertRunning(): void {
    if (this.#stopped) throw new Error('the local Lambda service is stopped');
  }

  /**
   * Restarts the service's processes, as when the hosts under Lambda are replaced: every
   * execution environment is killed at once with SIGKILL (a running invocation ends with
   * Runtime.ExitError, as when its process crashes; an asynchronous one is then retried as
   * after any failure), and each function gets as many fresh environments as it had, warm for
   * the next invocations. Registered functions, queued and retrying asynchronous invocations
   * stay. Invocations that arrive meanwhile start (or wait for) fresh environments. Resolves
   * once every old process has exited and every new one is initialized (or failed to).
   */
  async restart(): Promise<RestartResult> {
    this.#assertRunning();
    const old: Environment[] = [];
    const counts = new Map<FunctionState, number>();
    for (const fn of this.#functions.values()) {
      for (const env of fn.envs) {
        if (env.gone) continue;
        old.push(env);
        if (!env.retired) counts.set(fn, (counts.get(fn) ?? 0) + 1);
      }
    }
    await Promise.all(old.map((env) => this.#kill(env)));
    // The exit is known; the channel's closing may still be on its way: end their
    // invocations now rather than a moment later.
    for (const env of old) this.#finalize(env);
    const fresh: Environment[] = [];
    if (!this.#stopped) {
      for (const [fn, count] of counts) {
        if (this.#functions.get(fn.def.name) !== fn) continue;
        // Invocations that started since the kill have environments already.
        const live = [...fn.envs].filter((env) => !env.retired).length;
        for (let i = live; i < count; i++) {
          this.#makeRoom();
          const env = this.#spawn(fn);
          fn.idle.push(env);
          fresh.push(env);
        }
      }
      this.#pump();
    }
    await Promise.all(fresh.map((env) => this.#whenSettled(env)));
    return { killed: old.map((env) => env.pid), started: fresh.map((env) => env.pid) };
  }

  /**
   * Stops every environment (their running invocations end with Runtime.ExitError) and
   * drops queued and retrying asynchronous invocations. Resolves once every process exited.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#reaper);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    const envs: Environment[] = [];
    for (const fn of this.#functions.values()) {
      fn.queue.length = 0;
      envs.push(...fn.envs);
    }
    this.#pendingAsync = 0;
    await Promise.all(envs.map((env) => this.#kill(env)));
    for (const env of envs) this.#finalize(env);
    this.#checkDrained();
  }
}
