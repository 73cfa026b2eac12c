import { readFileSync } from "node:fs";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { alarmNameFor } from "@procwatch/contract";
import { buildFleet, fleetInstanceId } from "@procwatch/testkit";
import { describe, expect, it, vi } from "vitest";
import { interpretEvent } from "../src/events.ts";
import { createHandler, lambdaSettingsFrom } from "../src/lambda.ts";
import { fakeWorld, fleetConfig } from "./harness.ts";

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));

function lambdaWorld(options: { instances?: number; allowMassChange?: boolean } = {}) {
  const world = fakeWorld();
  buildFleet(world.fake, { instances: options.instances ?? 4, processesPerInstance: 2 });
  const metrics = new Metrics({ namespace: "procwatch", serviceName: "procwatch-fleet" });
  const published: unknown[] = [];
  vi.spyOn(metrics, "publishStoredMetrics").mockImplementation(() => {
    published.push(metrics.serializeMetrics());
    metrics.clearMetrics();
    metrics.clearDimensions();
    return metrics;
  });
  const logger = new Logger({ serviceName: "procwatch-fleet", logLevel: "SILENT" });
  const errors: unknown[][] = [];
  vi.spyOn(logger, "error").mockImplementation((...args: unknown[]) => {
    errors.push(args);
  });
  const handler = createHandler({
    config: fleetConfig,
    adapters: world.adapters,
    logger,
    metrics,
    ...(options.allowMassChange !== undefined ? { allowMassChange: options.allowMassChange } : {}),
  });
  return { world, handler, published, errors };
}

describe("interpretEvent", () => {
  it("narrows state and tag changes to the named instances; schedules reconcile everything", () => {
    expect(interpretEvent(fixture("scheduled.json"), "procwatch")).toEqual({ kind: "scheduled" });
    expect(interpretEvent(fixture("ec2-state-change.json"), "procwatch")).toEqual({
      kind: "instances",
      instanceIds: [fleetInstanceId(1)],
      trigger: "state stopped",
    });
    expect(interpretEvent(fixture("tag-change.json"), "procwatch")).toEqual({ kind: "instances", instanceIds: [fleetInstanceId(2)], trigger: "tag change" });
  });

  it("ignores tag changes that touch no procwatch key, other resources, and hostile payloads", () => {
    const tag = fixture("tag-change.json");
    expect(interpretEvent({ ...tag, detail: { ...(tag.detail as object), "changed-tag-keys": ["Owner"] } }, "procwatch").kind).toBe("ignored");
    expect(interpretEvent({ ...tag, detail: { ...(tag.detail as object), "resource-type": "volume" } }, "procwatch").kind).toBe("ignored");
    const state = fixture("ec2-state-change.json");
    expect(interpretEvent({ ...state, detail: { "instance-id": "i-1; reboot", state: "stopped" } }, "procwatch").kind).toBe("ignored");
    expect(interpretEvent("not an event", "procwatch").kind).toBe("ignored");
    expect(interpretEvent({ ...tag, resources: ["arn:aws:ec2:eu-west-1:123456789012:instance/$(id)"] }, "procwatch").kind).toBe("ignored");
  });
});

