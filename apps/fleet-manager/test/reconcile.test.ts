import { desiredAlarms } from "@procwatch/alarm-planner";
import { type AlarmDefinition, alarmNameFor, ownershipMarkerFor } from "@procwatch/contract";
import { buildFleet, fleetInstanceId } from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import { plannerConfigFor, reconcile } from "../src/reconcile.ts";
import { fakeWorld, fleetConfig } from "./harness.ts";

function run(world: ReturnType<typeof fakeWorld>, mode: "plan" | "apply", scope?: string[]) {
  // Launch times in the fake come from its virtual clock; compare them with the same clock.
  return reconcile({ ...world.adapters, config: fleetConfig, mode, wallTime: () => world.clock.now(), ...(scope !== undefined ? { scope } : {}) });
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
      "procwatch:managed-by": "procwatch",
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
    expect(result.applied).toEqual({ created: 0, updated: 0, deleted: 5, actionsDisabled: 2, actionsEnabled: 0, reevaluated: 0 });
    expect([...world.fake.alarms.keys()].sort()).toEqual(
      [alarmNameFor(fleetInstanceId(0), "nginx"), alarmNameFor(fleetInstanceId(0), "sshd"), alarmNameFor(fleetInstanceId(2), "nginx")].sort(),
    );
    world.fake.setInstanceState(fleetInstanceId(0), "running");
    const restarted = await run(world, "apply");
    expect(restarted.applied.actionsEnabled).toBe(2);
    expect((await run(world, "plan")).plan.changes).toEqual([]);
  });

  it("an instance resized (stop, new type, start) gets its alarm's InstanceType updated (a metric change, so the planner arms it again)", async () => {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 2, processesPerInstance: 1 });
    const host = fleetInstanceId(0);
    await run(world, "apply");
    const name = alarmNameFor(host, "nginx");
    expect(world.fake.alarms.get(name)?.Dimensions).toContainEqual({ Name: "InstanceType", Value: world.fake.instances.get(host)!.instanceType });
    world.fake.instances.get(host)!.instanceType = "c7i.4xlarge";
    const result = await run(world, "apply");
    expect(result.plan.changes.map((change) => `${change.kind} ${change.alarmName}`)).toEqual([`update ${name}`]);
    expect(world.fake.alarms.get(name)?.Dimensions).toContainEqual({ Name: "InstanceType", Value: "c7i.4xlarge" });
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
    // One more DescribeInstances: the precondition check right before the write (still stopped?).
    expect(world.fake.callCounts()).toEqual({ DescribeInstances: 2, DescribeAlarms: 1, DisableAlarmActions: 1 });
  });

  it("with 10% throttling and 1% 500s a 300-instance fleet converges in ≤ 3 runs: stale alarms deleted, a hand edit restored, no duplicate, foreign alarms byte-identical", async () => {
    const world = fakeWorld({ seed: 2024, faults: { throttleRate: 0.1, serverErrorRate: 0.01 }, maxAttempts: 3 });
    const members = buildFleet(world.fake, { instances: 300, processesPerInstance: 3, stoppedEvery: 13, fastEvery: 17 });
    const foreign = [
      { AlarmName: alarmNameFor(fleetInstanceId(5), "nginx-legacy"), AlarmDescription: "hand-made by the web team", Period: 300 },
      { AlarmName: "procwatch/dashboard-canary", AlarmDescription: `${ownershipMarkerFor()} copied`, Period: 60 },
      { AlarmName: alarmNameFor(fleetInstanceId(999_999), "nginx"), AlarmDescription: "someone else's, for an unknown instance", Period: 60 },
    ];
    for (const alarm of foreign) {
      world.fake.seedAlarm({ ...alarm, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: "LessThanThreshold" }, { team: "web" });
    }
    const snapshot = (name: string) => {
      const alarm = world.fake.alarms.get(name);
      return alarm === undefined ? "absent" : JSON.stringify({ ...alarm, tags: [...alarm.tags] });
    };
    const foreignBefore = foreign.map((alarm) => snapshot(alarm.AlarmName));

    // Drift to repair: owned alarms (as an earlier run created them) for an instance EC2 no longer
    // lists and for a terminated one, and one owned alarm whose Threshold someone edited by hand.
    const ownedDefinition = (instanceId: string, processName: string, tags: Record<string, string>) => {
      const desired = desiredAlarms([{ instanceId, state: "running", tags }], new Map(), plannerConfigFor(fleetConfig), {
        now: world.clock.now(),
        observed: new Map(),
        reportingAlarms: new Set(),
      });
      const found = desired.alarms.find((alarm) => alarm.processName === processName);
      if (found === undefined) throw new Error(`no desired alarm ${instanceId}/${processName}`);
      return found.definition;
    };
    const seedOwned = (definition: AlarmDefinition, overrides: { Threshold?: number } = {}) =>
      world.fake.seedAlarm(
        {
          ...definition,
          Dimensions: definition.Dimensions.map((dimension) => ({ ...dimension })),
          AlarmActions: [...definition.AlarmActions],
          OKActions: [...definition.OKActions],
          InsufficientDataActions: [...definition.InsufficientDataActions],
          ...overrides,
        },
        { "procwatch:managed-by": "procwatch" },
      );
    const opted = { "procwatch:enabled": "true", "procwatch:processes": "nginx" };
    const vanished = ownedDefinition(fleetInstanceId(6000), "nginx", opted);
    seedOwned(vanished);
    world.fake.addInstance({ instanceId: fleetInstanceId(5000), state: "terminated", tags: opted });
    const terminated = ownedDefinition(fleetInstanceId(5000), "nginx", opted);
    seedOwned(terminated);
    const editedInstance = world.fake.instances.get(fleetInstanceId(7));
    const edited = ownedDefinition(fleetInstanceId(7), "sshd", editedInstance?.tags ?? {});
    seedOwned(edited, { Threshold: edited.Threshold + 4 });

    const runs: { failures: number; changes: number }[] = [];
    let firstPlan: string[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await run(world, "apply").catch((error: Error) => ({ error }));
      if ("error" in result) {
        runs.push({ failures: -1, changes: -1 });
        continue;
      }
      if (firstPlan.length === 0) {
        firstPlan = result.plan.changes
          .filter((change) => [vanished.AlarmName, terminated.AlarmName, edited.AlarmName].includes(change.alarmName))
          .map((change) => `${change.kind} ${change.alarmName}`);
      }
      runs.push({ failures: result.failures.length, changes: result.plan.changes.length });
      if (result.failures.length === 0) break;
    }
    const final = await run(world, "plan");
    expect(final.plan.changes, JSON.stringify(runs)).toEqual([]);
    expect(runs.length).toBeLessThanOrEqual(3);

    // The seeded drift was seen as drift of owned alarms, and repaired.
    expect([...firstPlan].sort(compareText)).toEqual(
      [`delete ${vanished.AlarmName}`, `delete ${terminated.AlarmName}`, `update ${edited.AlarmName}`].sort(compareText),
    );
    expect(world.fake.alarms.has(vanished.AlarmName)).toBe(false);
    expect(world.fake.alarms.has(terminated.AlarmName)).toBe(false);
    expect(world.fake.alarms.get(edited.AlarmName)?.Threshold).toBe(edited.Threshold);

    const expectedNames = new Set(members.flatMap((member) => member.processes.map((process) => alarmNameFor(member.instanceId, process))));
    const owned = [...world.fake.alarms.values()].filter(
      (alarm) => alarm.AlarmDescription?.startsWith(ownershipMarkerFor()) && expectedNames.has(alarm.AlarmName),
    );
    expect(owned).toHaveLength(expectedNames.size);
    expect(world.fake.alarms.size).toBe(expectedNames.size + foreign.length);
    expect(foreign.map((alarm) => snapshot(alarm.AlarmName))).toEqual(foreignBefore);
    for (const name of expectedNames) expect(world.fake.tagsOf(name)["procwatch:managed-by"]).toBe("procwatch");
    const counters = world.fake.calls;
    expect((counters.PutMetricAlarm?.throttled ?? 0) + (counters.DescribeAlarms?.throttled ?? 0)).toBeGreaterThan(0);
    expect(Object.values(counters).reduce((sum, counter) => sum + counter.serverErrors, 0)).toBeGreaterThan(0);
  });
});

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

