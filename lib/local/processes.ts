/**
 * The child processes of the local cloud: each is tracked by pid from the moment it starts,
 * and killed when it is stopped, when this process exits, or when this process is told to
 * stop by SIGINT or SIGTERM. A child that outlives a parent killed outright (SIGKILL) still
 * goes: every child is started with an IPC channel and exits when that channel closes.
 */
import type { ChildProcess } from 'node:child_process';

interface Tracked {
  readonly child: ChildProcess;
  /** Kill the child's whole process group (it was started detached, as a group leader). */
  readonly group: boolean;
}

const live = new Map<number, Tracked>();
let hooked = false;

function killNow(pid: number, tracked: Tracked): void {
  try {
    process.kill(tracked.group ? -pid : pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function killAll(): void {
  for (const [pid, tracked] of live) killNow(pid, tracked);
  live.clear();
}

const onExit = (): void => killAll();

const onSignal = (signal: NodeJS.Signals): void => {
  killAll();
  unhook();
  // Listening for a signal turns off its default action (exiting). When nobody else
  // listens, raise it again so that the process still ends as it would have without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
};

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
}

/** Tracks a child until it exits; `group` when it was spawned with `detached: true`. */
export function track(child: ChildProcess, options: { group?: boolean } = {}): void {
  const pid = child.pid;
  if (pid === undefined) return;
  live.set(pid, { child, group: options.group === true });
  hook();
  child.once('exit', () => {
    const tracked = live.get(pid);
    // A detached child's own children (a compiler service, say) go with it.
    if (tracked?.group === true) killNow(pid, tracked);
    live.delete(pid);
    if (live.size === 0) unhook();
  });
}

/** Whether the child has exited (its exit event may still be on its way). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Kills a child (and its group, when tracked as one) with SIGKILL and resolves once it has
 * exited. The emulators keep everything in memory, so there is nothing to shut down
 * gracefully; kinesis-local takes five seconds to honour SIGTERM.
 */
export function kill(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    const tracked = live.get(pid);
    killNow(pid, tracked ?? { child, group: false });
    // The exit event may already have been emitted between the checks above and here.
    if (hasExited(child)) resolve();
  });
}

/**
 * Resolves once a child that exited has also closed its output pipes (so that everything it
 * printed has been read), or after `capMs` if something else holds them open.
 */
export function outputClosed(child: ChildProcess, capMs = 500): Promise<void> {
  return new Promise((resolve) => {
    if (child.stdout?.closed !== false && child.stderr?.closed !== false) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, capMs);
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The pids of every tracked child that has not exited yet. */
export function livePids(): number[] {
  return [...live.keys()];
}

/** The last `limit` characters written by a child, for error messages and diagnostics. */
export class OutputTail {
  #text = '';
  readonly #limit: number;

  constructor(limit = 16_384) {
    this.#limit = limit;
  }

  push(chunk: string | Buffer): void {
    this.#text += chunk.toString();
    if (this.#text.length > this.#limit * 2) this.#text = this.#text.slice(-this.#limit);
  }

  text(): string {
    return this.#text.length > this.#limit ? this.#text.slice(-this.#limit) : this.#text;
  }
}

/** An error message with a child's output appended, indented, when it has any. */
export function withOutput(message: string, output: string): string {
  const trimmed = output.trim();
  if (trimmed === '') return `${message} (it printed nothing)`;
  return `${message}; its output:\n${trimmed
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')}`;
}

/** A minimal environment for a child: what Node needs to run, nothing of ours. */
export function baseEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'TMP', 'TEMP', 'SystemRoot', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
