/**
 * What every command of the `sparkless` command line shares: where it reads and writes (so that
 * tests run it in-process), the error that ends it with a message and an exit code, and the
 * parsing of its arguments with node:util parseArgs.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Where a command reads and writes. Tests pass their own; the launcher passes the process's. */
export interface CliIO {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** What `put` reads when no --file is given. */
  readonly stdin: AsyncIterable<string | Uint8Array>;
  /** Where `.sparkless/local.json` is looked for, and where `run` records its cloud. */
  readonly cwd: string;
  /** Ends a command that runs until stopped (`run`): Ctrl-C. */
  readonly signal?: AbortSignal;
}

/**
 * Ends a command: the message says what was wrong, the value, and the fix. Exit code 2 for a
 * mistake in the command line (the usage is shown), 1 for anything else.
 */
export class CliError extends Error {
  readonly exitCode: number;
  readonly usage: boolean;

  constructor(message: string, options: { readonly exitCode?: number; usage?: boolean } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? 1;
    this.usage = options.usage ?? this.exitCode === 2;
  }
}

/** A mistake in the command line (exit code 2). */
export function usageError(message: string): CliError {
  return new CliError(message, { exitCode: 2 });
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** The options every command that reads or writes a deployed job takes. */
export const TARGET_OPTIONS = {
  job: { type: 'string' },
  aws: { type: 'boolean' },
  stack: { type: 'string' },
  outputs: { type: 'string' },
} as const satisfies Options;

/** How the target options read in a command's help. */
export const TARGET_HELP = `Finding the job:
  --job NAME        the job, when several are deployed
  --aws             AWS itself, with your credentials (with --stack or --outputs); endpoint
                    variables such as AWS_ENDPOINT_URL are then ignored
  --stack NAME      read the job's deployment from this CloudFormation stack's outputs
  --outputs FILE    read it from a file written by cdk deploy --outputs-file
  Without --aws and without AWS_ENDPOINT_URL, the job is found on the embedded cloud
  running in this directory (started by npm start or sparkless run). With
  AWS_ENDPOINT_URL set (LocalStack), --stack or --outputs says where it is.`;

/** The parsed command line of one command. */
export interface Parsed<O extends Options> {
  readonly values: ReturnType<
    typeof parseArgs<{ options: O & { help: { type: 'boolean' } }; allowPositionals: true }>
  >['values'];
  readonly positionals: string[];
}

/** Parses a command's arguments strictly; a mistake becomes a usage error naming it. */
export function parse<O extends Options>(
  command: string,
  args: readonly string[],
  options: O,
): Parsed<O> {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed<O>['values'], positionals };
  } catch (e) {
    const message = (e as Error).message
      .replace(/\. To specify a positional argument.*$/s, '')
      .replace(/^Unknown option/, `${command}: unknown option`);
    throw usageError(message.startsWith(command) ? message : `${command}: ${message}`);
  }
}

/** A whole number from `min` to `max`, or the fallback when not given. */
export function intOption(
  command: string,
  name: string,
  value: string | undefined,
  fallback: number,
  range: { readonly min: number; readonly max: number },
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw usageError(
      `${command}: --${name} must be a whole number from ${range.min} to ${range.max}, got '${value}'`,
    );
  }
  return n;
}

/** A positive number (seconds and the like), or undefined when not given. */
export function positiveOption(
  command: string,
  name: string,
  value: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw usageError(`${command}: --${name} must be a positive number, got '${value}'`);
  }
  return n;
}

/** Exactly the positionals a command takes, named in its usage. */
export function positionals(
  command: string,
  given: readonly string[],
  names: readonly string[],
  optional = 0,
): string[] {
  const required = names.length - optional;
  if (given.length < required) {
    const missing = names.slice(given.length, required).map((n) => `<${n}>`);
    throw usageError(`${command}: missing ${missing.join(' and ')}`);
  }
  if (given.length > names.length) {
    throw usageError(
      `${command}: unexpected argument '${given[names.length]}' (it takes ${names.map((n) => `<${n}>`).join(' ') || 'no arguments'})`,
    );
  }
  return [...given];
}

/** Writes a line. */
export function println(out: CliIO['stdout'], line = ''): void {
  out.write(`${line}\n`);
}
