/**
 * dynalite (DynamoDB's API over LevelDB, here its in-memory store) as a child process on
 * 127.0.0.1, on a port the system picks.
 *
 * A child rather than in-process: its request handling then uses a core of its own instead
 * of competing with the code under test, and stopping it cannot leave anything behind in
 * this process. dynalite loads `level` (a native addon) even for its in-memory store; the
 * addon's prebuilt binaries ship in the npm package, so no install script is needed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import {
  baseEnvironment,
  hasExited,
  kill,
  OutputTail,
  outputClosed,
  track,
  withOutput,
} from './processes.js';

export interface DynaliteOptions {
  /** How long to wait for it to listen (default 15 s). */
  readonly startTimeoutMs?: number;
  /** Largest item in KB (default 400, as DynamoDB). */
  readonly maxItemSizeKb?: number;
  /** Called with everything dynalite prints, as it prints it. */
  readonly onOutput?: (text: string) => void;
}

export interface Dynalite {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * The child's program (CommonJS, run with `node -e`): tables become ACTIVE at once instead
 * of after dynalite's default 500 ms, and the port is reported over the IPC channel, whose
 * closing ends the child.
 */
const PROGRAM = `
const dynalite = require(process.env.SPARKLESS_DYNALITE_MAIN);
const options = JSON.parse(process.env.SPARKLESS_DYNALITE_OPTIONS);
const server = dynalite(options);
server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'listening', port: server.address().port });
});
process.on('disconnect', () => process.exit(0));
`;

const requireHere = createRequire(import.meta.url);

/** Starts dynalite (in memory) and resolves once it listens. */
export async function startDynalite(options: DynaliteOptions = {}): Promise<Dynalite> {
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const env = {
    ...baseEnvironment(),
    SPARKLESS_DYNALITE_MAIN: requireHere.resolve('dynalite'),
    SPARKLESS_DYNALITE_OPTIONS: JSON.stringify({
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
      maxItemSizeKb: options.maxItemSizeKb ?? 400,
    }),
  };
  const output = new OutputTail();
  const child: ChildProcess = spawn(process.execPath, ['-e', PROGRAM], {
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  track(child);
  const onData = (chunk: Buffer) => {
    output.push(chunk);
    options.onOutput?.(chunk.toString());
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            withOutput(`dynalite did not start listening within ${timeoutMs} ms`, output.text()),
          ),
        );
      }, timeoutMs);
      child.on('message', (message: { type?: string; port?: number }) => {
        if (message.type === 'listening' && typeof message.port === 'number') {
          clearTimeout(timer);
          resolve(message.port);
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`dynalite could not start: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        // Let the last output arrive before it goes into the message.
        void outputClosed(child).then(() =>
          reject(
            new Error(
              withOutput(
                `dynalite exited (${signal ?? `code ${code}`}) while starting`,
                output.text(),
              ),
            ),
          ),
        );
      });
    });
  } catch (error) {
    if (!hasExited(child)) await kill(child);
    throw error;
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    output: () => output.text(),
    stop: () => kill(child),
  };
}
