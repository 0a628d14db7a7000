/**
 * Limits the DynamoDB stores meet, checked alike by the in-memory stores so that a job that
 * would fail in the cloud fails in tests too.
 */

import { isHashedKey, resultKeys } from '../../contract/tables.js';
import { describe } from '../../core/duration.js';
import { SparklessError } from '../../core/errors.js';
import type { ResultEntry } from './ports.js';

/** The most bytes of key and value a results item may hold (the rest of 400 KB is room). */
export const MAX_RESULT_BYTES = 390 * 1024;

/** Throws ITEM_TOO_LARGE when an entry's key and value cannot fit in one results item. */
export function checkResultSize(table: string, entry: ResultEntry): void {
  const hashed = isHashedKey(resultKeys.item(entry.encodedKey).pk);
  const bytes =
    Buffer.byteLength(JSON.stringify(entry.value) ?? '', 'utf8') +
    Buffer.byteLength(entry.encodedKey, 'utf8') * (hashed ? 2 : 1);
  if (bytes > MAX_RESULT_BYTES) {
    throw new SparklessError(
      'ITEM_TOO_LARGE',
      `saveToTable: the result of key ${describe(entry.key)} for table ${table} is about ${bytes} bytes; a results item holds at most 400 KB. Save a smaller summary per key, or keep the value as state and read it with readState`,
    );
  }
}
