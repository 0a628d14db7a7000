/**
 * One execution environment of the local Lambda service: a process forked by lambda.ts that
 * loads a function's module once and then runs one invocation at a time, for as long as it
 * is kept warm. It speaks to the service over the IPC channel:
 *
 *   service -> runner  { type: 'invoke', requestId, payload, deadlineMs, invokedFunctionArn }
 *   runner -> service  { type: 'ready' } once the module is loaded
 *                      { type: 'init-error', error } when it cannot be loaded
 *                      { type: 'result', requestId, ok, payload | error, written }
 *
 * `written` counts the bytes this process has written to stdout and stderr, so that the
 * service can attribute every log line to its invocation before it answers (the pipes and
 * the IPC channel are read independently). The runner exits when the channel closes, so it
 * never outlives the service.
 */
import { basename, extname } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface RunnerConfig {
  readonly entry: string;
  readonly handler: string;
  readonly functionName: string;
  readonly memoryMb: number;
  readonly logGroupName: string;
  readonly logStreamName: string;
}

export interface ErrorPayload {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}

export interface InvokeMessage {
  readonly type: 'invoke';
  readonly requestId: string;
  /** The event as JSON text. */
  readonly payload: string;
  readonly deadlineMs: number;
  readonly invokedFunctionArn: string;
  readonly clientContext?: string;
}

export type RunnerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly error: ErrorPayload }
  | {
      readonly type: 'result';
      readonly requestId: string;
      readonly ok: boolean;
      readonly payload?: string;
      readonly error?: ErrorPayload;
      readonly written: { readonly stdout: number; readonly stderr: number };
    };

/** Lambda's error payload for anything thrown: `{ errorType, errorMessage, stackTrace }`. */
export function toErrorPayload(error: unknown, errorType?: string): ErrorPayload {
  if (error !== null && typeof error === 'object' && 'message' in error) {
    const e = error as { name?: unknown; message?: unknown; stack?: unknown };
    const stack = typeof e.stack === 'string' ? e.stack.split('\n') : [];
    return {
      errorType: errorType ?? (typeof e.name === 'string' && e.name !== '' ? e.name : 'Error'),
      errorMessage: String(e.message),
      stackTrace: stack
        .slice(1)
        .map((line) => line.trim())
        .filter((line) => line !== ''),
    };
  }
  return { errorType: errorType ?? typeof error, errorMessage: String(error), stackTrace: [] };
}

type Handler = (event: unknown, context: unknown, callback?: unknown) => unknown;

function main(): void {
  const config = JSON.parse(process.argv[3] ?? '{}') as RunnerConfig;
  const written = { stdout: 0, stderr: 0 };
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name];
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
      written[name] +=
        typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : (chunk as Buffer).length;
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }

  const send = (message: RunnerMessage, then?: () => void): void => {
    if (process.send === undefined || !process.connected) {
      then?.();
      return;
    }
    process.send(message, undefined, {}, () => then?.());
  };

  let current: string | undefined;
  const fatal = (error: unknown, errorType?: string): void => {
    const payload = toErrorPayload(error, errorType);
    process.stderr.write(`${payload.errorType}: ${payload.errorMessage}\n`);
    const requestId = current;
    if (requestId === undefined) {
      process.exit(129);
    }
    send({ type: 'result', requestId, ok: false, error: payload, written: { ...written } }, () =>
      process.exit(129),
    );
  };
  process.on('uncaughtException', (error) => fatal(error));
  process.on('unhandledRejection', (reason) =>
    fatal(
      reason instanceof Error ? reason : new Error(String(reason)),
      'Runtime.UnhandledPromiseRejection',
    ),
  );
  process.on('disconnect', () => process.exit(0));

  let handler: Handler | undefined;
  const run = async (message: InvokeMessage): Promise<void> => {
    current = message.requestId;
    const context = {
      awsRequestId: message.requestId,
      functionName: config.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: message.invokedFunctionArn,
      memoryLimitInMB: String(config.memoryMb),
      logGroupName: config.logGroupName,
      logStreamName: config.logStreamName,
      callbackWaitsForEmptyEventLoop: true,
      clientContext: message.clientContext,
      getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
    };
    let outcome: { ok: true; payload: string } | { ok: false; error: ErrorPayload };
    try {
      const event = JSON.parse(message.payload) as unknown;
      const fn = handler as Handler;
      const value =
        fn.length >= 3
          ? await new Promise((resolve, reject) => {
              const returned = fn(event, context, (error: unknown, result: unknown) =>
                error === null || error === undefined ? resolve(result) : reject(error),
              );
              if (returned instanceof Promise) returned.then(resolve, reject);
            })
          : await fn(event, context);
      outcome = { ok: true, payload: JSON.stringify(value) ?? 'null' };
    } catch (error) {
      outcome = { ok: false, error: toErrorPayload(error) };
    }
    current = undefined;
    send({ type: 'result', requestId: message.requestId, ...outcome, written: { ...written } });
  };

  process.on('message', (message: InvokeMessage) => {
    if (message?.type === 'invoke') void run(message);
  });

  const load = async (): Promise<void> => {
    let module: Record<string, unknown>;
    try {
      module = (await import(pathToFileURL(config.entry).href)) as Record<string, unknown>;
    } catch (error) {
      send({ type: 'init-error', error: toErrorPayload(error, 'Runtime.ImportModuleError') });
      return;
    }
    const fallback = module.default as Record<string, unknown> | undefined;
    const found = module[config.handler] ?? fallback?.[config.handler];
    if (typeof found !== 'function') {
      const file = basename(config.entry, extname(config.entry));
      send({
        type: 'init-error',
        error: {
          errorType: 'Runtime.HandlerNotFound',
          errorMessage: `${file}.${config.handler} is undefined or not exported`,
          stackTrace: [],
        },
      });
      return;
    }
    handler = found as Handler;
    send({ type: 'ready' });
  };
  void load();
}

/** The first argument that tells this module it was forked as a runner, not imported. */
export const RUNNER_FLAG = '--sparkless-lambda-runner';

if (process.argv[2] === RUNNER_FLAG) main();
