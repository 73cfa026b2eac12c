import { PublishCommand } from "@aws-sdk/client-sns";
import { ListCommandsCommand, SendCommandCommand } from "@aws-sdk/client-ssm";
import "aws-sdk-client-mock-vitest/extend";
import { describe, expect, it } from "vitest";
import { ALARM_NAME, alarmTime, commandStatus, eventBridgeAlarm, fixture, Harness, INSTANCE_ID, snsAlarm, testConfig } from "./support/harness.ts";

const EXPECTED_COMMAND = {
  DocumentName: "procwatch-restart",
  InstanceIds: [INSTANCE_ID],
  Parameters: { ProcessName: ["httpd"] },
  TimeoutSeconds: 120,
  CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: "/aws/ssm/procwatch-restart" },
};

describe("restart handler: alarm → one restart", () => {
  it("sends exactly one SendCommand with the restart document and typed parameter for the SNS fixture", async () => {
    const harness = new Harness();
    const summary = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(harness.ssmMock).toHaveReceivedCommandWith(SendCommandCommand, EXPECTED_COMMAND);
    const comment = harness.sentCommands[0]?.input.Comment as string;
    expect(comment.length).toBeLessThanOrEqual(100);
    expect(comment).toMatch(/^procwatch incident [0-9a-f]{16} restart httpd$/);
    expect(summary.items).toEqual([expect.objectContaining({ kind: "alarm", outcome: "restarting", reason: "restart" })]);
    const [message] = harness.published();
    expect(message?.content.title).toContain("httpd is down on web-1 (i-03e6aec1a93443558) — restarting (1/3)");
    expect(message?.content.description).toContain(harness.sentCommands[0]?.commandId);
    expect(message?.metadata.relatedResources).toEqual([
      `arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:${ALARM_NAME}`,
      "arn:aws:ec2:ap-northeast-2:123456789012:instance/i-03e6aec1a93443558",
    ]);
  });

  it("sends exactly one SendCommand for the EventBridge fixture, and the SNS copy of the same transition is a duplicate", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("eventbridge-alarm-state-change.json"));
    expect(harness.ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(harness.ssmMock).toHaveReceivedCommandWith(SendCommandCommand, EXPECTED_COMMAND);
    const again = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(again.items[0]).toMatchObject({ outcome: "duplicate" });
    expect(harness.sendCount()).toBe(1);
  });

  it("acts on the direct Lambda alarm-action payload", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("lambda-alarm-action.json"));
    expect(harness.ssmMock).toHaveReceivedCommandWith(SendCommandCommand, EXPECTED_COMMAND);
  });

  it("sends one command for three deliveries of the same transition", async () => {
    const harness = new Harness();
    const event = fixture("sns-alarm-event.json");
    for (let delivery = 0; delivery < 3; delivery += 1) await harness.invoke(structuredClone(event));
    expect(harness.sendCount()).toBe(1);
    expect(harness.published()).toHaveLength(1);
    expect(harness.logs.filter((line) => line.attributes.outcome === "duplicate")).toHaveLength(2);
  });

  it("sends one command when three deliveries race concurrently", async () => {
    const harness = new Harness();
    const event = fixture("sns-alarm-event.json");
    await Promise.all([0, 1, 2].map(() => harness.invoke(structuredClone(event))));
    expect(harness.sendCount()).toBe(1);
  });

  it("gives up on the 4th transition inside the window: no command, a needs-a-human message listing the last results", async () => {
    const harness = new Harness();
    for (let round = 0; round < 3; round += 1) {
      harness.now = Date.parse(alarmTime(round * 5)) + 1000;
      await harness.invoke(snsAlarm({ time: alarmTime(round * 5) }));
      await harness.invoke(commandStatus(harness.sentCommands[round]!.commandId, round === 1 ? "Failed" : "Success"));
      await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(round * 5 + 2) }));
    }
    expect(harness.sendCount()).toBe(3);
    harness.now = Date.parse(alarmTime(16)) + 1000;
    const summary = await harness.invoke(snsAlarm({ time: alarmTime(16) }));
    expect(harness.sendCount()).toBe(3);
    expect(summary.items[0]).toMatchObject({ outcome: "gave-up", reason: "budget-exhausted" });
    const gaveUp = harness.published().at(-1)!;
    expect(gaveUp.metadata.eventType).toBe("gave-up");
    expect(gaveUp.content.title).toContain("needs a human");
    expect(gaveUp.content.description).toContain("*Success*");
    expect(gaveUp.content.description).toContain("*Failed*");
    expect(gaveUp.content.nextSteps?.join(" ")).toContain('"action":"reset-budget"');
  });

  it("restarts again once the window has passed", async () => {
    const harness = new Harness(testConfig({ restartBudget: 1, restartWindowMinutes: 30 }));
    harness.now = Date.parse(alarmTime(0)) + 1000;
    await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    harness.now = Date.parse(alarmTime(10)) + 1000;
    await harness.invoke(snsAlarm({ time: alarmTime(10) }));
    expect(harness.sendCount()).toBe(1);
    harness.now = Date.parse(alarmTime(31)) + 1000;
    await harness.invoke(snsAlarm({ time: alarmTime(31) }));
    expect(harness.sendCount()).toBe(2);
  });

  it("restarts again after an explicit budget reset, and the reset is validated", async () => {
    const harness = new Harness(testConfig({ restartBudget: 1 }));
    await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    harness.now = Date.parse(alarmTime(5));
    await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    expect(harness.sendCount()).toBe(1);
    const bad = await harness.invoke({ action: "reset-budget", instanceId: "i-1; rm -rf /", processName: "httpd" });
    expect(bad.items[0]).toMatchObject({ outcome: "dropped", reason: "malformed-reset-request" });
    const reset = await harness.invoke({ action: "reset-budget", instanceId: INSTANCE_ID, processName: "httpd", requestedBy: "oncall@example.com" });
    expect(reset.items[0]).toMatchObject({ outcome: "budget-reset", reason: "cleared 1" });
    expect(harness.published().at(-1)?.metadata.eventType).toBe("budget-reset");
    harness.now = Date.parse(alarmTime(7));
    await harness.invoke(snsAlarm({ time: alarmTime(7) }));
    expect(harness.sendCount()).toBe(2);
  });
});

