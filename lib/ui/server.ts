/**
 * The streaming UI's server: a page on loopback that shows how jobs keep up with their batch
 * interval, as Spark's Streaming tab does, read from the jobs' tables through the SDK (so one
 * server works for the embedded cloud, LocalStack and AWS; endpoints come from the
 * environment, lib/aws/clients.ts).
 *
 *   const ui = await startUi({ jobs: () => launched.jobs });
 *   console.log(ui.url);    // http://127.0.0.1:43127/
 *   ...
 *   await ui.stop();
 *
 * The page (`/`, `/app.js`, `/app.css`) is built in memory when the server starts
 * (lib/ui/bundle.ts); the JSON endpoints and the event stream are listed in lib/ui/api.ts.
 * Each job's recent batches are kept as a fixed window (lib/ui/feed.ts), polled only while a
 * page listens to the job's event stream.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient } from '../aws/clients.js';
import type { BatchCommit } from '../aws/protocol.js';
import { controlStore } from '../cli/inspect.js';
import type { DeploymentInfo } from '../contract/deployment.js';
import { SparklessError } from '../core/errors.js';
import type { ApiError, BatchWindow } from './api.js';
import { pageAssets } from './bundle.js';
import { batchView, jobView, summaryOf } from './data.js';
import { BatchFeed } from './feed.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';

/** How many recent batches a job's window holds unless told: five minutes of 1 s batches. */
export const DEFAULT_WINDOW = 300;

/** Options of {@link startUi}. */
export interface UiOptions {
  /** The jobs to show; called for each request that needs them (so the list may change). */
  readonly jobs: () => readonly DeploymentInfo[] | Promise<readonly DeploymentInfo[]>;
  /** The port to listen on; 0 (the default) takes a free one. */
  readonly port?: number;
  /** The address to listen on (default 127.0.0.1: the page is for this machine only). */
  readonly host?: string;
  /** How many recent batches of each job the server keeps and the page shows (default 300). */
  readonly batches?: number;
  /** How often to look for new commits while a page follows a job (default 1000 ms). */
  readonly pollMs?: number;
  /** The DynamoDB client to read with (default: one from lib/aws/clients.ts). */
  readonly client?: DynamoDBClient;
}

/** A running UI server. */
export interface RunningUi {
  /** The page's address, e.g. `http://127.0.0.1:43127/`. */
  readonly url: string;
  readonly port: number;
  /** Closes the event streams and the server. */
  stop(): Promise<void>;
}

