/**
 * Restart storms on testkit's CloudWatch alarm model (written from the CloudWatch docs) fed by its
 * CloudWatch agent publisher model: 500 hosts whose alarms the model evaluates; only the model
 * decides when an ALARM reaches the real handler. The fleet breaker must keep commands and
 * messages bounded and say once what it saw.
 */
import { describe, expect, it } from "vitest";
import { hostId, MINUTE, StormWorld } from "./support/storm-world.ts";

const HOSTS = 500;

async function healthyFleet(world: StormWorld, alive: (instanceId: string) => (t: number) => number) {
  for (let index = 0; index < HOSTS; index += 1) world.startAgent(hostId(index), alive(hostId(index)));
  await world.run(3 * MINUTE, { stepMs: MINUTE });
  world.createAlarms();
  // The alarms leave INSUFFICIENT_DATA for OK (OK actions reach the handler, which ignores them).
  await world.run(3 * MINUTE, { stepMs: MINUTE, concurrency: 10 });
  expect(world.fake.alarms.size).toBe(HOSTS);
  expect([...world.fake.alarms.values()].every((alarm) => alarm.StateValue === "OK")).toBe(true);
  world.notifier.published.length = 0;
}

describe("a 500-alarm burst against the fleet breaker (alarm model, concurrency 10)", () => {
  it("zero counts: the pid count falls to 0 on every host at once → at most FLEET_RESTART_LIMIT commands, exactly one rollup, the rest held and counted", async () => {
    const world = new StormWorld({ hosts: HOSTS });
    const killAt = world.clock.now() + 6 * MINUTE + 5_000;
    await healthyFleet(world, () => (t) => (t < killAt ? 1 : 0));
    const describesBefore = world.fake.calls.DescribeInstances?.total ?? 0;

    const alarms = (await world.run(8 * MINUTE, { concurrency: 10 })).filter((notification) => notification.newState === "ALARM");
    expect(alarms).toHaveLength(HOSTS);
    expect(alarms.every((notification) => /datapoints \[0\.0/.test(notification.reason))).toBe(true);

    const limit = world.config.fleetBreaker.restartLimit;
    expect(world.commands.sent.length).toBeLessThanOrEqual(limit);
    expect(world.commands.sent).toHaveLength(limit);
    const rollups = world.notifier.published.filter((message) => message.metadata.eventType === "breaker-tripped");
    expect(rollups).toHaveLength(1);
    expect(world.eventTypes().filter((type) => type !== "restart-started")).toEqual(["breaker-tripped"]);
    const rollup = rollups[0]!;
    expect(rollup.content.title).toContain(`${limit + 1} alarms on ${limit + 1} hosts (0 no-data)`);
    expect(rollup.content.description).toContain("`nginx` ×21");
    expect(rollup.content.description).toContain("21 zero-count");

    const fleet = await world.ledger.loadFleet();
    expect(fleet.trip?.reason).toBe("restart-rate");
    expect(fleet.held).toMatchObject({ total: HOSTS - limit, zeroCount: HOSTS - limit, noData: 0, processes: ["nginx"] });
    expect(fleet.held?.hosts).toHaveLength(HOSTS - limit);
    expect(world.metrics.totals()).toMatchObject({ RestartsSent: limit, BreakerTripped: 1, RestartsHeld: HOSTS - limit });
    // Held alarms are not described: EC2 calls stay near the commands sent.
    const describes = (world.fake.calls.DescribeInstances?.total ?? 0) - describesBefore;
    expect(describes).toBeLessThanOrEqual(limit + 10);
    expect(world.logs.filter((line) => line.level === "error")).toEqual([]);

    // Redeliveries of the whole burst change nothing.
    for (const notification of alarms.slice(0, 50)) await world.invoke(notification.event);
    expect(world.commands.sent).toHaveLength(limit);
    expect(world.notifier.published.filter((message) => message.metadata.eventType === "breaker-tripped")).toHaveLength(1);
    expect((await world.ledger.loadFleet()).held?.total).toBe(HOSTS - limit);
  }, 120_000);

  it("no data: every agent goes quiet at once → at most FLEET_NO_DATA_LIMIT checks, one rollup that says no-data; the cool-down resumes it with a summary", async () => {
    const world = new StormWorld({ hosts: HOSTS });
    await healthyFleet(world, () => () => 1);
    for (let index = 0; index < HOSTS; index += 1) world.stopAgent(hostId(index));

    const alarms = (await world.run(8 * MINUTE, { concurrency: 10 })).filter((notification) => notification.newState === "ALARM");
    expect(alarms).toHaveLength(HOSTS);
    expect(alarms.every((notification) => /no datapoints were received/.test(notification.reason))).toBe(true);

    const limit = world.config.fleetBreaker.noDataLimit;
    expect(world.commands.sent).toHaveLength(limit);
    const rollups = world.notifier.published.filter((message) => message.metadata.eventType === "breaker-tripped");
    expect(rollups).toHaveLength(1);
    expect(rollups[0]?.content.title).toContain(`(${limit + 1} no-data)`);
    expect(rollups[0]?.content.description).toContain("FLEET_NO_DATA_LIMIT");
    expect(world.notifier.published).toHaveLength(limit + 1);
    const fleet = await world.ledger.loadFleet();
    expect(fleet.trip?.reason).toBe("no-data-rate");
    expect(fleet.held).toMatchObject({ total: HOSTS - limit, noData: HOSTS - limit, zeroCount: 0 });

    // The scheduled sweep after the cool-down closes it and says what it held back, once.
    world.clock.advance(world.config.fleetBreaker.cooldownMinutes * MINUTE);
    await world.invoke({ action: "sweep" });
    await world.invoke({ action: "sweep" });
    const resumed = world.notifier.published.filter((message) => message.metadata.eventType === "breaker-resumed");
    expect(resumed).toHaveLength(1);
    expect(resumed[0]?.content.title).toContain(`${HOSTS - limit} alarm(s) were held back`);
    expect(resumed[0]?.content.description).toContain(`${HOSTS - limit} no-data`);
    expect(resumed[0]?.metadata.threadId).toBe(rollups[0]?.metadata.threadId);
    expect((await world.ledger.loadFleet()).trip).toBeUndefined();
  }, 120_000);
});

describe("one host on the alarm model", () => {
  async function oneHostDown(world: StormWorld, killAt: number) {
    world.startAgent(hostId(0), (t) => (t < killAt ? 1 : 0));
    await world.run(3 * MINUTE, { stepMs: MINUTE });
    world.createAlarms();
    await world.run(3 * MINUTE, { stepMs: MINUTE });
    world.notifier.published.length = 0;
  }

  it("a host SSM cannot reach: one message naming host and process and why nothing was sent; no throw, budget kept, redeliveries quiet", async () => {
    const world = new StormWorld({ hosts: 1 });
    world.commands.unreachable.add(hostId(0));
    await oneHostDown(world, world.clock.now() + 6 * MINUTE + 5_000);
    const alarms = (await world.run(5 * MINUTE, { deliveries: 3 })).filter((notification) => notification.newState === "ALARM");
    expect(alarms).toHaveLength(1);
    expect(world.handled.map((summary) => summary.items[0]?.outcome).filter((outcome) => outcome !== "ignored")).toEqual([
      "unreachable",
      "duplicate",
      "duplicate",
    ]);
    expect(world.eventTypes()).toEqual(["host-unreachable"]);
    const [message] = world.notifier.published;
    expect(message?.content.title).toContain(`nginx is down on web-0000 (${hostId(0)}) and SSM cannot reach the host — not restarted`);
    expect(message?.content.description).toContain("InvalidInstanceId");
    const process = await world.ledger.loadProcess(hostId(0), "nginx");
    expect(process.attempts).toEqual([]);
  }, 60_000);

  it("a restart whose result never arrives is reported by the sweep once, in its thread", async () => {
    const world = new StormWorld({ hosts: 1 });
    await oneHostDown(world, world.clock.now() + 6 * MINUTE + 5_000);
    await world.run(5 * MINUTE);
    expect(world.commands.sent).toHaveLength(1);
    const thread = world.notifier.published[0]?.metadata.threadId;
    // The host froze mid-restart: SSM keeps the command InProgress, no status event comes.
    world.clock.advance(world.config.stuckRestartMinutes * MINUTE);
    await world.invoke({ action: "sweep" });
    await world.invoke({ action: "sweep" });
    expect(world.eventTypes()).toEqual(["restart-started", "restart-stuck"]);
    const stuck = world.notifier.published[1]!;
    expect(stuck.metadata.threadId).toBe(thread);
    expect(stuck.content.title).toContain("has no result after");
    expect(stuck.content.description).toContain("InProgress");
  }, 60_000);

  it("'restarted' followed by the process dying again before a datapoint sees it is followed up in the thread", async () => {
    const world = new StormWorld({ hosts: 1 });
    await oneHostDown(world, world.clock.now() + 6 * MINUTE + 5_000);
    await world.run(5 * MINUTE);
    const [sent] = world.commands.sent;
    expect(sent).toBeDefined();
    // The agent reports the process back, but it dies again before the next collection: the count stays 0.
    world.commands.setStatus(sent!.commandId, "Success");
    await world.invoke(world.commandStatus(sent!.commandId, hostId(0), "Success"));
    expect(world.eventTypes()).toEqual(["restart-started", "restart-succeeded"]);
    await world.run(world.config.recoveryGraceMinutes * MINUTE, { stepMs: MINUTE });
    expect(world.fake.alarms.values().next().value?.StateValue).toBe("ALARM");
    await world.invoke({ action: "sweep" });
    await world.invoke({ action: "sweep" });
    expect(world.eventTypes()).toEqual(["restart-started", "restart-succeeded", "not-recovered"]);
    expect(world.notifier.published[2]?.metadata.threadId).toBe(world.notifier.published[0]?.metadata.threadId);
  }, 60_000);

  it("a lost final status is picked up by the sweep and reported as the status event would have been", async () => {
    const world = new StormWorld({ hosts: 1 });
    await oneHostDown(world, world.clock.now() + 6 * MINUTE + 5_000);
    await world.run(5 * MINUTE);
    world.commands.setStatus(world.commands.sent[0]!.commandId, "Failed");
    await world.invoke({ action: "sweep" });
    expect(world.eventTypes()).toEqual(["restart-started", "restart-failed"]);
  }, 60_000);
});
