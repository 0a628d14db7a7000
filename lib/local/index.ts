/**
 * The embedded local cloud: emulators, the local Lambda service and the router, on loopback.
 */
export type { LocalCloud, LocalCloudOptions } from './cloud.js';
export { startLocalCloud } from './cloud.js';
export type {
  DeployedFunction,
  DeployedResource,
  DeployedSchedule,
  DeployedStream,
  DeployedTable,
  DeployStackOptions,
  DestroyOptions,
  DestroyResult,
  LocalDeployment,
  ScheduleTarget,
} from './deploy.js';
export { ACCEPTED_TYPES, CREATED_TYPES, deployStack, parseScheduleExpression } from './deploy.js';
export type { Dynalite, DynaliteOptions } from './dynamo.js';
export { startDynalite } from './dynamo.js';
export type { KinesisLocal, KinesisLocalOptions } from './kinesis.js';
export { KINESIS_MOCK_DURATIONS, startKinesisLocal } from './kinesis.js';
export type {
  AsyncFailureEvent,
  EnvironmentEvent,
  EnvironmentExitEvent,
  EnvironmentInfo,
  ErrorPayload,
  FunctionDefinition,
  InvocationType,
  InvokeEndEvent,
  InvokeOptions,
  InvokeOutput,
  InvokeStartEvent,
  LambdaServiceEvents,
  LambdaServiceOptions,
  LogLine,
  RestartResult,
} from './lambda.js';
export { LambdaService, LambdaServiceError, parseFunctionName } from './lambda.js';
export type { Router, RouterOptions, RouterTargets } from './router.js';
export { startRouter } from './router.js';
export { createTable } from './tables.js';
