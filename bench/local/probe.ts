/**
 * What the local pipeline benchmark watches besides the job's own metrics:
 *
 * - {@link RequestProbe}: an HTTP proxy on loopback that the Lambda environments use as their
 *   `AWS_ENDPOINT_URL` in place of the cloud's router. It forwards Kinesis and DynamoDB calls
 *   straight to kinesis-local and dynalite (as the router does) and Lambda calls to the router,
 *   and records each call's operation and latency (request start to the end of the response),
 *   so that the time the functions spend waiting on each emulator can be added up.
 * - {@link CpuSampler}: CPU time of each process of the local cloud (the emulators, each Lambda
 *   environment, and this process, which runs the router, the Lambda service and the load
 *   generator), read from /proc/<pid>/stat.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { now } from '../harness.js';
import { epochNow } from './load.js';

/** One call the functions made, as the probe saw it. */
export interface Call {
  /** `kinesis`, `dynamodb` or `lambda`. */
  readonly service: string;
  /** The operation: `GetRecords`, `Query`, `Invoke`... */
  readonly op: string;
  /** When the request started (epoch ms, sub-millisecond). */
  readonly startAt: number;
  readonly ms: number;
  readonly status: number;
  /** Lambda's request id of an invocation. */
  readonly requestId?: string;
}

export interface RequestProbe {
  readonly endpoint: string;
  /** The calls that started in [from, to) (epoch ms), or all. */
  calls(from?: number, to?: number): Call[];
  stop(): Promise<void>;
}

const TARGETS = [
  { prefix: 'Kinesis_20131202.', service: 'kinesis' },
  { prefix: 'DynamoDB_20120810.', service: 'dynamodb' },
] as const;

/**
 * Starts the probe: Kinesis calls go to `kinesis`, DynamoDB calls to `dynamodb`, everything
 * else (Lambda's Invoke) to `router`.
 */
export async function startRequestProbe(targets: {
  readonly router: string;
  readonly kinesis: string;
  readonly dynamodb: string;
}): Promise<RequestProbe> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();
  const calls: Call[] = [];

  const server = http.createServer((request: IncomingMessage, response: ServerResponse) => {
    const startAt = epochNow();
    const header = request.headers['x-amz-target'];
    const amzTarget = (Array.isArray(header) ? header[0] : header) ?? '';
    const route = TARGETS.find((t) => amzTarget.startsWith(t.prefix));
    const service = route?.service ?? 'lambda';
    const op = route ? amzTarget.slice(route.prefix.length) : lambdaOp(request);
    const to = new URL(route ? targets[route.service as 'kinesis' | 'dynamodb'] : targets.router);
    let status = 502;
    let requestId: string | undefined;
    const upstream = http.request(
      {
        host: to.hostname,
        port: to.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent,
      },
      (answer) => {
        status = answer.statusCode ?? 502;
        const id = answer.headers['x-amzn-requestid'];
        if (typeof id === 'string') requestId = id;
        response.writeHead(status, answer.statusMessage, answer.headers);
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      },
    );
    upstream.on('error', (error) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const body = JSON.stringify({
        __type: 'ServiceUnavailableException',
        message: error.message,
      });
      response.writeHead(502, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(body);
    });
    response.on('finish', () => {
      calls.push({
        service,
        op,
        startAt,
        ms: epochNow() - startAt,
        status,
        ...(requestId === undefined ? {} : { requestId }),
      });
    });
    request.pipe(upstream);
    request.on('error', () => upstream.destroy());
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: (from = -Infinity, to = Infinity) =>
      calls.filter((c) => c.startAt >= from && c.startAt < to),
    stop: async () => {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function lambdaOp(request: IncomingMessage): string {
  if (request.url?.includes('/invocations')) {
    const type = request.headers['x-amz-invocation-type'];
    return type === 'Event' ? 'InvokeAsync' : 'Invoke';
  }
  return `${request.method} ${request.url?.split('?')[0] ?? ''}`;
}

/** The calls summarized per service and operation: count, total, median and p99 latency. */
export function summarizeCalls(calls: readonly Call[]) {
  const groups = new Map<string, number[]>();
  for (const c of calls) {
    const k = `${c.service}.${c.op}`;
    let g = groups.get(k);
    if (!g) {
      g = [];
      groups.set(k, g);
    }
    g.push(c.ms);
  }
  return [...groups]
    .map(([name, ms]) => {
      const s = [...ms].sort((a, b) => a - b);
      return {
        name,
        count: s.length,
        totalMs: s.reduce((a, b) => a + b, 0),
        medianMs: s[s.length >> 1] ?? 0,
        p99Ms: s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? 0,
      };
    })
    .sort((a, b) => b.totalMs - a.totalMs);
}

// ---- CPU -------------------------------------------------------------------------------------

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds (user + system) a process has used, or undefined if it is gone. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** CPU milliseconds the whole machine has been busy (every core, /proc/stat), if readable. */
export function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (
      (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) *
        1000) /
      TICKS_PER_SECOND
    );
  } catch {
    return undefined;
  }
}

/** Whether CPU times can be read here (Linux). */
export const canSampleCpu = (): boolean => cpuMsOf(process.pid) !== undefined;

/** A labelled set of processes whose CPU time is read at the start and end of a window. */
export class CpuSampler {
  readonly #labels: () => ReadonlyMap<number, string>;

  /** `labels` lists the processes to read, by pid, each with its role. */
  constructor(labels: () => ReadonlyMap<number, string>) {
    this.#labels = labels;
  }

  /** A reading of every process now. */
  read(): CpuReading {
    const at = now();
    const machineMs = machineBusyMs();
    const byPid = new Map<number, { label: string; cpuMs: number }>();
    for (const [pid, label] of this.#labels()) {
      const cpuMs = cpuMsOf(pid);
      if (cpuMs !== undefined) byPid.set(pid, { label, cpuMs });
    }
    return { at, byPid, ...(machineMs === undefined ? {} : { machineMs }) };
  }

  /**
   * CPU used between two readings per role (processes started in between count from 0), in
   * milliseconds, and the wall time between them. `other processes` is what the rest of the
   * machine used meanwhile (processes outside the local cloud, and ours that ended).
   */
  static between(a: CpuReading, b: CpuReading): { wallMs: number; byRole: Map<string, number> } {
    const byRole = new Map<string, number>();
    let ours = 0;
    for (const [pid, { label, cpuMs }] of b.byPid) {
      const used = cpuMs - (a.byPid.get(pid)?.cpuMs ?? 0);
      ours += used;
      byRole.set(label, (byRole.get(label) ?? 0) + used);
    }
    if (a.machineMs !== undefined && b.machineMs !== undefined) {
      byRole.set('other processes', Math.max(0, b.machineMs - a.machineMs - ours));
    }
    return { wallMs: b.at - a.at, byRole };
  }
}

export interface CpuReading {
  readonly at: number;
  /** CPU milliseconds the machine had been busy. */
  readonly machineMs?: number;
  readonly byPid: ReadonlyMap<number, { readonly label: string; readonly cpuMs: number }>;
}
