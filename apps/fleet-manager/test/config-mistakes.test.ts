/**
 * Configuration mistakes a platform team makes, each refused or contained, with everything that is
 * not this deployment's left byte-identical: other deployments' alarms, copied look-alikes,
 * hand-made alarms.
 */
import { alarmNameFor, ownershipMarkerFor } from "@procwatch/contract";
import { buildFleet, fleetInstanceId } from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import type { FleetConfig } from "../src/config.ts";
import { applyReconcilePlan, reconcile } from "../src/reconcile.ts";
import { fakeWorld, fleetConfig } from "./harness.ts";

type World = ReturnType<typeof fakeWorld>;

function run(world: World, config: FleetConfig, mode: "plan" | "apply" = "apply", extra: { allowMassChange?: boolean } = {}) {
  return reconcile({ ...world.adapters, config, mode, wallTime: () => world.clock.now(), ...extra });
}

/** Every alarm not under `prefix/`, with its tags, serialized: what must not change. */
function othersSnapshot(world: World, prefix: string): string {
  return JSON.stringify(
    [...world.fake.alarms.values()]
      .filter((alarm) => !alarm.AlarmName.startsWith(`${prefix}/`))
      .map((alarm) => ({ ...alarm, tags: [...alarm.tags].sort() }))
      .sort((a, b) => (a.AlarmName < b.AlarmName ? -1 : 1)),
  );
}

const staging: FleetConfig = {
  ...fleetConfig,
  alarmPrefix: "staging",
  tagPrefix: "staging",
  restartActionArns: ["arn:aws:sns:eu-west-1:123456789012:staging-restart"],
};

/** Twenty hosts opted in to both deployments (each with its own tag prefix), both converged. */
async function twoDeployments() {
  const world = fakeWorld();
  buildFleet(world.fake, { instances: 20, processesPerInstance: 2 });
  for (const instance of world.fake.instances.values()) {
    world.fake.setTags(instance.instanceId, { "staging:enabled": "true", "staging:processes": instance.tags["procwatch:processes"] ?? "" });
  }
  await run(world, fleetConfig);
  await run(world, staging);
  // A hand-made alarm and a copied look-alike: the copy has production's name and marker, not its tag.
  world.fake.seedAlarm({
    AlarmName: "procwatch-legacy/web",
    AlarmDescription: "hand-made",
    MetricName: "x",
    Namespace: "y",
    EvaluationPeriods: 1,
    ComparisonOperator: "LessThanThreshold",
    Threshold: 1,
    Period: 60,
  });
  world.fake.seedAlarm(
    {
      AlarmName: alarmNameFor(fleetInstanceId(0), "nginx-copy"),
      AlarmDescription: `${ownershipMarkerFor("procwatch")} copied in the console`,
      MetricName: "x",
      Namespace: "y",
      EvaluationPeriods: 1,
      ComparisonOperator: "LessThanThreshold",
      Threshold: 1,
      Period: 60,
    },
    { team: "web" },
  );
  return world;
}

