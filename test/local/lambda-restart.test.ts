/**
 * Restarting the local Lambda service's processes: every environment is killed at once, the
 * invocations running in them fail as on a crash (an asynchronous one is retried), and fresh
 * environments, as many per function as there were, take the next invocations warm. A service
 * of its own, without the emulators; handlers are in ./fixtures.
 */

import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type EnvironmentEvent,
  type InvokeStartEvent,
  LambdaService,
} from '../../lib/local/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const service = new LambdaService({ asyncRetryDelayMs: 50 });
service.register({ name: 'sleep', entry: fixture('sleep.ts'), timeoutMs: 20_000 });
service.register({ name: 'echo', entry: fixture('echo.ts') });

afterAll(() => service.stop());

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ESRCH');
    return false;
  }
}

/** Resolves once `n` invocations of `fn` have started (been handed to their processes). */
function started(fn: string, n: number): Promise<void> {
  let count = 0;
  return new Promise((resolve) => {
    const check = (event: InvokeStartEvent) => {
      if (event.function !== fn || ++count < n) return;
      service.off('invoke-start', check);
      resolve();
    };
    service.on('invoke-start', check);
  });
}

const output = (payload: string) => JSON.parse(payload) as { pid: number };

describe('local Lambda: restart', () => {
  it('kills every environment, fails what ran in them, and starts as many fresh ones', async () => {
    const starts: InvokeStartEvent[] = [];
    const spawned: EnvironmentEvent[] = [];
    service.on('invoke-start', (e) => starts.push(e));
    service.on('environment-start', (e) => spawned.push(e));

    // One warm, idle environment of 'echo'; two of 'sleep' busy, one of them asynchronously.
    const echoPid = output((await service.invoke('echo', { warm: true })).payload).pid;
    const busy = started('sleep', 2);
    const sync = service.invoke('sleep', { ms: 15_000 });
    await service.invoke('sleep', { ms: 300 }, { type: 'Event' });
    await busy;
    const before = [...service.pids('sleep'), echoPid];
    expect(before).toHaveLength(3);
    const asyncStart = starts.find((s) => s.type === 'Event');
    expect(asyncStart?.payload).toBe('{"ms":300}');

    const result = await service.restart();
    expect([...result.killed].sort()).toEqual([...before].sort());
    expect(result.started).toHaveLength(3);
    for (const pid of result.killed) expect(isAlive(pid)).toBe(false);
    for (const pid of result.started) expect(before).not.toContain(pid);

    // The synchronous invocation failed as on a crash of its process.
    const failed = await sync;
    expect(failed.functionError).toBe('Unhandled');
    const error = JSON.parse(failed.payload) as { errorType: string; errorMessage: string };
    expect(error.errorType).toBe('Runtime.ExitError');
    expect(error.errorMessage).toContain('signal: killed');

    // The asynchronous one is retried, once, on a fresh environment, and succeeds.
    await service.drain();
    const attempts = starts.filter((s) => s.requestId === asyncStart?.requestId);
    expect(attempts.map((s) => s.attempt)).toEqual([1, 2]);
    expect(result.started).toContain(attempts[1]?.pid);

    // The next invocations run warm: on the environments the restart started, no other.
    const spawnedBefore = spawned.length;
    const echoAfter = output((await service.invoke('echo', {})).payload).pid;
    expect(result.started).toContain(echoAfter);
    const [a, b] = await Promise.all([
      service.invoke('sleep', { ms: 200 }),
      service.invoke('sleep', { ms: 200 }),
    ]);
    expect(result.started).toContain(output(a?.payload ?? '{}').pid);
    expect(result.started).toContain(output(b?.payload ?? '{}').pid);
    expect(spawned.length).toBe(spawnedBefore);
    expect(service.pids('echo')).toEqual([echoAfter]);
    expect(service.pids('sleep')).toHaveLength(2);
  }, 30_000);

  it('restarts a service with no environments as a no-op', async () => {
    const idle = new LambdaService();
    try {
      idle.register({ name: 'echo', entry: fixture('echo.ts') });
      expect(await idle.restart()).toEqual({ killed: [], started: [] });
      expect(idle.pids('echo')).toEqual([]);
    } finally {
      await idle.stop();
    }
  });
});
