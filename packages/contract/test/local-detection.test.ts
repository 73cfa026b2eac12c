import { describe, expect, it } from "vitest";
import {
  alarmDefinitionFor,
  alarmDescriptionFor,
  DETECTION_PROFILES,
  detectionCostOf,
  detectionOfAlarmDescription,
  exeRegexForName,
  parseInstanceTags,
  resolveHostSpec,
} from "../src/index.ts";
import { aProcess, optInTags } from "./builders.ts";

function resolveTags(tags: Record<string, string>) {
  const parsed = parseInstanceTags(tags);
  if (parsed.spec === null) return { spec: null, issues: parsed.issues };
  return resolveHostSpec({ tags: parsed.spec });
}

const ACTIONS = { alarmActions: ["arn:restart"], okActions: [] };

describe("the local detection profile", () => {
  it("keeps the alarm on the standard cadence as the backstop, and marks local supervision", () => {
    const standard = alarmDefinitionFor({ instanceId: "i-0123456789abcdef0" }, aProcess({ detection: "standard" }), { actions: ACTIONS });
    const local = alarmDefinitionFor({ instanceId: "i-0123456789abcdef0" }, aProcess({ detection: "local" }), { actions: ACTIONS });
    const { AlarmDescription: _standardDescription, ...standardRest } = standard;
    const { AlarmDescription: localDescription, ...localRest } = local;
    expect(localRest).toEqual(standardRest);
    expect(localDescription).toContain("local detection");
    expect(DETECTION_PROFILES.local).toMatchObject({ localSupervision: true, alarmCostPerMonthUsd: DETECTION_PROFILES.standard.alarmCostPerMonthUsd });
    expect(DETECTION_PROFILES.standard.localSupervision).toBe(false);
    expect(DETECTION_PROFILES.fast.localSupervision).toBe(false);
  });

  it("is accepted per process and per host in the tag grammar", () => {
    const resolved = resolveTags(optInTags("web db", { "procwatch:detection": "local", "procwatch:process:db": "detection=standard" }));
    expect(resolved.issues).toEqual([]);
    expect(resolved.spec?.processes.map((process) => [process.name, process.detection])).toEqual([
      ["db", "standard"],
      ["web", "local"],
    ]);
    const unknown = resolveTags(optInTags("web", { "procwatch:process:web": "detection=instant" }));
    expect(unknown.issues).toEqual([expect.objectContaining({ code: "bad-detection", expected: "standard, fast or local" })]);
  });
});

describe("what each detection profile costs", () => {
  it("alarms at list price; only the fast profile's 10 s flush adds PutMetricData requests per host", () => {
    expect(detectionCostOf("standard")).toEqual({
      profile: "standard",
      alarmPerProcessUsd: 0.1,
      extraFlushRequestsPerHost: 0,
      extraFlushPerHostUsd: 0,
      localSupervision: false,
    });
    expect(detectionCostOf("local")).toEqual({
      profile: "local",
      alarmPerProcessUsd: 0.1,
      extraFlushRequestsPerHost: 0,
      extraFlushPerHostUsd: 0,
      localSupervision: true,
    });
    // 30 days: 259,200 flushes at 10 s against 43,200 at the default 60 s.
    expect(detectionCostOf("fast")).toEqual({
      profile: "fast",
      alarmPerProcessUsd: 0.3,
      extraFlushRequestsPerHost: 216_000,
      extraFlushPerHostUsd: 2.16,
      localSupervision: false,
    });
  });

  it("reads the profile back out of the description procwatch writes", () => {
    const spec = { name: "nginx", unit: "nginx.service", match: { mode: "exe" as const, exe: exeRegexForName("nginx") } };
    for (const detection of ["standard", "fast", "local"] as const) {
      expect(detectionOfAlarmDescription(alarmDescriptionFor("i-0123456789abcdef0", { ...spec, detection }))).toBe(detection);
    }
    expect(detectionOfAlarmDescription("hand-made")).toBeUndefined();
    expect(detectionOfAlarmDescription(undefined)).toBeUndefined();
  });
});
