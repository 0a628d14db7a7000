/**
 * `sparkless/aws`: the cloud runtime, for applications that read a job's state and results, and
 * for the functions the StreamingJob construct deploys.
 */
export type { DeploymentInfo } from '../contract/deployment.js';
export { deploymentsOf } from '../contract/deployment.js';
export { documentClient, dynamoClient, kinesisClient, lambdaClient } from './clients.js';
export type { CoordinatorRun, CoordinatorSettings, TaskInvoker } from './coordinator.js';
export { coordinate, emf, planBatch, runBatch } from './coordinator.js';
export type { CoordinatorEvent, TaskEvent } from './events.js';
export { parseCoordinatorEvent, parseTaskEvent } from './events.js';
export type { LambdaContext, Runtime } from './handlers.js';
export { createCoordinatorHandler, createWorkerHandler } from './handlers.js';
export { LambdaTaskInvoker } from './invoker.js';
export { KinesisShardReader } from './kinesis-reader.js';
export type {
  BatchCommit,
  BatchMetrics,
  BatchPlan,
  Intent,
  ProtocolStores,
  ShardReader,
  ShardTask,
  StartPosition,
  TaskClaim,
} from './protocol.js';
export { runtimeFromEnv } from './runtime.js';
export { StoreProtocol } from './store-protocol.js';
export { RequestCounter } from './stores/counter.js';
export {
  DynamoControlStore,
  DynamoDataStore,
  DynamoDeadLetterStore,
  DynamoResultsStore,
  DynamoStateStore,
  readState,
} from './stores/dynamo.js';
export { runWorkerTask } from './worker.js';
