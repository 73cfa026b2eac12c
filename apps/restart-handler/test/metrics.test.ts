import { Metrics } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PowertoolsRestartMetrics } from "../src/adapters/powertools-metrics.ts";
import { publishingMetricsAfterEachInvocation } from "../src/shell/wiring.ts";
import { alarmTime, commandStatus, fixture, Harness, snsAlarm, testConfig } from "./support/harness.ts";

/** One ALARM → restart; returns the harness with the command sent and the counts cleared. */
async function afterOneRestart(): Promise<{ harness: Harness; commandId: string }> {
  const harness = new Harness();
  await harness.invoke(fixture("sns-alarm-event.json"));
  const commandId = harness.sentCommands[0]!.commandId;
  harness.metrics.clear();
  return { harness, commandId };
}

describe("restart handler metrics (the names the dashboard reads)", () => {
  it("counts one RestartsSent for one alarm → command", async () => {
    const harness = new Harness();
    await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.sendCount()).toBe(1);
    expect(harness.metrics.counted).toEqual([{ name: "RestartsSent", value: 1 }]);
  });

  it("counts nothing more for duplicate deliveries of the same transition, by either route", async () => {
    const { harness } = await afterOneRestart();
    await harness.invoke(fixture("sns-alarm-event.json"));
    await harness.invoke(fixture("eventbridge-alarm-state-change.json"));
    expect(harness.sendCount()).toBe(1);
    expect(harness.metrics.counted).toEqual([]);
  });

  it("counts one RestartsSent when three deliveries race", async () => {
    const harness = new Harness();
    const event = fixture("sns-alarm-event.json");
    await Promise.all([0, 1, 2].map(() => harness.invoke(structuredClone(event))));
    expect(harness.metrics.totals()).toEqual({ RestartsSent: 1 });
  });

  it("counts GaveUp once when the budget is exhausted, and no RestartsSent", async () => {
    const harness = new Harness(testConfig({ restartBudget: 1 }));
    await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    harness.metrics.clear();
    harness.now = Date.parse(alarmTime(5));
    await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    expect(harness.sendCount()).toBe(1);
    expect(harness.metrics.counted).toEqual([{ name: "GaveUp", value: 1 }]);
  });

  it("counts GaveUp once when the give-up message had to be re-sent by the retry", async () => {
    const harness = new Harness(testConfig({ restartBudget: 1 }));
    await harness.invoke(snsAlarm({ time: alarmTime(0) }));
    harness.metrics.clear();
    harness.publishFaults.push(Object.assign(new Error("unavailable"), { name: "InternalErrorException", $metadata: { httpStatusCode: 500 } }));
    harness.now = Date.parse(alarmTime(5));
    await expect(harness.invoke(snsAlarm({ time: alarmTime(5) }))).rejects.toThrow();
    await harness.invoke(snsAlarm({ time: alarmTime(5) }));
    expect(harness.metrics.counted).toEqual([{ name: "GaveUp", value: 1 }]);
  });

  it("counts RestartsSucceeded once for a Success result, however often the status arrives", async () => {
    const { harness, commandId } = await afterOneRestart();
    await harness.invoke(commandStatus(commandId, "InProgress"));
    await harness.invoke(commandStatus(commandId, "Success"));
    await harness.invoke(commandStatus(commandId, "Success"));
    expect(harness.metrics.counted).toEqual([{ name: "RestartsSucceeded", value: 1 }]);
  });

  it.each(["Failed", "TimedOut", "Undeliverable", "Cancelled", "Terminated"])("counts RestartsFailed once for a %s result", async (status) => {
    const { harness, commandId } = await afterOneRestart();
    await harness.invoke(commandStatus(commandId, status));
    await harness.invoke(commandStatus(commandId, status));
    expect(harness.metrics.counted).toEqual([{ name: "RestartsFailed", value: 1 }]);
  });

  it("counts RestartsSent once when SSM accepted the command but the invocation failed before recording it", async () => {
    const harness = new Harness();
    harness.table.faults.push({ command: "UpdateItem", error: Object.assign(new Error("socket hang up"), { name: "TimeoutError" }) });
    await expect(harness.invoke(fixture("sns-alarm-event.json"))).rejects.toThrow();
    const retried = await harness.invoke(fixture("sns-alarm-event.json"));
    expect(retried.items[0]).toMatchObject({ reason: "resumed-sent-command" });
    expect(harness.metrics.counted).toEqual([{ name: "RestartsSent", value: 1 }]);
  });

  it("counts InputsDropped for rejected, foreign and unmatched input, and nothing for ignored statuses or OK", async () => {
    const harness = new Harness();
    await harness.invoke({ hello: "world" });
    await harness.invoke(fixture("sns-alarm-event.foreign.json"));
    await harness.invoke(commandStatus("e8d3c0e4-71f7-4491-898f-c9b35bee5f3b", "Success"));
    expect(harness.metrics.counted).toEqual([
      { name: "InputsDropped", value: 1 },
      { name: "InputsDropped", value: 1 },
      { name: "InputsDropped", value: 1 },
    ]);
    harness.metrics.clear();
    await harness.invoke(commandStatus("e8d3c0e4-71f7-4491-898f-c9b35bee5f3b", "InProgress"));
    await harness.invoke(snsAlarm({ state: "OK", previous: "INSUFFICIENT_DATA" }));
    expect(harness.metrics.counted).toEqual([]);
  });

  it("counts nothing when the tags say not to restart", async () => {
    const harness = new Harness();
    harness.instances.set("i-03e6aec1a93443558", { state: "running", tags: { "procwatch:enabled": "false" } });
    await harness.invoke(fixture("sns-alarm-event.json"));
    expect(harness.metrics.counted).toEqual([]);
  });
});

