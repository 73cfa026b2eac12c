import { PROCESS_NAME_PATTERN } from "@procwatch/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalLoop } from "../src/local-loop.ts";

/**
 * The whole loop on this machine, as `pnpm demo` runs it, asserted end to end: real processes,
 * the built agent binary, the fleet manager's CLI, the restart handler and the restart document.
 */
describe("procwatch end to end on one host", { timeout: 120_000 }, () => {
  let loop: LocalLoop;

  beforeAll(async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    loop = new LocalLoop({ processName: "pw-e2e-svc", restartBudget: 3, sampleIntervalMs: 200 });
    expect((await loop.applySpec()).exitCode).toBe(0);
    expect(loop.ctlCalls()).toHaveLength(1);
    expect((await loop.startService()).exitCode).toBe(0);
    expect((await loop.fleet(["apply", "--yes"])).exitCode).toBe(0);
    await loop.createdAlarm();
  });

  afterAll(async () => {
    await loop?.cleanup();
  });

  async function killAndDetect() {
    const killed = await loop.killService();
    expect(killed.length).toBeGreaterThan(0);
    const detection = await loop.waitForAlarmState("ALARM");
    expect(detection.samples.every((sample) => sample.pidCount === 0)).toBe(true);
    return { killed, detection };
  }

  it("the fleet manager's alarm watches exactly the dimensions the agent's fragment produces", async () => {
    const alarm = await loop.createdAlarm();
    const health = await loop.health();
    const process = (health.json.processes as Array<{ match: { dimension: string; selector: string } }>)[0]!;
    expect(alarm.Dimensions).toContainEqual({ Name: process.match.dimension, Value: process.match.selector });
    expect(alarm.Dimensions?.map((dimension) => dimension.Name).sort()).toEqual(["InstanceId", "exe", "pid_finder"]);
    expect(health.status).toBe("healthy");
  });

  it("a killed process is restarted once with a new pid, and the thread reads alarm → result → recovery", async () => {
    const { killed, detection } = await killAndDetect();

    // SNS delivers at least once: three deliveries of the same transition.
    const summaries = await loop.deliverTransition("ALARM", detection.reason, 3);
    expect(summaries.flatMap((summary) => summary.items.map((item) => item.outcome))).toEqual(["restarting", "duplicate", "duplicate"]);
    expect(loop.runCommand.invocations).toHaveLength(1);
    const [invocation] = loop.runCommand.invocations;
    expect(invocation?.request.DocumentName).toBe("procwatch-restart");
    expect(invocation?.request.Parameters).toEqual({ ProcessName: ["pw-e2e-svc"] });
    expect(invocation?.status).toBe("Success");
    expect(JSON.parse(invocation?.standardOutput ?? "{}")).toMatchObject({ outcome: "restarted", before: { pids: [] } });

    await loop.deliverCommandResults();
    const recovered = await loop.waitForAlarmState("OK");
    const back = recovered.samples.at(-1)!;
    expect(back.pidCount).toBe(1);
    expect(killed).not.toContain(back.pids[0]);
    await loop.deliverTransition("OK", recovered.reason);

    const threads = [...loop.slack.threads().values()];
    expect(threads).toHaveLength(1);
    expect(threads[0]!.map((message) => message.metadata.eventType)).toEqual(["restart-started", "restart-succeeded", "recovered"]);
  });

  it("the restart document's allowedPattern stops a hostile process name before anything runs on the host", async () => {
    const before = loop.runCommand.invocations.length;
    await expect(
      loop.runCommand.send({
        DocumentName: "procwatch-restart",
        InstanceIds: ["i-0d3e0000000000001"],
        Parameters: { ProcessName: ["pw-e2e-svc; kill -9 -1"] },
        Comment: "hostile",
        TimeoutSeconds: 60,
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: "/aws/ssm/procwatch-restart" },
      }),
    ).rejects.toThrow(`does not match ${PROCESS_NAME_PATTERN}`);
    expect(loop.runCommand.invocations).toHaveLength(before);
    expect((await loop.health()).pidCount).toBe(1);
  });

  it("restarts again within the budget and gives up on the fourth death with a needs-a-human message", async () => {
    for (const attempt of [2, 3]) {
      const { killed, detection } = await killAndDetect();
      await loop.deliverTransition("ALARM", detection.reason);
      expect(loop.runCommand.invocations).toHaveLength(attempt);
      await loop.deliverCommandResults();
      const recovered = await loop.waitForAlarmState("OK");
      expect(killed).not.toContain(recovered.samples.at(-1)!.pids[0]);
      await loop.deliverTransition("OK", recovered.reason);
    }

    const { detection } = await killAndDetect();
    const [summary] = await loop.deliverTransition("ALARM", detection.reason);
    expect(loop.runCommand.invocations).toHaveLength(3);
    expect(summary?.items[0]?.outcome).toBe("gave-up");
    const last = loop.slack.messages.at(-1)!;
    expect(last.metadata.eventType).toBe("gave-up");
    expect(`${last.content.title} ${last.content.description}`).toMatch(/human/i);
    expect((await loop.health()).pidCount).toBe(0);
  });
});
