import { describe, expect, it } from "vitest";
import { appConfigFrom, InvalidProcWatchConfigError, resolveProcWatchSettings } from "../src/index.ts";

const noContext = () => undefined;

describe("resolveProcWatchSettings", () => {
  it("fills production defaults", () => {
    expect(resolveProcWatchSettings({})).toEqual({
      detectionProfile: "standard",
      restartBudget: 3,
      restartWindowMinutes: 30,
      tagPrefix: "procwatch",
      optInTag: { key: "procwatch:enabled", value: "true" },
      alarmPrefix: "procwatch",
      reconcileSchedule: "rate(15 minutes)",
      documentNamePrefix: "",
      cloudWatchAgentVersion: "",
      createInstanceRole: true,
    });
  });

  it("derives the opt-in tag from the tag prefix, as every component's tag parser does", () => {
    expect(resolveProcWatchSettings({ tagPrefix: "acme" }).optInTag).toEqual({ key: "acme:enabled", value: "true" });
  });

  it("creates a Slack channel only when both ids are set", () => {
    expect(resolveProcWatchSettings({ slackWorkspaceId: "T01", slackChannelId: "C02" }).slack).toEqual({ workspaceId: "T01", channelId: "C02" });
    expect(() => resolveProcWatchSettings({ slackChannelId: "C02" })).toThrow(/go together/);
  });

  it.each([
    [{ restartBudget: 0 }, /restartBudget 0/],
    [{ restartBudget: 2.5 }, /restartBudget 2.5/],
    [{ restartWindowMinutes: 20_000 }, /restartWindowMinutes/],
    [{ alarmPrefix: "has/slash" }, /alarmPrefix/],
    [{ tagPrefix: "-dash" }, /tagPrefix/],
    [{ reconcileSchedule: "every 5 minutes" }, /reconcileSchedule/],
    [{ reconcileSchedule: "rate(1 minutes)" }, /reconcileSchedule/],
    [{ documentNamePrefix: "AWS-mine" }, /reserved/],
    [{ slackWorkspaceId: "t-lower", slackChannelId: "C02" }, /slackWorkspaceId/],
    [{ cloudWatchAgentVersion: "latest; reboot" }, /cloudWatchAgentVersion/],
  ])("refuses %j", (settings, message) => {
    expect(() => resolveProcWatchSettings(settings)).toThrow(InvalidProcWatchConfigError);
    expect(() => resolveProcWatchSettings(settings)).toThrow(message);
  });

  it("accepts the schedule forms EventBridge takes", () => {
    for (const reconcileSchedule of ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "cron(0/10 * * * ? *)"]) {
      expect(resolveProcWatchSettings({ reconcileSchedule }).reconcileSchedule).toBe(reconcileSchedule);
    }
  });

  it("reports every problem at once", () => {
    expect(() => resolveProcWatchSettings({ restartBudget: 0, alarmPrefix: "" })).toThrow(/restartBudget.*; alarmPrefix/);
  });
});

describe("appConfigFrom", () => {
  it("reads CDK context first, then PROCWATCH_* environment variables", () => {
    const context: Record<string, unknown> = { slackWorkspaceId: "T01", restartBudget: 4, stackName: "Ops" };
    const config = appConfigFrom({
      context: (key) => context[key],
      env: {
        PROCWATCH_SLACK_WORKSPACE_ID: "TIGNORED",
        PROCWATCH_SLACK_CHANNEL_ID: "C02",
        PROCWATCH_DETECTION_PROFILE: "fast",
        PROCWATCH_CREATE_INSTANCE_ROLE: "false",
      },
    });
    expect(config).toEqual({
      stackName: "Ops",
      settings: { slackWorkspaceId: "T01", slackChannelId: "C02", restartBudget: 4, detectionProfile: "fast", createInstanceRole: false },
    });
  });

  it("treats blank values as unset and defaults the stack name", () => {
    expect(appConfigFrom({ context: noContext, env: { PROCWATCH_ALARM_PREFIX: "  " } })).toEqual({ stackName: "ProcWatch", settings: {} });
  });

  it.each([
    [{ PROCWATCH_RESTART_BUDGET: "three" }, /restartBudget must be a whole number/],
    [{ PROCWATCH_CREATE_INSTANCE_ROLE: "yes" }, /createInstanceRole must be true or false/],
    [{ PROCWATCH_DETECTION_PROFILE: "instant" }, /detectionProfile must be standard or fast/],
    [{ PROCWATCH_SLACK_CHANNEL_ID: "C02" }, /go together/],
  ])("fails before synth on %j", (env, message) => {
    expect(() => appConfigFrom({ context: noContext, env })).toThrow(message);
  });
});
