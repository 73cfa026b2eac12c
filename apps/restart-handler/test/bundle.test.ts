import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineSchemaKeys } from "../scripts/bundle-plugins.mjs";
import { ACCOUNT, INSTANCE_ID, REGION } from "./support/harness.ts";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(file, args, { cwd: packageDir, env, encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
  });
}

const body = (request: IncomingMessage) =>
  new Promise<string>((done) => {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      text += chunk;
    });
    request.on("end", () => done(text));
  });

/** The AWS calls one ALARM → restart makes, answered the way each service's protocol does. */
function fakeAws(calls: string[]): Server {
  return createServer(async (request, response) => {
    const text = await body(request);
    const target = request.headers["x-amz-target"];
    const action = typeof target === "string" ? target : (new URLSearchParams(text).get("Action") ?? "?");
    calls.push(action);
    const json = (value: unknown) => {
      response.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      response.end(JSON.stringify(value));
    };
    const xml = (value: string) => {
      response.writeHead(200, { "content-type": "text/xml" });
      response.end(value);
    };
    switch (action) {
      case "DynamoDB_20120810.GetItem":
      case "DynamoDB_20120810.PutItem":
      case "DynamoDB_20120810.TransactWriteItems":
      case "DynamoDB_20120810.UpdateItem":
        return json({});
      case "DescribeInstances":
        return xml(
          `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><reservationSet><item><reservationId>r-0a</reservationId><instancesSet><item><instanceId>${INSTANCE_ID}</instanceId><instanceState><code>16</code><name>running</name></instanceState><tagSet><item><key>Name</key><value>web-1</value></item><item><key>procwatch:enabled</key><value>true</value></item><item><key>procwatch:processes</key><value>httpd</value></item></tagSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`,
        );
      case "AmazonSSM.SendCommand":
        return json({ Command: { CommandId: "e8d3c0e4-71f7-4491-898f-000000000001" } });
      case "Publish":
        return xml(
          `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></PublishResponse>`,
        );
      default:
        response.writeHead(400, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify({ __type: "UnknownOperationException", message: action }));
    }
  });
}

describe("the Lambda bundle (dist/index.mjs, AWS SDK bundled with unused schema shapes dropped)", () => {
  const calls: string[] = [];
  const server = fakeAws(calls);
  let endpoint = "";

  beforeAll(async () => {
    const build = await run(process.execPath, ["scripts/build.mjs"]);
    expect(build.stderr).toBe("");
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it("stays under 1 MiB and carries neither the CloudWatch client nor the in-memory stand-ins", () => {
    const meta = JSON.parse(readFileSync(`${packageDir}dist/meta.json`, "utf8")) as {
      outputs: Record<string, { bytes: number; inputs: Record<string, unknown> }>;
    };
    const output = meta.outputs["dist/index.mjs"]!;
    expect(output.bytes).toBeLessThanOrEqual(1024 * 1024);
    const inputs = Object.keys(output.inputs);
    expect(inputs.filter((input) => input.includes("client-cloudwatch") || input.includes("/test/"))).toEqual([]);
  });

  it("turns the SNS alarm fixture into DescribeInstances, SendCommand and Publish over the wire, and writes the EMF line", async () => {
    const invoke = `
      const { handler } = await import("./dist/index.mjs");
      const event = JSON.parse(${JSON.stringify(readFileSync(`${packageDir}test/fixtures/sns-alarm-event.json`, "utf8"))});
      const summary = await handler(event, { invokedFunctionArn: "arn:aws:lambda:${REGION}:${ACCOUNT}:function:procwatch-restart", awsRequestId: "req-1" });
      process.stdout.write("SUMMARY " + JSON.stringify(summary) + "\\n");`;
    const result = await run(process.execPath, ["--input-type=module", "-e", invoke], {
      PATH: process.env.PATH,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: "AKIDTESTONLY",
      AWS_SECRET_ACCESS_KEY: "test-only-secret",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ENDPOINT_URL: endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      RESTART_DOCUMENT_NAME: "procwatch-restart",
      NOTIFICATION_TOPIC_ARN: `arn:aws:sns:${REGION}:${ACCOUNT}:procwatch-notifications`,
      STATE_TABLE_NAME: "procwatch-state",
      POWERTOOLS_METRICS_NAMESPACE: "procwatch",
      POWERTOOLS_LOG_LEVEL: "ERROR",
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n");
    const summary = JSON.parse(lines.find((line) => line.startsWith("SUMMARY "))!.slice("SUMMARY ".length)) as { items: unknown[] };
    expect(summary.items).toEqual([expect.objectContaining({ kind: "alarm", outcome: "restarting", commandId: "e8d3c0e4-71f7-4491-898f-000000000001" })]);
    expect(calls).toEqual(
      expect.arrayContaining([
        "DynamoDB_20120810.GetItem",
        "DescribeInstances",
        "DynamoDB_20120810.PutItem",
        "DynamoDB_20120810.TransactWriteItems",
        "AmazonSSM.SendCommand",
        "Publish",
      ]),
    );
    const emf = lines.map((line) => JSON.parse(line.startsWith("{") ? line : "{}") as Record<string, unknown>).filter((entry) => "_aws" in entry);
    expect(emf).toEqual([expect.objectContaining({ service: "procwatch-restart-handler", RestartsSent: 1 })]);
    expect(JSON.stringify(emf[0])).toContain('"Namespace":"procwatch"');
  });
});

describe("inlineSchemaKeys", () => {
  it("replaces computed keys that name a string constant and nothing else", () => {
    const source = 'const _xN = "xmlName";\nexport var A$ = [3, n0, _A, 0, [_m], [[0, { [_xN]: `Min`,\n    [_other]: 1 }]]];\n';
    expect(inlineSchemaKeys(source)).toEqual({
      text: 'const _xN = "xmlName";\nexport var A$ = [3, n0, _A, 0, [_m], [[0, { "xmlName": `Min`,\n    [_other]: 1 }]]];\n',
      rewritten: 1,
    });
  });

  it("leaves a module with a conditional expression alone", () => {
    const source = 'const _a = "a";\nexport var B = x ? [_a]: [];\n';
    expect(inlineSchemaKeys(source)).toEqual({ text: source, rewritten: 0 });
  });
});