describe("Lambda handler", () => {
  it("scheduled event → full reconcile with a summary metric", async () => {
    const { world, handler, published } = lambdaWorld();
    const summary = await handler(fixture("scheduled.json"));
    expect(summary).toMatchObject({ trigger: "schedule", scope: "fleet", created: 8, failures: 0 });
    expect(world.fake.alarms.size).toBe(8);
    expect(JSON.stringify(published[0])).toContain("AlarmsCreated");
    expect(published[0]).toMatchObject({ trigger: "schedule", AlarmsCreated: 8, ChangeFailures: 0 });
    // One dimension set, `service` only: what the MassChangeRefused ops alarm and the dashboard read.
    expect((published[0] as { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> } })._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([["service"]]);
  });

  it("state-change event → only that instance is reconciled", async () => {
    const { world, handler } = lambdaWorld();
    await handler(fixture("scheduled.json"));
    world.fake.setInstanceState(fleetInstanceId(1), "stopped");
    world.fake.setInstanceState(fleetInstanceId(3), "stopped");
    const summary = await handler(fixture("ec2-state-change.json"), { awsRequestId: "req-1", getRemainingTimeInMillis: () => 600_000 });
    expect(summary).toMatchObject({ scope: [fleetInstanceId(1)], actionsDisabled: 2 });
    expect(world.fake.alarms.get(alarmNameFor(fleetInstanceId(3), "nginx"))?.ActionsEnabled).toBe(true);
  });

  it("tag-change event → process removed from the tag, its alarm deleted", async () => {
    const { world, handler } = lambdaWorld();
    await handler(fixture("scheduled.json"));
    world.fake.setTags(fleetInstanceId(2), { "procwatch:processes": "nginx" });
    const summary = await handler(fixture("tag-change.json"));
    expect(summary).toMatchObject({ deleted: 1 });
    expect(world.fake.alarms.has(alarmNameFor(fleetInstanceId(2), "sshd"))).toBe(false);
  });

  it("near the timeout it defers writes instead of being killed mid-way", async () => {
    const { world, handler } = lambdaWorld();
    const summary = await handler(fixture("scheduled.json"), { awsRequestId: "req-2", getRemainingTimeInMillis: () => 10_000 });
    expect(summary).toMatchObject({ created: 0, deferred: 8 });
    expect(world.fake.alarms.size).toBe(0);
  });
});

describe("mass-change guard in the Lambda", () => {
  const optOut = (world: ReturnType<typeof lambdaWorld>["world"], count: number) => {
    for (let index = 0; index < count; index += 1) world.fake.setTags(fleetInstanceId(index), { "procwatch:enabled": "false" });
  };

  it("14 of 15 hosts opted out at once (still running): refuses the deletes, applies the rest, logs an error and emits MassChangeRefused", async () => {
    const { world, handler, published, errors } = lambdaWorld({ instances: 15 });
    await handler(fixture("scheduled.json"));
    optOut(world, 14);
    world.fake.setInstanceState(fleetInstanceId(14), "stopped");
    const summary = await handler(fixture("scheduled.json"));
    expect(summary).toMatchObject({ deleted: 0, refusedChanges: 28, actionsDisabled: 2 });
    expect(world.fake.alarms.size).toBe(30);
    expect(published[1]).toMatchObject({ MassChangeRefused: 28, AlarmsDeleted: 0, AlarmActionsToggled: 2 });
    expect(errors).toEqual([["mass change refused", expect.objectContaining({ refused: { delete: 28, update: 0 }, limit: 5, instancesWithAlarms: 15 })]]);
  });

  it("hosts EC2 reports terminated are cleaned up however many there are", async () => {
    const { world, handler, published } = lambdaWorld({ instances: 15 });
    await handler(fixture("scheduled.json"));
    for (let index = 0; index < 14; index += 1) world.fake.setInstanceState(fleetInstanceId(index), "terminated");
    expect(await handler(fixture("scheduled.json"))).toMatchObject({ deleted: 28, refusedChanges: 0 });
    expect(world.fake.alarms.size).toBe(2);
    expect(published[1]).toMatchObject({ MassChangeRefused: 0 });
  });

  it("ALLOW_MASS_CHANGE=true lets the opt-outs through", async () => {
    const { world, handler, published } = lambdaWorld({ instances: 15, allowMassChange: true });
    await handler(fixture("scheduled.json"));
    optOut(world, 15);
    expect(await handler(fixture("scheduled.json"))).toMatchObject({ deleted: 30, refusedChanges: 0 });
    expect(world.fake.alarms.size).toBe(0);
    expect(published[1]).toMatchObject({ MassChangeRefused: 0 });
  });

  it("a small event-narrowed run is never blocked (the limit is at least 5 instances)", async () => {
    const { world, handler } = lambdaWorld({ instances: 15 });
    await handler(fixture("scheduled.json"));
    world.fake.setTags(fleetInstanceId(1), { "procwatch:enabled": "false" });
    expect(await handler(fixture("ec2-state-change.json"))).toMatchObject({ deleted: 2, refusedChanges: 0 });
  });
});

