import { DescribeInstancesCommand, EC2Client, type Instance, type InstanceStateName } from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { AccessDeniedError, ThrottledError } from "../src/errors.ts";
import { InstanceInventory } from "../src/instance-inventory.ts";

const ec2 = new EC2Client({ region: "eu-west-1", maxAttempts: 1 });
const ec2Mock = mockClient(ec2);

const instance = (id: string, state: InstanceStateName, tags: Record<string, string>): Instance => ({
  InstanceId: id,
  State: { Name: state },
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});

beforeEach(() => ec2Mock.reset());

describe("InstanceInventory", () => {
  it("pages through every DescribeInstances page with the opt-in filter server-side, keeping LaunchTime", async () => {
    const sent: unknown[] = [];
    const pages = [
      {
        Reservations: [
          {
            Instances: [
              { ...instance("i-0123456789abcdef0", "running", { "procwatch:enabled": "true", Name: "web-1" }), LaunchTime: new Date("2025-06-01T10:00:00Z") },
            ],
          },
        ],
        NextToken: "page-2",
      },
      { Reservations: [{ Instances: [instance("i-0123456789abcdef1", "stopped", { "procwatch:enabled": "true" })] }] },
    ];
    // The SDK paginator reuses one input object, so copies are taken as each request goes out.
    ec2Mock.on(DescribeInstancesCommand).callsFake((input) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });

    const records = await new InstanceInventory(ec2).listOptedIn();

    expect(records).toEqual([
      {
        instanceId: "i-0123456789abcdef0",
        state: "running",
        name: "web-1",
        tags: { "procwatch:enabled": "true", Name: "web-1" },
        launchTime: new Date("2025-06-01T10:00:00Z"),
      },
      // No LaunchTime in the response: the field is absent (the planner treats that as launched long ago).
      { instanceId: "i-0123456789abcdef1", state: "stopped", tags: { "procwatch:enabled": "true" } },
    ]);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    const first = {
      Filters: [
        { Name: "tag:procwatch:enabled", Values: ["true"] },
        { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
      ],
      MaxResults: 1000,
    };
    expect(sent).toEqual([first, { ...first, NextToken: "page-2" }]);
  });

  it("uses the configured tag prefix and narrows to named instances with an instance-id filter", async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await new InstanceInventory(ec2, { tagPrefix: "acme" }).listTagged({ instanceIds: ["i-0123456789abcdef0", "not-an-id", "i-0123456789abcdef0"] });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(DescribeInstancesCommand, {
      Filters: [
        { Name: "tag-key", Values: ["acme:enabled"] },
        { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
        { Name: "instance-id", Values: ["i-0123456789abcdef0"] },
      ],
    });
  });

  it("describe() returns instances in any state, opted in or not, and chunks ids by 200", async () => {
    const ids = Array.from({ length: 250 }, (_, index) => `i-${index.toString(16).padStart(17, "0")}`);
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ids[0]!, "terminated", {})] }] });
    const records = await new InstanceInventory(ec2).describe(ids);
    expect(records).toHaveLength(2);
    expect(records[0]).toEqual({ instanceId: ids[0], state: "terminated", tags: {} });
    expect(ec2Mock).toHaveReceivedNthCommandWith(DescribeInstancesCommand, 1, { Filters: [{ Name: "instance-id", Values: ids.slice(0, 200) }] });
    expect(ec2Mock).toHaveReceivedNthCommandWith(DescribeInstancesCommand, 2, { Filters: [{ Name: "instance-id", Values: ids.slice(200) }] });
  });

  it("describe() of no valid id makes no call", async () => {
    expect(await new InstanceInventory(ec2).describe(["$(reboot)"])).toEqual([]);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });

  it("classifies throttling as retryable and access denial as terminal", async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejects(Object.assign(new Error("Request limit exceeded."), { name: "RequestLimitExceeded", $metadata: { httpStatusCode: 503 } }));
    const throttled = await new InstanceInventory(ec2).listOptedIn().catch((error: unknown) => error);
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled).toMatchObject({ retryable: true, operation: "DescribeInstances", code: "RequestLimitExceeded" });

    ec2Mock.reset();
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejects(Object.assign(new Error("You are not authorized"), { name: "UnauthorizedOperation", $metadata: { httpStatusCode: 403 } }));
    const denied = await new InstanceInventory(ec2).listOptedIn().catch((error: unknown) => error);
    expect(denied, String(denied)).toBeInstanceOf(AccessDeniedError);
    expect(denied).toMatchObject({ retryable: false });
  });
});
