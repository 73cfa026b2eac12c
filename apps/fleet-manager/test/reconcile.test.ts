import { alarmNameFor, OWNERSHIP_MARKER } from "@procwatch/contract";
import { buildFleet, fleetInstanceId } from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import { reconcile } from "../src/reconcile.ts";
import { fakeWorld, fleetConfig } from "./harness.ts";

function run(world: ReturnType<typeof fakeWorld>, mode: "plan" | "apply", scope?: string[]) {
  return reconcile({ ...world.adapters, config: fleetConfig, mode, ...(scope !== undefined ? { scope } : {}) });
}

describe("reconcile against the fake", () => {
  it("creates, tags, then converges to a no-op with only reads", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 20, processesPerInstance: 3, stoppedEvery: 5 });
    const first = await run(world, "apply");
    expect(first.failures).toEqual([]);
    expect(first.applied.created).toBe(60);
    expect(world.fake.alarms.size).toBe(60);
    const name = alarmNameFor(fleetInstanceId(0), "nginx");
    expect(world.fake.alarms.get(name)).toMatchObject({ ActionsEnabled: false, AlarmActions: [fleetConfig.restartActionArns[0]] });
    expect(world.fake.tagsOf(name)).toEqual({
      "procwatch:managed-by": "procwatch-fleet",
      "procwatch:instance-id": fleetInstanceId(0),
      "procwatch:process": "nginx",
    });

    world.fake.resetCounters();
    const second = await run(world, "apply");
    expect(second.plan.changes).toEqual([]);
    expect(world.fake.callCounts()).toEqual({ DescribeInstances: 1, DescribeAlarms: 1 });
  });

  it("plan mode never writes", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 5, processesPerInstance: 2 });
    const result = await run(world, "plan");
    expect(result.plan.counts.create).toBe(10);
    expect(world.fake.alarms.size).toBe(0);
    expect(Object.keys(world.fake.callCounts()).sort()).toEqual(["DescribeAlarms", "DescribeInstances"]);
  });

  it("follows state and tag changes: stop → disable, start → enable, terminate → delete, process removed → delete", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 4, processesPerInstance: 2 });
    await run(world, "apply");
    world.fake.setInstanceState(fleetInstanceId(0), "stopped");
    world.fake.setInstanceState(fleetInstanceId(1), "terminated");
    world.fake.setTags(fleetInstanceId(2), { "procwatch:processes": "nginx" });
    world.fake.setTags(fleetInstanceId(3), { "procwatch:enabled": "false" });
    const result = await run(world, "apply");
    expect(result.failures).toEqual([]);
    expect(result.applied).toEqual({ created: 0, updated: 0, deleted: 5, actionsDisabled: 2, actionsEnabled: 0 });
    expect([...world.fake.alarms.keys()].sort()).toEqual(
      [alarmNameFor(fleetInstanceId(0), "nginx"), alarmNameFor(fleetInstanceId(0), "sshd"), alarmNameFor(fleetInstanceId(2), "nginx")].sort(),
    );
    world.fake.setInstanceState(fleetInstanceId(0), "running");
    const restarted = await run(world, "apply");
    expect(restarted.applied.actionsEnabled).toBe(2);
    expect((await run(world, "plan")).plan.changes).toEqual([]);
  });

  it("an event scope touches only the named instances and reads only their alarms", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 10, processesPerInstance: 2 });
    await run(world, "apply");
    world.fake.setInstanceState(fleetInstanceId(1), "stopped");
    world.fake.setInstanceState(fleetInstanceId(2), "stopped");
    world.fake.resetCounters();
    const result = await run(world, "apply", [fleetInstanceId(1)]);
    expect(result.applied.actionsDisabled).toBe(2);
    expect(world.fake.alarms.get(alarmNameFor(fleetInstanceId(2), "nginx"))?.ActionsEnabled).toBe(true);
    expect(world.fake.callCounts()).toEqual({ DescribeInstances: 1, DescribeAlarms: 1, DisableAlarmActions: 1 });
  });

  it("with 10% throttling and 1% 500s a 300-instance fleet converges in ≤ 3 runs, no duplicate, no foreign alarm touched", async () => {
    const world = fakeWorld({ seed: 2024, faults: { throttleRate: 0.1, serverErrorRate: 0.01 }, maxAttempts: 3 });
    const members = buildFleet(world.fake, { instances: 300, processesPerInstance: 3, stoppedEvery: 13, fastEvery: 17 });
    const foreign = [
      { AlarmName: alarmNameFor(fleetInstanceId(5), "nginx-legacy"), AlarmDescription: "hand-made by the web team", Period: 300 },
      { AlarmName: "procwatch/dashboard-canary", AlarmDescription: `${OWNERSHIP_MARKER} copied`, Period: 60 },
      { AlarmName: alarmNameFor(fleetInstanceId(999_999), "nginx"), AlarmDescription: "someone else's, for an unknown instance", Period: 60 },
    ];
    for (const alarm of foreign) world.fake.seedAlarm({ ...alarm, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: "LessThanThreshold" });
    const foreignBefore = foreign.map((alarm) => structuredClone(world.fake.alarms.get(alarm.AlarmName)));
    // Drift to repair as well: a stale alarm for a terminated instance and one hand-edited alarm.
    world.fake.addInstance({ instanceId: fleetInstanceId(5000), state: "terminated", tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx" } });

    const runs: { failures: number; changes: number }[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await run(world, "apply").catch((error: Error) => ({ error }));
      if ("error" in result) {
        runs.push({ failures: -1, changes: -1 });
        continue;
      }
      runs.push({ failures: result.failures.length, changes: result.plan.changes.length });
      if (result.failures.length === 0) break;
    }
    const final = await run(world, "plan");
    expect(final.plan.changes, JSON.stringify(runs)).toEqual([]);
    expect(runs.length).toBeLessThanOrEqual(3);

    const expectedNames = new Set(members.flatMap((member) => member.processes.map((process) => alarmNameFor(member.instanceId, process))));
    const owned = [...world.fake.alarms.values()].filter((alarm) => alarm.AlarmDescription?.startsWith(OWNERSHIP_MARKER) && expectedNames.has(alarm.AlarmName));
    expect(owned).toHaveLength(expectedNames.size);
    expect(world.fake.alarms.size).toBe(expectedNames.size + foreign.length);
    expect(foreign.map((alarm) => world.fake.alarms.get(alarm.AlarmName))).toEqual(foreignBefore);
    for (const name of expectedNames) expect(world.fake.tagsOf(name)["procwatch:managed-by"]).toBe("procwatch-fleet");
    const counters = world.fake.calls;
    expect((counters.PutMetricAlarm?.throttled ?? 0) + (counters.DescribeAlarms?.throttled ?? 0)).toBeGreaterThan(0);
  });
});
