import { alarmDimensionsBeforeHostPinning, alarmNameFor, ownershipMarkerFor } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import {
  type ChangeKind,
  type DesiredContext,
  desiredAlarms,
  type FirstDatapointCheck,
  type InstanceState,
  massChangeCheck,
  type ObservedAlarm,
  type ProfileInput,
  planReconcile,
  RECENT_DATAPOINT_WINDOW_MS,
  referencedProfiles,
  reportsAtResolution,
  unlistedInstancesWithDeletes,
} from "../src/index.ts";
import { applyToObserved, armingConfig, config, contextFor, instance, instanceId, minutesAgo, NOW, noProfiles, observedFrom, settled } from "./builders.ts";

const scope = { alarmPrefix: "procwatch" };

function planFor(instances: Parameters<typeof desiredAlarms>[0], observed: ObservedAlarm[], profiles = noProfiles, instanceIds?: Set<string>) {
  const desired = desiredAlarms(instances, profiles, config, settled);
  return { desired, plan: planReconcile(desired, observed, instanceIds === undefined ? scope : { ...scope, instanceIds }) };
}

/** Observed alarms exactly as a converged fleet of `instances` would hold them. */
function converged(instances: Parameters<typeof desiredAlarms>[0], profiles = noProfiles): ObservedAlarm[] {
  return desiredAlarms(instances, profiles, config, settled).alarms.map((alarm) => observedFrom(alarm.definition));
}

const kinds = (changes: readonly { kind: ChangeKind; alarmName: string }[]) => changes.map((change) => `${change.kind} ${change.alarmName}`);

describe("state transitions", () => {
  const id = instanceId(0xabc);
  const name = alarmNameFor(id, "nginx");
  const running = instance({ id, processes: "nginx" });
  const inState = (state: InstanceState) => ({ ...running, state });

  it.each<{ title: string; observedState: InstanceState | null; nowState: InstanceState | null; expected: ChangeKind | null }>([
    { title: "new running instance → create", observedState: null, nowState: "running", expected: "create" },
    { title: "new pending instance → create", observedState: null, nowState: "pending", expected: "create" },
    { title: "new stopped instance → create with actions disabled", observedState: null, nowState: "stopped", expected: "create" },
    { title: "running → stopping → disable actions", observedState: "running", nowState: "stopping", expected: "disable-actions" },
    { title: "running → stopped → disable actions", observedState: "running", nowState: "stopped", expected: "disable-actions" },
    { title: "stopped → pending → enable actions", observedState: "stopped", nowState: "pending", expected: "enable-actions" },
    { title: "stopped → running → enable actions", observedState: "stopped", nowState: "running", expected: "enable-actions" },
    { title: "running → shutting-down → delete", observedState: "running", nowState: "shutting-down", expected: "delete" },
    { title: "running → terminated → delete", observedState: "running", nowState: "terminated", expected: "delete" },
    { title: "stopped → terminated → delete", observedState: "stopped", nowState: "terminated", expected: "delete" },
    { title: "running → gone from EC2 → delete", observedState: "running", nowState: null, expected: "delete" },
    { title: "running, unchanged → nothing", observedState: "running", nowState: "running", expected: null },
    { title: "stopped, unchanged → nothing", observedState: "stopped", nowState: "stopped", expected: null },
    { title: "terminated, never had an alarm → nothing", observedState: null, nowState: "terminated", expected: null },
  ])("$title", ({ observedState, nowState, expected }) => {
    const observed = observedState === null ? [] : converged([inState(observedState)]);
    const { plan, desired } = planFor(nowState === null ? [] : [inState(nowState)], observed);
    expect(kinds(plan.changes)).toEqual(expected === null ? [] : [`${expected} ${name}`]);
    if (nowState === "stopped" && expected === "create") expect(plan.changes[0]?.definition?.ActionsEnabled).toBe(false);
    // Idempotence: once applied, planning again finds nothing to do.
    expect(planReconcile(desired, applyToObserved(plan, observed), scope).changes).toEqual([]);
  });
});

