/**
 * One HTTP endpoint for the whole local cloud, as LocalStack's edge port: every SDK client
 * works from `AWS_ENDPOINT_URL` alone.
 *
 *   X-Amz-Target: Kinesis_20131202.*     -> kinesis-local
 *   X-Amz-Target: DynamoDB_20120810.*    -> dynalite
 *   path /2015-03-31/functions/...       -> the local Lambda service (in this process)
 *   anything else                        -> 400, naming what is served
 *
 * Requests and responses are streamed through, headers and all (the signature covers the
 * Host header, and nothing here checks it). Binds 127.0.0.1 only.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RouterTargets {
  /** kinesis-local's plain-HTTP endpoint. */
  kinesis?: string;
  /** dynalite's endpoint. */
  dynamodb?: string;
  /** The Lambda service's request handler. */
  lambda?: { handle(request: IncomingMessage, response: ServerResponse): Promise<void> | void };
}

export interface RouterOptions {
  /** The port to listen on (default 0: one the system picks). */
  readonly port?: number;
  readonly targets?: RouterTargets;
}

export interface Router {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  /** Where requests go; may be filled in after the router started. */
  readonly targets: RouterTargets;
  stop(): Promise<void>;
}

const ROUTES = [
  { prefix: 'Kinesis_20131202.', target: 'kinesis', name: 'kinesis-local' },
  { prefix: 'DynamoDB_20120810.', target: 'dynamodb', name: 'dynalite' },
] as const;

const LAMBDA_PATH = '/2015-03-31/functions/';

function reject(response: ServerResponse, status: number, type: string, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = JSON.stringify({ __type: type, message });
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': type,
  });
  response.end(body);
}

/** Starts the router on 127.0.0.1. */
export async function startRouter(options: RouterOptions = {}): Promise<Router> {
  const targets: RouterTargets = { ...options.targets };
  // Keep-alive connections to the emulators, so that each request does not pay a connect.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();

  const forward = (
    request: IncomingMessage,
    response: ServerResponse,
    endpoint: string,
    name: string,
  ): void => {
    const target = new URL(endpoint);
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      },
    );
    upstream.on('error', (error) => {
      reject(
        response,
        502,
        'ServiceUnavailableException',
        `local cloud router: ${name} at ${endpoint} failed: ${error.message}`,
      );
    });
    request.pipe(upstream);
    request.on('error', () => upstream.destroy());
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
  };

  const server = http.createServer((request, response) => {
    const targetHeader = request.headers['x-amz-target'];
    const amzTarget = Array.isArray(targetHeader) ? targetHeader[0] : targetHeader;
    if (amzTarget !== undefined) {
      for (const route of ROUTES) {
        if (!amzTarget.startsWith(route.prefix)) continue;
        const endpoint = targets[route.target];
        if (endpoint === undefined) {
          request.resume();
          reject(response, 503, 'ServiceUnavailableException', `${route.name} is not running`);
          return;
        }
        forward(request, response, endpoint, route.name);
        return;
      }
    }
    if (request.url?.startsWith(LAMBDA_PATH)) {
      const lambda = targets.lambda;
      if (lambda === undefined) {
        request.resume();
        reject(response, 503, 'ServiceUnavailableException', 'the Lambda service is not running');
        return;
      }
      Promise.resolve(lambda.handle(request, response)).catch((error: Error) =>
        reject(response, 500, 'ServiceException', error.message),
      );
      return;
    }
    request.resume();
    reject(
      response,
      400,
      'UnknownOperationException',
      `local cloud router: no service for ${request.method} ${request.url} ` +
        `(X-Amz-Target: ${amzTarget ?? 'none'}); it serves X-Amz-Target ` +
        `${ROUTES.map((r) => `${r.prefix}*`).join(' and ')} and paths under ${LAMBDA_PATH}`,
    );
  });
  // Longer than the SDK's idle keep-alive, so that a client never reuses a socket the
  // server is closing (which surfaces as ECONNRESET).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host: '127.0.0.1' }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    targets,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      }),
  };
}
