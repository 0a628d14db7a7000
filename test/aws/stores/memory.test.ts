/**
 * The contract suites against the in-memory stores.
 */
import {
  MemoryControlStore,
  MemoryDataStore,
  MemoryDeadLetterStore,
  MemoryResultsStore,
  MemoryStateStore,
} from '../../../lib/aws/stores/memory.js';
import {
  describeControlStore,
  describeDataStore,
  describeDeadLetterStore,
  describeResultsStore,
  describeStateStore,
} from './contract.js';

describeControlStore('memory', async () => new MemoryControlStore());
describeDataStore('memory', async () => new MemoryDataStore());
describeStateStore('memory', async () => new MemoryStateStore());
describeResultsStore('memory', async () => ({ store: new MemoryResultsStore(), table: 'results' }));
describeDeadLetterStore('memory', async () => new MemoryDeadLetterStore());
