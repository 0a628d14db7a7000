/**
 * The AWS SDK clients of the runtime, built one way everywhere.
 *
 * Endpoints come only from the SDK's own resolution: `AWS_ENDPOINT_URL` (every service),
 * `AWS_ENDPOINT_URL_KINESIS` / `_DYNAMODB` / `_LAMBDA` (one service), or the SDK's default
 * for the region. So the same code talks to AWS, to LocalStack and to the embedded local
 * cloud (whose router is one `AWS_ENDPOINT_URL`), and no endpoint is ever written in code:
 * the config types below leave `endpoint` out on purpose.
 *
 * Retries use the SDK's strategies: `adaptive` for Kinesis and DynamoDB, whose throttling
 * errors are best met by slowing the client down, and `standard` for Lambda. `AWS_RETRY_MODE`
 * and `AWS_MAX_ATTEMPTS` still win when set, as the SDK documents, and so does an explicit
 * `retryMode` / `maxAttempts` passed here.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient, type TranslateConfig } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Client settings a caller may give (region, credentials, retries...), never an endpoint. */
export type KinesisClientOptions = Omit<KinesisClientConfig, 'endpoint'>;
export type DynamoClientOptions = Omit<DynamoDBClientConfig, 'endpoint'>;
export type LambdaClientOptions = Omit<LambdaClientConfig, 'endpoint'>;

/** Attempts per call (the first try included) unless the caller or the environment says. */
const KINESIS_MAX_ATTEMPTS = 8;
const DYNAMO_MAX_ATTEMPTS = 8;
const LAMBDA_MAX_ATTEMPTS = 3;

/** How long to wait for a TCP connection before the attempt fails (and may be retried). */
const CONNECTION_TIMEOUT_MS = 5_000;

/**
 * The retry settings to use: the caller's, else nothing when the environment sets them (so
 * the SDK reads `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` itself), else ours.
 */
function retries(
  given: { retryMode?: unknown; maxAttempts?: unknown },
  mode: 'adaptive' | 'standard',
  maxAttempts: number,
): { retryMode?: string; maxAttempts?: number } {
  const env = process.env;
  const out: { retryMode?: string; maxAttempts?: number } = {};
  if (given.retryMode === undefined && env.AWS_RETRY_MODE === undefined) out.retryMode = mode;
  if (given.maxAttempts === undefined && env.AWS_MAX_ATTEMPTS === undefined) {
    out.maxAttempts = maxAttempts;
  }
  return out;
}

/**
 * A Kinesis client over HTTP/1.1. The SDK's default handler for Kinesis speaks HTTP/2 (for
 * SubscribeToShard), which kinesis-local and kinesalite answer with "Protocol error"; the
 * runtime reads shards with GetRecords, for which HTTP/1.1 is what AWS serves as well.
 */
export function kinesisClient(options: KinesisClientOptions = {}): KinesisClient {
  return new KinesisClient({
    requestHandler: new NodeHttpHandler({ connectionTimeout: CONNECTION_TIMEOUT_MS }),
    ...retries(options, 'adaptive', KINESIS_MAX_ATTEMPTS),
    ...options,
  });
}

/** A DynamoDB client (attribute values in the low-level `{ S: ... }` form). */
export function dynamoClient(options: DynamoClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    requestHandler: new NodeHttpHandler({ connectionTimeout: CONNECTION_TIMEOUT_MS }),
    ...retries(options, 'adaptive', DYNAMO_MAX_ATTEMPTS),
    ...options,
  });
}

/**
 * A DynamoDB document client (plain JavaScript values) over a client from `dynamoClient`.
 * Undefined attributes are left out rather than rejected, as a JSON encoder would.
 */
export function documentClient(
  options: DynamoClientOptions = {},
  translate: TranslateConfig = {},
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(dynamoClient(options), {
    ...translate,
    marshallOptions: { removeUndefinedValues: true, ...translate.marshallOptions },
  });
}

/**
 * A Lambda client. Synchronous invocations can run for as long as a function's timeout, so
 * no request timeout is set; a throttled invocation (429) is retried by the standard
 * strategy, so pass `maxAttempts: 1` to see the throttle itself.
 */
export function lambdaClient(options: LambdaClientOptions = {}): LambdaClient {
  return new LambdaClient({
    requestHandler: new NodeHttpHandler({ connectionTimeout: CONNECTION_TIMEOUT_MS }),
    ...retries(options, 'standard', LAMBDA_MAX_ATTEMPTS),
    ...options,
  });
}