describe("apply order", () => {
  const WRITES = new Set(["DisableAlarmActions", "DeleteAlarms", "EnableAlarmActions", "PutMetricAlarm", "TagResource"]);

  /** A fleet with every kind of change pending; returns the order in which write operations reach the fake. */
  async function driftedWorld() {
    const world = fakeWorld();
    buildFleet(world.fake, { instances: 12, processesPerInstance: 2, stoppedEvery: 5 });
    await run(world, "apply");
    world.fake.setInstanceState(fleetInstanceId(1), "stopped"); // disable ×2
    world.fake.setInstanceState(fleetInstanceId(2), "terminated"); // delete ×2
    world.fake.setInstanceState(fleetInstanceId(5), "running"); // enable ×2 (it reports: buildFleet published its metrics)
    world.fake.setTags(fleetInstanceId(3), { "procwatch:processes": "nginx sshd cron" }); // create
    world.fake.alarms.get(alarmNameFor(fleetInstanceId(4), "nginx"))!.Threshold = 7; // update
    const writes: string[] = [];
    const original = world.fake.handle.bind(world.fake);
    world.fake.handle = async (operation, input) => {
      if (WRITES.has(operation) && writes.at(-1) !== operation) writes.push(operation);
      return original(operation, input);
    };
    return { world, writes };
  }

  it("disables, then deletes, then enables, then puts", async () => {
    const { world, writes } = await driftedWorld();
    const result = await run(world, "apply");
    expect(result.applied).toEqual({ created: 1, updated: 1, deleted: 2, actionsDisabled: 2, actionsEnabled: 2, reevaluated: 0 });
    // One PutMetricAlarm per create or update: the create carries its tags, no TagResource.
    expect(writes).toEqual(["DisableAlarmActions", "DeleteAlarms", "EnableAlarmActions", "PutMetricAlarm"]);
  });

  it("a run stopped by its time budget has done the safety-relevant changes; the next run does the rest", async () => {
    const { world, writes } = await driftedWorld();
    let calls = 0;
    const stopped = await reconcile({
      ...world.adapters,
      config: fleetConfig,
      mode: "apply",
      wallTime: () => world.clock.now(),
      // The budget runs out after three write batches.
      shouldStop: () => {
        calls += 1;
        return calls > 3;
      },
    });
    expect(stopped.applied).toEqual({ created: 0, updated: 0, deleted: 2, actionsDisabled: 2, actionsEnabled: 2, reevaluated: 0 });
    expect(stopped.deferred).toBe(2);
    expect(writes).toEqual(["DisableAlarmActions", "DeleteAlarms", "EnableAlarmActions"]);
    expect(world.fake.alarms.get(alarmNameFor(fleetInstanceId(1), "nginx"))?.ActionsEnabled).toBe(false);
    expect(world.fake.alarms.has(alarmNameFor(fleetInstanceId(2), "nginx"))).toBe(false);
    const next = await run(world, "apply");
    expect(next.applied).toMatchObject({ created: 1, updated: 1 });
    expect((await run(world, "plan")).plan.changes).toEqual([]);
  });
});
