/**
 * The CDK constructs of sparkless (package `sparkless/constructs`): deploy a job to AWS with
 * `cdk deploy`.
 */
export { StreamingJob, type StreamingJobProps } from './streaming-job.js';
