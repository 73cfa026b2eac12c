/**
 * The fleet manager's real alarms, evaluated by testkit's CloudWatch model (written from the
 * CloudWatch documentation) on datapoints from testkit's CloudWatch agent publisher model (written
 * from the agent's source). Only the model decides alarm states; a restart is an ALARM action the
 * model ran. Every scenario runs on a model clock with the documented cadences.
 */
import { AlarmStore, InstanceInventory, MetricCatalog, MetricDatapointReader, ProfileStore, RateLimiter } from "@procwatch/aws-adapters";
import { alarmNameFor, type DetectionProfileName, parseInstanceTags, resolveHostSpec } from "@procwatch/contract";
import {
  agentSeriesFor,
  CloudWatchAgentPublisher,
  type DeliveredNotification,
  FakeAws,
  fakeClients,
  type PidCountSample,
  type PublisherFaults,
  publisherOptionsFor,
  TelemetryPipeline,
  VirtualClock,
} from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import type { FleetConfig } from "../src/config.ts";
import { reconcile } from "../src/reconcile.ts";
import { armingFleetConfig } from "./harness.ts";

const START = Date.UTC(2026, 11, 7, 4, 0, 0);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOST = "i-0aaaabbbbccccdddd";

/** A fleet of one host whose procwatch alarm lives in the CloudWatch model, driven on a model clock. */
function world(
  options: { processes?: string; detection?: DetectionProfileName; config?: FleetConfig; launchedAgo?: number; evaluationRangeExtraPeriods?: number } = {},
) {
  const clock = new VirtualClock(START);
  // No quotas and no pacing: nothing may sleep on the model clock behind the pipeline's back.
  const fake = new FakeAws({
    clock,
    quotas: false,
    ...(options.evaluationRangeExtraPeriods !== undefined ? { evaluationRangeExtraPeriods: options.evaluationRangeExtraPeriods } : {}),
  });
  const clients = fakeClients(fake, { maxAttempts: 1 });
  const limiter = new RateLimiter({ enabled: false });
  const adapters = {
    inventory: new InstanceInventory(clients.ec2, { rateLimiter: limiter }),
    alarms: new AlarmStore(clients.cloudwatch, { rateLimiter: limiter }),
    profiles: new ProfileStore(clients.ssm, { rateLimiter: limiter }),
    metrics: new MetricCatalog(clients.cloudwatch, { rateLimiter: limiter }),
    datapoints: new MetricDatapointReader(clients.cloudwatch, { rateLimiter: limiter }),
  };
  const tags = {
    "procwatch:enabled": "true",
    "procwatch:processes": options.processes ?? "nginx",
    ...(options.detection !== undefined ? { "procwatch:detection": options.detection } : {}),
  };
  fake.addInstance({ instanceId: HOST, tags, launchTime: new Date(START - (options.launchedAgo ?? 24 * 60 * MINUTE)) });
  const pipeline = new TelemetryPipeline(fake, clock);
  const config = options.config ?? armingFleetConfig;
  const notifications: DeliveredNotification[] = [];

  /** The series the host's agent publishes for `processName`, from testkit's model of the agent's config translation. */
  const seriesOf = (processName: string) => {
    const spec = resolveHostSpec({ tags: parseInstanceTags(tags, "procwatch").spec!, prefix: "procwatch" }).spec!;
    const process = spec.processes.find((candidate) => candidate.name === processName)!;
    const published = agentSeriesFor(fake, HOST).find((candidate) => candidate.processName === processName)!;
    return { ...published.series, detection: process.detection };
  };

  return {
    clock,
    fake,
    notifications,
    alarmName: (processName = "nginx") => alarmNameFor(HOST, processName),
    /** The host's CloudWatch agent starts publishing `processName`'s pid count at `now + phase`. */
    startAgent(pidCountAt: (t: number) => PidCountSample, processName = "nginx", faults: PublisherFaults = {}, phaseMs = 7 * SECOND) {
      const { namespace, dimensions, detection } = seriesOf(processName);
      const options = publisherOptionsFor(detection, phaseMs % (detection === "fast" ? 10 * SECOND : MINUTE));
      const publisher = new CloudWatchAgentPublisher({ namespace, dimensions }, { ...options, startedAtMs: clock.now() }, pidCountAt);
      pipeline.watch({ publisher, faults });
      return publisher;
    },
    stopAgent(publisher: CloudWatchAgentPublisher) {
      pipeline.unwatch(publisher);
    },
    /** The fleet manager's scheduled (or event) run, as the Lambda runs it. */
    async reconcileNow() {
      const result = await reconcile({ ...adapters, config, mode: "apply", wallTime: () => clock.now() });
      expect(result.failures).toEqual([]);
      notifications.push(...pipeline.takeNotifications());
      return result;
    },
    /** Model time passes; returns the alarm actions that ran (what SNS hands the restart Lambda). */
    advance(milliseconds: number) {
      const fresh = pipeline.runUntil(clock.now() + milliseconds);
      notifications.push(...fresh);
      return fresh;
    },
    alarm: (processName = "nginx") => fake.alarms.get(alarmNameFor(HOST, processName)),
    restarts: () => notifications.filter((notification) => notification.newState === "ALARM"),
  };
}