describe("restart handler: the incident thread", () => {
  it("threads alarm → restart → result → recovery under one threadId", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("sns-alarm-event.json"));
    const commandId = harness.sentCommands[0]!.commandId;
    await harness.invoke(commandStatus(commandId, "InProgress"));
    await harness.invoke(commandStatus(commandId, "Success"));
    await harness.invoke(commandStatus(commandId, "Success"));
    await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(2) }));
    const messages = harness.published();
    expect(messages.map((message) => message.metadata.eventType)).toEqual(["restart-started", "restart-succeeded", "recovered"]);
    expect(new Set(messages.map((message) => message.metadata.threadId)).size).toBe(1);
    expect(messages[1]?.content.description).toContain("PIDs before `none` → after `4242`");
    expect(messages[2]?.content.description).toContain("after 2m 0s down");
  });

  it("reports a failed restart with the agent's output and next steps", async () => {
    const harness = new Harness();
    harness.agentStdout = '{"process":"httpd","ok":false,"outcome":"still-down","message":"unit failed to start","before":{"pids":[]},"after":{"pids":[]}}';
    await harness.invoke(fixture("sns-alarm-event.json"));
    await harness.invoke(commandStatus(harness.sentCommands[0]!.commandId, "Failed"));
    const result = harness.published()[1]!;
    expect(result.metadata.eventType).toBe("restart-failed");
    expect(result.content.description).toContain("unit failed to start");
    expect(result.content.nextSteps?.join(" ")).toContain("journalctl -u httpd.service");
  });

  it("says the SSM agent is unreachable for Undeliverable", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("sns-alarm-event.json"));
    await harness.invoke(commandStatus(harness.sentCommands[0]!.commandId, "Undeliverable"));
    expect(harness.published()[1]?.content.title).toContain("never reached the host");
  });

  it("ignores command results of other documents and of commands procwatch did not send", async () => {
    const harness = new Harness();
    const foreign = commandStatus("e8d3c0e4-71f7-4491-898f-c9b35bee5f3b", "Success") as { detail: Record<string, string> };
    foreign.detail["document-name"] = "AWS-RunShellScript";
    expect((await harness.invoke(foreign)).items[0]).toMatchObject({ outcome: "dropped", reason: "foreign-document" });
    expect((await harness.invoke(commandStatus("e8d3c0e4-71f7-4491-898f-c9b35bee5f3b", "Success"))).items[0]).toMatchObject({
      outcome: "dropped",
      reason: "unknown-incident",
    });
    expect(harness.published()).toHaveLength(0);
  });

  it("does not announce an OK when no incident is open", async () => {
    const harness = new Harness();
    const summary = await harness.invoke(snsAlarm({ state: "OK", previous: "INSUFFICIENT_DATA" }));
    expect(summary.items[0]).toMatchObject({ outcome: "ignored", reason: "ok-without-open-incident" });
    expect(harness.published()).toHaveLength(0);
  });

  it("only notifies on INSUFFICIENT_DATA", async () => {
    const harness = new Harness();
    await harness.invoke(snsAlarm({ state: "INSUFFICIENT_DATA", previous: "OK" }));
    expect(harness.sendCount()).toBe(0);
    expect(harness.published()[0]?.metadata.eventType).toBe("insufficient-data");
  });

  it("gives e-mail subscribers readable text and Chatbot the JSON", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("sns-alarm-event.json"));
    const input = harness.snsMock.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ TopicArn: harness.config.notificationTopicArn, MessageStructure: "json" });
    expect(input.Subject).toMatch(/^\[procwatch\] httpd down on i-03e6aec1a93443558, restart 1\/3 sent$/);
    const envelope = JSON.parse(input.Message ?? "{}") as Record<string, string>;
    expect(JSON.parse(envelope.default ?? "{}")).toMatchObject({ version: "1.0", source: "custom" });
    expect(envelope.email).toContain("httpd is down on web-1 (i-03e6aec1a93443558)");
    expect(envelope.email).toContain("Next steps:");
    expect(envelope.email).not.toContain("<https");
  });
});