describe("spec transitions", () => {
  const id = instanceId(0xdef);

  it.each<{ title: string; before: Record<string, string>; after: Record<string, string>; expected: string[] }>([
    { title: "process added → create", before: { "procwatch:processes": "nginx" }, after: { "procwatch:processes": "nginx sshd" }, expected: ["create sshd"] },
    {
      title: "process removed → delete",
      before: { "procwatch:processes": "nginx sshd" },
      after: { "procwatch:processes": "nginx" },
      expected: ["delete sshd"],
    },
    {
      title: "opted out → delete all",
      before: { "procwatch:processes": "nginx sshd" },
      after: { "procwatch:enabled": "false", "procwatch:processes": "nginx sshd" },
      expected: ["delete nginx", "delete sshd"],
    },
    {
      title: "detection fast → update period",
      before: { "procwatch:processes": "nginx" },
      after: { "procwatch:processes": "nginx", "procwatch:detection": "fast" },
      expected: ["update nginx"],
    },
    {
      title: "match mode changed → update dimensions",
      before: { "procwatch:processes": "nginx" },
      after: { "procwatch:processes": "nginx", "procwatch:process:nginx": "match=pidfile pidfile=/run/nginx.pid" },
      expected: ["update nginx"],
    },
    {
      title: "tag typo makes the spec invalid → its alarms are deleted, no new ones",
      before: { "procwatch:processes": "nginx" },
      after: { "procwatch:processes": "nginx", "procwatch:proceses": "sshd" },
      expected: ["delete nginx"],
    },
  ])("$title", ({ before, after, expected }) => {
    const tagged = (tags: Record<string, string>) => ({ instanceId: id, state: "running" as const, tags: { "procwatch:enabled": "true", ...tags } });
    const observed = converged([tagged(before)]);
    const { plan, desired } = planFor([tagged(after)], observed);
    expect(plan.changes.map((change) => `${change.kind} ${change.processName}`)).toEqual(expected);
    expect(planReconcile(desired, applyToObserved(plan, observed), scope).changes).toEqual([]);
  });
});

describe("issues", () => {
  it("a tag typo gives no alarm and an issue naming the tag", () => {
    const bad = instance({ processes: "nginx", tags: { "procwatch:proces:nginx": "unit=nginx.service" } });
    const { plan, desired } = planFor([bad], []);
    expect(desired.alarms).toEqual([]);
    expect(plan.changes).toEqual([]);
    expect(plan.invalidInstances).toHaveLength(1);
    expect(plan.invalidInstances[0]?.issues).toEqual([expect.objectContaining({ code: "unknown-key", source: "procwatch:proces:nginx" })]);
    expect(plan.instances.map((entry) => entry.instanceId)).toEqual([bad.instanceId]);
  });

  it("a bad opt-in value is an issue, not a silent opt-out", () => {
    const { desired } = planFor([instance({ processes: "nginx", enabled: "True" })], []);
    expect(desired.instances[0]).toMatchObject({ status: "invalid", issues: [{ code: "bad-enabled-value" }] });
  });

  it("opt-in without processes is an issue", () => {
    const { desired } = planFor([instance({})], []);
    expect(desired.instances[0]).toMatchObject({ status: "invalid", issues: [{ code: "empty-process-list" }] });
  });

  it("a missing profile is an issue; a found one supplies the processes", () => {
    const withProfile = instance({ tags: { "procwatch:profile": "web" } });
    const withMissing = instance({ tags: { "procwatch:profile": "gone" } });
    const withBroken = instance({ tags: { "procwatch:profile": "broken" } });
    const profiles = new Map<string, ProfileInput>([
      ["web", { found: true, document: { entries: [{ name: "nginx", options: {}, source: "profile:web/processes[0]" }] } }],
      ["gone", { found: false, reason: "missing" }],
      [
        "broken",
        { found: false, reason: "invalid", issues: [{ code: "bad-document", source: "profile:broken", value: "{", message: "not JSON", expected: "JSON" }] },
      ],
    ]);
    expect(
      referencedProfiles([withProfile, withMissing, withBroken, instance({ enabled: "false", tags: { "procwatch:profile": "off" } })], "procwatch"),
    ).toEqual(["broken", "gone", "web"]);
    const { desired } = planFor([withProfile, withMissing, withBroken], [], profiles);
    expect(desired.alarms.map((alarm) => alarm.definition.AlarmName)).toEqual([alarmNameFor(withProfile.instanceId, "nginx")]);
    const byId = new Map(desired.instances.map((outcome) => [outcome.instanceId, outcome]));
    expect(byId.get(withMissing.instanceId)?.issues.map((found) => found.code)).toEqual(["profile-missing"]);
    expect(byId.get(withBroken.instanceId)?.issues.map((found) => found.code)).toEqual(["bad-document", "profile-missing"]);
  });
});

describe("deployment default detection", () => {
  const fastFleet = { ...config, defaultDetection: "fast" as const };

  it("an untagged host gets 10 s alarms (2 of 2) when the deployment default is fast", () => {
    const host = instance({ processes: "nginx sshd" });
    const desired = desiredAlarms([host], noProfiles, fastFleet, settled);
    expect(
      desired.alarms.map((alarm) => [alarm.processName, alarm.definition.Period, alarm.definition.EvaluationPeriods, alarm.definition.DatapointsToAlarm]),
    ).toEqual([
      ["nginx", 10, 2, 2],
      ["sshd", 10, 2, 2],
    ]);
  });

  it("the host tag, a per-process option and the profile document still win over the default", () => {
    const tagged = instance({ processes: "nginx", tags: { "procwatch:detection": "standard" } });
    const perProcess = instance({ processes: "nginx sshd", tags: { "procwatch:process:sshd": "detection=standard" } });
    const profiled = instance({ tags: { "procwatch:profile": "web" } });
    const profiles = new Map<string, ProfileInput>([
      ["web", { found: true, document: { detection: "standard", entries: [{ name: "nginx", options: {}, source: "profile:web/processes[0]" }] } }],
    ]);
    const periods = new Map(
      desiredAlarms([tagged, perProcess, profiled], profiles, fastFleet, settled).alarms.map((alarm) => [alarm.definition.AlarmName, alarm.definition.Period]),
    );
    expect(periods).toEqual(
      new Map([
        [alarmNameFor(tagged.instanceId, "nginx"), 60],
        [alarmNameFor(perProcess.instanceId, "nginx"), 10],
        [alarmNameFor(perProcess.instanceId, "sshd"), 60],
        [alarmNameFor(profiled.instanceId, "nginx"), 60],
      ]),
    );
  });

  it("switching the deployment default updates the period of existing alarms in place", () => {
    const host = instance({ processes: "nginx" });
    const observed = converged([host]);
    const plan = planReconcile(desiredAlarms([host], noProfiles, fastFleet, settled), observed, scope);
    expect(kinds(plan.changes)).toEqual([`update ${alarmNameFor(host.instanceId, "nginx")}`]);
  });
});

