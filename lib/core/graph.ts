/**
 * The job graph under construction: assigns stable operator ids, remembers sources, sinks and
 * outputs, and numbers the stateful operators.
 */
import { formatMs } from './duration.js';
import { SparklessError } from './errors.js';
import type { OpBody, OpNode, SinkSpec, SourceSpec, StatefulKind } from './nodes.js';

/** Options that shape every operator of a job. */
export interface GraphSettings {
  readonly job: string;
  readonly batchIntervalMs: number;
  /** Partitions of shuffles and state when an operator does not say. */
  readonly defaultPartitions: number;
}

export class JobGraph {
  readonly settings: GraphSettings;
  readonly nodes: OpNode[] = [];
  readonly sources = new Map<string, SourceSpec>();
  readonly sinks = new Map<string, SinkSpec>();
  readonly outputs: OpNode[] = [];
  #stateful = 0;
  readonly #stateNames = new Set<string>();
  #sealed = false;

  constructor(settings: GraphSettings) {
    this.settings = settings;
  }

  /** Adds an operator; its id is its position in construction order and its name. */
  add(op: string, parents: readonly OpNode[], body: OpBody, slideMs?: number): OpNode {
    this.#requireOpen(op);
    for (const p of parents) {
      if (!this.nodes.includes(p)) {
        throw new SparklessError(
          'FOREIGN_STREAM',
          `${op}: stream ${p.id} belongs to another job; combine only streams of the same job`,
        );
      }
    }
    const id = `${this.nodes.length}:${op}`;
    const node: OpNode = Object.freeze({
      id,
      op,
      parents: Object.freeze([...parents]),
      slideMs: slideMs ?? parents[0]?.slideMs ?? this.settings.batchIntervalMs,
      body:
        body.kind === 'stateful' ? { ...body, spec: Object.freeze({ ...body.spec, id }) } : body,
    });
    this.nodes.push(node);
    if (body.kind === 'output') this.outputs.push(node);
    return node;
  }

  #requireOpen(op: string): void {
    if (this.#sealed) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `${op}: job '${this.settings.job}' is already defined; build every operator inside the job's build function (use transform to change a batch's RDD at run time)`,
      );
    }
  }

  addSource(spec: SourceSpec): void {
    this.#requireOpen(`source '${spec.name}'`);
    if (this.sources.has(spec.name)) {
      throw new SparklessError(
        'DUPLICATE_NAME',
        `job '${this.settings.job}': two sources are named '${spec.name}'; give each source its own name`,
      );
    }
    this.sources.set(spec.name, spec);
  }

  addSink(spec: SinkSpec): void {
    this.#requireOpen(`sink '${spec.name}'`);
    if (this.sinks.has(spec.name)) {
      throw new SparklessError(
        'DUPLICATE_NAME',
        `job '${this.settings.job}': two sinks are named '${spec.name}'; give each sink its own name`,
      );
    }
    this.sinks.set(spec.name, spec);
  }

  /**
   * The name of the next stateful operator: the given one, or its kind and its position among
   * the job's stateful operators. Names address stored state, so they must be unique.
   */
  stateName(kind: StatefulKind | string, given: string | undefined): string {
    const name = given ?? `${kind}#${this.#stateful}`;
    this.#stateful++;
    if (this.#stateNames.has(name)) {
      throw new SparklessError(
        'DUPLICATE_NAME',
        `${kind}: job '${this.settings.job}' already has a stateful operator named '${name}'; give each stateful operator its own name`,
      );
    }
    this.#stateNames.add(name);
    return name;
  }

  seal(): void {
    this.#sealed = true;
  }

  describeSlide(ms: number): string {
    return ms === this.settings.batchIntervalMs
      ? `the batch interval (${formatMs(ms)})`
      : `the parent stream's slide (${formatMs(ms)})`;
  }
}
