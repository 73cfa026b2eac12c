import { readFileSync } from "node:fs";
import { alarmDefinitionFor, exeRegexForName } from "@procwatch/contract";
import { evaluateAlarmState, FakeAws, VirtualClock } from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import { alarmSignalOf } from "../src/core/alarm-signal.ts";
import { decideAlarm } from "../src/core/decide.ts";
import { restartResultMessage } from "../src/core/messages.ts";
import type { AlarmTransition } from "../src/core/model.ts";
import { parseInbound } from "../src/inbound/parse.ts";
import { testConfig } from "./support/harness.ts";

/**
 * The restart handler tells "the count fell to 0" from "no datapoints". The reasons it reads are
 * CloudWatch's: the recorded fixture, and what testkit's CloudWatch model (written from the docs)
 * produces for each situation, through both payloads procwatch receives (SNS carries the reason
 * text only; EventBridge also carries reasonData).
 */
const INSTANCE = "i-0123456789abcdef0";
const START = Date.UTC(2026, 11, 7, 4, 0, 0);
const TOPIC = "arn:aws:sns:eu-west-1:123456789012:procwatch-restart";
const definition = alarmDefinitionFor(
  { instanceId: INSTANCE },
  { name: "nginx", unit: "nginx.service", detection: "standard", match: { mode: "exe", exe: exeRegexForName("nginx") } },
  { actions: { alarmActions: [TOPIC], okActions: [TOPIC] } },
);
const config = { ...definition, Statistic: "Maximum" as const };
const periods = (values: readonly (number | null)[]) =>
  values.map((value, index) => ({ start: START + (index - values.length) * 60_000, value, sampleCount: value === null ? 0 : 1 }));

describe("alarmSignalOf: CloudWatch's reasons", () => {
  it("reads the recorded fixture's reason as a count that fell to 0", () => {
    const fixture = JSON.parse(readFileSync(new URL("./fixtures/eventbridge-alarm-state-change.json", import.meta.url), "utf8"));
    expect(alarmSignalOf(fixture.detail.state.reason)).toEqual({ kind: "zero-count", periods: 1, missing: 0, values: [0] });
    expect(alarmSignalOf(fixture.detail.state.reason, fixture.detail.state.reasonData)).toEqual({ kind: "zero-count", periods: 1, missing: 0, values: [0] });
  });

  it.each<{ title: string; values: (number | null)[]; kind: string }>([
    { title: "two zeros", values: [1, 1, 0, 0], kind: "zero-count" },
    { title: "nothing at all", values: [null, null, null, null], kind: "no-data" },
    { title: "one zero, then nothing", values: [null, null, 0, null], kind: "partly-missing" },
  ])("the model's ALARM reason for $title reads as $kind, from the text and from reasonData alike", ({ values, kind }) => {
    const evaluation = evaluateAlarmState(config, periods(values), "OK", START);
    expect(evaluation.state).toBe("ALARM");
    expect(alarmSignalOf(evaluation.reason).kind).toBe(kind);
    expect(alarmSignalOf(evaluation.reason, evaluation.reasonData).kind).toBe(kind);
  });

  it("a reason it cannot read is `unknown`, never an exception", () => {
    expect(alarmSignalOf("Threshold Crossed")).toEqual({ kind: "unknown" });
    expect(alarmSignalOf("", "{not json")).toEqual({ kind: "unknown" });
    expect(alarmSignalOf("x".repeat(4096), JSON.stringify({ evaluatedDatapoints: "nope" }))).toEqual({ kind: "unknown" });
  });
});