const alive = (): PidCountSample => 1;
const deadFrom =
  (killedAt: number) =>
  (t: number): PidCountSample =>
    t < killedAt ? 1 : 0;

describe("arming against the CloudWatch model", () => {
  it("an existing host opted in before its agent is installed: no restart while it publishes nothing, armed at its first datapoint", async () => {
    const w = world();
    const created = await w.reconcileNow();
    expect(created.plan.changes.map((change) => [change.kind, change.definition?.ActionsEnabled])).toEqual([["create", false]]);

    // Install and configure take their time: 20 minutes of nothing. The alarm goes to ALARM on missing
    // data (breaching) but has no actions: no restart, no message.
    w.advance(20 * MINUTE);
    expect(w.alarm()?.StateValue).toBe("ALARM");
    expect(w.alarm()?.StateReason).toMatch(/^Threshold Crossed: no datapoints were received for \d+ periods/);
    expect((await w.reconcileNow()).plan.changes).toEqual([]);
    expect(w.notifications).toEqual([]);

    // configure runs: the agent publishes a healthy count; the next run arms the alarm and resets
    // its stale ALARM, which the model then evaluates to OK without a restart.
    w.startAgent(alive);
    w.advance(3 * MINUTE);
    const armed = await w.reconcileNow();
    expect(armed.plan.changes.map((change) => `${change.kind} — ${change.reason}`)).toEqual(["enable-actions — the first datapoint of its series arrived"]);
    w.advance(2 * MINUTE);
    expect(w.alarm()?.StateValue).toBe("OK");
    expect(w.restarts()).toEqual([]);
  });

  it("a process that dies while its alarm is arming is restarted once the alarm arms (ALARM → reset → ALARM acts)", async () => {
    const w = world();
    await w.reconcileNow();
    w.startAgent(deadFrom(START + 30 * SECOND));
    w.advance(5 * MINUTE);
    expect(w.alarm()?.StateValue).toBe("ALARM");
    expect(w.restarts()).toEqual([]);

    const armed = await w.reconcileNow();
    expect(armed.applied).toMatchObject({ actionsEnabled: 1, reevaluated: 1 });
    expect(w.alarm()?.StateValue).toBe("INSUFFICIENT_DATA");
    w.advance(MINUTE);
    const restarts = w.restarts();
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({ oldState: "INSUFFICIENT_DATA", newState: "ALARM" });
    expect(restarts[0]?.reason).toMatch(/^Threshold Crossed: 2 out of the last 2 datapoints \[0\.0 .*\] were less than the threshold \(1\.0\)/);
  });

  it("without the re-evaluation the same alarm never acts: CloudWatch runs actions only on a state change", async () => {
    const w = world();
    await w.reconcileNow();
    w.startAgent(deadFrom(START + 30 * SECOND));
    w.advance(5 * MINUTE);
    // What apply did before: EnableAlarmActions alone.
    await new AlarmStore(fakeClients(w.fake, { maxAttempts: 1 }).cloudwatch).enableActions([w.alarmName()]);
    w.advance(30 * MINUTE);
    expect(w.alarm()?.StateValue).toBe("ALARM");
    expect(w.restarts()).toEqual([]);
  });

  it("a host that never reports is reported after the arming grace (reason: no datapoints)", async () => {
    const w = world();
    await w.reconcileNow();
    w.advance(44 * MINUTE);
    await w.reconcileNow();
    expect(w.alarm()?.ActionsEnabled).toBe(false);
    w.advance(MINUTE);
    const late = await w.reconcileNow();
    expect(late.applied).toMatchObject({ actionsEnabled: 1, reevaluated: 1 });
    w.advance(MINUTE);
    expect(w.restarts()).toHaveLength(1);
    expect(w.restarts()[0]?.reason).toMatch(/no datapoints were received/);
  });

  it("a host stopped and started while its process is down: restarted after the new boot reports", async () => {
    const w = world({ config: { ...armingFleetConfig } });
    const agent = w.startAgent(alive);
    w.advance(3 * MINUTE);
    await w.reconcileNow(); // created and armed at once: the series already reports
    expect(w.alarm()?.ActionsEnabled).toBe(true);
    w.advance(5 * MINUTE);
    expect(w.alarm()?.StateValue).toBe("OK");

    // The host stops (the EC2 event run disables its actions) and starts again 20 minutes later.
    w.fake.setInstanceState(HOST, "stopped");
    w.stopAgent(agent);
    await w.reconcileNow();
    expect(w.alarm()?.ActionsEnabled).toBe(false);
    w.advance(20 * MINUTE);
    expect(w.alarm()?.StateValue).toBe("ALARM");
    w.fake.setInstanceState(HOST, "running");
    // The event run at "running": the agent has not published yet, so the alarm keeps arming.
    expect((await w.reconcileNow()).plan.changes).toEqual([]);
    // The host boots, its agent publishes 0: the process did not come back.
    w.startAgent(() => 0);
    w.advance(2 * MINUTE);
    const armed = await w.reconcileNow();
    expect(armed.applied).toMatchObject({ actionsEnabled: 1, reevaluated: 1 });
    w.advance(MINUTE);
    expect(w.restarts()).toHaveLength(1);
    expect(w.restarts()[0]?.reason).toMatch(/^Threshold Crossed: 2 out of the last 2 datapoints/);
  });

  it("a stop whose EC2 event was missed leaves a stale ALARM; the next run re-arms it and the new boot's zero restarts the process", async () => {
    const w = world();
    const agent = w.startAgent(alive);
    w.advance(3 * MINUTE);
    await w.reconcileNow();
    w.stopAgent(agent);
    w.advance(10 * MINUTE); // stopped, no event run: the alarm acts on missing data (handler finds the host stopped)
    expect(w.restarts()).toHaveLength(1);
    w.fake.setInstanceState(HOST, "stopped");
    w.fake.setInstanceState(HOST, "running");
    w.startAgent(() => 0);
    w.advance(2 * MINUTE);
    const rearm = await w.reconcileNow();
    expect(rearm.plan.changes.map((change) => change.kind)).toEqual(["disable-actions"]);
    w.advance(MINUTE);
    await w.reconcileNow();
    w.advance(MINUTE);
    expect(w.restarts()).toHaveLength(2);
  });
});

