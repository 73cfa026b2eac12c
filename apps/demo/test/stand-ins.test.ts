import { readFileSync } from "node:fs";
import { alarmDefinitionFor, exeRegexForName } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import { describeBreach, evaluateAlarm } from "../src/stand-ins/cloudwatch-alarm-evaluator.ts";
import { snsAlarmEvent } from "../src/stand-ins/cloudwatch-sns-notification.ts";

const definition = alarmDefinitionFor(
  "i-0123456789abcdef0",
  { name: "demo-svc", unit: "demo-svc.service", detection: "fast", match: { mode: "exe", exe: exeRegexForName("demo-svc") } },
  { actions: { alarmActions: ["arn:aws:sns:eu-west-1:111122223333:procwatch-restart"], okActions: ["arn:aws:sns:eu-west-1:111122223333:procwatch-restart"] } },
);

describe("CloudWatch alarm evaluator stand-in", () => {
  it("needs DatapointsToAlarm breaching datapoints out of EvaluationPeriods", () => {
    expect(evaluateAlarm(definition, [1])).toBe("INSUFFICIENT_DATA");
    expect(evaluateAlarm(definition, [1, 1])).toBe("OK");
    expect(evaluateAlarm(definition, [1, 0])).toBe("OK");
    expect(evaluateAlarm(definition, [1, 0, 0])).toBe("ALARM");
    expect(evaluateAlarm(definition, [0, null])).toBe("ALARM");
    expect(evaluateAlarm(definition, [0, 0, 2])).toBe("OK");
    expect(describeBreach(definition, [1, 0, 0], "ALARM")).toContain("2 out of the last 2 datapoints [0.0, 0.0] was less than the threshold (1.0)");
  });
});

describe("SNS alarm notification stand-in", () => {
  it("has exactly the shape CloudWatch and SNS deliver (the recorded fixture)", () => {
    const fixture = JSON.parse(readFileSync(new URL("./fixtures/sns-alarm-event.json", import.meta.url), "utf8"));
    const event = snsAlarmEvent(
      {
        definition,
        newState: "ALARM",
        oldState: "OK",
        reason: "Threshold Crossed",
        at: new Date("2026-11-24T10:00:00.000Z"),
        region: "eu-west-1",
        accountId: "111122223333",
        topicArn: "arn:aws:sns:eu-west-1:111122223333:procwatch-restart",
      },
      "3f0a3c0e-0000-4000-8000-000000000001",
    );
    const record = event.Records[0]!;
    const fixtureRecord = fixture.Records[0];
    expect(Object.keys(record).sort()).toEqual(Object.keys(fixtureRecord).sort());
    expect(Object.keys(record.Sns).sort()).toEqual(Object.keys(fixtureRecord.Sns).sort());
    const message = JSON.parse(record.Sns.Message);
    const fixtureMessage = JSON.parse(fixtureRecord.Sns.Message);
    expect(Object.keys(message).sort()).toEqual(Object.keys(fixtureMessage).sort());
    expect(Object.keys(message.Trigger).sort()).toEqual(Object.keys(fixtureMessage.Trigger).sort());
    expect(message.StateChangeTime).toBe("2026-11-24T10:00:00.000+0000");
    expect(message.Trigger.Dimensions).toContainEqual({ name: "pid_finder", value: "native" });
    expect(record.Sns.Subject).toBe('ALARM: "procwatch/i-0123456789abcdef0/demo-svc" in EU (Ireland)');
  });
});
