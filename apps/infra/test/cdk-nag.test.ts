import { App, Stack, Validations } from "aws-cdk-lib";
import { Queue } from "aws-cdk-lib/aws-sqs";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { type Synthesized, synthProcWatch } from "./support/synth.ts";

/**
 * cdk-nag's AwsSolutions pack over the whole stack, the way bin/app.ts runs it: every finding is
 * either fixed or acknowledged in the construct with a one-line reason. Bundling is skipped here
 * (CDK's own "bundle no stack" context); procwatch.test.ts bundles the real Lambda code.
 */
let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthProcWatch({ slackWorkspaceId: "T0123ABCD", slackChannelId: "C0456EFGH" }, { bundle: false });
}, 120_000);

describe("cdk-nag AwsSolutionsChecks", () => {
  it("reports zero unacknowledged findings", () => {
    const report = new AwsSolutionsChecks().validateScope(synthesized.app);
    const findings = report.violations.map(
      (violation) => `${violation.ruleName}: ${violation.violatingResources.map((resource) => resource.locations?.join(",") ?? "").join("; ")}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it("gives every acknowledgment a reason", () => {
    const acknowledgments = synthesized.app.node
      .findAll()
      .flatMap((construct) => construct.node.metadata.filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      // Each entry maps the qualified rule id to its reason.
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ id, reason })));
    expect(acknowledgments.length).toBeGreaterThan(5);
    for (const { id, reason } of acknowledgments) {
      expect(id).toMatch(/AwsSolutions-[A-Z]+[0-9]+/);
      expect(reason.length, id).toBeGreaterThan(30);
      expect(reason, id).not.toMatch(/\n/);
    }
  });

  it("fails synth when a finding is not acknowledged (the check is live)", () => {
    const app = new App();
    const stack = new Stack(app, "Unacknowledged");
    new Queue(stack, "PlainQueue");
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((violation) => violation.ruleName)).toEqual(expect.arrayContaining(["AwsSolutions-SQS3", "AwsSolutions-SQS4"]));
  });
});