describe("re-alarm: a process that stays down is acted on again", () => {
  it.each<{ realarmAfterMinutes: number; alarms: number }>([
    { realarmAfterMinutes: 30, alarms: 2 },
    { realarmAfterMinutes: 0, alarms: 1 },
  ])(
    "with the fleet manager running every 15 min and re-alarm at $realarmAfterMinutes min, an hour of outage gives $alarms ALARM actions",
    async ({ realarmAfterMinutes, alarms }) => {
      const w = world({ config: { ...armingFleetConfig, realarmAfterMinutes } });
      w.startAgent(deadFrom(START + 5 * MINUTE));
      w.advance(3 * MINUTE);
      await w.reconcileNow();
      for (let run = 0; run < 4; run += 1) {
        w.advance(15 * MINUTE);
        await w.reconcileNow();
      }
      w.advance(2 * MINUTE);
      expect(w.restarts()).toHaveLength(alarms);
      // Each one is a real transition the restart handler can act on (a new StateChangeTime).
      expect(new Set(w.restarts().map((notification) => notification.at)).size).toBe(alarms);
    },
  );
});

describe("a late or missed flush never restarts a healthy process", () => {
  const stateValues = (w: ReturnType<typeof world>) =>
    w.fake.alarmHistory(w.alarmName()).map((item) => (JSON.parse(item.HistoryData) as { newState: { stateValue: string } }).newState.stateValue);

  // The docs say CloudWatch always retrieves more datapoints than EvaluationPeriods (the evaluation
  // range) and give one example (3 → 5), no rule; the scenarios hold for the smallest range that
  // statement allows (N + 1) and for the model's default (N + 2).
  for (const detection of ["standard", "fast"] as const) {
    for (const extra of [1, 2]) {
      it(`${detection}, evaluation range N+${extra}: a single skipped flush, at every phase of the agent's ticks, leaves the alarm OK`, async () => {
        const flushMs = detection === "fast" ? 10 * SECOND : MINUTE;
        for (const phase of [0, 1, 3, 5, 7, 9].map((tenth) => Math.floor((tenth * flushMs) / 10))) {
          const w = world({ detection, evaluationRangeExtraPeriods: extra });
          const skipAt = START + 30 * MINUTE + flushMs * 3;
          w.startAgent(alive, "nginx", { skippedFlushes: (flushAt) => Math.abs(flushAt - skipAt) < flushMs / 2 }, phase);
          w.advance(3 * MINUTE);
          const created = await w.reconcileNow();
          expect(created.plan.changes.map((change) => [change.kind, change.definition?.ActionsEnabled])).toEqual([["create", true]]);
          w.advance(60 * MINUTE);
          expect(w.restarts(), `phase ${phase} ms`).toEqual([]);
          expect(stateValues(w), `phase ${phase} ms`).toEqual(["OK"]);
        }
      });
    }
  }

  it("the seed's 1 of 1 alarm on 60 s periods restarts a healthy process for one missed flush with the smallest evaluation range (N + 1)", async () => {
    for (const [extra, restarts] of [
      [1, 1],
      [2, 0],
    ] as const) {
      const w = world({ evaluationRangeExtraPeriods: extra });
      const skipAt = START + 30 * MINUTE;
      w.startAgent(alive, "nginx", { skippedFlushes: (flushAt) => Math.abs(flushAt - skipAt) < 30 * SECOND }, 50 * SECOND);
      w.advance(3 * MINUTE);
      await w.reconcileNow();
      const stored = w.fake.alarms.get(w.alarmName())!;
      w.fake.seedAlarm({ ...stored, EvaluationPeriods: 1, DatapointsToAlarm: 1 });
      w.advance(60 * MINUTE);
      expect(w.restarts(), `evaluation range N+${extra}`).toHaveLength(restarts);
    }
  });
});