describe("restart handler: the current tags decide", () => {
  it.each([
    ["not opted in any more", { Name: "web-1", "procwatch:enabled": "false", "procwatch:processes": "httpd" }, "not-opted-in"],
    ["process no longer listed", { Name: "web-1", "procwatch:enabled": "true", "procwatch:processes": "nginx" }, "process-not-listed"],
    ["invalid tags", { Name: "web-1", "procwatch:enabled": "yes" }, "tags-invalid"],
    ["a missing profile", { Name: "web-1", "procwatch:enabled": "true", "procwatch:profile": "web" }, "spec-invalid"],
  ])("does not restart with %s, and says why", async (_label, tags, reason) => {
    const harness = new Harness();
    harness.instances.set(INSTANCE_ID, { state: "running", tags });
    const summary = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.sendCount()).toBe(0);
    expect(summary.items[0]).toMatchObject({ outcome: "not-restarted", reason });
    expect(harness.published()[0]?.metadata.eventType).toBe("not-restarted");
  });

  it("does not restart on a terminated or vanished instance", async () => {
    const harness = new Harness();
    harness.instances.set(INSTANCE_ID, { state: "terminated", tags: {} });
    await harness.invoke(fixture("sns-alarm-event.json"));
    harness.instances.clear();
    await harness.invoke(snsAlarm({ time: alarmTime(3) }));
    expect(harness.sendCount()).toBe(0);
    expect(harness.published().map((message) => message.content.description)).toEqual([
      expect.stringContaining("the instance is terminated"),
      expect.stringContaining("no longer exists"),
    ]);
  });

  it("restarts a process that comes from a profile", async () => {
    const harness = new Harness();
    harness.instances.set(INSTANCE_ID, { state: "running", tags: { "procwatch:enabled": "true", "procwatch:profile": "web" } });
    harness.profiles.set("/procwatch/profiles/web", JSON.stringify({ version: 1, processes: [{ name: "httpd" }] }));
    await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.sendCount()).toBe(1);
  });

  it("logs a dimension mismatch but restarts per the current tags", async () => {
    const harness = new Harness();
    harness.instances.set(INSTANCE_ID, {
      state: "running",
      tags: { ...harness.instances.get(INSTANCE_ID)!.tags, "procwatch:process:httpd": "pidfile=/run/httpd.pid" },
    });
    await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.sendCount()).toBe(1);
    expect(harness.logs.some((line) => line.attributes.reason === "dimension-mismatch")).toBe(true);
  });
});

