/**
 * The streaming UI: a page served on loopback that shows how jobs keep up with their batch
 * interval, read from their tables wherever they run.
 */
export type { BatchView, BatchWindow, JobSummary, JobView, TaskView } from './api.js';
export {
  type CostEstimate,
  DYNAMODB_USD_PER_MILLION_READ_UNITS,
  DYNAMODB_USD_PER_MILLION_WRITE_UNITS,
  estimateCost,
  PRICES,
  PRICES_READ_ON,
  PRICES_REGION,
  type Prices,
} from './cost.js';
export { DEFAULT_WINDOW, type RunningUi, startUi, type UiOptions } from './server.js';