describe("PowertoolsRestartMetrics → CloudWatch EMF", () => {
  afterEach(() => vi.restoreAllMocks());

  /** Powertools writes EMF to stdout and its own warnings to stderr, through a Console it builds at construction. */
  function capture(stream: NodeJS.WriteStream): string[] {
    const lines: string[] = [];
    vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return lines;
  }

  it("writes one EMF line per invocation in namespace procwatch with summed counts, also when the invocation throws", async () => {
    const lines = capture(process.stdout);
    const metrics = new PowertoolsRestartMetrics(new Metrics({ namespace: "procwatch", serviceName: "procwatch-restart-handler" }));
    const handler = publishingMetricsAfterEachInvocation(async (event) => {
      metrics.count("RestartsSent");
      metrics.count("InputsDropped");
      metrics.count("InputsDropped");
      if (event === "fail") throw new Error("boom");
      return { items: [] };
    }, metrics);
    await handler("ok", {});
    await expect(handler("fail", {})).rejects.toThrow("boom");
    vi.restoreAllMocks();
    const emf = lines.map(
      (line) =>
        JSON.parse(line) as Record<string, unknown> & {
          _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
        },
    );
    expect(emf).toHaveLength(2);
    for (const entry of emf) {
      const [directive] = entry._aws.CloudWatchMetrics;
      expect(directive?.Namespace).toBe("procwatch");
      expect(directive?.Dimensions).toEqual([["service"]]);
      expect(directive?.Metrics).toEqual([
        { Name: "RestartsSent", Unit: "Count" },
        { Name: "InputsDropped", Unit: "Count" },
      ]);
      expect(entry).toMatchObject({ service: "procwatch-restart-handler", RestartsSent: 1, InputsDropped: 2 });
    }
  });

  it("writes nothing (and no Powertools warning) for an invocation that counted nothing", async () => {
    const lines = capture(process.stdout);
    const warnings = capture(process.stderr);
    const metrics = new PowertoolsRestartMetrics(new Metrics({ namespace: "procwatch", serviceName: "procwatch-restart-handler" }));
    await publishingMetricsAfterEachInvocation(async () => ({ items: [] }), metrics)("ok", {});
    vi.restoreAllMocks();
    expect(lines).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
