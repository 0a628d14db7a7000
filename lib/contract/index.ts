/**
 * What the deploy side and the run side agree on: environment variables, table key schemas and
 * item keys, and the encoding of stored values.
 */
export * from './encoding.js';
export * from './env.js';
export * from './tables.js';
