import { describe, expect, it } from "vitest";
import {
  alarmDefinitionFor,
  alarmNameFor,
  ContractError,
  isManagedByDeployment,
  isProcwatchOwned,
  ownershipMarkerFor,
  ownershipTagFor,
  parseAlarmName,
} from "../src/index.ts";
import { aProcess } from "./builders.ts";

const INSTANCE = "i-0123456789abcdef0";

describe("alarm naming", () => {
  it("round-trips instance and process through the name", () => {
    const name = alarmNameFor(INSTANCE, "php-fpm8.2");
    expect(name).toBe("procwatch/i-0123456789abcdef0/php-fpm8.2");
    expect(parseAlarmName(name)).toEqual({ instanceId: INSTANCE, processName: "php-fpm8.2" });
  });

  it("honours a custom prefix and rejects names under another prefix", () => {
    const name = alarmNameFor(INSTANCE, "nginx", "pw-prod");
    expect(parseAlarmName(name, "pw-prod")).toEqual({ instanceId: INSTANCE, processName: "nginx" });
    expect(parseAlarmName(name)).toBeNull();
  });

  it.each([
    "jisoo-test-cw",
    "procwatch/i-0123456789abcdef0/httpd; rm -rf /",
    "procwatch/i-0123456789abcdef0/$(reboot)",
    "procwatch/i-0123456789abcdef0/nginx\nreboot",
    "procwatch/i-XYZ/nginx",
    "procwatch/i-0123456789abcdef0/nginx/extra",
    "procwatch//nginx",
    `procwatch/${INSTANCE}/${"a".repeat(1_000_000)}`,
  ])("parses nothing out of %j", (name) => {
    expect(parseAlarmName(name)).toBeNull();
  });

  it("refuses to name an alarm for unvalidated input", () => {
    expect(() => alarmNameFor(INSTANCE, "nginx; reboot")).toThrow(ContractError);
    expect(() => alarmNameFor("i-bad", "nginx")).toThrow(ContractError);
  });
});

describe("ownership", () => {
  const definition = alarmDefinitionFor({ instanceId: INSTANCE }, aProcess(), {
    actions: { alarmActions: ["arn:aws:sns:eu-west-1:111122223333:restart"], okActions: [] },
  });

  it("owns alarms with the prefix and the marker", () => {
    expect(isProcwatchOwned(definition)).toBe(true);
  });

  it("treats a prefixed alarm without the marker as foreign", () => {
    expect(isProcwatchOwned({ AlarmName: definition.AlarmName, AlarmDescription: "hand-made by ops" })).toBe(false);
    expect(isProcwatchOwned({ AlarmName: definition.AlarmName })).toBe(false);
  });

  it("treats the marker without a parseable name as foreign", () => {
    expect(isProcwatchOwned({ AlarmName: "nginx-down", AlarmDescription: `${ownershipMarkerFor()} copied` })).toBe(false);
  });

  it("names the deployment in the marker and the tag: another deployment's alarm is never owned", () => {
    const staging = alarmDefinitionFor({ instanceId: INSTANCE }, aProcess(), { prefix: "staging", actions: { alarmActions: [], okActions: [] } });
    expect(staging.AlarmDescription.startsWith("[procwatch:managed:staging] ")).toBe(true);
    expect(isProcwatchOwned(staging, "staging")).toBe(true);
    expect(isProcwatchOwned(staging, "procwatch")).toBe(false);
    // A staging description on a production-looking name is not production's either.
    expect(isProcwatchOwned({ AlarmName: definition.AlarmName, AlarmDescription: staging.AlarmDescription }, "procwatch")).toBe(false);
    expect(isManagedByDeployment({ [ownershipTagFor("staging").Key]: "staging" }, "staging")).toBe(true);
    expect(isManagedByDeployment({ [ownershipTagFor("staging").Key]: "staging" }, "procwatch")).toBe(false);
    expect(isManagedByDeployment({}, "procwatch")).toBe(false);
  });
});

describe("alarm definition", () => {
  it("alarms below one pid, treats missing data as breaching, and takes period from the detection profile", () => {
    const fast = alarmDefinitionFor({ instanceId: INSTANCE }, aProcess({ detection: "fast" }), {
      actions: { alarmActions: ["arn:restart"], okActions: ["arn:restart"] },
      actionsEnabled: false,
    });
    expect(fast).toMatchObject({
      MetricName: "procstat_lookup_pid_count",
      Namespace: "CWAgent",
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
      Period: 10,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ActionsEnabled: false,
      AlarmActions: ["arn:restart"],
    });
  });
});
