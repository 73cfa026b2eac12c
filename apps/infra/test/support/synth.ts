import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AGENT_ARCHITECTURES, agentArtifactFileName } from "../../src/build-outputs.ts";
import type { ProcWatchProps } from "../../src/procwatch.ts";
import { ProcWatchStack } from "../../src/procwatch-stack.ts";

/**
 * A directory standing in for apps/agent/dist. The files are asset payloads only (the stack
 * uploads them and records their sha256); nothing executes them, so small placeholders keep the
 * synth fast. The real binaries are exercised by the ssm-documents install test.
 */
export function placeholderAgentArtifacts(options: { withChecksums?: boolean } = {}): { dir: string; sha256: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), "procwatch-agent-dist-"));
  mkdirSync(dir, { recursive: true });
  const sha256: Record<string, string> = {};
  for (const architecture of AGENT_ARCHITECTURES) {
    const body = `placeholder procwatch-agent for linux-${architecture}\n`;
    const name = agentArtifactFileName(architecture);
    writeFileSync(join(dir, name), body);
    sha256[architecture] = createHash("sha256").update(body).digest("hex");
    if (options.withChecksums !== false) writeFileSync(join(dir, `${name}.sha256`), `${sha256[architecture]}  ${name}\n`);
  }
  return { dir, sha256 };
}

export interface Synthesized {
  readonly app: App;
  readonly stack: ProcWatchStack;
  readonly template: Template;
  readonly agentSha256: Record<string, string>;
}

/**
 * One in-process synth. `bundle: false` sets CDK's own "bundle no stack" context (what
 * `cdk deploy --exclusively` uses), for tests about settings rather than Lambda code.
 */
export function synthProcWatch(props: ProcWatchProps = {}, options: { bundle?: boolean } = {}): Synthesized {
  const artifacts = placeholderAgentArtifacts();
  const app = new App({
    outdir: mkdtempSync(join(tmpdir(), "procwatch-cdk-out-")),
    context: options.bundle === false ? { "aws:cdk:bundling-stacks": [] } : {},
  });
  const stack = new ProcWatchStack(app, "ProcWatchTest", {
    env: { account: "123456789012", region: "eu-west-1" },
    procWatch: { agentArtifactsDir: artifacts.dir, ...props },
  });
  return { app, stack, template: Template.fromStack(stack), agentSha256: artifacts.sha256 };
}

/** Resolves the intrinsic functions CDK emits for ARNs into readable strings (`${AWS::Region}`). */
export function flatten(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value !== "object" || value === null) return String(value);
  const record = value as Record<string, unknown>;
  if ("Ref" in record) return `\${${String(record.Ref)}}`;
  if ("Fn::GetAtt" in record) return `\${${(record["Fn::GetAtt"] as string[]).join(".")}}`;
  if ("Fn::Sub" in record) return String(record["Fn::Sub"]);
  if ("Fn::Join" in record) {
    const [separator, parts] = record["Fn::Join"] as [string, unknown[]];
    return parts.map(flatten).join(separator);
  }
  return JSON.stringify(value);
}

export interface PolicyStatementView {
  readonly source: string;
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly condition?: Record<string, Record<string, unknown>>;
  readonly principal?: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function statementsOf(source: string, document: unknown): PolicyStatementView[] {
  const statements = asArray((document as { Statement?: unknown[] }).Statement) as Record<string, unknown>[];
  return statements.map((statement) => ({
    source,
    effect: String(statement.Effect),
    actions: asArray(statement.Action as string | string[]),
    resources: asArray(statement.Resource).map(flatten),
    ...(statement.Condition !== undefined ? { condition: statement.Condition as Record<string, Record<string, unknown>> } : {}),
    ...(statement.Principal !== undefined ? { principal: statement.Principal } : {}),
  }));
}

/** Every identity-policy statement in the template: inline role policies, AWS::IAM::Policy, managed policies. */
export function identityStatements(template: Template): PolicyStatementView[] {
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
  const views: PolicyStatementView[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === "AWS::IAM::Policy" || resource.Type === "AWS::IAM::ManagedPolicy") {
      views.push(...statementsOf(id, resource.Properties.PolicyDocument));
    }
    if (resource.Type === "AWS::IAM::Role") {
      for (const policy of asArray(resource.Properties.Policies as { PolicyDocument: unknown }[])) views.push(...statementsOf(id, policy.PolicyDocument));
    }
  }
  return views;
}

/** Every resource-policy statement: topic, queue and key policies. */
export function resourcePolicyStatements(template: Template): PolicyStatementView[] {
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
  const views: PolicyStatementView[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === "AWS::SNS::TopicPolicy" || resource.Type === "AWS::SQS::QueuePolicy")
      views.push(...statementsOf(id, resource.Properties.PolicyDocument));
    if (resource.Type === "AWS::KMS::Key") views.push(...statementsOf(id, resource.Properties.KeyPolicy));
  }
  return views;
}

/** Logical id of the single resource of a type whose id starts with a construct-path prefix. */
export function logicalIdOf(template: Template, type: string, idPrefix: string): string {
  const matches = Object.keys(template.findResources(type)).filter((id) => id.startsWith(idPrefix));
  if (matches.length !== 1) throw new Error(`expected one ${type} starting with ${idPrefix}, found ${matches.join(", ") || "none"}`);
  return matches[0] as string;
}
