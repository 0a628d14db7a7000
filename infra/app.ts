/**
 * The CDK app of the examples: one stack per example job, each with its source streams.
 * `npm run synth` synthesizes them offline; `npx cdk deploy <stack>` deploys one.
 */
import { App } from 'aws-cdk-lib';
import { addExampleStacks } from './stacks.js';

const app = new App();
addExampleStacks(app);
app.synth();
