/** The `sparkless` entry point: the job API. */
export * from './core/index.js';
