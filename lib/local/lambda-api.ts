/**
 * Lambda's REST API over HTTP, for the local Lambda service (lambda.ts): Invoke, and
 * GetFunction for the SDK's waiters. Requests and answers are shaped as Lambda's, so that
 * `@aws-sdk/client-lambda` works unchanged:
 *
 *   POST /2015-03-31/functions/{name}/invocations    Invoke
 *     X-Amz-Invocation-Type  RequestResponse (default) | Event | DryRun
 *     X-Amz-Log-Type: Tail   -> X-Amz-Log-Result, the last 4 KB of the invocation's log
 *     ?Qualifier=$LATEST     (the only version there is)
 *   GET  /2015-03-31/functions/{name}[/configuration] GetFunction[Configuration]
 *
 * Errors carry their code in `x-amzn-ErrorType` and `{ Type, message, ... }` as body.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, extname } from 'node:path';
import type { FunctionDefinition } from './lambda.js';

/** Lambda's payload limits: 6 MB for synchronous calls, 1 MB for asynchronous ones. */
export const SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;
export const ASYNC_PAYLOAD_LIMIT = 1024 * 1024;

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export interface InvokeOptions {
  readonly type?: InvocationType;
  /** Collect the invocation's log lines into `logResult` (synchronous calls). */
  readonly tail?: boolean;
  readonly clientContext?: string;
}

export interface InvokeOutput {
  readonly requestId: string;
  /** 200 for RequestResponse, 202 for Event, 204 for DryRun. */
  readonly statusCode: 200 | 202 | 204;
  /** The result as JSON text, or the error payload; empty for Event and DryRun. */
  readonly payload: string;
  readonly functionError?: 'Unhandled';
  /** The invocation's last 4 KB of log, when `tail` was asked for. */
  readonly logResult?: string;
}

/** What an invocation of the Invoke API can fail with, as Lambda names it. */
export class LambdaServiceError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(
    code: string,
    statusCode: number,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = code;
    this.code = code;
    this.statusCode = statusCode;
    this.extra = extra;
  }
}

/** What the API needs of the service. */
export interface LambdaApiTarget {
  invokeText(
    name: string,
    payload: string,
    options?: InvokeOptions & { readonly qualifier?: string },
  ): Promise<InvokeOutput>;
  definition(name: string): Required<Omit<FunctionDefinition, 'reservedConcurrency'>> & {
    readonly reservedConcurrency: number | undefined;
  };
  arnOf(name: string): string;
}

/** `name`, `name:qualifier`, `123456789012:function:name[:q]` or a full ARN. */
export function parseFunctionName(raw: string): { name: string; qualifier: string | undefined } {
  const parts = raw.split(':');
  if (parts[0] === 'arn' && parts.length >= 7) return { name: parts[6] ?? '', qualifier: parts[7] };
  if (parts[1] === 'function' && parts.length >= 3) {
    return { name: parts[2] ?? '', qualifier: parts[3] };
  }
  return { name: parts[0] ?? '', qualifier: parts[1] };
}

/**
 * Answers one request of Lambda's REST API (the router hands over every path under
 * /2015-03-31/functions/). Never throws: failures become Lambda's error responses.
 */
export async function handleLambdaRequest(
  service: LambdaApiTarget,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const requestId = randomUUID();
  try {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const invokeMatch = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(url.pathname);
    const getMatch = /^\/2015-03-31\/functions\/([^/]+)(\/configuration)?\/?$/.exec(url.pathname);
    if (invokeMatch !== null && request.method === 'POST') {
      await handleInvoke(service, request, response, invokeMatch[1] as string, url);
      return;
    }
    if (getMatch !== null && request.method === 'GET') {
      request.resume();
      handleGet(service, response, requestId, getMatch[1] as string, getMatch[2] !== undefined);
      return;
    }
    request.resume();
    throw new LambdaServiceError(
      'UnknownOperationException',
      400,
      `the local Lambda service implements Invoke (POST /2015-03-31/functions/{name}/invocations) ` +
        `and GetFunction, not ${request.method} ${url.pathname}`,
    );
  } catch (error) {
    sendError(response, requestId, error);
  }
}

