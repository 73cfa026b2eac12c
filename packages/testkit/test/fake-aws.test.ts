import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  ListMetricsCommand,
  PutMetricAlarmCommand,
  paginateDescribeAlarms,
  paginateListMetrics,
  TagResourceCommand,
} from "@aws-sdk/client-cloudwatch";
import { DescribeInstancesCommand, paginateDescribeInstances } from "@aws-sdk/client-ec2";
import { GetParameterCommand, GetParametersCommand } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { buildFleet, FakeAws, fakeClients, fleetInstanceId, instantRetryStrategy, VirtualClock } from "../src/index.ts";

const alarmInput = (name: string, extra: Record<string, unknown> = {}) => ({
  AlarmName: name,
  MetricName: "procstat_lookup_pid_count",
  Namespace: "CWAgent",
  Statistic: "Maximum" as const,
  Period: 60,
  EvaluationPeriods: 1,
  Threshold: 1,
  ComparisonOperator: "LessThanThreshold" as const,
  ...extra,
});

function quiet(options: ConstructorParameters<typeof FakeAws>[0] = {}) {
  const fake = new FakeAws({ quotas: false, ...options });
  return { fake, ...fakeClients(fake, { maxAttempts: 1 }) };
}

describe("EC2 DescribeInstances", () => {
  it("pages at most 1000 per page through the real paginator and filters server-side", async () => {
    const { fake, ec2 } = quiet();
    buildFleet(fake, { instances: 2500, processesPerInstance: 1, stoppedEvery: 10, publishMetrics: false });
    fake.addInstance({ instanceId: fleetInstanceId(99_999), state: "terminated", tags: { "procwatch:enabled": "true" } });
    fake.addInstance({ instanceId: fleetInstanceId(99_998), tags: { "procwatch:enabled": "false" } });
    const seen: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeInstances(
      { client: ec2, pageSize: 1000 },
      {
        Filters: [
          { Name: "tag:procwatch:enabled", Values: ["true"] },
          { Name: "instance-state-name", Values: ["running", "stopped"] },
        ],
      },
    )) {
      pages += 1;
      for (const reservation of page.Reservations ?? []) for (const instance of reservation.Instances ?? []) seen.push(instance.InstanceId ?? "");
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(2500);
    expect(new Set(seen).size).toBe(2500);
    expect(fake.callCounts()).toEqual({ DescribeInstances: 3 });
  });

  it("supports tag-key and instance-id filters and rejects filters it does not know", async () => {
    const { fake, ec2 } = quiet();
    fake.addInstance({ instanceId: fleetInstanceId(1), tags: { "procwatch:enabled": "True" } });
    fake.addInstance({ instanceId: fleetInstanceId(2), tags: {} });
    const output = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: "tag-key", Values: ["procwatch:enabled"] },
          { Name: "instance-id", Values: [fleetInstanceId(1), fleetInstanceId(2)] },
        ],
      }),
    );
    expect(output.Reservations?.flatMap((reservation) => reservation.Instances?.map((instance) => instance.InstanceId))).toEqual([fleetInstanceId(1)]);
    await expect(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag-value", Values: ["x"] }] }))).rejects.toMatchObject({
      name: "InvalidParameterValue",
    });
    await expect(ec2.send(new DescribeInstancesCommand({ InstanceIds: [fleetInstanceId(3)] }))).rejects.toMatchObject({ name: "InvalidInstanceID.NotFound" });
  });
});

describe("EC2 LaunchTime", () => {
  it("is returned by DescribeInstances: a day old by default, as given, and reset when a stopped instance starts", async () => {
    const clock = new VirtualClock(Date.UTC(2025, 5, 2, 12));
    const { fake, ec2 } = quiet({ clock });
    fake.addInstance({ instanceId: fleetInstanceId(1) });
    fake.addInstance({ instanceId: fleetInstanceId(2), launchTime: new Date("2025-06-02T11:58:00Z") });
    fake.addInstance({ instanceId: fleetInstanceId(3), state: "stopped" });
    clock.advance(60_000);
    fake.setInstanceState(fleetInstanceId(3), "running");
    fake.setInstanceState(fleetInstanceId(2), "running");
    const output = await ec2.send(new DescribeInstancesCommand({}));
    const launched = Object.fromEntries(
      (output.Reservations ?? [])
        .flatMap((reservation) => reservation.Instances ?? [])
        .map((instance) => [instance.InstanceId, instance.LaunchTime?.toISOString()]),
    );
    expect(launched).toEqual({
      [fleetInstanceId(1)]: "2025-06-01T12:00:00.000Z",
      [fleetInstanceId(2)]: "2025-06-02T11:58:00.000Z",
      [fleetInstanceId(3)]: "2025-06-02T12:01:00.000Z",
    });
  });
});

