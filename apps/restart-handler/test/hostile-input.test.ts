import "aws-sdk-client-mock-vitest/extend";
import { describe, expect, it } from "vitest";
import { ALARM_NAME, fixture, Harness, INSTANCE_ID, snsAlarm } from "./support/harness.ts";

function snsWithMessage(message: string): Record<string, unknown> {
  const event = fixture("sns-alarm-event.json") as { Records: { Sns: { Message: string } }[] };
  event.Records[0]!.Sns.Message = message;
  return event as unknown as Record<string, unknown>;
}

function snsWithDimensions(dimensions: unknown): Record<string, unknown> {
  const event = snsAlarm() as { Records: { Sns: { Message: string } }[] };
  const message = JSON.parse(event.Records[0]!.Sns.Message) as { Trigger: Record<string, unknown> };
  message.Trigger.Dimensions = dimensions;
  event.Records[0]!.Sns.Message = JSON.stringify(message);
  return event as unknown as Record<string, unknown>;
}

function eventBridgeWith(mutate: (event: Record<string, unknown> & { detail: Record<string, unknown> }) => void): Record<string, unknown> {
  const event = fixture("eventbridge-alarm-state-change.json") as Record<string, unknown> & { detail: Record<string, unknown> };
  mutate(event);
  return event;
}

const MEGABYTE = "A".repeat(1024 * 1024);

const HOSTILE: [string, unknown, string][] = [
  ["null event", null, "malformed-event"],
  ["a string event", "ALARM", "malformed-event"],
  ["an array event", [fixture("sns-alarm-event.json")], "malformed-event"],
  ["an empty object", {}, "unknown-event"],
  ["an SNS event without records", { Records: [] }, "malformed-event"],
  ["a Message that is not JSON", snsWithMessage("{not json"), "malformed-sns-message"],
  ["a Message that is JSON but not an alarm", snsWithMessage('{"hello":"world"}'), "malformed-alarm"],
  ["a Message of 1 MB", snsWithMessage(MEGABYTE), "malformed-sns-message"],
  ["the foreign SNS fixture", fixture("sns-alarm-event.foreign.json"), "not-procwatch-owned"],
  ["the foreign EventBridge fixture", fixture("eventbridge-alarm-state-change.foreign.json"), "not-procwatch-owned"],
  ["a process name with a shell command", snsAlarm({ name: `procwatch/${INSTANCE_ID}/httpd; rm -rf /` }), "not-procwatch-owned"],
  ["a process name with $(…)", snsAlarm({ name: `procwatch/${INSTANCE_ID}/$(reboot)` }), "not-procwatch-owned"],
  ["a process name with a newline", snsAlarm({ name: `procwatch/${INSTANCE_ID}/httpd\nrm -rf /` }), "not-procwatch-owned"],
  ["an option-like process name", snsAlarm({ name: `procwatch/${INSTANCE_ID}/--help` }), "not-procwatch-owned"],
  ["an instance id with a command", snsAlarm({ name: "procwatch/i-03e6aec1a93443558;id/httpd" }), "not-procwatch-owned"],
  ["a 1 MB alarm name", snsAlarm({ name: `procwatch/${INSTANCE_ID}/${MEGABYTE}` }), "malformed-alarm"],
  ["a 1 MB description", snsAlarm({ description: `[procwatch:managed:procwatch] ${MEGABYTE}` }), "malformed-alarm"],
  ["a description without the ownership marker", snsAlarm({ description: "made by hand" }), "not-procwatch-owned"],
  ["a null description", snsAlarm({ description: null }), "not-procwatch-owned"],
  ["a foreign prefix", snsAlarm({ name: `other/${INSTANCE_ID}/httpd` }), "not-procwatch-owned"],
  ["missing dimensions", snsWithDimensions([]), "missing-dimensions"],
  ["null dimensions", snsWithDimensions(null), "missing-dimensions"],
  [
    "an InstanceId dimension naming another instance",
    snsWithDimensions([
      { name: "InstanceId", value: "i-0123456789abcdef0" },
      { name: "exe", value: "httpd" },
      { name: "pid_finder", value: "native" },
    ]),
    "dimension-instance-mismatch",
  ],
  ["a 1 MB dimension value", snsWithDimensions([{ name: "InstanceId", value: MEGABYTE }]), "malformed-alarm"],
  [
    "another account",
    (() => {
      const event = snsAlarm() as { Records: { Sns: { Message: string } }[] };
      const message = JSON.parse(event.Records[0]!.Sns.Message) as Record<string, unknown>;
      message.AWSAccountId = "999999999999";
      message.AlarmArn = `arn:aws:cloudwatch:ap-northeast-2:999999999999:alarm:${ALARM_NAME}`;
      event.Records[0]!.Sns.Message = JSON.stringify(message);
      return event;
    })(),
    "wrong-account",
  ],
  ["another region", eventBridgeWith((event) => Object.assign(event, { region: "us-east-1" })), "wrong-region"],
  [
    "an alarm ARN for another alarm",
    eventBridgeWith((event) =>
      Object.assign(event, { resources: ["arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:procwatch/i-0123456789abcdef0/sshd"] }),
    ),
    "alarm-arn-mismatch",
  ],
  [
    "an unknown alarm state",
    eventBridgeWith((event) => Object.assign(event.detail, { state: { value: "PANIC", timestamp: "2022-06-28T01:57:35.603+0000" } })),
    "malformed-alarm",
  ],
  ["a bad timestamp", eventBridgeWith((event) => Object.assign(event.detail, { state: { value: "ALARM", timestamp: "yesterday" } })), "malformed-alarm"],
  ["a reset request with a hostile process", { action: "reset-budget", instanceId: INSTANCE_ID, processName: "$(reboot)" }, "malformed-reset-request"],
  [
    "a reset request with extra fields",
    { action: "reset-budget", instanceId: INSTANCE_ID, processName: "httpd", command: "rm -rf /" },
    "malformed-reset-request",
  ],
  ["an unknown action", { action: "restart-everything" }, "malformed-reset-request"],
  [
    "a command status with a hostile instance id",
    (() => {
      const event = fixture("command-invocation-status-change.json") as { detail: Record<string, string> };
      event.detail["instance-id"] = "i-1$(id)";
      return event;
    })(),
    "malformed-command-status",
  ],
];

describe("hostile and foreign input: nothing sent, one log line, no throw", () => {
  it.each(HOSTILE)("drops %s", async (_label, event, reason) => {
    const harness = new Harness();
    const summary = await harness.invoke(event);
    expect(harness.sendCount()).toBe(0);
    expect(harness.published()).toHaveLength(0);
    expect(summary.items).toEqual([expect.objectContaining({ outcome: "dropped", reason })]);
    const lines = harness.logs.filter((line) => line.attributes.outcome === "dropped");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe("warn");
    expect(lines[0]?.attributes.reason).toBe(reason);
    // The log line stays bounded however large the hostile value was.
    expect(JSON.stringify(lines[0]).length).toBeLessThan(2000);
  });

  it("logs the foreign fixture's rejection as not procwatch-owned", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("sns-alarm-event.foreign.json"));
    expect(harness.logs).toEqual([
      expect.objectContaining({
        level: "warn",
        message: "alarm dropped",
        attributes: expect.objectContaining({
          reason: "not-procwatch-owned",
          detail: expect.stringContaining('alarm "jisoo-test-cw" is not named procwatch/'),
        }),
      }),
    ]);
  });
});
