/**
 * sparkless: Spark-Streaming-style stream processing. The API that jobs are written with.
 */

export type { Decoder } from './codec.js';
export { bytes, decodeUtf8, encodeUtf8, json, utf8 } from './codec.js';
export type {
  PartitionOptions,
  ReduceWindowOptions,
  StatefulOptions,
  StateSpec,
  StreamSinkOptions,
  UpdateInfo,
  UpdateStateOptions,
  WindowOptions,
} from './dstream.js';
export { DStream, MapWithStateDStream } from './dstream.js';
export type { Duration } from './duration.js';
export { formatMs, hours, isDuration, milliseconds, minutes, seconds } from './duration.js';
export type { ErrorCode } from './errors.js';
export { SparklessError } from './errors.js';
export type {
  Job,
  JobContext,
  JobOptions,
  KinesisSourceOptions,
  QueueSourceOptions,
} from './job.js';
export { isJob, job } from './job.js';
export type { Json, Key, Pair } from './keys.js';
export { decodeKey, encodeKey, encodeValue, hashString, isKey, pair, partitionOf } from './keys.js';
export type { RecordMeta } from './nodes.js';
export type { DeadLetter } from './operators/guard.js';
export { State } from './operators/state.js';
export type { JobPlan, PlanOperator, PlanStage } from './plan.js';
export { RDD } from './rdd.js';
