import { describe, expect, it } from "vitest";
import { alarmDefinitionFor, DETECTION_PROFILES, parseInstanceTags, resolveHostSpec } from "../src/index.ts";
import { aProcess, optInTags } from "./builders.ts";

function resolveTags(tags: Record<string, string>) {
  const parsed = parseInstanceTags(tags);
  if (parsed.spec === null) return { spec: null, issues: parsed.issues };
  return resolveHostSpec({ tags: parsed.spec });
}

const ACTIONS = { alarmActions: ["arn:restart"], okActions: [] };

describe("the local detection profile", () => {
  it("keeps the alarm on the standard cadence as the backstop, and marks local supervision", () => {
    const standard = alarmDefinitionFor("i-0123456789abcdef0", aProcess({ detection: "standard" }), { actions: ACTIONS });
    const local = alarmDefinitionFor("i-0123456789abcdef0", aProcess({ detection: "local" }), { actions: ACTIONS });
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