describe("restart handler: failures", () => {
  it("rethrows a throttled SendCommand, and the retry sends exactly one command", async () => {
    const harness = new Harness();
    harness.ssmMock
      .on(SendCommandCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }));
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ retryable: true });
    expect(harness.logs.at(-1)).toMatchObject({ level: "error", attributes: { retryable: true } });
    harness.ssmMock.on(SendCommandCommand).callsFake((input: Record<string, unknown>) => {
      harness.sentCommands.push({ commandId: "e8d3c0e4-71f7-4491-898f-00000000000a", input });
      return { Command: { CommandId: "e8d3c0e4-71f7-4491-898f-00000000000a" } };
    });
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ outcome: "restarting", reason: "took-over-stale-claim" });
    expect(harness.sentCommands).toHaveLength(1);
    await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.sentCommands).toHaveLength(1);
  });

  it("closes a resumed claim with a not-restarted message when the instance opted out meanwhile, instead of retrying forever", async () => {
    const harness = new Harness();
    harness.ssmMock
      .on(SendCommandCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }));
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ retryable: true });
    harness.instances.set(INSTANCE_ID, { state: "running", tags: { Name: "web-1", "procwatch:enabled": "false", "procwatch:processes": "httpd" } });
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ outcome: "not-restarted", reason: "not-opted-in" });
    expect(harness.published().map((message) => message.metadata.eventType)).toEqual(["not-restarted"]);
    const again = await harness.invoke(fixture("eventbridge-alarm-state-change.json"));
    expect(again.items[0]).toMatchObject({ outcome: "duplicate" });
    expect(harness.sentCommands).toHaveLength(0);
  });

  it("keeps the claim when SendCommand timed out after SSM accepted it: the retry finds the command (paging ListCommands from the claim) and sends nothing", async () => {
    const harness = new Harness();
    const claimedAt = harness.now;
    // 230 commands SSM lists besides ours since the claim (154 of them the restart document's): ours is on the fourth page.
    harness.seedOtherCommands(230, claimedAt);
    harness.sendFaults.push({ error: Object.assign(new Error("socket timed out"), { name: "TimeoutError" }), accepted: true });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ retryable: true });
    expect(harness.logs).toContainEqual(expect.objectContaining({ message: "SendCommand failed", attributes: expect.objectContaining({ claim: "kept" }) }));
    const incident = [...harness.table.items.values()].find((item) => item.kind?.S === "incident");
    expect(incident?.claimedAt?.N).toBe(String(claimedAt));

    harness.now += 60_000; // Lambda's first async retry
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ outcome: "restarting", reason: "resumed-sent-command", commandId: harness.sentCommands[0]?.commandId });
    expect(harness.sendCount()).toBe(1);
    expect(harness.sentCommands).toHaveLength(1);
    const searches = harness.ssmMock.commandCalls(ListCommandsCommand).map((call) => call.args[0].input);
    expect(searches).toHaveLength(4);
    expect(searches.map((input) => input.NextToken)).toEqual([undefined, "page-50", "page-100", "page-150"]);
    for (const input of searches) {
      expect(input.Filters).toEqual([
        { key: "DocumentName", value: "procwatch-restart" },
        { key: "InvokedAfter", value: new Date(claimedAt - 5 * 60_000).toISOString() },
      ]);
    }
    expect(harness.published().map((message) => message.metadata.eventType)).toEqual(["restart-started"]);
  });

  it("keeps the claim after an ambiguous failure SSM did not accept: an immediate retry defers, one after the takeover time sends exactly once", async () => {
    const harness = new Harness();
    harness.sendFaults.push({
      error: Object.assign(new Error("We encountered an internal error"), { name: "InternalServerError", $metadata: { httpStatusCode: 500, attempts: 1 } }),
    });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ retryable: true });
    harness.now += 5_000;
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ name: "ClaimInFlightError" });
    expect(harness.sentCommands).toHaveLength(0);
    harness.now += 60_000;
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ outcome: "restarting", reason: "took-over-stale-claim" });
    expect(harness.sentCommands).toHaveLength(1);
  });

  it("releases the claim after a definite refusal (AccessDenied): the retry may send at once, after looking from the claim time, not the epoch", async () => {
    const harness = new Harness();
    const claimedAt = harness.now;
    harness.sendFaults.push({
      error: Object.assign(new Error("not authorized to perform ssm:SendCommand"), {
        name: "AccessDeniedException",
        $metadata: { httpStatusCode: 400, attempts: 1 },
      }),
    });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ retryable: false });
    expect(harness.logs).toContainEqual(expect.objectContaining({ message: "SendCommand failed", attributes: expect.objectContaining({ claim: "released" }) }));
    const incident = [...harness.table.items.values()].find((item) => item.kind?.S === "incident");
    expect(incident?.claimedAt?.N).toBe("0");
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ outcome: "restarting", reason: "took-over-stale-claim" });
    expect(harness.sentCommands).toHaveLength(1);
    expect(harness.ssmMock).toHaveReceivedCommandWith(ListCommandsCommand, {
      Filters: [
        { key: "DocumentName", value: "procwatch-restart" },
        { key: "InvokedAfter", value: new Date(claimedAt - 5 * 60_000).toISOString() },
      ],
    });
  });

  it("says which host and process are down when SSM cannot reach the host (InvalidInstanceId): one message, budget kept, no throw, duplicates quiet", async () => {
    const harness = new Harness(testConfig({ restartBudget: 1 }));
    const refusal = () => ({
      error: Object.assign(new Error("Instances [[i-03e6aec1a93443558]] not in a valid state for account 123456789012"), {
        name: "InvalidInstanceId",
        $metadata: { httpStatusCode: 400, attempts: 1 },
      }),
    });
    harness.sendFaults.push(refusal());
    const first = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(first.items[0]).toMatchObject({ outcome: "unreachable", reason: "InvalidInstanceId" });
    // Three deliveries in all (SNS at least once, EventBridge): still one message, one SendCommand.
    await harness.invoke(fixture("sns-alarm-event.json"));
    await harness.invoke(fixture("eventbridge-alarm-state-change.json"));
    expect(harness.sendCount()).toBe(1);
    const [message, ...rest] = harness.published();
    expect(rest).toEqual([]);
    expect(message?.metadata.eventType).toBe("host-unreachable");
    expect(message?.content.title).toContain("httpd is down on web-1 (i-03e6aec1a93443558) and SSM cannot reach the host");
    expect(message?.content.description).toContain("InvalidInstanceId");
    expect(message?.content.description).toContain("not spent");
    expect(harness.metrics.totals()).toMatchObject({ HostsUnreachable: 1 });
    expect(harness.logs.filter((line) => line.level === "error")).toEqual([]);
    // The slot was given back: with a budget of 1, the next ALARM restarts.
    harness.now = Date.parse(alarmTime(5));
    const next = await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    expect(next.items[0]).toMatchObject({ outcome: "restarting" });
    expect(harness.sentCommands).toHaveLength(1);
  });

  it("adopts a command SSM accepted although the invocation died before recording it", async () => {
    const harness = new Harness();
    harness.table.faults.push({ command: "UpdateItem", error: Object.assign(new Error("socket hang up"), { name: "TimeoutError" }) });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toThrow();
    expect(harness.sentCommands).toHaveLength(1);
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ outcome: "restarting", reason: "resumed-sent-command", commandId: harness.sentCommands[0]?.commandId });
    expect(harness.sentCommands).toHaveLength(1);
  });

  it("re-sends a give-up message whose Publish failed, on the retry", async () => {
    const harness = new Harness(testConfig({ restartBudget: 1 }));
    await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    harness.publishFaults.push(Object.assign(new Error("unavailable"), { name: "InternalErrorException", $metadata: { httpStatusCode: 500 } }));
    harness.now = Date.parse(alarmTime(5));
    await expect(harness.invoke(snsAlarm({ time: alarmTime(5) }))).rejects.toMatchObject({ retryable: true });
    const retried = await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    expect(retried.items[0]).toMatchObject({ outcome: "duplicate", reason: "resent-pending-notification" });
    // Publish calls, the failed one included: the give-up message went out again on the retry.
    expect(harness.published().map((message) => message.metadata.eventType)).toEqual(["restart-started", "gave-up", "gave-up"]);
    expect(harness.sendCount()).toBe(1);
  });

  it("throws on a DynamoDB outage before anything is sent", async () => {
    const harness = new Harness();
    harness.table.faults.push({
      command: "GetItem",
      error: Object.assign(new Error("down"), { name: "InternalServerError", $metadata: { httpStatusCode: 500 } }),
    });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toMatchObject({ retryable: true });
    expect(harness.sendCount()).toBe(0);
  });
});