describe("lambdaSettingsFrom (the environment the stack sets)", () => {
  const stackEnv = { RESTART_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:procwatch-restart", ALARM_PREFIX: "acme", TAG_PREFIX: "acme" };

  it("reads DEFAULT_DETECTION_PROFILE and POWERTOOLS_SERVICE_NAME", () => {
    const settings = lambdaSettingsFrom({ ...stackEnv, DEFAULT_DETECTION_PROFILE: "fast", POWERTOOLS_SERVICE_NAME: "procwatch-fleet-manager" });
    expect(settings.config).toMatchObject({ alarmPrefix: "acme", tagPrefix: "acme", defaultDetection: "fast" });
    expect(settings.serviceName).toBe("procwatch-fleet-manager");
  });

  it("falls back to standard and procwatch-fleet when unset or empty", () => {
    for (const env of [stackEnv, { ...stackEnv, DEFAULT_DETECTION_PROFILE: "", POWERTOOLS_SERVICE_NAME: "" }]) {
      const settings = lambdaSettingsFrom(env);
      expect(settings.config.defaultDetection).toBe("standard");
      expect(settings.serviceName).toBe("procwatch-fleet");
    }
  });

  it("reads ALLOW_MASS_CHANGE strictly: unset/empty/false → refuse, true → allow, anything else fails the cold start", () => {
    expect(lambdaSettingsFrom(stackEnv).allowMassChange).toBe(false);
    expect(lambdaSettingsFrom({ ...stackEnv, ALLOW_MASS_CHANGE: "" }).allowMassChange).toBe(false);
    expect(lambdaSettingsFrom({ ...stackEnv, ALLOW_MASS_CHANGE: "false" }).allowMassChange).toBe(false);
    expect(lambdaSettingsFrom({ ...stackEnv, ALLOW_MASS_CHANGE: "true" }).allowMassChange).toBe(true);
    expect(() => lambdaSettingsFrom({ ...stackEnv, ALLOW_MASS_CHANGE: "yes" })).toThrow(/ALLOW_MASS_CHANGE "yes" is not true or false/);
  });

  it("reads ARMING_GRACE_MINUTES (default 45) and refuses a value that is not whole minutes", () => {
    expect(lambdaSettingsFrom(stackEnv).config.armingGraceMinutes).toBe(45);
    expect(lambdaSettingsFrom({ ...stackEnv, ARMING_GRACE_MINUTES: "30" }).config.armingGraceMinutes).toBe(30);
    expect(() => lambdaSettingsFrom({ ...stackEnv, ARMING_GRACE_MINUTES: "soon" })).toThrow(/ARMING_GRACE_MINUTES "soon" is not a whole number of minutes/);
  });

  it("reads REALARM_AFTER_MINUTES (default 30, the restart handler's budget window; 0 = never)", () => {
    expect(lambdaSettingsFrom(stackEnv).config.realarmAfterMinutes).toBe(30);
    expect(lambdaSettingsFrom({ ...stackEnv, REALARM_AFTER_MINUTES: "0" }).config.realarmAfterMinutes).toBe(0);
    expect(() => lambdaSettingsFrom({ ...stackEnv, REALARM_AFTER_MINUTES: "half an hour" })).toThrow(
      /REALARM_AFTER_MINUTES "half an hour" is not a whole number of minutes/,
    );
  });

  it("refuses an unknown detection profile, naming the variable", () => {
    expect(() => lambdaSettingsFrom({ ...stackEnv, DEFAULT_DETECTION_PROFILE: "turbo" })).toThrow(
      /DEFAULT_DETECTION_PROFILE "turbo" is not a detection profile/,
    );
  });

  it("a fast default reaches the alarms the handler creates", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 2, processesPerInstance: 2 });
    const { config } = lambdaSettingsFrom({ RESTART_TOPIC_ARN: fleetConfig.restartActionArns[0], DEFAULT_DETECTION_PROFILE: "fast" });
    const metrics = new Metrics({ namespace: "procwatch", serviceName: "procwatch-fleet" });
    vi.spyOn(metrics, "publishStoredMetrics").mockImplementation(() => metrics);
    const logger = new Logger({ serviceName: "procwatch-fleet", logLevel: "SILENT" });
    const handler = createHandler({ config, adapters: world.adapters, logger, metrics });
    await handler(fixture("scheduled.json"));
    expect([...world.fake.alarms.values()].map((alarm) => alarm.Period)).toEqual([10, 10, 10, 10]);
  });
});
