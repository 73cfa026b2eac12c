import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synthProcWatch } from "./support/synth.ts";

/**
 * The settings that change the stack's shape, in one synth without Lambda bundling: no Slack
 * channel, no example instance role, a document-name prefix and a custom tag prefix (so a custom opt-in tag).
 */
let template: Template;
beforeAll(() => {
  template = synthProcWatch({ createInstanceRole: false, documentNamePrefix: "staging", tagPrefix: "team" }, { bundle: false }).template;
}, 120_000);

describe("a stack without Slack and without the example instance role", () => {
  it("creates no Chatbot channel but keeps the notification topic", () => {
    template.resourceCountIs("AWS::Chatbot::SlackChannelConfiguration", 0);
    template.resourceCountIs("AWS::SNS::Topic", 2);
  });

  it("creates only the instance policy for existing roles", () => {
    template.resourceCountIs("AWS::IAM::InstanceProfile", 0);
    template.resourceCountIs("AWS::IAM::ManagedPolicy", 1);
    expect(
      Object.values(template.findResources("AWS::IAM::Role")).map((role) => role.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service),
    ).toEqual(["lambda.amazonaws.com", "lambda.amazonaws.com"]);
  });

  it("prefixes document names and threads them to the restart handler, its rule and its policy", () => {
    const names = Object.values(template.findResources("AWS::SSM::Document")).map((document) => document.Properties.Name);
    expect(names).toEqual(["staging-procwatch-install", "staging-procwatch-configure", "staging-procwatch-restart", "staging-procwatch-uninstall"]);
    const serialized = JSON.stringify(template.toJSON());
    expect(serialized).toContain('"RESTART_DOCUMENT_NAME":"staging-procwatch-restart"');
    expect(serialized).toContain('"document-name":["staging-procwatch-restart"]');
    expect(serialized).toContain(":document/staging-procwatch-restart");
    expect(serialized).not.toContain('"LogGroupName":"/aws/ssm/');
  });

  it("targets and conditions on the custom opt-in tag", () => {
    for (const association of Object.values(template.findResources("AWS::SSM::Association"))) {
      expect(association.Properties.Targets).toEqual([{ Key: "tag:team:enabled", Values: ["true"] }]);
    }
    expect(JSON.stringify(template.toJSON())).toContain('"ssm:resourceTag/team:enabled":"true"');
  });

  it("hands the same tag prefix to both Lambdas and the configure association, so hosts, alarms and restarts parse the same tags", () => {
    for (const fn of Object.values(template.findResources("AWS::Lambda::Function"))) {
      const variables = (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      if ("TAG_PREFIX" in variables) expect(variables.TAG_PREFIX).toBe("team");
    }
    const configure = Object.values(template.findResources("AWS::SSM::Association")).find(
      (association) => association.Properties.Parameters?.TagPrefix !== undefined,
    );
    expect(configure?.Properties.Parameters.TagPrefix).toEqual(["team"]);
  });
});