describe("ownership", () => {
  const id = instanceId(0x123);
  const managed = instance({ id, processes: "nginx" });

  it("never touches a foreign alarm under the prefix, even one named like ours for an unknown instance", () => {
    const foreignName = alarmNameFor(instanceId(0x999), "nginx");
    const foreign: ObservedAlarm[] = [
      { AlarmName: foreignName, AlarmDescription: "hand-made", MetricName: "procstat_lookup_pid_count" },
      { AlarmName: "procwatch/legacy-web-alarm", AlarmDescription: `${ownershipMarkerFor()} copied description` },
      { AlarmName: "other-team/cpu", AlarmDescription: "not under our prefix" },
    ];
    const { plan } = planFor([managed], [...converged([managed]), ...foreign]);
    expect(plan.changes).toEqual([]);
    expect(plan.foreign.map((alarm) => alarm.alarmName)).toEqual([foreignName, "procwatch/legacy-web-alarm"]);
  });

  it("refuses to overwrite a foreign alarm that has the name it wants (conflict, not create)", () => {
    const name = alarmNameFor(id, "nginx");
    const { plan } = planFor([managed], [{ AlarmName: name, AlarmDescription: "someone else's" }]);
    expect(plan.changes).toEqual([]);
    expect(plan.conflicts).toEqual([expect.objectContaining({ alarmName: name, instanceId: id })]);
    expect(plan.instances[0]?.conflicts).toHaveLength(1);
  });

  it("reverts hand edits of an owned alarm, field by field", () => {
    const [alarm] = converged([managed]);
    const edited = observedFrom(desiredAlarms([managed], noProfiles, config, settled).alarms[0]!.definition, {
      Threshold: 2,
      Unit: "Count",
      TreatMissingData: "notBreaching",
      AlarmActions: [],
    });
    const { plan } = planFor([managed], [edited]);
    expect(alarm).toBeDefined();
    expect(plan.changes).toHaveLength(1);
    expect(plan.changes[0]?.kind).toBe("update");
    expect(plan.changes[0]?.differences?.map((difference) => difference.field)).toEqual(["Unit", "Threshold", "TreatMissingData", "AlarmActions"]);
  });

  it("compares dimensions and actions order-insensitively, and DatapointsToAlarm omitted = EvaluationPeriods", () => {
    const [alarm] = converged([managed]);
    const reordered: ObservedAlarm = { ...alarm!, Dimensions: [...(alarm!.Dimensions ?? [])].reverse(), DatapointsToAlarm: undefined };
    expect(planFor([managed], [reordered]).plan.changes).toEqual([]);
  });

  it("an extra or missing dimension is drift", () => {
    const [alarm] = converged([managed]);
    const extra: ObservedAlarm = { ...alarm!, Dimensions: [...(alarm!.Dimensions ?? []), { Name: "ImageId", Value: "ami-0abc" }] };
    expect(planFor([managed], [extra]).plan.changes.map((change) => change.kind)).toEqual(["update"]);
    const missing: ObservedAlarm = { ...alarm!, Dimensions: (alarm!.Dimensions ?? []).filter((dimension) => dimension.Name !== "pid_finder") };
    expect(planFor([managed], [missing]).plan.changes[0]?.differences?.map((difference) => difference.field)).toEqual(["Dimensions"]);
  });
});

describe("scope (event narrowing)", () => {
  it("reconciles only the named instances and never deletes alarms of others", () => {
    const a = instance({ processes: "nginx" });
    const b = instance({ processes: "nginx" });
    const c = instance({ processes: "nginx" });
    const observed = converged([a, b]);
    // The event names a (now stopped) and c (new); b is absent from the narrowed inventory read.
    const { plan } = planFor([{ ...a, state: "stopped" }, c], observed, noProfiles, new Set([a.instanceId, c.instanceId]));
    expect(kinds(plan.changes).sort()).toEqual([`create ${alarmNameFor(c.instanceId, "nginx")}`, `disable-actions ${alarmNameFor(a.instanceId, "nginx")}`]);
  });

  it("a scoped instance that vanished has its alarms deleted", () => {
    const a = instance({ processes: "nginx sshd" });
    const { plan } = planFor([], converged([a]), noProfiles, new Set([a.instanceId]));
    expect(plan.changes.map((change) => change.kind)).toEqual(["delete", "delete"]);
    expect(plan.changes[0]?.reason).toMatch(/terminated|gone/);
  });
});

