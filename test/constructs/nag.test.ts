/**
 * cdk-nag's AwsSolutions checks on the example app, and on a job with every option that adds
 * permissions: no finding of the construct's own is left, other than those it acknowledges
 * with a reason (streaming-job.ts, acknowledgeFindings).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  App,
  aws_kinesis as kinesis,
  aws_kms as kms,
  aws_lambda as lambda,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { addExampleStacks } from '../../infra/stacks.js';
import { StreamingJob } from '../../lib/constructs/index.js';

interface Finding {
  readonly rule: string;
  readonly severity: string;
  readonly path: string;
}

/** Synthesizes `app` with the AwsSolutions checks and returns their findings. */
function findings(app: App): Finding[] {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let error: unknown;
  try {
    app.synth();
  } catch (e) {
    error = e;
  }
  const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{
      pluginName: string;
      violations: Array<{
        ruleName: string;
        severity: string;
        violatingConstructs: Array<{ constructPath: string }>;
      }>;
    }>;
  };
  const found = report.pluginReports
    .filter((p) => p.pluginName.startsWith('AwsSolutions'))
    .flatMap((p) =>
      p.violations.flatMap((v) =>
        v.violatingConstructs.map((c) => ({
          rule: v.ruleName,
          severity: v.severity,
          path: c.constructPath,
        })),
      ),
    );
  // Errors fail the synth; a failure with no finding would be something else.
  if (error && found.every((f) => f.severity !== 'error')) throw error;
  return found;
}

/** Bundling is skipped: the checks read the templates, not the code. */
const app = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });

describe('AwsSolutions checks', () => {
  it('find nothing in the example app', () => {
    const examples = app();
    addExampleStacks(examples);
    const stacks = examples.node.children.filter((c) => c instanceof Stack);
    expect(stacks).toHaveLength(5);
    // A canary of the checks (a clean app and an app never checked report alike): a stream
    // without encryption, which they must find, and nothing else.
    new kinesis.Stream(stacks[0] as Stack, 'Canary', {
      encryption: kinesis.StreamEncryption.UNENCRYPTED,
    });
    const found = findings(examples);
    expect(found.length).toBeGreaterThan(0);
    expect(found.filter((f) => !f.path.startsWith('SparklessHashtags/Canary/'))).toEqual([]);
  });

  it("find nothing of the construct's own with a customer key, tracing and provisioned workers", () => {
    const options = app();
    const stack = new Stack(options, 'Options');
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const clicks = new kinesis.Stream(stack, 'Clicks', {
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: key,
    });
    const views = new kinesis.Stream(stack, 'Views', {
      encryption: kinesis.StreamEncryption.MANAGED,
    });
    new StreamingJob(stack, 'Job', {
      job: fileURLToPath(new URL('./fixtures/clicks-and-views.ts', import.meta.url)),
      sources: { clicks, views },
      encryptionKey: key,
      tracing: lambda.Tracing.ACTIVE,
      workerProvisionedConcurrency: 1,
    });
    const found = findings(options);
    expect(found.filter((f) => f.path.startsWith('Options/Job/'))).toEqual([]);
    // The check runs: the source stream, which is the user's, is reported for its own key.
    expect(found).toEqual([
      { rule: 'AwsSolutions-KDS3', severity: 'warning', path: 'Options/Clicks/Resource' },
    ]);
  });
});