describe("the thread says which one it was", () => {
  /** The SNS event the CloudWatch model emits for the alarm after `minutes` of `published` values (null = nothing sent). */
  function alarmEventAfter(published: (number | null)[]) {
    const clock = new VirtualClock(START);
    const fake = new FakeAws({ clock, quotas: false });
    fake.seedAlarm({
      ...definition,
      Dimensions: [...definition.Dimensions],
      AlarmActions: [TOPIC],
      OKActions: [TOPIC],
      InsufficientDataActions: [],
      StateValue: "OK",
    });
    for (const [minute, value] of published.entries()) {
      const at = START + minute * 60_000 + 5_000;
      clock.advance(at - clock.now());
      if (value !== null) {
        fake.ingestMetricData({
          Namespace: definition.Namespace,
          MetricData: [{ MetricName: definition.MetricName, Dimensions: [...definition.Dimensions], Timestamp: new Date(at), Value: value }],
        });
      }
      clock.advance(55_000);
      fake.evaluateAlarms();
    }
    // The last ALARM: the alarm's first evaluation, before any datapoint landed, is a no-data ALARM of its own.
    const alarm = fake.alarmNotifications.findLast(
      (notification) => notification.topicArn === TOPIC && JSON.stringify(notification.event).includes('\\"NewStateValue\\":\\"ALARM\\"'),
    );
    const stateChange = fake.alarmStateChangeEvents.findLast((event) => (event.detail as { state: { value: string } }).state.value === "ALARM");
    if (alarm === undefined || stateChange === undefined) throw new Error("the model raised no ALARM");
    return { sns: alarm.event, eventBridge: stateChange };
  }

  const decide = (transition: AlarmTransition) =>
    decideAlarm({
      transition,
      identity: { instanceId: INSTANCE, processName: "nginx" },
      incidentId: "abcdefabcdefabcd",
      instance: { instanceId: INSTANCE, state: "running", tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx" } },
      ledger: { instanceId: INSTANCE, processName: "nginx", version: 0, attempts: [] },
      history: [],
      config: testConfig({ region: "eu-west-1", expectedAccountId: "123456789012" }),
      now: START + 10 * 60_000,
      claimToken: "token",
    });

  it("a count that fell to 0: restart, and the detail and claim say zero-count", () => {
    const events = alarmEventAfter([1, 1, 1, 0, 0]);
    for (const event of [events.sns, events.eventBridge]) {
      const [item] = parseInbound(JSON.parse(JSON.stringify(event)));
      if (item?.kind !== "alarm") throw new Error(`not an alarm: ${JSON.stringify(item)}`);
      const decision = decide(item.transition);
      expect(decision.outcome).toBe("restarting");
      expect(decision.facts.signal?.kind).toBe("zero-count");
      expect(decision.claim?.signal).toBe("zero-count");
      expect(decision.detail).toMatch(/the pid count fell to 0/);
    }
  });

  it("no datapoints: the check-and-restart is still sent, the claim says no-data, and the message says the host went quiet", () => {
    const events = alarmEventAfter([1, 1, null, null, null]);
    for (const event of [events.sns, events.eventBridge]) {
      const [item] = parseInbound(JSON.parse(JSON.stringify(event)));
      if (item?.kind !== "alarm") throw new Error(`not an alarm: ${JSON.stringify(item)}`);
      const decision = decide(item.transition);
      expect(decision.outcome).toBe("restarting");
      expect(decision.claim?.signal).toBe("no-data");
      expect(decision.detail).toMatch(/no datapoints/);
    }
  });

  it("the result of a no-data check that found the process running points at the CloudWatch agent, not at the process", () => {
    const story = decide({
      route: "sns",
      alarmName: definition.AlarmName,
      accountId: "123456789012",
      state: "ALARM",
      stateChangeTime: new Date(START).toISOString(),
      reason: "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching].",
    }).story;
    const result = { status: "Success", finishedAt: START, agent: { ok: true, outcome: "already-running", beforePids: [42], afterPids: [42] } };
    const noData = restartResultMessage(story, 1, "c-1", result, "no-data");
    expect(noData.content.title).toMatch(/was running .* stopped sending its pid count/);
    expect(noData.content.nextSteps?.join(" ")).toMatch(/amazon-cloudwatch-agent-ctl -a status/);
    expect(noData.content.keywords).toContain("no-data");
    const zero = restartResultMessage(story, 1, "c-1", { ...result, agent: { ok: true, outcome: "restarted", beforePids: [], afterPids: [43] } }, "zero-count");
    expect(zero.content.title).toMatch(/restarted/);
  });
});