describe("restart handler: a duplicate that arrives while the first delivery is still sending", () => {
  it("is deferred quietly: it throws (so the platform delivers it again) with an info line and DuplicatesDeferred, no error line", async () => {
    const harness = new Harness();
    let duplicate: Promise<unknown> | undefined;
    harness.ssmMock.on(SendCommandCommand).callsFakeOnce(async (input: Record<string, unknown>) => {
      // The EventBridge copy of the same transition lands mid-SendCommand.
      duplicate = harness.invoke(eventBridgeAlarm()).then(
        () => "resolved",
        (error: unknown) => error,
      );
      await duplicate;
      harness.sentCommands.push({ commandId: "e8d3c0e4-71f7-4491-898f-0000000000b1", input });
      return { Command: { CommandId: "e8d3c0e4-71f7-4491-898f-0000000000b1" } };
    });
    const first = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(first.items[0]).toMatchObject({ outcome: "restarting", commandId: "e8d3c0e4-71f7-4491-898f-0000000000b1" });
    expect(await duplicate).toMatchObject({ name: "ClaimInFlightError", retryable: true });
    expect(harness.logs.filter((line) => line.level === "error")).toEqual([]);
    expect(harness.logs).toContainEqual({
      level: "info",
      message: "delivery deferred; the platform will deliver it again",
      attributes: { outcome: "deferred", reason: "claim-in-flight", incidentId: first.items[0]?.incidentId, kind: "alarm" },
    });
    expect(harness.metrics.totals()).toEqual({ RestartsSent: 1, DuplicatesDeferred: 1 });

    // The platform's redelivery a minute later finds the transition handled.
    harness.now += 60_000;
    const redelivered = await harness.invoke(eventBridgeAlarm());
    expect(redelivered.items[0]).toMatchObject({ outcome: "duplicate", reason: "transition-already-handled" });
    expect(harness.sentCommands).toHaveLength(1);
  });

  it("still reports real failures at error level", async () => {
    const harness = new Harness();
    harness.table.faults.push({
      command: "GetItem",
      error: Object.assign(new Error("down"), { name: "InternalServerError", $metadata: { httpStatusCode: 500 } }),
    });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toThrow();
    expect(harness.logs.at(-1)).toMatchObject({ level: "error", attributes: { outcome: "failed", retryable: true } });
    expect(harness.metrics.counted).toEqual([]);
  });
});