/** Starts the UI server; rejects with a message that says what to do when it cannot listen. */
export async function startUi(options: UiOptions): Promise<RunningUi> {
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 0;
  const windowSize = options.batches ?? DEFAULT_WINDOW;
  const pollMs = options.pollMs ?? 1000;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `the UI's port must be an integer from 0 (a free port) to 65535, got ${requestedPort}`,
    );
  }
  if (!Number.isInteger(windowSize) || windowSize < 1) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `the UI's batches (the window of recent batches) must be a positive integer, got ${windowSize}`,
    );
  }
  const client = options.client ?? dynamoClient();
  const assets = await pageAssets();

  const feeds = new Map<string, { readonly control: string; readonly feed: BatchFeed }>();
  const streams = new Set<ServerResponse>();

  /** The job of that name, and its feed. */
  async function find(
    name: string,
  ): Promise<{ info: DeploymentInfo; feed: BatchFeed } | undefined> {
    const info = (await options.jobs()).find((d) => d.jobName === name);
    if (!info) return undefined;
    let entry = feeds.get(name);
    if (!entry || entry.control !== info.tables.control) {
      entry?.feed.close();
      entry = {
        control: info.tables.control,
        feed: new BatchFeed({ control: controlStore(info, client), size: windowSize, pollMs }),
      };
      feeds.set(name, entry);
    }
    return { info, feed: entry.feed };
  }

  function windowOf(info: DeploymentInfo, batches: readonly BatchCommit[]): BatchWindow {
    return { job: info.jobName, windowSize, batchIntervalMs: info.batchIntervalMs, batches };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, { error: `${req.method} is not served here; the UI only reads` });
    }
    if (path === '/' || path === '/index.html') {
      return sendText(res, 200, 'text/html; charset=utf-8', PAGE_HTML, { csp: true });
    }
    if (path === '/app.js') {
      return sendText(res, 200, 'text/javascript; charset=utf-8', assets.js);
    }
    if (path === '/app.css') return sendText(res, 200, 'text/css; charset=utf-8', assets.css);
    if (!path.startsWith('/api/')) return sendText(res, 404, 'text/plain', 'not found\n');

    const parts = path.slice('/api/'.length).split('/').map(decodeURIComponent);
    if (parts[0] !== 'jobs') return send(res, 404, { error: `no endpoint ${path}` });
    if (parts.length === 1) {
      return send(res, 200, (await options.jobs()).map(summaryOf));
    }
    const name = parts[1] ?? '';
    const found = await find(name);
    if (!found) {
      const names = (await options.jobs()).map((d) => `'${d.jobName}'`).join(', ');
      return send(res, 404, { error: `no job '${name}'; the jobs here: ${names || 'none'}` });
    }
    const { info, feed } = found;
    if (parts.length === 2) return send(res, 200, await jobView(info, client, windowSize));
    if (parts[2] === 'batches' && parts.length === 3) {
      await feed.refresh();
      return send(res, 200, windowOf(info, feed.batches));
    }
    if (parts[2] === 'batches' && parts.length === 4) {
      const timeMs = Number(parts[3]);
      if (!Number.isSafeInteger(timeMs) || timeMs < 0) {
        return send(res, 400, { error: `a batch time is epoch milliseconds, got '${parts[3]}'` });
      }
      const view = await batchView(info, timeMs, client);
      if (!view) {
        return send(res, 404, {
          error: `nothing is recorded of batch ${timeMs} of job '${name}': it was not planned yet, or its control items were removed`,
        });
      }
      return send(res, 200, view);
    }
    if (parts[2] === 'events' && parts.length === 3) return events(req, res, info, feed);
    return send(res, 404, { error: `no endpoint ${path}` });
  }

  /** The event stream of a job: a snapshot of its window, then each new commit. */
  async function events(
    req: IncomingMessage,
    res: ServerResponse,
    info: DeploymentInfo,
    feed: BatchFeed,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    streams.add(res);
    let closed = false;
    let unlisten = () => {};
    let ping: ReturnType<typeof setInterval> | undefined;
    const close = () => {
      closed = true;
      clearInterval(ping);
      unlisten();
      streams.delete(res);
    };
    req.on('close', close);
    res.on('close', close);
    const event = (name: string, data: unknown) =>
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    res.write('retry: 2000\n\n');
    try {
      await feed.refresh();
    } catch (e) {
      event('problem', { message: (e as Error).message });
    }
    // The page went away while the window was read.
    if (closed) return;
    // Synchronously after the read: every commit after this snapshot reaches the listener.
    event('snapshot', windowOf(info, feed.batches));
    unlisten = feed.listen({
      batches: (commits) => {
        for (const c of commits) event('batch', c);
      },
      problem: (message) => event('problem', { message }),
    });
    ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  }

  const server = createServer((req, res) => {
    if (!hostAllowed(req, host)) {
      send(res, 421, {
        error: 'this server answers only requests addressed to it by IP or localhost',
      });
      return;
    }
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      send(res, 502, { error: `could not read the job's tables: ${(e as Error).message}` });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'EADDRINUSE'
          ? new SparklessError(
              'UI_PORT_IN_USE',
              `the streaming UI cannot listen on ${host}:${requestedPort}: the port is in use; choose another port, or 0 for a free one`,
              { cause: e },
            )
          : e.code === 'EACCES'
            ? new SparklessError(
                'UI_PORT_IN_USE',
                `the streaming UI may not listen on ${host}:${requestedPort} (${e.code}); choose a port above 1023, or 0 for a free one`,
                { cause: e },
              )
            : e,
      );
    });
    server.listen(requestedPort, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        for (const { feed } of feeds.values()) feed.close();
        for (const res of streams) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

/**
 * Whether the request names this server by an IP address or `localhost` (a page elsewhere that
 * rebinds its own name to 127.0.0.1 must not read the jobs' metrics).
 */
function hostAllowed(req: IncomingMessage, listenHost: string): boolean {
  const header = req.headers.host;
  if (header === undefined) return true;
  const name = header.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return (
    name === 'localhost' ||
    name === listenHost ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(name) ||
    name.includes(':')
  );
}

function send(res: ServerResponse, status: number, body: unknown | ApiError): void {
  sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function sendText(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  options: { csp?: boolean } = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(options.csp ? { 'content-security-policy': PAGE_CSP } : {}),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
