/** The CDK app of `npm run test:remote`: the test stack alone (infra/test-stack.ts). */
import { App } from 'aws-cdk-lib';
import { addTestStack } from './test-stack.js';

const app = new App();
addTestStack(app);
app.synth();
