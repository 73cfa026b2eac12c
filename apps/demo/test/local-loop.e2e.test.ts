import { PROCESS_NAME_PATTERN } from "@procwatch/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalLoop } from "../src/local-loop.ts";

/**
 * The whole loop on this machine, as `pnpm demo` runs it, asserted end to end: real processes,
 * the built agent binary, the fleet manager's CLI, the restart handler and the restart document.
 * The alarm is the one the fleet manager wrote, evaluated by testkit's CloudWatch model on the
 * counts the real agent reports; every SNS event the handler gets is a transition of that model.
 */
const MINUTE = 60_000;

const eventTypes = (loop: LocalLoop) => [...loop.slack.threads().values()].map((thread) => thread.map((message) => message.metadata.eventType));

describe("procwatch end to end on one host: kill, restart, recovery", { timeout: 180_000 }, () => {
  let loop: LocalLoop;

  beforeAll(async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    // SNS delivers at least once: every alarm action reaches the handler three times.
    loop = new LocalLoop({ processName: "pw-e2e-svc", restartBudget: 3, deliveries: 3 });
    expect((await loop.applySpec()).exitCode).toBe(0);
    expect(loop.ctlCalls()).toHaveLength(1);
    expect((await loop.startService()).exitCode).toBe(0);
    await loop.startCloudWatchAgent();
    await loop.runFor(MINUTE);
    // The host already publishes its series: the alarm is created armed (GetMetricData sees it).
    const applied = await loop.fleet(["apply", "--yes"]);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect((await loop.createdAlarm()).ActionsEnabled).toBe(true);
    await loop.waitForAlarmState("OK");
  });

  afterAll(async () => {
    await loop?.cleanup();
  });

  async function killAndDetect() {
    const killed = await loop.killService();
    expect(killed.length).toBeGreaterThan(0);
    const detection = await loop.waitForAlarmState("ALARM");
    return { killed, detection };
  }

  it("the fleet manager's alarm watches exactly the dimensions the agent's fragment produces, and can act", async () => {
    const alarm = await loop.createdAlarm();
    const health = await loop.health();
    const process = (health.json.processes as Array<{ match: { dimension: string; selector: string } }>)[0]!;
    expect(alarm.Dimensions).toContainEqual({ Name: process.match.dimension, Value: process.match.selector });
    expect(alarm.Dimensions?.map((dimension) => dimension.Name).sort()).toEqual(["InstanceId", "exe", "pid_finder"]);
    expect(health.status).toBe("healthy");
    expect(alarm.StateValue).toBe("OK");
    // The first evaluation's OK reached the handler, which had nothing to close: no message.
    expect(loop.slack.messages).toEqual([]);
  });

  it("a killed process is restarted once with a new pid, and the thread reads alarm → result → recovery", async () => {
    const { killed, detection } = await killAndDetect();
    // Fast profile: 2 of 2 ten-second periods, evaluated every 10 s (model time).
    expect(detection.afterMs).toBeLessThanOrEqual(60_000);
    expect(detection.reason).toMatch(/^Threshold Crossed: 2 out of the last 2 datapoints \[0\.0 .*\] were less than the threshold \(1\.0\)/);
    const outcomes = detection.handled.filter((summary) => summary.items[0]?.kind === "alarm").flatMap((summary) => summary.items.map((item) => item.outcome));
    expect(outcomes).toEqual(["restarting", "duplicate", "duplicate"]);
    expect(loop.runCommand.invocations).toHaveLength(1);
    const [invocation] = loop.runCommand.invocations;
    expect(invocation?.request.DocumentName).toBe("procwatch-restart");
    expect(invocation?.request.Parameters).toEqual({ ProcessName: ["pw-e2e-svc"] });
    expect(invocation?.status).toBe("Success");
    expect(JSON.parse(invocation?.standardOutput ?? "{}")).toMatchObject({ outcome: "restarted", before: { pids: [] } });

    const recovered = await loop.waitForAlarmState("OK");
    const back = recovered.samples.at(-1)!;
    expect(back.pidCount).toBe(1);
    expect(killed).not.toContain(back.pids[0]);
    expect(eventTypes(loop)).toEqual([["restart-started", "restart-succeeded", "recovered"]]);
    const started = loop.slack.messages[0]!;
    expect(started.content.keywords).toContain("zero-count");
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

  it("a late flush of a healthy process changes nothing: no transition, no restart, no message", async () => {
    const skipAt = loop.clock.now() + 30_000;
    await loop.startCloudWatchAgent({ skippedFlushes: (flushAt) => Math.abs(flushAt - skipAt) < 5_000 });
    const before = loop.slack.messages.length;
    const transitions = loop.fake.alarmHistory(loop.alarmName()).length;
    expect(await loop.runFor(3 * MINUTE)).toEqual([]);
    expect(loop.fake.alarmHistory(loop.alarmName())).toHaveLength(transitions);
    expect(loop.slack.messages).toHaveLength(before);
    await loop.startCloudWatchAgent();
  });

  it("a host stopped and started while its process is down: actions off while stopped, restarted once the new boot reports", async () => {
    loop.fake.setInstanceState("i-0d3e0000000000001", "stopped");
    expect((await loop.fleet(["apply", "--yes"])).exitCode).toBe(0);
    expect((await loop.createdAlarm()).ActionsEnabled).toBe(false);
    loop.stopCloudWatchAgent();
    await loop.killService();
    const whileStopped = loop.runCommand.invocations.length;
    await loop.runFor(5 * MINUTE);
    expect(loop.fake.alarms.get(loop.alarmName())?.StateValue).toBe("ALARM");
    expect(loop.runCommand.invocations).toHaveLength(whileStopped);

    loop.fake.setInstanceState("i-0d3e0000000000001", "running");
    // The EC2 "running" event run: nothing has reported from this boot yet, so the alarm keeps arming.
    const atStart = await loop.fleet(["apply", "--yes"]);
    expect(atStart.stdout).toMatch(/No changes|0 to change|nothing to do/i);
    await loop.startCloudWatchAgent();
    await loop.runFor(MINUTE);
    const armed = await loop.fleet(["apply", "--yes"]);
    expect(armed.exitCode, armed.stderr).toBe(0);
    expect((await loop.createdAlarm()).StateValue).toBe("INSUFFICIENT_DATA");
    await loop.waitForAlarmState("ALARM");
    expect(loop.runCommand.invocations).toHaveLength(whileStopped + 1);
    await loop.waitForAlarmState("OK");
    expect(eventTypes(loop).at(-1)).toEqual(["restart-started", "restart-succeeded", "recovered"]);
  });

  it("restarts again within the budget and gives up when it is spent, with a needs-a-human message", async () => {
    const { killed } = await killAndDetect();
    expect(loop.runCommand.invocations).toHaveLength(3);
    const recovered = await loop.waitForAlarmState("OK");
    expect(killed).not.toContain(recovered.samples.at(-1)!.pids[0]);

    const { detection } = await killAndDetect();
    expect(loop.runCommand.invocations).toHaveLength(3);
    expect(detection.handled.flatMap((summary) => summary.items.map((item) => item.outcome))).toContain("gave-up");
    const last = loop.slack.messages.at(-1)!;
    expect(last.metadata.eventType).toBe("gave-up");
    expect(`${last.content.title} ${last.content.description}`).toMatch(/human/i);
    expect((await loop.health()).pidCount).toBe(0);
  });
});

describe("procwatch end to end on one host: arming and no data", { timeout: 180_000 }, () => {
  let loop: LocalLoop;

  beforeAll(async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    loop = new LocalLoop({ processName: "pw-e2e-arm", restartBudget: 3 });
  });

  afterAll(async () => {
    await loop?.cleanup();
  });

  it("a host opted in before its agent publishes: the alarm arms at the first datapoint, and a process that died meanwhile is restarted", async () => {
    expect((await loop.applySpec()).exitCode).toBe(0);
    expect((await loop.startService()).exitCode).toBe(0);
    // The fleet manager runs first (tag event): nothing publishes yet, so the alarm is created arming.
    const plan = await loop.fleet(["plan"]);
    expect(plan.stdout).toMatch(/arming: waiting for the first datapoint of this exact series/);
    expect((await loop.fleet(["apply", "--yes"])).exitCode).toBe(0);
    expect((await loop.createdAlarm()).ActionsEnabled).toBe(false);
    // Missing data is breaching: the alarm goes to ALARM, but without actions nobody is paged.
    await loop.runFor(3 * MINUTE);
    expect(loop.fake.alarms.get(loop.alarmName())?.StateValue).toBe("ALARM");
    expect(loop.slack.messages).toEqual([]);

    // The process dies during arming; then the CloudWatch agent starts and reports 0.
    await loop.killService();
    await loop.startCloudWatchAgent();
    await loop.runFor(MINUTE);
    expect(loop.runCommand.invocations).toHaveLength(0);
    const armed = await loop.fleet(["apply", "--yes"]);
    expect(armed.exitCode, armed.stderr).toBe(0);
    await loop.waitForAlarmState("ALARM");
    expect(loop.runCommand.invocations).toHaveLength(1);
    await loop.waitForAlarmState("OK");
    expect(eventTypes(loop)).toEqual([["restart-started", "restart-succeeded", "recovered"]]);
  });

  it("no datapoints (the CloudWatch agent stops) is told apart: a check-and-restart finds the process running and points at the agent", async () => {
    loop.stopCloudWatchAgent();
    const wait = await loop.waitForAlarmState("ALARM");
    expect(wait.reason).toMatch(/no datapoints were received/);
    const [started, result] = loop.slack.messages.slice(-2);
    expect(started?.metadata.eventType).toBe("restart-started");
    expect(started?.content.title).toMatch(/^:large_orange_circle: no data from/);
    expect(started?.content.keywords).toContain("no-data");
    expect(result?.content.title).toMatch(/was running .* stopped sending its pid count/);
    expect(JSON.parse(loop.runCommand.invocations.at(-1)?.standardOutput ?? "{}")).toMatchObject({ outcome: "already-running" });
    expect(loop.handlerLog.some((entry) => entry.attributes.signal === "no-data")).toBe(true);

    await loop.startCloudWatchAgent();
    await loop.waitForAlarmState("OK");
    expect(loop.slack.messages.at(-1)?.metadata.eventType).toBe("recovered");
  });
});
