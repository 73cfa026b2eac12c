import { PublishCommand } from "@aws-sdk/client-sns";
import { SendCommandCommand } from "@aws-sdk/client-ssm";
import "aws-sdk-client-mock-vitest/extend";
import { describe, expect, it } from "vitest";
import { alarmTime, commandStatus, eventBridgeAlarm, Harness, INSTANCE_ID, PROCESS, snsAlarm } from "./support/harness.ts";

const PROCESS_KEY = `process#${INSTANCE_ID}#${PROCESS}`;

function lastSeen(harness: Harness): { state?: string; time?: string } {
  const item = harness.table.items.get(PROCESS_KEY);
  return { state: item?.lastState?.S, time: item?.lastStateChangeTime?.S };
}

describe("restart handler: late and reordered deliveries", () => {
  it("an OK that overtook its ALARM is remembered, and the ALARM arriving late restarts nothing, by either route", async () => {
    const harness = new Harness();
    harness.now = Date.parse(alarmTime(3));
    const ok = await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(2) }));
    expect(ok.items[0]).toMatchObject({ outcome: "ignored", reason: "ok-without-open-incident" });
    expect(lastSeen(harness)).toEqual({ state: "OK", time: "2022-06-28T01:59:35.603Z" });

    const late = await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    const lateByEventBridge = await harness.invoke(eventBridgeAlarm({ time: alarmTime(0) }));
    for (const summary of [late, lateByEventBridge]) expect(summary.items).toEqual([{ kind: "alarm", outcome: "dropped", reason: "stale-transition" }]);
    expect(harness.ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
    expect(harness.snsMock).not.toHaveReceivedCommand(PublishCommand);
    expect(harness.metrics.counted).toEqual([
      { name: "StaleTransitionsDropped", value: 1 },
      { name: "StaleTransitionsDropped", value: 1 },
    ]);
    expect(harness.logs.filter((line) => line.attributes.reason === "stale-transition")).toEqual([
      expect.objectContaining({ level: "warn", message: "alarm dropped", attributes: expect.objectContaining({ outcome: "dropped", route: "sns" }) }),
      expect.objectContaining({ level: "warn", message: "alarm dropped", attributes: expect.objectContaining({ outcome: "dropped", route: "eventbridge" }) }),
    ]);
    // No incident was claimed for the stale ALARM: nothing for a later retry to resume.
    expect([...harness.table.items.keys()]).toEqual([PROCESS_KEY]);
    expect(lastSeen(harness)).toEqual({ state: "OK", time: "2022-06-28T01:59:35.603Z" });
  });

  it("a late ALARM older than a recovery does not restart the recovered process", async () => {
    const harness = new Harness();
    await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    await harness.invoke(commandStatus(harness.sentCommands[0]!.commandId, "Success"));
    harness.now = Date.parse(alarmTime(4));
    await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(3) }));
    // An ALARM procwatch never saw, stamped between the restart and the recovery, delivered now.
    const late = await harness.invoke(snsAlarm({ time: alarmTime(2) }));
    expect(late.items[0]).toMatchObject({ outcome: "dropped", reason: "stale-transition" });
    expect(harness.sendCount()).toBe(1);
    expect(harness.published().map((message) => message.metadata.eventType)).toEqual(["restart-started", "restart-succeeded", "recovered"]);
  });

  it("an OK older than the open incident does not close it; the newer OK does", async () => {
    const harness = new Harness();
    harness.now = Date.parse(alarmTime(5)) + 1000;
    await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    const staleOk = await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(3) }));
    expect(staleOk.items[0]).toMatchObject({ outcome: "dropped", reason: "stale-transition" });
    harness.now = Date.parse(alarmTime(8));
    const ok = await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(7) }));
    expect(ok.items[0]).toMatchObject({ outcome: "recovered" });
    expect(harness.published().map((message) => message.metadata.eventType)).toEqual(["restart-started", "recovered"]);
  });

  it("the same transition by SNS and by EventBridge still dedupes, in either order, while the ledger moves on", async () => {
    const harness = new Harness();
    const alarmBySns = await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    const alarmByEventBridge = await harness.invoke(eventBridgeAlarm({ time: alarmTime(0) }));
    harness.now = Date.parse(alarmTime(3));
    const okByEventBridge = await harness.invoke(eventBridgeAlarm({ state: "OK", previous: "ALARM", time: alarmTime(2) }));
    const okBySns = await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(2) }));
    expect([alarmBySns, alarmByEventBridge, okByEventBridge, okBySns].map((summary) => summary.items[0]?.outcome)).toEqual([
      "restarting",
      "duplicate",
      "recovered",
      "duplicate",
    ]);
    expect(alarmByEventBridge.items[0]?.reason).toBe("transition-already-handled");
    expect(harness.sendCount()).toBe(1);
    expect(harness.published().map((message) => message.metadata.eventType)).toEqual(["restart-started", "recovered"]);
    expect(harness.metrics.totals()).toEqual({ RestartsSent: 1 });
  });

  it("a new alarm's first OK, delivered by both routes, is ignored twice and written once", async () => {
    const harness = new Harness();
    await harness.invoke(snsAlarm({ state: "OK", previous: "INSUFFICIENT_DATA", time: alarmTime(1) }));
    const version = harness.table.items.get(PROCESS_KEY)?.version?.N;
    const again = await harness.invoke(eventBridgeAlarm({ state: "OK", previous: "INSUFFICIENT_DATA", time: alarmTime(1) }));
    expect(again.items[0]).toMatchObject({ outcome: "ignored", reason: "ok-without-open-incident" });
    expect(harness.table.items.get(PROCESS_KEY)?.version?.N).toBe(version);
    expect(harness.metrics.counted).toEqual([]);
  });

  it("a restart claim left unfinished is closed, not resumed, when an OK arrived meanwhile", async () => {
    const harness = new Harness();
    harness.ssmMock
      .on(SendCommandCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }));
    await expect(harness.invoke(snsAlarm({ time: alarmTime(0) }))).rejects.toMatchObject({ retryable: true });
    // The process came back on its own before the platform retried the ALARM.
    harness.now = Date.parse(alarmTime(2));
    await harness.invoke(snsAlarm({ state: "OK", previous: "ALARM", time: alarmTime(1) }));
    harness.now = Date.parse(alarmTime(3));
    const retried = await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    expect(retried.items[0]).toMatchObject({ outcome: "dropped", reason: "stale-transition" });
    const again = await harness.invoke(eventBridgeAlarm({ time: alarmTime(0) }));
    expect(again.items[0]).toMatchObject({ outcome: "duplicate", reason: "transition-already-handled" });
    expect(harness.sentCommands).toHaveLength(0);
    expect(harness.sendCount()).toBe(1);
    const incident = [...harness.table.items.values()].find((item) => item.kind?.S === "incident" && item.alarmState?.S === "ALARM");
    expect(incident?.outcome?.S).toBe("superseded");
  });
});
