/**
 * kinesis-local (kinesis-mock compiled to JavaScript, the engine LocalStack installs for
 * Kinesis) as a child process on loopback.
 *
 * kinesis-local starts its servers as a side effect of being loaded, binds every interface
 * and has no option for either. So it runs in a child process of its own, started as
 * `node --import <preload> main.js`, where the preload (below) rewrites every
 * `net.Server#listen` call to bind 127.0.0.1. Its two ports are asked for by sentinel
 * values (1 for plain HTTP, 2 for TLS) that the preload turns into port 0, so the system
 * picks free ports with no race, and the preload reports the ports it got over the IPC
 * channel. The same channel ends the child when this process dies, however it dies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  baseEnvironment,
  hasExited,
  kill,
  OutputTail,
  outputClosed,
  track,
  withOutput,
} from './processes.js';

export interface KinesisLocalOptions {
  /** The region streams are created in when a request does not say (default us-east-1). */
  readonly region?: string;
  /** How long to wait for the emulator to answer ListStreams (default 30 s). */
  readonly startTimeoutMs?: number;
  /** kinesis-mock's LOG_LEVEL (default ERROR: only unhandled errors). */
  readonly logLevel?: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | 'TRACE';
  /** Called with everything the emulator prints, as it prints it. */
  readonly onOutput?: (text: string) => void;
  /** Extra environment for kinesis-mock (for example SHARD_LIMIT), applied last. */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface KinesisLocal {
  /** http://127.0.0.1:<port> (plain HTTP). */
  readonly endpoint: string;
  /** https://127.0.0.1:<port>, with kinesis-mock's self-signed certificate. */
  readonly tlsEndpoint: string;
  readonly pid: number;
  /** The last part of what the emulator printed. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * kinesis-mock's artificial delays, each 500 ms by default, which make tests wait for
 * nothing. (The README lists them; `grep -o '[A-Z_]*_DURATION' main.js` finds the same.)
 */
export const KINESIS_MOCK_DURATIONS = [
  'CREATE_STREAM_DURATION',
  'DELETE_STREAM_DURATION',
  'REGISTER_STREAM_CONSUMER_DURATION',
  'DEREGISTER_STREAM_CONSUMER_DURATION',
  'START_STREAM_ENCRYPTION_DURATION',
  'STOP_STREAM_ENCRYPTION_DURATION',
  'MERGE_SHARDS_DURATION',
  'SPLIT_SHARD_DURATION',
  'UPDATE_SHARD_COUNT_DURATION',
  'UPDATE_STREAM_MODE_DURATION',
] as const;

/** Port values that mean "a free port on loopback, and tell me which" to the preload. */
const PLAIN_SENTINEL = 1;
const TLS_SENTINEL = 2;

/**
 * The preload, run in the child before kinesis-local loads. Every `listen` binds 127.0.0.1
 * (a Unix socket path or an inherited handle is left alone); a sentinel port becomes 0 and
 * the port the system chose is sent to the parent. It is passed as a data: URL so that it
 * needs no file of its own, whether this module runs from source or from a build.
 */
const LOOPBACK_PRELOAD = `
import net from 'node:net';
const roles = JSON.parse(process.env.SPARKLESS_LISTEN_ROLES ?? '{}');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const callback = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  const first = args[0];
  const pipe = typeof first === 'string' && !/^[0-9]+$/.test(first);
  const special = first !== null && typeof first === 'object' &&
    (first.path !== undefined || first.fd !== undefined || first.handle !== undefined ||
     first._handle !== undefined);
  if (pipe || special) return listen.apply(this, callback ? [...args, callback] : args);
  const options = first !== null && typeof first === 'object'
    ? { ...first }
    : { port: first === undefined ? 0 : Number(first) };
  const backlog = args.slice(1).find((a) => typeof a === 'number');
  if (backlog !== undefined && options.backlog === undefined) options.backlog = backlog;
  options.host = '127.0.0.1';
  delete options.ipv6Only;
  const role = roles[String(options.port ?? 0)];
  if (role !== undefined) options.port = 0;
  this.once('listening', () => {
    const address = this.address();
    if (process.send) process.send({ type: 'listening', role: role ?? 'other', port: address.port });
  });
  return callback ? listen.call(this, options, callback) : listen.call(this, options);
};
process.on('disconnect', () => process.exit(0));
`;

const requireHere = createRequire(import.meta.url);

/** kinesis-local's entry file and the certificate it ships beside it. */
function packageFiles(): { main: string; cert: string } {
  const main = requireHere.resolve('kinesis-local/main.js');
  return { main, cert: join(dirname(main), 'server.json') };
}

/** One ListStreams call, signed well enough for kinesis-mock (it does not check signatures). */
function listStreams(port: number, region: string): Promise<number> {
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'Kinesis_20131202.ListStreams',
          'x-amz-date': date,
          authorization:
            `AWS4-HMAC-SHA256 Credential=test/${date.slice(0, 8)}/${region}/kinesis/aws4_request, ` +
            'SignedHeaders=host;x-amz-date, Signature=0',
        },
        timeout: 2_000,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 2 s')));
    request.on('error', reject);
    request.end('{}');
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts kinesis-local on loopback and resolves once it answers ListStreams. */
export async function startKinesisLocal(options: KinesisLocalOptions = {}): Promise<KinesisLocal> {
  const region = options.region ?? 'us-east-1';
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const { main, cert } = packageFiles();
  const env: Record<string, string> = {
    ...baseEnvironment(),
    KINESIS_MOCK_CERT_PATH: cert,
    KINESIS_MOCK_PLAIN_PORT: String(PLAIN_SENTINEL),
    KINESIS_MOCK_TLS_PORT: String(TLS_SENTINEL),
    SPARKLESS_LISTEN_ROLES: JSON.stringify({ [PLAIN_SENTINEL]: 'plain', [TLS_SENTINEL]: 'tls' }),
    AWS_REGION: region,
    LOG_LEVEL: options.logLevel ?? 'ERROR',
    ROOT_LOG_LEVEL: 'ERROR',
    SHOULD_PERSIST_DATA: 'false',
  };
  for (const name of KINESIS_MOCK_DURATIONS) env[name] = '0ms';
  Object.assign(env, options.environment);

  const output = new OutputTail();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(LOOPBACK_PRELOAD)}`, main],
    { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  track(child);
  const onData = (chunk: Buffer) => {
    output.push(chunk);
    options.onOutput?.(chunk.toString());
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  const ports: { plain?: number; tls?: number } = {};
  child.on('message', (message: { type?: string; role?: string; port?: number }) => {
    if (message.type !== 'listening' || typeof message.port !== 'number') return;
    if (message.role === 'plain') ports.plain = message.port;
    if (message.role === 'tls') ports.tls = message.port;
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const started = Date.now();
  let lastProblem = 'it has not opened its ports';
  try {
    for (;;) {
      if (spawnError !== undefined) {
        throw new Error(withOutput(`kinesis-local could not start: ${spawnError.message}`, ''));
      }
      if (hasExited(child)) {
        await outputClosed(child);
        const how = child.signalCode ?? `code ${child.exitCode}`;
        throw new Error(withOutput(`kinesis-local exited (${how}) while starting`, output.text()));
      }
      if (ports.plain !== undefined && ports.tls !== undefined) {
        try {
          const status = await listStreams(ports.plain, region);
          if (status === 200) break;
          lastProblem = `ListStreams answered HTTP ${status}`;
        } catch (error) {
          lastProblem = `ListStreams failed: ${(error as Error).message}`;
        }
      }
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          withOutput(
            `kinesis-local did not answer ListStreams within ${timeoutMs} ms (${lastProblem})`,
            output.text(),
          ),
        );
      }
      await sleep(ports.plain === undefined ? 25 : 50);
    }
  } catch (error) {
    await kill(child);
    throw error;
  }

  const pid = child.pid as number;
  return {
    endpoint: `http://127.0.0.1:${ports.plain}`,
    tlsEndpoint: `https://127.0.0.1:${ports.tls}`,
    pid,
    output: () => output.text(),
    stop: () => kill(child),
  };
}
