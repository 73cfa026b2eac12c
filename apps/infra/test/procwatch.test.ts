import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { RESTART_DOCUMENT_PARAMETERS } from "@procwatch/contract";
import { loadDocument } from "@procwatch/ssm-documents";
import type { App } from "aws-cdk-lib";
import type { Template } from "aws-cdk-lib/assertions";
import { AssetManifestArtifact } from "aws-cdk-lib/cx-api";
import { beforeAll, describe, expect, it } from "vitest";
import { PROCWATCH_METRIC_NAMESPACE, PROCWATCH_METRICS } from "../src/metrics.ts";
import { flatten, identityStatements, logicalIdOf, type PolicyStatementView, resourcePolicyStatements, synthProcWatch } from "./support/synth.ts";

/**
 * One synth (with real esbuild bundling of both Lambdas) shared by every assertion in this file.
 * Non-default settings throughout, so each test also proves the setting reaches its resource.
 */
const SETTINGS = {
  slackWorkspaceId: "T0123ABCD",
  slackChannelId: "C0456EFGH",
  alarmPrefix: "acme",
  tagPrefix: "acme",
  restartBudget: 5,
  restartWindowMinutes: 60,
  detectionProfile: "fast",
  reconcileSchedule: "rate(10 minutes)",
  cloudWatchAgentVersion: "1.300057.0b1161",
} as const;

let app: App;
let template: Template;
let agentSha256: Record<string, string>;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let identity: PolicyStatementView[];

beforeAll(() => {
  const synthesized = synthProcWatch(SETTINGS);
  app = synthesized.app;
  template = synthesized.template;
  agentSha256 = synthesized.agentSha256;
  resources = template.toJSON().Resources;
  identity = identityStatements(template);
}, 120_000);

// flatten() renders CloudFormation pseudo parameters as ${AWS::...} placeholders.
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation placeholder, not a JS template.
const ACCOUNT_ARN = "arn:${AWS::Partition}";
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation placeholder, not a JS template.
const REGION_ACCOUNT = "${AWS::Region}:${AWS::AccountId}";

function roleOfFunction(idPrefix: string): string {
  const role = resources[logicalIdOf(template, "AWS::Lambda::Function", idPrefix)]?.Properties.Role as { "Fn::GetAtt": string[] } | undefined;
  const roleId = role?.["Fn::GetAtt"][0];
  if (roleId === undefined) throw new Error(`function ${idPrefix} has no role reference`);
  return roleId;
}

function statementsOfRole(roleId: string): PolicyStatementView[] {
  const policyIds = Object.entries(resources)
    .filter(([, resource]) => resource.Type === "AWS::IAM::Policy" && (resource.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .map(([id]) => id);
  return identity.filter((statement) => policyIds.includes(statement.source) || statement.source === roleId);
}

describe("topics and encryption", () => {
  it("encrypts both topics with one rotating KMS key and refuses non-TLS publishes", () => {
    template.resourceCountIs("AWS::SNS::Topic", 2);
    template.hasResourceProperties("AWS::KMS::Key", { EnableKeyRotation: true });
    const keyId = logicalIdOf(template, "AWS::KMS::Key", "ProcWatchKey");
    for (const topic of Object.values(template.findResources("AWS::SNS::Topic"))) {
      expect(topic.Properties.KmsMasterKeyId).toEqual({ "Fn::GetAtt": [keyId, "Arn"] });
    }
    const tlsDenies = resourcePolicyStatements(template).filter(
      (statement) => statement.effect === "Deny" && statement.condition?.Bool?.["aws:SecureTransport"] === "false" && statement.source.includes("TopicPolicy"),
    );
    expect(tlsDenies).toHaveLength(2);
  });

  it("lets CloudWatch alarms of this account use the key and publish procwatch alarms to the restart topic", () => {
    const statements = resourcePolicyStatements(template);
    const keyGrant = statements.find(
      (statement) => statement.source.startsWith("ProcWatchKey") && JSON.stringify(statement.principal).includes("cloudwatch.amazonaws.com"),
    );
    expect(keyGrant?.actions).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
    expect(keyGrant?.condition).toEqual({ StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } });
    const restartPublish = statements.find((statement) => statement.source.startsWith("ProcWatchRestartTopicPolicy") && statement.effect === "Allow");
    expect(restartPublish?.actions).toEqual(["sns:Publish"]);
    expect(flatten(restartPublish?.condition?.ArnLike?.["aws:SourceArn"])).toBe(`${ACCOUNT_ARN}:cloudwatch:${REGION_ACCOUNT}:alarm:acme/*`);
  });
});

describe("restart state table", () => {
  it("is keyed by pk with TTL on expiresAt, point-in-time recovery, encryption, and is retained", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      Properties: {
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        BillingMode: "PAY_PER_REQUEST",
      },
    });
  });
});