describe("two deployments side by side", () => {
  it("each reconciles only its own alarms: marker, prefix and managed-by tag name the deployment", async () => {
    const world = await twoDeployments();
    expect([...world.fake.alarms.keys()].filter((name) => name.startsWith("staging/"))).toHaveLength(40);
    expect(world.fake.tagsOf(alarmNameFor(fleetInstanceId(3), "nginx", "staging"))["procwatch:managed-by"]).toBe("staging");
    expect(world.fake.alarms.get(alarmNameFor(fleetInstanceId(3), "nginx", "staging"))?.AlarmDescription?.startsWith("[procwatch:managed:staging] ")).toBe(
      true,
    );
    expect((await run(world, fleetConfig, "plan")).plan.changes.map((change) => change.alarmName)).toEqual([alarmNameFor(fleetInstanceId(0), "nginx-copy")]);
    expect((await run(world, staging, "plan")).plan.changes).toEqual([]);
  });

  it("production opting every host out deletes production's alarms only; staging's, the hand-made one and the copy are byte-identical", async () => {
    const world = await twoDeployments();
    // A second copy whose tags were copied from a staging alarm: production's name and marker, staging's managed-by tag.
    const stagingTagged = alarmNameFor(fleetInstanceId(1), "nginx-copy");
    world.fake.seedAlarm(
      { ...world.fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx-copy")), AlarmName: stagingTagged } as Parameters<typeof world.fake.seedAlarm>[0],
      { "procwatch:managed-by": "staging" },
    );
    const before = othersSnapshot(world, "procwatch");
    const copy = JSON.stringify(world.fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx-copy")));
    const stagingTaggedCopy = JSON.stringify(world.fake.alarms.get(stagingTagged));
    for (const instance of world.fake.instances.values()) world.fake.setTags(instance.instanceId, { "procwatch:enabled": "false" });
    const refused = await run(world, fleetConfig);
    expect(refused.refused.delete).toBe(42); // 40 alarms and the two copies: the plan cannot see tags
    const allowed = await run(world, fleetConfig, "apply", { allowMassChange: true });
    expect(allowed.applied.deleted).toBe(40);
    // The copy carries production's name and marker, but not production's managed-by tag: left alone, and said so.
    expect(allowed.skipped).toEqual([
      expect.objectContaining({
        alarmName: alarmNameFor(fleetInstanceId(0), "nginx-copy"),
        kind: "delete",
        reason: expect.stringMatching(/managed-by tag is missing/),
      }),
      expect.objectContaining({
        alarmName: stagingTagged,
        kind: "delete",
        reason: expect.stringMatching(/managed-by tag is "staging", not this deployment's \(procwatch\)/),
      }),
    ]);
    expect(JSON.stringify(world.fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx-copy")))).toBe(copy);
    expect(JSON.stringify(world.fake.alarms.get(stagingTagged))).toBe(stagingTaggedCopy);
    expect(othersSnapshot(world, "procwatch")).toBe(before);
  });
});

describe("settings that rewrite the whole fleet are refused, and change nothing", () => {
  it.each<{ mistake: string; config: FleetConfig; field: string }>([
    { mistake: "a namespace typo (CWagent)", config: { ...fleetConfig, namespace: "CWagent" }, field: "Namespace" },
    {
      mistake: "a staging restart topic",
      config: { ...fleetConfig, restartActionArns: ["arn:aws:sns:eu-west-1:123456789012:staging-restart"] },
      field: "AlarmActions",
    },
    { mistake: "--default-detection fast against hosts publishing every 60 s", config: { ...fleetConfig, defaultDetection: "fast" }, field: "Period" },
  ])("$mistake", async ({ config, field }) => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 20, processesPerInstance: 2 });
    await run(world, fleetConfig);
    const before = JSON.stringify([...world.fake.alarms.values()].map(({ tags, ...alarm }) => ({ ...alarm, tags: [...tags] })));
    const result = await run(world, config);
    expect(result.massChange.update).toMatchObject({ instances: 20, alarms: 40, exceeded: true });
    expect(result.massChange.update.fields.map((entry) => entry.field)).toContain(field);
    expect(result.refused.update).toBe(40);
    expect(result.applied.updated).toBe(0);
    expect(JSON.stringify([...world.fake.alarms.values()].map(({ tags, ...alarm }) => ({ ...alarm, tags: [...tags] })))).toBe(before);
  });
});

describe("stale plans: each change's precondition is re-checked just before it is written", () => {
  it("a host that starts again while the operator reads the plan keeps its actions on", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 4, processesPerInstance: 1 });
    await run(world, fleetConfig);
    world.fake.setInstanceState(fleetInstanceId(1), "stopped");
    const planned = await run(world, fleetConfig, "plan");
    expect(planned.plan.changes.map((change) => change.kind)).toEqual(["disable-actions"]);
    world.fake.setInstanceState(fleetInstanceId(1), "running");
    const applied = await applyReconcilePlan(planned, { ...world.adapters, config: fleetConfig });
    expect(applied.applied.actionsDisabled).toBe(0);
    expect(applied.skipped).toEqual([
      { alarmName: alarmNameFor(fleetInstanceId(1), "nginx"), instanceId: fleetInstanceId(1), kind: "disable-actions", reason: "instance is running again" },
    ]);
    expect(world.fake.alarms.get(alarmNameFor(fleetInstanceId(1), "nginx"))?.ActionsEnabled).toBe(true);
  });

  it("a host terminated during a long apply gets no alarms created; the others do", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 3, processesPerInstance: 2 });
    const planned = await run(world, fleetConfig, "plan");
    expect(planned.plan.counts.create).toBe(6);
    world.fake.setInstanceState(fleetInstanceId(2), "terminated");
    const applied = await applyReconcilePlan(planned, { ...world.adapters, config: fleetConfig });
    expect(applied.applied.created).toBe(4);
    expect(applied.skipped.map((skip) => `${skip.kind} ${skip.alarmName}: ${skip.reason}`)).toEqual([
      `create ${alarmNameFor(fleetInstanceId(2), "nginx")}: instance is gone or no longer tagged`,
      `create ${alarmNameFor(fleetInstanceId(2), "sshd")}: instance is gone or no longer tagged`,
    ]);
    expect([...world.fake.alarms.keys()].some((name) => name.includes(fleetInstanceId(2)))).toBe(false);
  });

  it("a host resized after the plan gets no alarm for its old InstanceType (the series it publishes after the agent restarts carries the new one)", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 2, processesPerInstance: 1 });
    const planned = await run(world, fleetConfig, "plan");
    const resized = world.fake.instances.get(fleetInstanceId(0))!;
    const before = resized.instanceType;
    resized.instanceType = "m7i.2xlarge";
    const applied = await applyReconcilePlan(planned, { ...world.adapters, config: fleetConfig });
    expect(applied.skipped.map((skip) => skip.reason)).toEqual([
      `instance now has ImageId=${resized.imageId} InstanceId=${fleetInstanceId(0)} InstanceType=m7i.2xlarge (the plan was for ImageId=${resized.imageId} InstanceId=${fleetInstanceId(0)} InstanceType=${before})`,
    ]);
    expect(applied.applied.created).toBe(1);
    // The next run plans it with the instance's current type.
    const next = await run(world, fleetConfig);
    expect(world.fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx"))?.Dimensions).toContainEqual({ Name: "InstanceType", Value: "m7i.2xlarge" });
    expect(next.applied.created).toBe(1);
  });

  it("a host opted out after the plan gets no new alarm", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 2, processesPerInstance: 1 });
    const planned = await run(world, fleetConfig, "plan");
    world.fake.setTags(fleetInstanceId(0), { "procwatch:enabled": "false" });
    const applied = await applyReconcilePlan(planned, { ...world.adapters, config: fleetConfig });
    expect(applied.skipped.map((skip) => skip.reason)).toEqual(["instance is no longer opted in"]);
    expect(applied.applied.created).toBe(1);
  });
});
