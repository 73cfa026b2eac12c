import { describe, expect, it } from "vitest";
import { evaluateLocalSupervision, type LocalUnitObservation, localSupervisionRefusal } from "../src/core/local-supervision.ts";

/**
 * Which units may get procwatch's Restart=always drop-in. The real systemd's refusal of a oneshot
 * unit is proven in local-supervision.test.ts (LoadState=bad-setting in the rig); this pins the
 * pure decision and what health says about it.
 */
describe("localSupervisionRefusal", () => {
  it("refuses Type=oneshot, which systemd will not load with Restart=always", () => {
    expect(localSupervisionRefusal("oneshot")).toContain("Type=oneshot");
  });

  it.each(["simple", "exec", "forking", "notify", "notify-reload", "dbus", "idle", null])("accepts Type=%s", (type) => {
    expect(localSupervisionRefusal(type)).toBeNull();
  });
});

describe("evaluateLocalSupervision of an unsupported unit", () => {
  const unit = (overrides: Partial<LocalUnitObservation>): LocalUnitObservation => ({
    process: "batch",
    unit: "batch.service",
    dropInInstalled: false,
    unitType: "simple",
    loadState: "loaded",
    activeState: "active",
    nRestarts: 0,
    ...overrides,
  });

  it("a oneshot unit gets one 'unsupported' finding whose hint is not 'run apply'", () => {
    const { findings, report } = evaluateLocalSupervision({ spoolPath: "/spool", units: [unit({ unitType: "oneshot" })], sinceLastReport: [] });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: "local-supervision-unsupported" });
    expect(findings[0]?.hint).not.toContain("apply");
    expect(report.processes[0]).toMatchObject({ supervised: false, gaveUp: false });
  });

  it("a simple unit without its drop-in is still 'missing', fixed by apply", () => {
    const { findings } = evaluateLocalSupervision({ spoolPath: "/spool", units: [unit({})], sinceLastReport: [] });
    expect(findings).toEqual([expect.objectContaining({ code: "local-supervision-missing", hint: "run procwatch-agent apply" })]);
  });
});