describe("fleet-wide idempotence", () => {
  it("plan(apply(plan)) is empty from empty, and again after mixed drift", () => {
    const fleet = Array.from({ length: 40 }, (_, index) =>
      instance({
        processes: "nginx sshd cron",
        state: index % 7 === 0 ? "stopped" : "running",
        tags: index % 5 === 0 ? { "procwatch:detection": "fast" } : {},
      }),
    );
    const first = planFor(fleet, []);
    expect(first.plan.counts.create).toBe(120);
    let observed = applyToObserved(first.plan, []);
    expect(planFor(fleet, observed).plan.changes).toEqual([]);

    const drifted = fleet.map((entry, index) =>
      index % 4 === 0 ? { ...entry, state: (entry.state === "stopped" ? "running" : "stopped") as InstanceState } : entry,
    );
    drifted.splice(3, 2);
    observed = observed.map((alarm, index) => (index % 11 === 0 ? { ...alarm, Period: 300 } : alarm));
    const second = planFor(drifted, observed);
    expect(second.plan.counts.delete).toBe(6);
    expect(second.plan.counts.update).toBeGreaterThan(0);
    expect(second.plan.counts["disable-actions"] + second.plan.counts["enable-actions"]).toBeGreaterThan(0);
    expect(planFor(drifted, applyToObserved(second.plan, observed)).plan.changes).toEqual([]);
  });
});

