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
    // A plain name reaches the CloudWatch agent as a command-line pattern; the host dimensions are pinned on the entry.
    expect(alarm.Dimensions?.map((dimension) => dimension.Name).sort()).toEqual(["ImageId", "InstanceId", "InstanceType", "pattern", "pid_finder"]);
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

describe("procwatch end to end on one host: local supervision (detection=local, no systemd), then the CloudWatch backstop", { timeout: 180_000 }, () => {
  let loop: LocalLoop;
  let budget: { restarts: number; windowMinutes: number };

  beforeAll(async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    loop = new LocalLoop({ processName: "pw-e2e-loc", restartBudget: 3, detection: "local" });
    // apply starts procwatch's own supervisor, which starts the process as its child.
    const applied = await loop.applySpec();
    expect(applied.exitCode, applied.stderr).toBe(0);
    const { localSupervision } = JSON.parse(applied.stdout) as {
      localSupervision: { backend: string; installed: string[]; budget: { restarts: number; windowMinutes: number } };
    };
    expect(localSupervision).toMatchObject({ backend: "supervisor", installed: ["pw-e2e-loc"] });
    budget = localSupervision.budget;
    await loop.waitOnHost("the supervisor's first start", async () => ((await loop.health()).pidCount === 1 ? true : undefined), 5_000);
    expect((await loop.health()).pids).toEqual([loop.supervisorState()?.childPid]);
    await loop.startCloudWatchAgent();
    await loop.runFor(3 * MINUTE);
    const fleetApplied = await loop.fleet(["apply", "--yes"]);
    expect(fleetApplied.exitCode, fleetApplied.stderr).toBe(0);
    await loop.waitForAlarmState("OK");
  });

  afterAll(async () => {
    await loop?.cleanup();
  });

  it("the backstop alarm keeps the standard cadence", async () => {
    const alarm = await loop.createdAlarm();
    expect({ period: alarm.Period, of: alarm.EvaluationPeriods, actions: alarm.ActionsEnabled, state: alarm.StateValue }).toEqual({
      period: 60,
      of: 2,
      actions: true,
      state: "OK",
    });
  });

  it("kill -9: the supervisor has it back within about a second, no restart command, and the report becomes a local-restart message", async () => {
    const { killedPid, newPid, afterMs } = await loop.killAndAwaitLocalRestart();
    // Wall clock, kill → `health` sees the new pid (each look runs the agent binary, ~0.2 s).
    expect(afterMs).toBeLessThan(2_000);
    expect(loop.runCommand.invocations).toEqual([]);

    const reports = await loop.deliverHostReports(budget);
    expect(reports.map((report) => report.event)).toEqual([
      expect.objectContaining({ kind: "local-restart", unit: null, beforePid: killedPid, afterPid: newPid, nRestarts: 1 }),
    ]);
    const [report] = reports;
    // What the supervisor measured: exit → new start.
    expect(report!.event.downMs).toBeLessThan(1_000);
    expect(report!.record.attributes.SenderId).toMatch(/^AROA[A-Z0-9]+:i-0d3e0000000000001$/);
    expect(report!.item).toMatchObject({ kind: "host-report", outcome: "notified", reason: "local-restart" });

    const message = loop.slack.messages.at(-1)!;
    expect(message.metadata.eventType).toBe("local-restart");
    expect(message.content.keywords).toContain("local");
    expect(message.content.title).toBe(
      `:recycle: pw-e2e-loc restarted on demo-host by procwatch's supervisor in ${report!.event.downMs} ms — PID ${killedPid} → ${newPid} (local 1/${budget.restarts} in ${budget.windowMinutes} min)`,
    );
    expect(message.content.description).toContain(`*PIDs* before ${killedPid} → after ${newPid}; down ${report!.event.downMs} ms.`);
    expect(message.content.description).toContain("No command was sent");

    // The backstop saw nothing: the process was back before any collection.
    const transitions = loop.fake.alarmHistory(loop.alarmName()).length;
    expect(await loop.runFor(5 * MINUTE)).toEqual([]);
    expect(loop.fake.alarmHistory(loop.alarmName())).toHaveLength(transitions);
    expect(loop.runCommand.invocations).toEqual([]);
  });

  it("a crash loop spends the local budget, escalates, and the CloudWatch path takes over once", async () => {
    // The service now needs a dependency, which goes away: each start exits at once (status 1).
    // apply replaces the supervisor (its start command changed); the running process is not the new
    // supervisor's child, so it adopts it and starts the new command once that process dies.
    loop.setDependencyDown(true);
    loop.setStartCommand(loop.dependentStartCommand());
    const applied = await loop.applySpec();
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout).localSupervision).toMatchObject({ backend: "supervisor", installed: ["pw-e2e-loc"] });
    const slackBefore = loop.slack.messages.length;
    await loop.killService();
    await loop.waitOnHost("the supervisor gives up", () => (loop.supervisorState()?.gaveUp === true ? true : undefined), 20_000);
    expect(loop.supervisorState()?.restarts).toBe(budget.restarts);
    expect((await loop.health()).pidCount).toBe(0);
    expect(loop.runCommand.invocations).toEqual([]);

    const reports = await loop.deliverHostReports(budget);
    expect(reports.map((report) => report.event.kind)).toEqual([...Array(budget.restarts).fill("local-restart"), "local-escalation"]);
    expect(reports.map((report) => report.item?.outcome)).toEqual(Array(budget.restarts + 1).fill("notified"));
    const local = loop.slack.messages.slice(slackBefore);
    expect(local.map((message) => message.metadata.eventType)).toEqual([...Array(budget.restarts).fill("local-restart"), "local-escalation"]);
    expect(local.at(-2)?.content.title).toMatch(new RegExp(`\\(local ${budget.restarts}/${budget.restarts} in ${budget.windowMinutes} min\\)$`));
    const escalation = local.at(-1)!;
    expect(escalation.content.title).toBe(
      `:octagonal_sign: local supervision of pw-e2e-loc on demo-host gave up after ${budget.restarts} restarts in ${budget.windowMinutes} min — the CloudWatch alarm takes over`,
    );
    expect(escalation.content.keywords).toContain("needs-human");

    // The dependency is back a little later; nothing on the host restarts the process any more.
    loop.setDependencyDown(false);
    // It stays down, so the standard-cadence alarm fires and the handler restarts it once, through the real document.
    const detection = await loop.waitForAlarmState("ALARM");
    expect(detection.samples.at(-1)?.pidCount).toBe(0);
    expect(detection.reason).toMatch(/^Threshold Crossed: 2 out of the last 2 datapoints/);
    expect(loop.runCommand.invocations).toHaveLength(1);
    const [invocation] = loop.runCommand.invocations;
    expect(invocation?.request).toMatchObject({ DocumentName: "procwatch-restart", Parameters: { ProcessName: ["pw-e2e-loc"] } });
    expect(invocation?.status).toBe("Success");
    expect(JSON.parse(invocation?.standardOutput ?? "{}")).toMatchObject({ outcome: "restarted", backend: "start-command", before: { pids: [] } });
    const recovered = await loop.waitForAlarmState("OK");
    expect(recovered.samples.at(-1)?.pidCount).toBe(1);
    const central = loop.slack.messages.slice(slackBefore + local.length);
    expect(central.map((message) => message.metadata.eventType)).toEqual(["restart-started", "restart-succeeded", "recovered"]);
    // Its own thread: the central incident, not the local ones.
    expect(new Set(central.map((message) => message.metadata.threadId)).size).toBe(1);
    expect(local.map((message) => message.metadata.threadId)).not.toContain(central[0]?.metadata.threadId);
    expect(central[0]?.content.keywords).toContain("zero-count");
  });
});