describe("CloudWatch alarms", () => {
  it("DescribeAlarms pages ≤ 100 by prefix in name order and by AlarmNames", async () => {
    const { fake, cloudwatch } = quiet();
    for (let index = 0; index < 250; index += 1) fake.seedAlarm(alarmInput(`procwatch/${String(index).padStart(3, "0")}`));
    fake.seedAlarm(alarmInput("procwatcher/other"));
    fake.seedAlarm(alarmInput("aaa/before"));
    const names: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeAlarms({ client: cloudwatch, pageSize: 100 }, { AlarmNamePrefix: "procwatch/" })) {
      pages += 1;
      expect(page.MetricAlarms?.length ?? 0).toBeLessThanOrEqual(100);
      names.push(...(page.MetricAlarms ?? []).map((alarm) => alarm.AlarmName ?? ""));
    }
    expect(pages).toBe(3);
    expect(names).toHaveLength(250);
    expect(names).toEqual([...names].sort());
    const byName = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ["procwatch/007", "missing", "aaa/before"] }));
    expect(byName.MetricAlarms?.map((alarm) => alarm.AlarmName)).toEqual(["aaa/before", "procwatch/007"]);
    await expect(cloudwatch.send(new DescribeAlarmsCommand({ MaxRecords: 101 }))).rejects.toMatchObject({ name: "InvalidParameterValue" });
  });

  it("PutMetricAlarm upserts and ignores tags on update; TagResource adds them; state survives an update", async () => {
    const { fake, cloudwatch } = quiet();
    await cloudwatch.send(new PutMetricAlarmCommand({ ...alarmInput("procwatch/a/b"), Tags: [{ Key: "k", Value: "1" }] }));
    fake.alarms.get("procwatch/a/b")!.StateValue = "ALARM";
    await cloudwatch.send(new PutMetricAlarmCommand({ ...alarmInput("procwatch/a/b", { Period: 300 }), Tags: [{ Key: "k", Value: "2" }] }));
    expect(fake.alarms.size).toBe(1);
    expect(fake.alarms.get("procwatch/a/b")).toMatchObject({ Period: 300, StateValue: "ALARM" });
    expect(fake.tagsOf("procwatch/a/b")).toEqual({ k: "1" });
    const arn = fake.alarms.get("procwatch/a/b")!.AlarmArn;
    await cloudwatch.send(
      new TagResourceCommand({
        ResourceARN: arn,
        Tags: [
          { Key: "k", Value: "3" },
          { Key: "x", Value: "y" },
        ],
      }),
    );
    expect(fake.tagsOf("procwatch/a/b")).toEqual({ k: "3", x: "y" });
    await expect(cloudwatch.send(new PutMetricAlarmCommand(alarmInput("procwatch/bad", { Period: 45 })))).rejects.toMatchObject({
      name: "InvalidParameterValue",
    });
    await expect(cloudwatch.send(new TagResourceCommand({ ResourceARN: `${arn}x`, Tags: [] }))).rejects.toMatchObject({ name: "ResourceNotFoundException" });
  });

  it("DeleteAlarms is all-or-nothing and takes at most 100 names; action toggles flip ActionsEnabled", async () => {
    const { fake, cloudwatch } = quiet();
    fake.seedAlarm(alarmInput("procwatch/x"));
    fake.seedAlarm(alarmInput("procwatch/y"));
    await cloudwatch.send(new DisableAlarmActionsCommand({ AlarmNames: ["procwatch/x", "procwatch/unknown"] }));
    expect(fake.alarms.get("procwatch/x")?.ActionsEnabled).toBe(false);
    await expect(cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: ["procwatch/x", "procwatch/gone"] }))).rejects.toMatchObject({
      name: "ResourceNotFound",
    });
    expect(fake.alarms.size).toBe(2);
    const tooMany = Array.from({ length: 101 }, (_, index) => `n${index}`);
    await expect(cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: tooMany }))).rejects.toMatchObject({ name: "InvalidParameterValue" });
    await cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: ["procwatch/x", "procwatch/y"] }));
    expect(fake.alarms.size).toBe(0);
  });

  it("ListMetrics pages 500 at a time and filters by dimension name or name=value", async () => {
    const { fake, cloudwatch } = quiet();
    buildFleet(fake, { instances: 300, processesPerInstance: 2 });
    let pages = 0;
    let count = 0;
    for await (const page of paginateListMetrics(
      { client: cloudwatch },
      { Namespace: "CWAgent", MetricName: "procstat_lookup_pid_count", Dimensions: [{ Name: "pid_finder" }] },
    )) {
      pages += 1;
      count += page.Metrics?.length ?? 0;
    }
    expect({ pages, count }).toEqual({ pages: 2, count: 600 });
    const one = await cloudwatch.send(new ListMetricsCommand({ Dimensions: [{ Name: "InstanceId", Value: fleetInstanceId(5) }] }));
    expect(one.Metrics).toHaveLength(2);
  });
});