function handleGet(
  service: LambdaApiTarget,
  response: ServerResponse,
  requestId: string,
  rawName: string,
  configOnly: boolean,
): void {
  const { name } = parseFunctionName(decodeURIComponent(rawName));
  const def = service.definition(name);
  const configuration = {
    FunctionName: def.name,
    FunctionArn: service.arnOf(def.name),
    Runtime: `nodejs${process.versions.node.split('.')[0]}.x`,
    Handler: `${basename(def.entry, extname(def.entry))}.${def.handler}`,
    Timeout: Math.ceil(def.timeoutMs / 1000),
    MemorySize: def.memoryMb,
    Version: '$LATEST',
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Environment: { Variables: def.environment },
  };
  const body = JSON.stringify(
    configOnly
      ? configuration
      : {
          Configuration: configuration,
          ...(def.reservedConcurrency === undefined
            ? {}
            : { Concurrency: { ReservedConcurrentExecutions: def.reservedConcurrency } }),
        },
  );
  response.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
  });
  response.end(body);
}

async function handleInvoke(
  service: LambdaApiTarget,
  request: IncomingMessage,
  response: ServerResponse,
  rawName: string,
  url: URL,
): Promise<void> {
  const typeHeader = header(request, 'x-amz-invocation-type') ?? 'RequestResponse';
  if (typeHeader !== 'RequestResponse' && typeHeader !== 'Event' && typeHeader !== 'DryRun') {
    request.resume();
    throw new LambdaServiceError(
      'InvalidParameterValueException',
      400,
      `X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got '${typeHeader}'`,
    );
  }
  const limit = typeHeader === 'Event' ? ASYNC_PAYLOAD_LIMIT : SYNC_PAYLOAD_LIMIT;
  const body = await readBody(request, limit);
  if (body === undefined) {
    throw new LambdaServiceError(
      'RequestTooLargeException',
      413,
      `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
    );
  }
  const payload = body.toString('utf8');
  if (payload.trim() !== '') {
    try {
      JSON.parse(payload);
    } catch (error) {
      throw new LambdaServiceError(
        'InvalidRequestContentException',
        400,
        `Could not parse request body into json: ${(error as Error).message}`,
      );
    }
  }
  const clientContextHeader = header(request, 'x-amz-client-context');
  const qualifier = url.searchParams.get('Qualifier');
  const output = await service.invokeText(decodeURIComponent(rawName), payload, {
    ...(qualifier === null ? {} : { qualifier }),
    type: typeHeader,
    tail: header(request, 'x-amz-log-type') === 'Tail',
    ...(clientContextHeader === undefined
      ? {}
      : { clientContext: Buffer.from(clientContextHeader, 'base64').toString('utf8') }),
  });
  const headers: Record<string, string | number> = {
    'x-amzn-requestid': output.requestId,
    'x-amz-executed-version': '$LATEST',
  };
  if (output.statusCode !== 200) {
    response.writeHead(output.statusCode, { ...headers, 'content-length': 0 });
    response.end();
    return;
  }
  if (output.functionError !== undefined) headers['x-amz-function-error'] = output.functionError;
  if (output.logResult !== undefined) headers['x-amz-log-result'] = output.logResult;
  headers['content-type'] = 'application/json';
  headers['content-length'] = Buffer.byteLength(output.payload);
  response.writeHead(200, headers);
  response.end(output.payload);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The request body, or undefined when it is over `limit` bytes (the rest is discarded). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Lambda's error response: the code in `x-amzn-ErrorType`, `{ Type, message }` as body. */
function sendError(response: ServerResponse, requestId: string, error: unknown): void {
  const e =
    error instanceof LambdaServiceError
      ? error
      : new LambdaServiceError('ServiceException', 500, (error as Error)?.message ?? String(error));
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = JSON.stringify({
    Type: e.statusCode >= 500 ? 'Service' : 'User',
    message: e.message,
    ...e.extra,
  });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': e.code,
    'x-amzn-requestid': requestId,
  };
  if (e.statusCode === 429) headers['retry-after'] = '1';
  response.writeHead(e.statusCode, headers);
  response.end(body);
}
