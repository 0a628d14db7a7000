/**
 * The command line's help and its refusals: each command's --help, and a clear message naming
 * the value and the fix (exit code 2 for a mistake in the command line, 1 otherwise) for bad
 * arguments, a missing embedded cloud, a deployment that cannot be picked, a stateful job to
 * re-run, a taken port and a missing dependency. None of these needs a running cloud.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stackIdOf } from '../../lib/cli/commands/run.js';
import { parseKey } from '../../lib/cli/commands/state.js';
import { uiCommand } from '../../lib/cli/commands/ui.js';
import { clock, parseBatchTime, table } from '../../lib/cli/format.js';
import type { DeploymentInfo } from '../../lib/contract/deployment.js';
import { cli, FIXTURES, waitFor, workDir } from './helpers.js';

const work = workDir('commands');
const cwd = work.dir;
const savedEnv = { ...process.env };

afterEach(() => {
  process.env = { ...savedEnv };
});
afterAll(() => work.remove());

const COMMANDS = ['run', 'put', 'state', 'batches', 'batch', 'rerun', 'stop', 'resume', 'ui'];

describe('help', () => {
  it('lists the commands, and shows each one its usage with --help', async () => {
    const top = await cli(['--help'], { cwd });
    expect(top.code).toBe(0);
    for (const name of COMMANDS) expect(top.stdout).toMatch(new RegExp(`\\n  ${name} +\\S`));
    for (const name of COMMANDS) {
      const help = await cli([name, '--help'], { cwd });
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toMatch(new RegExp(`^usage: sparkless ${name}\\b`));
      expect((await cli(['help', name], { cwd })).stdout).toBe(help.stdout);
    }
    const none = await cli([], { cwd });
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('usage: sparkless <command>');
  });

  it('names the commands when given an unknown one', async () => {
    const out = await cli(['deploy'], { cwd });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      "sparkless: unknown command 'deploy'; the commands are run, put, state, batches, batch, rerun, stop, resume, ui",
    );
  });
});

describe('bad arguments', () => {
  const fixture = join(FIXTURES, 'counts.ts');
  const cases: Array<[string[], string]> = [
    [['run'], 'run: missing <job-module>: give the path of a module whose default export is a job'],
    [['run', 'nope.ts'], "run: job module 'nope.ts' is not a file (looked for"],
    [
      ['run', fixture, '--shards', '0'],
      "run: --shards must be a whole number from 1 to 64, got '0'",
    ],
    [['run', fixture, '--seconds', 'soon'], "run: --seconds must be a positive number, got 'soon'"],
    [
      ['run', fixture, '--port', '70000'],
      "run: --port must be a whole number from 0 to 65535, got '70000'",
    ],
    [['put'], 'put: missing <stream-or-source>'],
    [['put', 'lines', '--file', 'missing.txt'], 'put: --file missing.txt is not a file'],
    [['put', 'lines', '--partition-key', ''], 'put: --partition-key must have 1 to 256 characters'],
    [['state', 'totals'], 'state: missing <key>'],
    [
      ['batches', '--limit', 'ten'],
      "batches: --limit must be a whole number from 1 to 1000, got 'ten'",
    ],
    [['batches', '--nope'], "batches: unknown option '--nope'"],
    [['batch'], 'batch: missing <time>'],
    [['batch', '1', '2'], "batch: unexpected argument '2'"],
    [['rerun'], 'rerun: missing <time>'],
    [['stop', 'now'], "stop: unexpected argument 'now' (it takes no arguments)"],
  ];
  it.each(cases)('%j is refused with exit code 2', async (args, message) => {
    const out = await cli(args, { cwd });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`sparkless ${message}`);
    expect(out.stderr).toContain(`(sparkless ${args[0]} --help shows its usage)`);
    expect(out.stdout).toBe('');
  });
});

describe('finding the job', () => {
  it('says how to start an embedded cloud when none runs here', async () => {
    const out = await cli(['batches'], { cwd });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`sparkless batches: no embedded cloud is running in ${cwd}`);
    expect(out.stderr).toContain('start one with `npm start`');
    expect(out.stderr).toContain('`sparkless run <job-module>`');
  });

  it('says when the embedded cloud recorded here is no longer running', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    const dir = join(cwd, 'stale');
    mkdirSync(join(dir, '.sparkless'), { recursive: true });
    writeFileSync(join(dir, '.sparkless', 'local.json'), JSON.stringify(localState(dead.pid ?? 0)));
    const out = await cli(['state', 'totals', 'a'], { cwd: dir });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('.sparkless/local.json is no longer running');
  });

  it('refuses --stack without --aws or an endpoint, and --aws without a stack', async () => {
    const stack = await cli(['batches', '--stack', 'Clicks'], { cwd });
    expect(stack.code).toBe(2);
    expect(stack.stderr).toContain(
      'batches: --stack Clicks reads a deployment from AWS: add --aws to use the account of your credentials, or set AWS_ENDPOINT_URL (LocalStack)',
    );
    const aws = await cli(['stop', '--aws'], { cwd });
    expect(aws.code).toBe(2);
    expect(aws.stderr).toContain(
      "stop: with --aws, name the job's CloudFormation stack with --stack <name>",
    );
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:4566';
    const endpoint = await cli(['resume'], { cwd });
    expect(endpoint.stderr).toContain(
      "resume: with AWS_ENDPOINT_URL=http://127.0.0.1:4566, name the job's CloudFormation stack",
    );
  });

  it('serves the streaming UI of the deployed jobs on loopback until stopped', async () => {
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
    const file = join(cwd, 'ui-outputs.json');
    writeFileSync(
      file,
      JSON.stringify({
        Clicks: { JobDeploymentA1: JSON.stringify(deployment('clicks', true)) },
        Views: { JobDeploymentB2: JSON.stringify(deployment('views', false)) },
      }),
    );
    const stop = new AbortController();
    let printed = '';
    const io = {
      stdout: { write: (t: string) => (printed += t) },
      stderr: { write: (t: string) => (printed += t) },
      stdin: (async function* () {})(),
      cwd,
      signal: stop.signal,
    };
    const served = uiCommand(['--outputs', file], io);
    const url = await waitFor(
      "the UI's address",
      () => /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(printed)?.[1],
      20_000,
      50,
    );
    expect(printed).toContain("streaming UI of 'clicks', 'views'");
    const jobs = (await (await fetch(`${url}api/jobs`)).json()) as Array<{ name: string }>;
    expect(jobs.map((j) => j.name)).toEqual(['clicks', 'views']);
    expect((await fetch(url)).status).toBe(200);
    stop.abort();
    expect(await served).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
    const bad = await cli(['ui', '--port', 'x'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("ui: --port must be a whole number of at least 0, got 'x'");
  });

  it('picks the job from a cdk outputs file with --job, naming the jobs it holds', async () => {
    // Nothing answers here: every case below fails before a request is sent.
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
    const file = join(cwd, 'outputs.json');
    writeFileSync(
      file,
      JSON.stringify({
        Clicks: { JobDeploymentA1: JSON.stringify(deployment('clicks', true)), Other: 'x' },
        Views: { JobDeploymentB2: JSON.stringify(deployment('views', false)) },
      }),
    );
    const two = await cli(['batches', '--outputs', 'outputs.json'], { cwd });
    expect(two.code).toBe(2);
    expect(two.stderr).toContain(
      "batches: 2 jobs are deployed ('clicks', 'views'); pick one with --job <name>",
    );
    const unknown = await cli(['state', 'counts', 'a', '--outputs', file, '--job', 'carts'], {
      cwd,
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      `state: no job 'carts' is deployed on ${file}; deployed: 'clicks', 'views'`,
    );
    const stack = await cli(['stop', '--outputs', file, '--stack', 'Carts'], { cwd });
    expect(stack.stderr).toContain(
      `stop: --outputs ${file} has no stack 'Carts'; it has 'Clicks', 'Views'`,
    );
    const missing = await cli(['stop', '--outputs', 'nope.json'], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `does not exist; write it with cdk deploy --outputs-file ${join(cwd, 'nope.json')}`,
    );
    const stateful = await cli(['rerun', 'latest', '--outputs', file, '--stack', 'Clicks'], {
      cwd,
    });
    expect(stateful.code).toBe(1);
    expect(stateful.stderr).toContain(
      "rerun: job 'clicks' keeps state ('counts' (updateStateByKey)): re-running one of its batches would need that state as it was before the batch, which is not kept",
    );
  });
});

describe('run refuses before starting anything', () => {
  it('when an embedded cloud already runs in the directory', async () => {
    const dir = join(cwd, 'busy');
    mkdirSync(join(dir, '.sparkless'), { recursive: true });
    writeFileSync(join(dir, '.sparkless', 'local.json'), JSON.stringify(localState(process.pid)));
    const out = await cli(['run', join(FIXTURES, 'counts.ts')], { cwd: dir });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      `run: an embedded cloud already runs in ${dir} (pid ${process.pid}`,
    );
    expect(out.stderr).toContain(
      'stop it first (Ctrl-C where it runs), or run from another directory',
    );
  });

  it('when --port is taken', async () => {
    const server: Server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      const out = await cli(['run', join(FIXTURES, 'counts.ts'), '--port', String(port)], { cwd });
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(
        `run: port ${port} is in use: choose another with --port, or leave --port out to use a free one`,
      );
    } finally {
      server.close();
    }
  });

  it('when the job module imports a package that is not installed', async () => {
    const out = await cli(['run', join(FIXTURES, 'missing-dependency.mjs')], { cwd });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      "run: a dependency is missing: the job module imports 'sparkless-test-package-that-is-not-installed', which cannot be found from it; install it",
    );
    expect(out.stdout).toContain('synthesizing the stacks');
  }, 30_000);
});

describe('reading times, keys and tables', () => {
  const B = 1000;
  const now = Date.UTC(2026, 10, 20, 10, 11, 30);

  it('reads a batch time as batches shows it, as epoch milliseconds or as an ISO time', () => {
    const t = Date.UTC(2026, 10, 20, 10, 11, 12);
    expect(parseBatchTime('batch', '10:11:12', B, now)).toBe(t);
    expect(parseBatchTime('batch', String(t), B, now)).toBe(t);
    expect(parseBatchTime('batch', '2026-11-20T10:11:12Z', B, now)).toBe(t);
    // A clock reading later than now is yesterday's.
    expect(parseBatchTime('batch', '23:00:00', B, now)).toBe(Date.UTC(2026, 10, 19, 23));
    expect(parseBatchTime('batch', '10:11:12.500', 500, now)).toBe(t + 500);
    expect(clock(t, B)).toBe('10:11:12');
    expect(clock(t + 500, 500)).toBe('10:11:12.500');
  });

  it('refuses a time that is not one, or not a batch time, naming the nearest', () => {
    expect(() => parseBatchTime('batch', 'yesterday', B, now)).toThrow(
      "batch: 'yesterday' is not a batch time; give it as batches shows it (10:11:12, UTC)",
    );
    expect(() => parseBatchTime('batch', '25:00:00', B, now)).toThrow('is not a batch time');
    expect(() => parseBatchTime('batch', '1795600000500', B, now)).toThrow(
      'batch: 1795600000500 is not a batch time: batch times are multiples of the batch interval (1000 ms); the nearest are 1795600000000',
    );
  });

  it('reads a key as JSON when it parses, else as a string', () => {
    expect(parseKey('42')).toBe(42);
    expect(parseKey('"42"')).toBe('42');
    expect(parseKey('["a",1]')).toEqual(['a', 1]);
    expect(parseKey('#spark')).toBe('#spark');
  });

  it('names a job stack after the job, and aligns table columns', () => {
    expect(stackIdOf('cli-totals')).toBe('SparklessCliTotals');
    expect(
      table(
        ['time', 'n'],
        [
          ['10:11:12', '7'],
          ['10:11:13', '12'],
        ],
      ),
    ).toBe('time       n\n10:11:12   7\n10:11:13  12');
  });
});

function deployment(name: string, stateful: boolean): DeploymentInfo {
  return {
    sparkless: 1,
    jobName: name,
    batchIntervalMs: 1000,
    stateful: stateful ? [{ name: 'counts', kind: 'updateStateByKey', partitions: 2 }] : [],
    tables: { control: `${name}-control`, data: `${name}-data`, deadLetters: `${name}-dl` },
    functions: { worker: `${name}-worker`, coordinator: `${name}-coord` },
    sources: { lines: `${name}-lines` },
    sinks: {},
  };
}

function localState(pid: number) {
  return {
    pid,
    startedAt: new Date().toISOString(),
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
    env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
    deployments: [deployment('clicks', true)],
  };
}