describe("SSM parameters", () => {
  it("GetParameters takes ≤ 10 names and reports unknown ones; GetParameter throws ParameterNotFound", async () => {
    const { fake, ssm } = quiet();
    fake.putParameter("/procwatch/profiles/web", '{"processes":[{"name":"nginx"}]}');
    const output = await ssm.send(new GetParametersCommand({ Names: ["/procwatch/profiles/web", "/procwatch/profiles/none"] }));
    expect(output.Parameters).toEqual([{ Name: "/procwatch/profiles/web", Value: '{"processes":[{"name":"nginx"}]}', Version: 1, Type: "String" }]);
    expect(output.InvalidParameters).toEqual(["/procwatch/profiles/none"]);
    const eleven = Array.from({ length: 11 }, (_, index) => `/p/${index}`);
    await expect(ssm.send(new GetParametersCommand({ Names: eleven }))).rejects.toMatchObject({ name: "ValidationException" });
    await expect(ssm.send(new GetParameterCommand({ Name: "/nope" }))).rejects.toMatchObject({ name: "ParameterNotFound" });
  });
});

describe("quotas, faults and retries", () => {
  it("throttles past the per-API quota with a real-shaped error that the SDK classifies as throttling", async () => {
    const clock = new VirtualClock();
    const fake = new FakeAws({ clock });
    const { cloudwatch } = fakeClients(fake, { maxAttempts: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, index) => cloudwatch.send(new PutMetricAlarmCommand(alarmInput(`procwatch/${index}`)))),
    );
    const rejected = results.filter((result) => result.status === "rejected").map((result) => (result as PromiseRejectedResult).reason);
    expect(rejected).toHaveLength(2);
    expect(rejected[0]).toMatchObject({ name: "Throttling", $fault: "client", $retryable: { throttling: true }, $metadata: { httpStatusCode: 400 } });
    expect(fake.calls.PutMetricAlarm).toMatchObject({ total: 5, ok: 3, throttled: 2 });
    clock.advance(1000);
    await cloudwatch.send(new PutMetricAlarmCommand(alarmInput("procwatch/later")));
    expect(fake.alarms.size).toBe(4);
  });

  it("the SDK's retry strategy retries injected throttles and 500s against the fake", async () => {
    const fake = new FakeAws({ quotas: false, seed: 42, faults: { throttleRate: 0.3, serverErrorRate: 0.1 } });
    const { cloudwatch } = fakeClients(fake, { retryStrategy: instantRetryStrategy(10) });
    for (let index = 0; index < 30; index += 1) await cloudwatch.send(new DescribeAlarmsCommand({ MaxRecords: 1 }));
    const counter = fake.calls.DescribeAlarms!;
    expect(counter.ok).toBe(30);
    expect(counter.throttled + counter.serverErrors).toBeGreaterThan(0);
    expect(counter.total).toBe(counter.ok + counter.throttled + counter.serverErrors);
  });

  it("the same seed replays the same fault pattern", async () => {
    const run = async () => {
      const fake = new FakeAws({ quotas: false, seed: 9, faults: { throttleRate: 0.5 } });
      const outcomes: string[] = [];
      for (let index = 0; index < 20; index += 1) {
        outcomes.push(
          await fake.handle("ListMetrics", {}).then(
            () => "ok",
            (error: Error) => error.name,
          ),
        );
      }
      return outcomes;
    };
    const first = await run();
    expect(first).toContain("Throttling");
    expect(await run()).toEqual(first);
  });

  it("a 500 on a write may come after the write took effect, as with AWS", async () => {
    const fake = new FakeAws({ quotas: false, seed: 3, faults: { serverErrorRate: 1 } });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, index) => fake.handle("PutMetricAlarm", alarmInput(`procwatch/${index}`))));
    expect(outcomes.every((outcome) => outcome.status === "rejected")).toBe(true);
    expect(fake.alarms.size).toBeGreaterThan(0);
    expect(fake.alarms.size).toBeLessThan(20);
  });
});

describe("VirtualClock", () => {
  it("wakes concurrent sleepers at their own virtual instants, in order", async () => {
    const clock = new VirtualClock();
    const woke: [string, number][] = [];
    await Promise.all([
      clock.sleep(667).then(() => woke.push(["b", clock.now()])),
      clock.sleep(333).then(() => woke.push(["a", clock.now()])),
      clock.sleep(1000).then(() => woke.push(["c", clock.now()])),
    ]);
    expect(woke).toEqual([
      ["a", 333],
      ["b", 667],
      ["c", 1000],
    ]);
  });
});