describe("Lambdas", () => {
  it("runs both on nodejs24.x, arm64, bundled as ESM", () => {
    template.resourceCountIs("AWS::Lambda::Function", 2);
    for (const fn of Object.values(template.findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties).toMatchObject({ Runtime: "nodejs24.x", Architectures: ["arm64"], Handler: "index.handler" });
      expect(fn.Properties.DeadLetterConfig).toBeDefined();
    }
  });

  it("configures the restart handler with the environment the restart issue defined", () => {
    const fn = resources[logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchRestartHandler")];
    const environment = (fn?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {};
    expect(environment).toMatchObject({
      RESTART_DOCUMENT_NAME: "procwatch-restart",
      RESTART_BUDGET: "5",
      RESTART_WINDOW_MINUTES: "60",
      ALARM_PREFIX: "acme",
      TAG_PREFIX: "acme",
      COMMAND_TIMEOUT_SECONDS: "120",
      POWERTOOLS_METRICS_NAMESPACE: PROCWATCH_METRIC_NAMESPACE,
    });
    expect(environment.NOTIFICATION_TOPIC_ARN).toEqual({ Ref: logicalIdOf(template, "AWS::SNS::Topic", "ProcWatchNotificationTopic") });
    expect(environment.STATE_TABLE_NAME).toEqual({ Ref: logicalIdOf(template, "AWS::DynamoDB::Table", "ProcWatchRestartStateTable") });
    // The command output group exists up front (with retention), retained on destroy, and has no
    // fixed name: a retained group from an earlier deployment must not make the next one fail.
    const logGroupId = logicalIdOf(template, "AWS::Logs::LogGroup", "ProcWatchRestartCommandLogs");
    expect(environment.COMMAND_LOG_GROUP).toEqual({ Ref: logGroupId });
    expect(resources[logGroupId]?.Properties).toMatchObject({ RetentionInDays: 30 });
    expect(resources[logGroupId]?.Properties.LogGroupName).toBeUndefined();
    expect((resources[logGroupId] as { DeletionPolicy?: string } | undefined)?.DeletionPolicy).toBe("Retain");
  });

  it("configures the fleet manager with the prefixes, the restart topic and the CWAgent namespace", () => {
    const fn = resources[logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchFleetManager")];
    const environment = (fn?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {};
    expect(environment).toMatchObject({ ALARM_PREFIX: "acme", TAG_PREFIX: "acme", METRIC_NAMESPACE: "CWAgent", DEFAULT_DETECTION_PROFILE: "fast" });
    expect(environment.RESTART_TOPIC_ARN).toEqual({ Ref: logicalIdOf(template, "AWS::SNS::Topic", "ProcWatchRestartTopic") });
    expect(fn?.Properties.Timeout).toBe(900);
    // One reconcile at a time, so two runs never pace themselves past the account's quotas.
    expect(fn?.Properties.ReservedConcurrentExecutions).toBe(1);
  });

  it("publishes the deployment's settings under its alarm prefix, the same values the fleet Lambda runs with", () => {
    const parameter = Object.values(template.findResources("AWS::SSM::Parameter"))[0];
    expect(parameter?.Properties.Name).toBe("/procwatch/deployments/acme");
    const value = JSON.stringify(parameter?.Properties.Value);
    for (const fragment of ['\\"alarmPrefix\\":\\"acme\\"', '\\"tagPrefix\\":\\"acme\\"', '\\"defaultDetection\\":\\"fast\\"', '\\"armingGraceMinutes\\":45'])
      expect(value).toContain(fragment);
    expect(value).toContain(logicalIdOf(template, "AWS::SNS::Topic", "ProcWatchRestartTopic"));
    const fn = resources[logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchFleetManager")];
    const environment = (fn?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {};
    expect(environment.ARMING_GRACE_MINUTES).toBe("45");
    // Re-alarm when the restart handler's budget window has passed (the stack's restartWindowMinutes).
    expect(environment.REALARM_AFTER_MINUTES).toBe("60");
  });

  it("subscribes the restart handler to the restart topic", () => {
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "lambda",
      TopicArn: { Ref: logicalIdOf(template, "AWS::SNS::Topic", "ProcWatchRestartTopic") },
      Endpoint: { "Fn::GetAtt": [logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchRestartHandler"), "Arn"] },
    });
  });
});

describe("event rules", () => {
  // biome-ignore lint/suspicious/noExplicitAny: findResources returns untyped template JSON.
  const targetOf = (rule: { [key: string]: any }) => flatten((rule.Properties.Targets as { Arn: unknown }[])[0]?.Arn);

  it("sends EC2 state changes, procwatch tag changes and the schedule to the fleet manager", () => {
    const fleet = `\${${logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchFleetManager")}.Arn}`;
    const rules = Object.values(template.findResources("AWS::Events::Rule"));
    const state = rules.find((rule) => JSON.stringify(rule.Properties.EventPattern ?? {}).includes("EC2 Instance State-change Notification"));
    expect(state && targetOf(state)).toBe(fleet);
    // One run per state change: the first state of each transition, never its follow-up
    // (stopping then stopped, shutting-down then terminated would run the same reconcile twice).
    expect(state?.Properties.EventPattern.detail).toEqual({ state: ["running", "stopping", "shutting-down"] });
    const tags = rules.find((rule) => JSON.stringify(rule.Properties.EventPattern ?? {}).includes("Tag Change on Resource"));
    expect(tags?.Properties.EventPattern).toMatchObject({
      source: ["aws.tag"],
      detail: { service: ["ec2"], "resource-type": ["instance"], "changed-tag-keys": [{ prefix: "acme:" }] },
    });
    expect(tags && targetOf(tags)).toBe(fleet);
    const schedule = rules.find((rule) => rule.Properties.ScheduleExpression !== undefined);
    expect(schedule?.Properties.ScheduleExpression).toBe("rate(10 minutes)");
    expect(schedule && targetOf(schedule)).toBe(fleet);
  });

  it("sends final status changes of restart commands, and only those, to the restart handler", () => {
    const rule = Object.values(template.findResources("AWS::Events::Rule")).find((candidate) =>
      JSON.stringify(candidate.Properties.EventPattern ?? {}).includes("EC2 Command Invocation Status-change Notification"),
    );
    expect(rule?.Properties.EventPattern).toEqual({
      source: ["aws.ssm"],
      "detail-type": ["EC2 Command Invocation Status-change Notification"],
      detail: { "document-name": ["procwatch-restart"], status: [{ "anything-but": ["Pending", "InProgress", "Delayed", "Cancelling"] }] },
    });
    expect(rule && targetOf(rule)).toBe(`\${${logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchRestartHandler")}.Arn}`);
  });
});

describe("Slack channel", () => {
  it("subscribes to the notification topic with a read-only guardrail, never AdministratorAccess", () => {
    template.hasResourceProperties("AWS::Chatbot::SlackChannelConfiguration", {
      SlackWorkspaceId: "T0123ABCD",
      SlackChannelId: "C0456EFGH",
      SnsTopicArns: [{ Ref: logicalIdOf(template, "AWS::SNS::Topic", "ProcWatchNotificationTopic") }],
      GuardrailPolicies: [{ Ref: logicalIdOf(template, "AWS::IAM::ManagedPolicy", "ProcWatchSlackChannelGuardrail") }],
    });
    const serialized = JSON.stringify(template.toJSON());
    expect(serialized).not.toContain("AdministratorAccess");
    // AWS's CloudWatchReadOnlyAccess would let the channel read every log group in the account.
    expect(serialized).not.toContain("CloudWatchReadOnlyAccess");
  });

  it("lets the channel read only procwatch's alarms, metric graphs and the restart commands' output", () => {
    const guardrail = resources[logicalIdOf(template, "AWS::IAM::ManagedPolicy", "ProcWatchSlackChannelGuardrail")];
    const document = guardrail?.Properties.PolicyDocument as { Statement: Array<{ Sid: string; Action: string[]; Resource: unknown }> } | undefined;
    const statements = document?.Statement ?? [];
    expect(statements.map((statement) => statement.Sid)).toEqual(["ReadProcwatchAlarms", "RenderMetricGraphs", "ReadRestartCommandOutput"]);
    expect(JSON.stringify(statements[0]?.Resource)).toContain(":alarm:acme/*");
    expect(statements.flatMap((statement) => statement.Action).filter((action) => action.startsWith("logs:"))).toEqual([
      "logs:GetLogEvents",
      "logs:FilterLogEvents",
      "logs:DescribeLogStreams",
    ]);
    expect(JSON.stringify(statements[2]?.Resource)).toContain(logicalIdOf(template, "AWS::Logs::LogGroup", "ProcWatchRestartCommandLogs"));
  });
});

describe("SSM documents and associations", () => {
  it("creates the four Command documents from ssm-documents, unchanged", () => {
    template.resourceCountIs("AWS::SSM::Document", 4);
    for (const kind of ["install", "configure", "restart", "uninstall"] as const) {
      template.hasResourceProperties("AWS::SSM::Document", {
        Name: `procwatch-${kind}`,
        DocumentType: "Command",
        UpdateMethod: "NewVersion",
        Content: loadDocument(kind).content,
      });
    }
  });

  it("registers the uninstall document for on-demand runs only: no association uses it", () => {
    const uninstallId = logicalIdOf(template, "AWS::SSM::Document", "ProcWatchUninstallDocument");
    expect(resources[uninstallId]?.Properties.Name).toBe("procwatch-uninstall");
    for (const association of Object.values(template.findResources("AWS::SSM::Association"))) {
      expect(association.Properties.Name).not.toEqual({ Ref: uninstallId });
    }
    const outputs = Object.entries(template.findOutputs("*")).filter(([id]) => id.includes("UninstallDocumentName"));
    expect(outputs.map(([, output]) => output.Value)).toEqual(["procwatch-uninstall"]);
  });

  it("keeps the restart parameter contract in the deployed document", () => {
    const restart = Object.values(template.findResources("AWS::SSM::Document")).find((document) => document.Properties.Name === "procwatch-restart");
    const { name, allowedPattern } = RESTART_DOCUMENT_PARAMETERS.processName;
    expect(restart?.Properties.Content.parameters[name]).toMatchObject({ allowedPattern, interpolationType: "ENV_VAR" });
  });

  it("installs on every opted-in instance at once and daily, with the assets' location and sha256", () => {
    const association = resources[logicalIdOf(template, "AWS::SSM::Association", "ProcWatchInstallAssociation")];
    expect(association?.Properties).toMatchObject({
      Name: { Ref: logicalIdOf(template, "AWS::SSM::Document", "ProcWatchInstallDocument") },
      Targets: [{ Key: "tag:acme:enabled", Values: ["true"] }],
      ScheduleExpression: "rate(1 day)",
      ApplyOnlyAtCronInterval: false,
      MaxConcurrency: "10%",
      MaxErrors: "10%",
      ComplianceSeverity: "HIGH",
      SyncCompliance: "AUTO",
    });
    const parameters = association?.Properties.Parameters as Record<string, unknown[]>;
    expect(parameters.Sha256X64).toEqual([agentSha256.x64]);
    expect(parameters.Sha256Arm64).toEqual([agentSha256.arm64]);
    expect(parameters.CloudWatchAgentVersion).toEqual(["1.300057.0b1161"]);
    expect(parameters.ArtifactBucket).toEqual(["cdk-hnb659fds-assets-123456789012-eu-west-1"]);
    expect(parameters.ArtifactRegion).toEqual([{ Ref: "AWS::Region" }]);
    // Every parameter value that is known at synth matches the document's own allowedPattern.
    const declared = loadDocument("install").content.parameters;
    for (const [name, values] of Object.entries(parameters)) {
      const value = values[0];
      if (typeof value === "string") expect(value, name).toMatch(new RegExp(declared[name]?.allowedPattern ?? "^$"));
    }
    expect(Object.keys(parameters).sort()).toEqual(Object.keys(declared).sort());
  });

  it("configures every 30 minutes with the deployment's tag prefix and default detection profile", () => {
    const association = resources[logicalIdOf(template, "AWS::SSM::Association", "ProcWatchConfigureAssociation")];
    expect(association?.Properties).toMatchObject({
      Targets: [{ Key: "tag:acme:enabled", Values: ["true"] }],
      ScheduleExpression: "rate(30 minutes)",
      ApplyOnlyAtCronInterval: false,
      MaxConcurrency: "10%",
      MaxErrors: "10%",
      ComplianceSeverity: "MEDIUM",
      Parameters: {
        TagPrefix: ["acme"],
        DefaultDetection: ["fast"],
        HostReportQueueUrl: [{ Ref: logicalIdOf(template, "AWS::SQS::Queue", "ProcWatchHostReportQueue") }],
      },
    });
    // Every parameter the document declares is set, each literal value within the document's own
    // allowedPattern (the queue URL is a Ref, resolved at deploy time; its shape is tested in ssm-documents).
    const declared = loadDocument("configure").content.parameters;
    const parameters = association?.Properties.Parameters as Record<string, unknown[]>;
    expect(Object.keys(parameters).sort()).toEqual(Object.keys(declared).sort());
    for (const [name, [value]] of Object.entries(parameters))
      if (typeof value === "string") expect(value, name).toMatch(new RegExp(declared[name]?.allowedPattern ?? "^$"));
  });

  it("gives hosts and alarms the same detection profile (configure association and fleet manager)", () => {
    const association = resources[logicalIdOf(template, "AWS::SSM::Association", "ProcWatchConfigureAssociation")];
    const fleetManager = Object.values(template.findResources("AWS::Lambda::Function")).find(
      (fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === "procwatch-fleet-manager",
    );
    expect(association?.Properties.Parameters).toMatchObject({ DefaultDetection: [SETTINGS.detectionProfile] });
    expect(fleetManager?.Properties.Environment.Variables.DEFAULT_DETECTION_PROFILE).toBe(SETTINGS.detectionProfile);
  });
});

describe("least privilege", () => {
  it("lets the restart handler send only the restart document, and only to opted-in instances", () => {
    const sends = identity.filter((statement) => statement.actions.some((action) => /^ssm:(SendCommand|\*)$|^\*$/.test(action)));
    const restartRole = roleOfFunction("ProcWatchRestartHandler");
    expect(sends.every((statement) => statementsOfRole(restartRole).includes(statement))).toBe(true);
    expect(sends).toHaveLength(2);
    const documentStatement = sends.find((statement) => statement.resources.some((resource) => resource.includes(":document/")));
    expect(documentStatement?.actions).toEqual(["ssm:SendCommand"]);
    expect(documentStatement?.resources).toEqual([`${ACCOUNT_ARN}:ssm:${REGION_ACCOUNT}:document/procwatch-restart`]);
    const instanceStatement = sends.find((statement) => statement !== documentStatement);
    expect(instanceStatement?.actions).toEqual(["ssm:SendCommand"]);
    expect(instanceStatement?.resources).toEqual([
      `${ACCOUNT_ARN}:ec2:${REGION_ACCOUNT}:instance/*`,
      `${ACCOUNT_ARN}:ssm:${REGION_ACCOUNT}:managed-instance/*`,
    ]);
    expect(instanceStatement?.condition).toEqual({ StringEquals: { "ssm:resourceTag/acme:enabled": "true" } });
  });

  it("lets the fleet manager write only alarms under its prefix", () => {
    const alarmWrites =
      /^cloudwatch:(PutMetricAlarm|DeleteAlarms|EnableAlarmActions|DisableAlarmActions|SetAlarmState|TagResource|UntagResource|PutCompositeAlarm|\*)$/;
    const writes = identity.filter((statement) => statement.actions.some((action) => alarmWrites.test(action)));
    expect(writes.length).toBeGreaterThan(0);
    const fleetRole = roleOfFunction("ProcWatchFleetManager");
    for (const statement of writes) {
      expect(statementsOfRole(fleetRole)).toContain(statement);
      expect(statement.resources).toEqual([`${ACCOUNT_ARN}:cloudwatch:${REGION_ACCOUNT}:alarm:acme/*`]);
    }
    // PutMetricAlarm may attach only procwatch's own topics as actions (no EC2 terminate, no foreign topic).
    const puts = writes.filter((statement) => statement.actions.includes("cloudwatch:PutMetricAlarm"));
    expect(puts).toHaveLength(1);
    expect(puts[0]?.actions).toEqual(["cloudwatch:PutMetricAlarm"]);
    expect(JSON.stringify(puts[0]?.condition)).toContain("cloudwatch:AlarmActions");
    expect(JSON.stringify(puts[0]?.condition)).toContain("ProcWatchRestartTopic");
  });

  it("gives hosts their profiles, own tags, the two binaries, SendMessage to the host-reports queue and the command log group, nothing more", () => {
    const policyId = logicalIdOf(template, "AWS::IAM::ManagedPolicy", "ProcWatchInstancePolicy");
    const statements = identity.filter((statement) => statement.source === policyId);
    expect(statements.map((statement) => statement.actions)).toEqual([
      ["ssm:GetParameter", "ssm:GetParameters"],
      ["ec2:DescribeTags"],
      ["s3:GetObject"],
      ["sqs:SendMessage"],
      ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
    ]);
    expect(statements[3]?.resources).toEqual([flatten({ "Fn::GetAtt": [logicalIdOf(template, "AWS::SQS::Queue", "ProcWatchHostReportQueue"), "Arn"] })]);
    expect(statements[0]?.resources).toEqual([`${ACCOUNT_ARN}:ssm:${REGION_ACCOUNT}:parameter/procwatch/profiles/*`]);
    expect(statements[2]?.resources).toHaveLength(2);
    for (const resource of statements[2]?.resources ?? []) expect(resource).toMatch(/^arn:\$\{AWS::Partition\}:s3:::cdk-hnb659fds-assets-.*\/[0-9a-f]{64}/);
  });

  /**
   * Actions that AWS offers no resource-level permissions for. A statement may use Resource "*"
   * only with these (each read-only), or with a condition.
   */
  const UNSCOPABLE_READS: Record<string, string> = {
    "ec2:DescribeInstances": "EC2 describe calls take no resource ARN",
    "ec2:DescribeTags": "EC2 describe calls take no resource ARN",
    "ssm:GetCommandInvocation": "no resource types for this action",
    "ssm:ListCommandInvocations": "no resource types for this action",
    "ssm:ListCommands": "no resource types for this action",
    "cloudwatch:ListMetrics": "metrics have no ARNs",
    "cloudwatch:DescribeAlarms": "listing by prefix is evaluated against every alarm",
    "cloudwatch:GetMetricData": "metrics have no ARNs (Slack channel graphs)",
    "cloudwatch:GetMetricStatistics": "metrics have no ARNs (Slack channel graphs)",
    "cloudwatch:GetMetricWidgetImage": "no resource types for this action (Slack channel graphs)",
  };

  it("has no wildcard actions and no Resource * without a condition, except justified read-only calls", () => {
    expect(identity.length).toBeGreaterThan(10);
    for (const statement of identity) {
      for (const action of statement.actions) expect(action, `${statement.source}: ${action}`).not.toMatch(/^\*$|:\*$/);
      if (statement.effect !== "Allow" || !statement.resources.includes("*") || statement.condition !== undefined) continue;
      for (const action of statement.actions) expect(Object.keys(UNSCOPABLE_READS), `${statement.source} grants ${action} on *`).toContain(action);
    }
  });

  it("allows no anonymous principal in resource policies without a condition", () => {
    for (const statement of resourcePolicyStatements(template)) {
      if (statement.effect !== "Allow") continue;
      const principal = JSON.stringify(statement.principal);
      if (principal === '"*"' || principal.includes('"AWS":"*"')) expect(statement.condition, statement.source).toBeDefined();
    }
  });
});

describe("host reports (local supervision)", () => {
  const queueId = () => logicalIdOf(template, "AWS::SQS::Queue", "ProcWatchHostReportQueue");

  it("is an SQS queue with SSE, a short retention and the dead-letter queue, refusing non-TLS requests", () => {
    const queue = resources[queueId()];
    expect(queue?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 86_400,
      VisibilityTimeout: 360,
      RedrivePolicy: {
        maxReceiveCount: 5,
        deadLetterTargetArn: { "Fn::GetAtt": [logicalIdOf(template, "AWS::SQS::Queue", "ProcWatchDeadLetterQueue"), "Arn"] },
      },
    });
    const denyInsecure = resourcePolicyStatements(template).filter(
      (statement) =>
        statement.effect === "Deny" &&
        JSON.stringify(statement.condition).includes('"aws:SecureTransport":"false"') &&
        JSON.stringify(statement.resources).includes(queueId()),
    );
    expect(denyInsecure).toHaveLength(1);
  });

  it("lets only the instance policy send to it, and nothing else of it", () => {
    const senders = identity.filter((statement) => statement.effect === "Allow" && JSON.stringify(statement.resources).includes(queueId()));
    const instancePolicyId = logicalIdOf(template, "AWS::IAM::ManagedPolicy", "ProcWatchInstancePolicy");
    const handlerRole = roleOfFunction("ProcWatchRestartHandler");
    for (const statement of senders) {
      if (statement.source === instancePolicyId) expect(statement.actions).toEqual(["sqs:SendMessage"]);
      else {
        // The restart handler's event source mapping: receive and delete, never send.
        expect(statementsOfRole(handlerRole)).toContainEqual(statement);
        expect(statement.actions).not.toContain("sqs:SendMessage");
      }
    }
    expect(senders.filter((statement) => statement.actions.includes("sqs:SendMessage")).map((statement) => statement.source)).toEqual([instancePolicyId]);
  });

  it("feeds the restart handler in batches of at most 10, reporting item failures, with at most 2 concurrent invocations", () => {
    const mappings = Object.values(template.findResources("AWS::Lambda::EventSourceMapping"));
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": [queueId(), "Arn"] },
      FunctionName: { Ref: logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchRestartHandler") },
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it("outputs the queue URL for hosts", () => {
    expect(Object.keys(template.toJSON().Outputs ?? {}).filter((name) => name.includes("HostReportQueueUrl"))).toHaveLength(1);
  });
});

describe("dashboard and operations", () => {
  it("graphs pid counts for every selector and procwatch's own metrics", () => {
    const dashboard = Object.values(template.findResources("AWS::CloudWatch::Dashboard"))[0];
    const body = flatten(dashboard?.Properties.DashboardBody);
    for (const selector of ["exe", "pattern", "pidfile"])
      expect(body).toContain(`{CWAgent,InstanceId,${selector},pid_finder} MetricName=\\"procstat_lookup_pid_count\\"`);
    for (const metric of Object.values(PROCWATCH_METRICS)) expect(body).toContain(`Namespace=\\"procwatch\\" MetricName=\\"${metric}\\"`);
  });

  it("alarms to the notification topic when procwatch itself fails", () => {
    const notification = { Ref: logicalIdOf(template, "AWS::SNS::Topic", "ProcWatchNotificationTopic") };
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms.map((alarm) => alarm.Properties.AlarmName).sort()).toEqual([
      "acme-ops/DeadLetters",
      "acme-ops/FleetManagerErrors",
      "acme-ops/FleetManagerProblems",
      "acme-ops/MassChangeRefused",
      "acme-ops/RestartHandlerErrors",
    ]);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([notification]);
  });

  it("does not page for a duplicate delivery the handler defers on purpose", () => {
    const alarm = Object.values(template.findResources("AWS::CloudWatch::Alarm")).find(
      (candidate) => candidate.Properties.AlarmName === "acme-ops/RestartHandlerErrors",
    );
    const serialized = JSON.stringify(alarm?.Properties.Metrics);
    expect(serialized).toContain("FILL(errors, 0) - FILL(deferred, 0)");
    expect(serialized).toContain('"MetricName":"DuplicatesDeferred"');
    expect(serialized).toContain('"MetricName":"Errors"');
  });
});

/** Directory of the staged file asset behind a function's Code.S3Key, from the synthesized assembly's asset manifest. */
function assetDirectoryOf(functionIdPrefix: string): string {
  // Template.fromStack already synthesized the app; this returns that same assembly.
  const assembly = app.synth();
  const code = resources[logicalIdOf(template, "AWS::Lambda::Function", functionIdPrefix)]?.Properties.Code as { S3Key: string };
  const assetHash = code.S3Key.replace(/\.zip$/, "");
  for (const artifact of assembly.artifacts) {
    if (!AssetManifestArtifact.isAssetManifestArtifact(artifact)) continue;
    const source = artifact.contents.files?.[assetHash]?.source;
    if (source?.path !== undefined) return join(assembly.directory, source.path);
  }
  throw new Error(`no file asset ${assetHash} in the assembly of ${functionIdPrefix}`);
}

describe("lambda bundles", () => {
  const MIB = 1024 * 1024;

  it("deploys the restart handler bundle with its own esbuild plugins, at most 1 MiB", () => {
    const bundle = join(assetDirectoryOf("ProcWatchRestartHandler"), "index.mjs");
    // NodejsFunction alone bundles every EC2 schema shape (~1170 KiB); the afterBundling hook's rebuild is ~640 KiB.
    expect(statSync(bundle).size).toBeLessThanOrEqual(MIB);
    const text = readFileSync(bundle, "utf8");
    // The rebuild's banner (apps/restart-handler/scripts/build.mjs), not NodejsFunction's __procwatchCreateRequire one.
    expect(text.startsWith("import { createRequire as __pwCreateRequire } from 'node:module';")).toBe(true);
    // The rebuild replaced NodejsFunction's map too, so NODE_OPTIONS=--enable-source-maps maps this file.
    expect(text.trimEnd().endsWith("//# sourceMappingURL=index.mjs.map")).toBe(true);
    expect(statSync(`${bundle}.map`).isFile()).toBe(true);
  });

  it("loads as ESM and exports the handler the function's index.handler names", async () => {
    const restartHandler = resources[logicalIdOf(template, "AWS::Lambda::Function", "ProcWatchRestartHandler")]?.Properties;
    expect(restartHandler?.Handler).toBe("index.handler");
    const bundle = join(assetDirectoryOf("ProcWatchRestartHandler"), "index.mjs");
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: "eu-west-1",
      AWS_EC2_METADATA_DISABLED: "true",
      RESTART_DOCUMENT_NAME: "procwatch-restart",
      NOTIFICATION_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:procwatch-notifications",
      STATE_TABLE_NAME: "procwatch-state",
    };
    const exported = await new Promise<string>((done, fail) => {
      execFile(
        process.execPath,
        ["--input-type=module", "-e", "const m = await import(process.argv[1]); process.stdout.write(typeof m.handler);", bundle],
        { env, encoding: "utf8", timeout: 30_000 },
        (error, stdout, stderr) => (error === null ? done(stdout) : fail(new Error(`${error.message}\n${stderr}`))),
      );
    });
    expect(exported).toBe("function");
  });
});

describe("snapshot", () => {
  it("keeps a reviewable summary of the template", () => {
    const counts: Record<string, number> = {};
    for (const resource of Object.values(resources)) counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
    const summary = {
      resourceCounts: Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))),
      documents: Object.values(template.findResources("AWS::SSM::Document")).map((document) => document.Properties.Name),
      associations: Object.values(template.findResources("AWS::SSM::Association")).map((association) => ({
        name: association.Properties.AssociationName,
        schedule: association.Properties.ScheduleExpression,
        targets: association.Properties.Targets,
        parameters: Object.keys(association.Properties.Parameters ?? {}).sort(),
      })),
      lambdas: Object.values(template.findResources("AWS::Lambda::Function")).map((fn) => ({
        runtime: fn.Properties.Runtime,
        architectures: fn.Properties.Architectures,
        memory: fn.Properties.MemorySize,
        timeout: fn.Properties.Timeout,
        environment: Object.keys(fn.Properties.Environment.Variables).sort(),
      })),
      rules: Object.values(template.findResources("AWS::Events::Rule")).map(
        (rule) => rule.Properties.ScheduleExpression ?? rule.Properties.EventPattern["detail-type"],
      ),
      outputs: Object.keys(template.toJSON().Outputs ?? {}).sort(),
    };
    expect(summary).toMatchSnapshot();
  });
});
