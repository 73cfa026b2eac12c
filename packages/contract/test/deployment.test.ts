import { describe, expect, it } from "vitest";
import { deploymentParameterName, parseDeploymentSettings } from "../src/index.ts";

describe("deployment settings document", () => {
  const valid = {
    version: 1,
    alarmPrefix: "procwatch",
    tagPrefix: "procwatch",
    namespace: "CWAgent",
    restartActionArns: ["arn:aws:sns:eu-west-1:123456789012:procwatch-restart"],
    defaultDetection: "standard",
    armingGraceMinutes: 45,
    stackName: "ProcWatch",
  };

  it("is named by the alarm prefix", () => {
    expect(deploymentParameterName("staging")).toBe("/procwatch/deployments/staging");
  });

  it("parses what the stack writes", () => {
    expect(parseDeploymentSettings(JSON.stringify(valid))).toEqual({ settings: valid });
  });

  it("names every problem at once", () => {
    const result = parseDeploymentSettings(
      JSON.stringify({ ...valid, version: 2, namespace: "", restartActionArns: ["nope"], defaultDetection: "turbo", armingGraceMinutes: -1 }),
    );
    expect(result).toEqual({
      problems: [
        "version is 2, expected 1",
        'namespace "" is not a namespace',
        'restartActionArns ["nope"] is not a list of ARNs',
        'defaultDetection "turbo" is not a detection profile',
        "armingGraceMinutes -1 is not a whole number of minutes",
      ],
    });
    expect(parseDeploymentSettings("{")).toEqual({ problems: ["not JSON"] });
  });
});
