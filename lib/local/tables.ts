/**
 * Creating a job's tables on the local cloud from their key schemas in lib/contract, as the
 * construct defines them on AWS (on-demand, string keys).
 */
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TABLE_SCHEMAS, type TableKind } from '../contract/tables.js';

/** Creates one table of the given kind. */
export async function createTable(
  client: DynamoDBClient,
  name: string,
  kind: TableKind,
): Promise<void> {
  const schema = TABLE_SCHEMAS[kind];
  const keys = [schema.partitionKey, ...(schema.sortKey ? [schema.sortKey] : [])];
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type })),
      KeySchema: keys.map((k, i) => ({
        AttributeName: k.name,
        KeyType: i === 0 ? 'HASH' : 'RANGE',
      })),
    }),
  );
}