describe("inert alarms are caught: the loop needs every field the fleet manager writes", () => {
  /** Kill at +10 min, the agent goes quiet at +20 min, restart (process back) at +30 min: the three things an alarm must report. */
  async function outageStory(mutate: (alarm: Record<string, unknown>) => Record<string, unknown>) {
    const w = world();
    const killedAt = START + 10 * MINUTE;
    const agent = w.startAgent((t) => (t >= killedAt && t < START + 15 * MINUTE ? 0 : 1));
    w.advance(3 * MINUTE);
    await w.reconcileNow();
    const stored = w.fake.alarms.get(w.alarmName())!;
    const { tags: _tags, ...fields } = stored;
    w.fake.seedAlarm(mutate({ ...fields }) as Parameters<FakeAws["seedAlarm"]>[0]);
    w.advance(17 * MINUTE);
    w.stopAgent(agent);
    w.advance(10 * MINUTE);
    const during = (from: number, minutes: number) => w.notifications.filter((n) => n.at >= from && n.at < from + minutes * MINUTE);
    return {
      zeroAlarm: during(killedAt, 5).some((n) => n.newState === "ALARM" && !/no datapoints/.test(n.reason)),
      recovery: during(killedAt, 10).some((n) => n.newState === "OK"),
      noDataAlarm: during(START + 20 * MINUTE, 10).some((n) => n.newState === "ALARM" && /no datapoints/.test(n.reason)),
    };
  }

  it("the fleet manager's alarm reports the kill, the recovery and the silence", async () => {
    expect(await outageStory((alarm) => alarm)).toEqual({ zeroAlarm: true, recovery: true, noDataAlarm: true });
  });

  it.each<{ mutation: string; mutate: (alarm: Record<string, unknown>) => Record<string, unknown>; lost: string }>([
    { mutation: "Threshold 0", mutate: (alarm) => ({ ...alarm, Threshold: 0 }), lost: "zeroAlarm" },
    { mutation: "GreaterThanThreshold", mutate: (alarm) => ({ ...alarm, ComparisonOperator: "GreaterThanThreshold" }), lost: "zeroAlarm" },
    { mutation: "no AlarmActions", mutate: (alarm) => ({ ...alarm, AlarmActions: [] }), lost: "zeroAlarm" },
    { mutation: "no OKActions", mutate: (alarm) => ({ ...alarm, OKActions: [] }), lost: "recovery" },
    { mutation: "TreatMissingData notBreaching", mutate: (alarm) => ({ ...alarm, TreatMissingData: "notBreaching" }), lost: "noDataAlarm" },
  ])("$mutation loses $lost", async ({ mutate, lost }) => {
    const story = await outageStory(mutate);
    expect(story[lost as keyof typeof story]).toBe(false);
  });
});