describe("arming: an alarm's actions wait for the first datapoint of its exact series", () => {
  const processes = "nginx sshd";
  const plan = (instances: Parameters<typeof desiredAlarms>[0], observed: ObservedAlarm[], overrides: Partial<DesiredContext> = {}) => {
    const desired = desiredAlarms(instances, noProfiles, armingConfig, contextFor(observed, overrides));
    return { desired, plan: planReconcile(desired, observed, scope) };
  };
  const namesOf = (checks: readonly FirstDatapointCheck[]) => new Set(checks.map((check) => check.alarmName));

  it("a new alarm on a host that has run for a day is created arming, asks for its series, and arms when a datapoint arrives", () => {
    const host = instance({ processes, launchTime: minutesAgo(24 * 60) });
    const first = plan([host], []);
    expect(first.plan.changes.map((change) => [change.kind, change.definition?.ActionsEnabled])).toEqual([
      ["create", false],
      ["create", false],
    ]);
    expect(first.plan.changes[0]?.reason).toMatch(/^new alarm, actions disabled: arming: waiting for the first datapoint of this exact series \(new alarm; /);
    // Only datapoints of the last few minutes say the series is live; not those of a day ago.
    expect(first.desired.firstDatapointChecks).toEqual([
      expect.objectContaining({ alarmName: alarmNameFor(host.instanceId, "nginx"), period: 60, since: NOW - RECENT_DATAPOINT_WINDOW_MS }),
      expect.objectContaining({ alarmName: alarmNameFor(host.instanceId, "sshd"), period: 60, since: NOW - RECENT_DATAPOINT_WINDOW_MS }),
    ]);
    const observed = applyToObserved(first.plan, []);
    expect(plan([host], observed, { now: NOW + 60_000 }).plan.changes).toEqual([]);

    const nginx = alarmNameFor(host.instanceId, "nginx");
    const armed = plan([host], observed, { now: NOW + 3 * 60_000, reportingAlarms: new Set([nginx]) });
    expect(armed.plan.changes.map((change) => `${change.kind} ${change.processName} — ${change.reason}`)).toEqual([
      "enable-actions nginx — the first datapoint of its series arrived",
    ]);
    // Enabling actions on an alarm that may sit in ALARM must be followed by a re-evaluation.
    expect(armed.plan.changes[0]?.reevaluate).toBe(true);
    expect(plan([host], applyToObserved(armed.plan, observed), { now: NOW + 4 * 60_000, reportingAlarms: new Set([nginx]) }).plan.changes).toEqual([]);
  });

  it("a series that already reports arms a new alarm at once (created with actions on, no re-evaluation needed)", () => {
    const host = instance({ processes: "nginx" });
    const { plan: created } = plan([host], [], { reportingAlarms: new Set([alarmNameFor(host.instanceId, "nginx")]) });
    expect(created.changes.map((change) => [change.kind, change.definition?.ActionsEnabled, change.reevaluate])).toEqual([["create", true, undefined]]);
  });

  it("a changed selector re-arms: the update turns actions off, and arming it later re-evaluates", () => {
    const host = instance({ processes: "nginx" });
    const observed = [observedFrom(desiredAlarms([host], noProfiles, config, settled).alarms[0]!.definition, { StateValue: "OK" })];
    const changed = { ...host, tags: { ...host.tags, "procwatch:process:nginx": "match=pidfile pidfile=/run/nginx.pid" } };
    const { plan: update, desired } = plan([changed], observed);
    expect(update.changes.map((change) => [change.kind, change.definition?.ActionsEnabled])).toEqual([["update", false]]);
    expect(update.changes[0]?.differences?.map((difference) => difference.field)).toEqual(["Dimensions", "ActionsEnabled"]);
    expect(namesOf(desired.firstDatapointChecks)).toEqual(new Set([alarmNameFor(host.instanceId, "nginx")]));
    const after = applyToObserved(update, observed, NOW);
    const armed = plan([changed], after, { now: NOW + 5 * 60_000, reportingAlarms: new Set([alarmNameFor(host.instanceId, "nginx")]) });
    expect(armed.plan.changes.map((change) => [change.kind, change.reevaluate])).toEqual([["enable-actions", true]]);
  });

  it("switching a process to the fast profile changes the period, which re-arms too", () => {
    const host = instance({ processes: "nginx" });
    const observed = [observedFrom(desiredAlarms([host], noProfiles, config, settled).alarms[0]!.definition)];
    const fast = { ...host, tags: { ...host.tags, "procwatch:detection": "fast" } };
    const { plan: update, desired } = plan([fast], observed);
    expect(update.changes.map((change) => [change.kind, change.definition?.Period, change.definition?.ActionsEnabled])).toEqual([["update", 10, false]]);
    expect(desired.firstDatapointChecks.map((check) => check.period)).toEqual([10]);
  });

  it("past the arming grace without any datapoint, actions go on anyway and the alarm is re-evaluated (a host that never reports is reported)", () => {
    const host = instance({ processes: "nginx", launchTime: minutesAgo(24 * 60) });
    const observed = applyToObserved(plan([host], []).plan, [], NOW);
    const stillArming = plan([host], observed, { now: NOW + 44 * 60_000 });
    expect(stillArming.plan.changes).toEqual([]);
    expect(stillArming.desired.alarms[0]?.actionsReason).toMatch(/arming for 44 min; actions go on at the latest after 45 min/);
    const late = plan([host], observed, { now: NOW + 45 * 60_000 });
    expect(late.plan.changes.map((change) => `${change.kind} — ${change.reason}`)).toEqual([
      "enable-actions — no datapoint within 45 min of arming: actions on, so a host that never reports is reported",
    ]);
    expect(late.plan.changes[0]?.reevaluate).toBe(true);
    expect(late.desired.firstDatapointChecks).toEqual([]);
  });

  it("a host that was stopped (actions off) and started again arms on datapoints of this boot only", () => {
    const host = instance({ processes: "nginx", state: "stopped", launchTime: minutesAgo(600) });
    const stoppedAlarm = observedFrom(desiredAlarms([host], noProfiles, config, settled).alarms[0]!.definition, {
      StateValue: "ALARM",
      AlarmConfigurationUpdatedTimestamp: minutesAgo(120),
    });
    const started = { ...host, state: "running" as const, launchTime: minutesAgo(1) };
    const { plan: waiting, desired } = plan([started], [stoppedAlarm]);
    expect(waiting.changes).toEqual([]);
    expect(desired.firstDatapointChecks).toEqual([expect.objectContaining({ since: minutesAgo(1).getTime() })]);
    const { plan: armed } = plan([started], [stoppedAlarm], { now: NOW + 2 * 60_000, reportingAlarms: new Set([stoppedAlarm.AlarmName ?? ""]) });
    expect(armed.changes.map((change) => [change.kind, change.reevaluate])).toEqual([["enable-actions", true]]);
  });

  it("an alarm still in ALARM from before its host's last start (the stop event was missed) is re-armed", () => {
    const host = instance({ processes: "nginx", launchTime: minutesAgo(2) });
    const definition = desiredAlarms([host], noProfiles, config, settled).alarms[0]!.definition;
    const staleAlarm = observedFrom(definition, { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(30) });
    const { plan: rearm, desired } = plan([host], [staleAlarm]);
    expect(rearm.changes.map((change) => change.kind)).toEqual(["disable-actions"]);
    expect(rearm.changes[0]?.reason).toMatch(/in ALARM since before the host started/);
    expect(desired.firstDatapointChecks).toEqual([expect.objectContaining({ since: minutesAgo(2).getTime() })]);
    // An ALARM that began after this boot has acted (or will): left alone.
    const fresh = observedFrom(definition, { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(1) });
    expect(plan([host], [fresh]).plan.changes).toEqual([]);
  });

  it("a stopped host's alarms are off whatever the series says, and arming 0 turns the whole mechanism off", () => {
    const stopped = instance({ processes: "nginx", state: "stopped" });
    expect(plan([stopped], [], { reportingAlarms: new Set([alarmNameFor(stopped.instanceId, "nginx")]) }).desired.alarms[0]?.definition.ActionsEnabled).toBe(
      false,
    );
    const fresh = instance({ processes: "nginx", launchTime: minutesAgo(0) });
    const noArming = desiredAlarms([fresh], noProfiles, config, settled);
    expect(noArming.alarms[0]?.definition.ActionsEnabled).toBe(true);
    expect(noArming.firstDatapointChecks).toEqual([]);
  });

  it("reportsAtResolution: one datapoint arms a 60 s alarm; a 10 s alarm needs two datapoints one period apart", () => {
    const minute = Date.UTC(2025, 5, 2, 12, 0, 0);
    expect(reportsAtResolution([], 60)).toBe(false);
    expect(reportsAtResolution([minute], 60)).toBe(true);
    expect(reportsAtResolution([minute, minute + 60_000], 10)).toBe(false);
    expect(reportsAtResolution([minute + 10_000, minute + 20_000], 10)).toBe(true);
  });

  it("plan(apply(plan)) is empty for a fleet in every arming situation", () => {
    const fleet = Array.from({ length: 30 }, (_, index) =>
      instance({ processes: "nginx sshd", state: index % 9 === 0 ? "stopped" : "running", launchTime: minutesAgo(index % 3 === 0 ? 2 : 40) }),
    );
    const first = plan(fleet, []);
    const reporting = new Set([...namesOf(first.desired.firstDatapointChecks)].filter((_name, index) => index % 4 === 0));
    const second = plan(fleet, [], { reportingAlarms: reporting });
    expect(second.plan.changes.some((change) => change.definition?.ActionsEnabled === false)).toBe(true);
    expect(second.plan.changes.some((change) => change.definition?.ActionsEnabled === true)).toBe(true);
    const observed = applyToObserved(second.plan, []);
    expect(plan(fleet, observed, { reportingAlarms: reporting }).plan.changes).toEqual([]);
  });
});

describe("profile lookups that failed (AWS error) hold the host's alarms", () => {
  const webProfile: ProfileInput = { found: true, document: { entries: [{ name: "nginx", options: {}, source: "profile:web/processes[0]" }] } };
  const unavailable: ProfileInput = { found: false, reason: "unavailable", message: "GetParameters failed: ThrottlingException: Rate exceeded" };

  it("neither updates, toggles nor deletes the alarms of a host whose profile could not be read, and reports it", () => {
    const host = instance({ tags: { "procwatch:profile": "web" } });
    const other = instance({ processes: "sshd" });
    const before = converged([host, other], new Map([["web", webProfile]]));
    // Drift on the held alarm and the host stopped: still untouched while the profile is unknown.
    const observed = before.map((alarm) => (alarm.AlarmName === alarmNameFor(host.instanceId, "nginx") ? { ...alarm, Threshold: 3 } : alarm));
    const { plan, desired } = planFor([{ ...host, state: "stopped" }, other], observed, new Map([["web", unavailable]]));
    expect(plan.changes).toEqual([]);
    expect(plan.heldAlarms).toEqual([alarmNameFor(host.instanceId, "nginx")]);
    expect(plan.unresolvedInstances).toEqual([expect.objectContaining({ instanceId: host.instanceId, status: "unresolved", profile: "web" })]);
    expect(plan.unresolvedInstances[0]?.unresolvedReason).toMatch(/ThrottlingException/);
    expect(plan.instances).toEqual([
      expect.objectContaining({ instanceId: host.instanceId, heldAlarms: [alarmNameFor(host.instanceId, "nginx")], changes: [] }),
    ]);
    expect(plan.invalidInstances).toEqual([]);
    expect(desired.alarms.map((alarm) => alarm.processName)).toEqual(["sshd"]);
  });

  it("a profile that does not exist is different: the host is invalid and its alarms are deleted", () => {
    const host = instance({ tags: { "procwatch:profile": "web" } });
    const observed = converged([host], new Map([["web", webProfile]]));
    const { plan } = planFor([host], observed, new Map([["web", { found: false, reason: "missing" }]]));
    expect(plan.changes.map((change) => change.kind)).toEqual(["delete"]);
    expect(plan.heldAlarms).toEqual([]);
  });
});

describe("mass-change guard (counted in instances)", () => {
  const fleetOf = (count: number, processes = "nginx") => Array.from({ length: count }, () => instance({ processes }));
  const noEc2 = new Map<string, string>();

  it.each<{ instances: number; deleted: number; limit: number; exceeded: boolean }>([
    { instances: 40, deleted: 5, limit: 5, exceeded: false },
    { instances: 40, deleted: 6, limit: 5, exceeded: true },
    { instances: 300, deleted: 30, limit: 30, exceeded: false },
    { instances: 300, deleted: 31, limit: 30, exceeded: true },
  ])("$deleted of $instances instances opted out at once → limit $limit, exceeded $exceeded", ({ instances, deleted, limit, exceeded }) => {
    const fleet = fleetOf(instances);
    const optedOut = fleet.map((host, index) => (index < deleted ? { ...host, tags: { ...host.tags, "procwatch:enabled": "false" } } : host));
    const { plan } = planFor(optedOut, converged(fleet));
    const check = massChangeCheck(plan, noEc2);
    expect(check.delete).toEqual({ instances: deleted, alarms: deleted, exceeded });
    expect(check.limit).toBe(limit);
  });

  it("one host with 50 processes opted out on 250 instances is one instance, not 50 deletes: allowed", () => {
    // 50 processes through a profile (a tag value holds at most 256 characters).
    const processes = Array.from({ length: 50 }, (_, index) => ({ name: `svc${index}`, options: {}, source: `profile:big/processes[${index}]` }));
    const profiles = new Map<string, ProfileInput>([["big", { found: true, document: { entries: processes } }]]);
    const big = instance({ tags: { "procwatch:profile": "big" } });
    const fleet = [big, ...fleetOf(249)];
    const { plan } = planFor([{ ...big, tags: { ...big.tags, "procwatch:enabled": "false" } }, ...fleet.slice(1)], converged(fleet, profiles), profiles);
    expect(plan.counts.delete).toBe(50);
    expect(massChangeCheck(plan, noEc2)).toMatchObject({ delete: { instances: 1, alarms: 50, exceeded: false }, exceeded: false });
  });

  it("hosts EC2 reports terminated, or no longer knows, are exempt; hosts EC2 still runs but the inventory missed (a tag-prefix typo) count", () => {
    const processes = Array.from({ length: 30 }, (_, index) => `svc${index}`).join(" ");
    const fleet = [...fleetOf(6, processes), ...fleetOf(15)];
    const observed = converged(fleet);
    // The six 30-process hosts are no longer listed by the inventory (which lists live, tagged instances).
    const { plan } = planFor(fleet.slice(6), observed);
    expect(unlistedInstancesWithDeletes(plan)).toEqual(
      fleet
        .slice(0, 6)
        .map((host) => host.instanceId)
        .sort(),
    );
    const terminated = new Map(fleet.slice(0, 3).map((host) => [host.instanceId, "terminated"]));
    // Three terminated, three unknown to EC2 (terminated over an hour ago): all exempt.
    expect(massChangeCheck(plan, terminated)).toMatchObject({ exemptDeletes: 180, delete: { instances: 0 }, exceeded: false });
    // The same plan when EC2 says they all still run: something is wrong with the tags or settings, not the hosts.
    const running = new Map(fleet.slice(0, 6).map((host) => [host.instanceId, "running"]));
    expect(massChangeCheck(plan, running)).toMatchObject({ exemptDeletes: 0, delete: { instances: 6, alarms: 180, exceeded: true }, limit: 5 });
  });

  it("a namespace typo rewrites every alarm: refused as an update mass change that names the field and shows an example", () => {
    const fleet = fleetOf(60, "nginx sshd");
    const typo = { ...config, namespace: "CWagent" };
    const desired = desiredAlarms(fleet, noProfiles, typo, settled);
    const plan = planReconcile(desired, converged(fleet), scope);
    const check = massChangeCheck(plan, noEc2);
    expect(check.update).toEqual({ instances: 60, alarms: 120, exceeded: true, fields: [{ field: "Namespace", alarms: 120, example: "CWAgent → CWagent" }] });
    expect(check.exceeded).toBe(true);
  });

  it("procwatch's own upgrade to host-pinned dimensions is exempt; any other dimension change, or one beside it, is counted", () => {
    const fleet = fleetOf(60, "nginx worker").map((host) => ({
      ...host,
      tags: { ...host.tags, "procwatch:process:worker": "pidfile=/run/worker.pid" },
      imageId: "ami-0123456789abcdef0",
      instanceType: "m7g.large",
    }));
    const desired = desiredAlarms(fleet, noProfiles, config, settled);
    const legacy = (observed: ObservedAlarm[]) =>
      observed.map((alarm) => {
        const wanted = desired.alarms.find((candidate) => candidate.definition.AlarmName === alarm.AlarmName)!;
        return { ...alarm, Dimensions: alarmDimensionsBeforeHostPinning(wanted.process, wanted.instanceId) };
      });
    const upgraded = planReconcile(desired, legacy(converged(fleet)), scope);
    expect(upgraded.counts.update).toBe(120);
    expect(upgraded.changes.every((change) => change.upgrade === "host-pinned-dimensions")).toBe(true);
    expect(upgraded.changes[0]?.reason).toMatch(/^upgrade: /);
    expect(massChangeCheck(upgraded, noEc2)).toMatchObject({ exemptUpgrades: 120, update: { instances: 0 }, exceeded: false });

    // The same move with a namespace typo on top is a mass change like any other.
    const typo = desiredAlarms(fleet, noProfiles, { ...config, namespace: "CWagent" }, settled);
    const withTypo = planReconcile(typo, legacy(converged(fleet)), scope);
    expect(withTypo.changes.some((change) => change.upgrade !== undefined)).toBe(false);
    expect(massChangeCheck(withTypo, noEc2)).toMatchObject({ exemptUpgrades: 0, update: { instances: 60 }, exceeded: true });

    // Old-shape dimensions of another selector (a tag edit happened as well) are not procwatch's upgrade.
    const otherSelector = legacy(converged(fleet)).map((alarm) => ({
      ...alarm,
      Dimensions: (alarm.Dimensions ?? []).map((dimension) => (dimension.Name === "exe" ? { ...dimension, Value: "(^|/)httpd( \\(deleted\\))?$" } : dimension)),
    }));
    const edited = planReconcile(desired, otherSelector, scope);
    expect(massChangeCheck(edited, noEc2)).toMatchObject({ exemptUpgrades: 60, update: { instances: 60, exceeded: true } });

    // Nor is the old shape with a dimension added by hand.
    const extended = legacy(converged(fleet)).map((alarm) => ({ ...alarm, Dimensions: [...(alarm.Dimensions ?? []), { Name: "Team", Value: "web" }] }));
    expect(massChangeCheck(planReconcile(desired, extended, scope), noEc2)).toMatchObject({ exemptUpgrades: 0, update: { instances: 60 } });
  });

  it("creates and actions on/off are never refused: a rollout, a grown fleet and a stopped fleet pass", () => {
    const fleet = fleetOf(60);
    expect(massChangeCheck(planFor(fleet, []).plan, noEc2).exceeded).toBe(false);
    const everywhere = fleet.map((host) => ({ ...host, tags: { ...host.tags, "procwatch:processes": "nginx sshd" } }));
    const grown = planFor(everywhere, converged(fleet)).plan;
    expect(grown.counts.create).toBe(60);
    expect(massChangeCheck(grown, noEc2).exceeded).toBe(false);
    const stopped = fleet.map((host) => ({ ...host, state: "stopped" as const }));
    const toggles = planFor(stopped, converged(fleet)).plan;
    expect(toggles.counts["disable-actions"]).toBe(60);
    expect(massChangeCheck(toggles, noEc2).exceeded).toBe(false);
  });

  it("counts only owned alarms' instances in scope, not foreign ones nor other instances'", () => {
    const fleet = fleetOf(5);
    const foreign: ObservedAlarm = { AlarmName: "procwatch/legacy", AlarmDescription: "hand-made" };
    const { plan } = planFor([], [...converged(fleet), foreign], noProfiles, new Set([fleet[0]!.instanceId]));
    expect(plan.instancesWithAlarmsInScope).toEqual([fleet[0]!.instanceId]);
    const stillRunning = new Map([[fleet[0]!.instanceId, "running"]]);
    expect(massChangeCheck(plan, stillRunning)).toMatchObject({ instancesWithAlarms: 1, limit: 5, delete: { instances: 1, exceeded: false } });
  });
});

describe("re-alarm: an alarm still in ALARM acts again", () => {
  const realarming = { ...config, realarmAfterMs: 30 * 60_000 };
  const host = instance({ processes: "nginx" });
  const definition = desiredAlarms([host], noProfiles, config, settled).alarms[0]!.definition;
  const plan = (observed: ObservedAlarm[], plannerConfig = realarming) =>
    planReconcile(desiredAlarms([host], noProfiles, plannerConfig, contextFor(observed)), observed, scope);

  it("after 30 min in ALARM with actions on, the plan re-evaluates it (nothing is written but its state)", () => {
    const stuck = observedFrom(definition, { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(31) });
    const changes = plan([stuck]).changes;
    expect(changes.map((change) => [change.kind, change.reevaluate, change.definition])).toEqual([["realarm", true, undefined]]);
    expect(changes[0]?.reason).toBe("in ALARM for 31 min with no new action: re-evaluating so the restart handler acts on it again");
  });

  it.each<{ title: string; alarm: Partial<ObservedAlarm>; plannerConfig?: typeof realarming }>([
    { title: "in ALARM for 29 min", alarm: { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(29) } },
    { title: "OK for hours", alarm: { StateValue: "OK", StateTransitionedTimestamp: minutesAgo(300) } },
    { title: "in ALARM with actions off", alarm: { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(90), ActionsEnabled: false } },
    { title: "re-alarm turned off", alarm: { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(90) }, plannerConfig: config },
  ])("not when $title", ({ alarm, plannerConfig }) => {
    const observed = observedFrom(definition, alarm);
    expect(plan([observed], plannerConfig).changes.filter((change) => change.kind === "realarm")).toEqual([]);
  });

  it("an update of a long-ALARM alarm re-evaluates it too", () => {
    const stuck = observedFrom(definition, { StateValue: "ALARM", StateTransitionedTimestamp: minutesAgo(45), Threshold: 3 });
    expect(plan([stuck]).changes.map((change) => [change.kind, change.reevaluate])).toEqual([["update", true]]);
  });
});
