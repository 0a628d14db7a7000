/**
 * The `sparkless` command line: run jobs on the embedded cloud, put records into their streams,
 * and read, inspect, re-run, stop and resume deployed jobs wherever they run.
 *
 *   sparkless run examples/hashtags.ts --seconds 30
 *   sparkless put tweets --file tweets.txt
 *   sparkless batches
 *
 * {@link main} runs one command with the streams it is given and returns its exit code, so that
 * tests run it in-process; {@link runCli} runs it as a process (the package's `bin`).
 */
import { CliError, type CliIO, println } from './io.js';

/** A command: loaded when it runs, so that one command never loads another's dependencies. */
interface Command {
  readonly summary: string;
  readonly load: () => Promise<{
    readonly help: string;
    readonly run: (args: readonly string[], io: CliIO) => Promise<number>;
  }>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  run: {
    summary: 'run job modules on the embedded cloud, showing each batch',
    load: async () => {
      const m = await import('./commands/run.js');
      return { help: m.RUN_HELP, run: m.runCommand };
    },
  },
  put: {
    summary: 'put records (one per line) into a stream',
    load: async () => {
      const m = await import('./commands/put.js');
      return { help: m.PUT_HELP, run: m.putCommand };
    },
  },
  state: {
    summary: "read one key's state",
    load: async () => {
      const m = await import('./commands/state.js');
      return { help: m.STATE_HELP, run: m.stateCommand };
    },
  },
  batches: {
    summary: 'list recent batches with their metrics',
    load: async () => {
      const m = await import('./commands/batches.js');
      return { help: m.BATCHES_HELP, run: m.batchesCommand };
    },
  },
  batch: {
    summary: 'show one past batch: plan, claims, outputs',
    load: async () => {
      const m = await import('./commands/batches.js');
      return { help: m.BATCH_HELP, run: m.batchCommand };
    },
  },
  rerun: {
    summary: 're-run a past batch of a stateless job in memory',
    load: async () => {
      const m = await import('./commands/rerun.js');
      return { help: m.RERUN_HELP, run: m.rerunCommand };
    },
  },
  stop: {
    summary: 'stop a job after its current batch',
    load: async () => {
      const m = await import('./commands/control.js');
      return { help: m.STOP_HELP, run: m.stopCommand };
    },
  },
  resume: {
    summary: 'let a stopped job run again, now',
    load: async () => {
      const m = await import('./commands/control.js');
      return { help: m.RESUME_HELP, run: m.resumeCommand };
    },
  },
  ui: {
    summary: 'serve the streaming UI of the deployed jobs',
    load: async () => {
      const m = await import('./commands/ui.js');
      return { help: m.UI_HELP, run: m.uiCommand };
    },
  },
};

export const USAGE = `usage: sparkless <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)}${c.summary}`)
  .join('\n')}

Run sparkless <command> --help for a command's arguments and options.

A command that reads or writes a deployed job finds it on the embedded cloud running in this
directory (npm start, sparkless run), or, with --aws or AWS_ENDPOINT_URL set (LocalStack), in
the outputs of its CloudFormation stack (--stack NAME, or --outputs FILE from cdk deploy).`;

/** Runs one command; resolves to its exit code. Never throws for a command's failure. */
export async function main(argv: readonly string[], io: Partial<CliIO> = {}): Promise<number> {
  const full: CliIO = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stdin: io.stdin ?? process.stdin,
    cwd: io.cwd ?? process.cwd(),
    ...(io.signal ? { signal: io.signal } : {}),
  };
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? args[0] : undefined;
    const command = topic === undefined ? undefined : COMMANDS[topic];
    println(full.stdout, command ? (await command.load()).help : USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    full.stderr.write(
      `sparkless: unknown command '${name}'; the commands are ${Object.keys(COMMANDS).join(', ')}\n(sparkless --help describes them)\n`,
    );
    return 2;
  }
  // The environment a command applies (the embedded cloud's endpoint) is its own.
  const saved = { ...process.env };
  try {
    return await (await command.load()).run(args, full);
  } catch (e) {
    if (e instanceof CliError) {
      full.stderr.write(`sparkless ${e.message}\n`);
      if (e.usage) full.stderr.write(`(sparkless ${name} --help shows its usage)\n`);
      return e.exitCode;
    }
    const err = e as Error;
    full.stderr.write(`sparkless ${name}: ${err?.stack ?? String(e)}\n`);
    return 1;
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/**
 * Runs the command line of this process and exits with its code. The first Ctrl-C (SIGINT) or
 * SIGTERM asks a long-running command to stop cleanly; a second one exits at once.
 */
export async function runCli(argv: readonly string[] = process.argv.slice(2)): Promise<never> {
  // The SDK warns on every run that its later releases need Node 22; the package pins its
  // versions, so the warning asks nothing of the user of this command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(130);
      controller.abort();
    });
  }
  const code = await main(argv, { signal: controller.signal });
  // Flush what was written before exiting.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
