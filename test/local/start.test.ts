/**
 * Starting and stopping the local cloud: a failed start says what failed and shows its
 * output, and the cloud's processes go with the process that started them, however it ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startLocalCloud } from '../../lib/local/index.js';
import { livePids } from '../../lib/local/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ESRCH');
    return false;
  }
}

async function eventually(what: string, check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('local cloud: a failed start', () => {
  it('names what failed, shows its output, and stops what had started', async () => {
    const progress: string[] = [];
    const error = await startLocalCloud({
      kinesis: { environment: { KINESIS_MOCK_CERT_PATH: '/nonexistent/server.json' } },
      onProgress: (message) => progress.push(message),
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('the local cloud could not start');
    expect(message).toMatch(/kinesis-local exited \(code \d+\) while starting; its output:/);
    // kinesis-mock's own complaint about the certificate it could not read.
    expect(message).toContain('/nonexistent/server.json');
    expect(message).not.toContain('dynalite');
    expect(progress).toContain('start failed; stopped what had started');
    expect(livePids()).toEqual([]);
  });

  it('gives up after the start timeout, naming each emulator that was not ready', async () => {
    const error = await startLocalCloud({ startTimeoutMs: 1 }).catch((e: unknown) => e as Error);
    const message = (error as Error).message;
    expect(message).toContain('kinesis-local did not answer ListStreams within 1 ms');
    expect(message).toContain('dynalite did not start listening within 1 ms');
    expect(livePids()).toEqual([]);
  });
});

describe('local cloud: the processes go with their parent', () => {
  /** Starts a program holding a cloud and resolves with the pids of its children. */
  function holdCloud(): Promise<{ parent: ChildProcess; pids: number[] }> {
    const parent = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'test/local/fixtures/hold-cloud.ts'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    parent.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return new Promise((resolve, reject) => {
      parent.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (line !== undefined)
          resolve({ parent, pids: (JSON.parse(line) as { pids: number[] }).pids });
      });
      parent.once('exit', (code) => reject(new Error(`hold-cloud exited (${code}): ${stderr}`)));
    });
  }

  const exited = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

  it('on SIGTERM (killed by the parent) and on SIGKILL (each child sees its channel close)', async () => {
    const [terminated, killed] = await Promise.all([holdCloud(), holdCloud()]);
    for (const held of [terminated, killed]) {
      // kinesis-local, dynalite and one Lambda environment.
      expect(held.pids).toHaveLength(3);
      for (const pid of held.pids) expect(isAlive(pid)).toBe(true);
    }
    terminated.parent.kill('SIGTERM');
    killed.parent.kill('SIGKILL');
    await Promise.all([exited(terminated.parent), exited(killed.parent)]);
    expect(terminated.parent.signalCode).toBe('SIGTERM');
    const pids = [...terminated.pids, ...killed.pids];
    await eventually('every child to exit', () => pids.every((pid) => !isAlive(pid)));
  }, 30_000);
});
