/**
 * Running tasks on the worker function: one synchronous invocation per task, with a deadline.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { SparklessError } from '../core/errors.js';
import type { TaskInvoker } from './coordinator.js';
import type { TaskEvent } from './events.js';
import type { TaskResult } from './protocol.js';

/** Invokes the worker function for each task and returns the claim it answers with. */
export class LambdaTaskInvoker implements TaskInvoker {
  readonly #client: LambdaClient;
  readonly #functionName: string;
  readonly #timeoutMs: number;

  /**
   * @param timeoutMs how long to wait for one task before treating it as failed (the coordinator
   *   then retries it; a late first attempt can only lose the claim)
   */
  constructor(client: LambdaClient, functionName: string, timeoutMs: number) {
    this.#client = client;
    this.#functionName = functionName;
    this.#timeoutMs = timeoutMs;
  }

  async runTask(event: TaskEvent): Promise<TaskResult> {
    const deadlineMs = Date.now() + this.#timeoutMs;
    const out = await this.#client.send(
      new InvokeCommand({
        FunctionName: this.#functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify({ ...event, deadlineMs })),
      }),
      { abortSignal: AbortSignal.timeout(this.#timeoutMs) },
    );
    const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
    if (out.FunctionError) {
      let message = text;
      try {
        const err = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        message = `${err.errorType ?? 'Error'}: ${err.errorMessage ?? text}`;
      } catch {
        // not JSON: keep the text
      }
      throw new SparklessError(
        'TASK_FAILED',
        `worker ${this.#functionName} failed on batch ${event.timeMs} stage ${event.stage} task ${event.task}: ${message}`,
      );
    }
    try {
      return JSON.parse(text) as TaskResult;
    } catch {
      throw new SparklessError(
        'TASK_FAILED',
        `worker ${this.#functionName} answered batch ${event.timeMs} stage ${event.stage} task ${event.task} with something other than a claim: ${text.slice(0, 200)}`,
      );
    }
  }
}
