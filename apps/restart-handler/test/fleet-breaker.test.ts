import { describe, expect, it } from "vitest";
import { configFromEnvironment } from "../src/config.ts";
import type { AlarmSignalKind } from "../src/core/alarm-signal.ts";
import {
  closedState,
  decideFleetSlot,
  EMPTY_FLEET_BREAKER,
  type FleetArrival,
  type FleetBreakerSettings,
  type FleetBreakerState,
  gateFleetBreaker,
  operatorTrip,
} from "../src/core/fleet-breaker.ts";
import { decideFollowUp } from "../src/core/follow-up.ts";
import type { IncidentRecord } from "../src/core/model.ts";

const SETTINGS: FleetBreakerSettings = { restartLimit: 3, noDataLimit: 2, windowMinutes: 5, cooldownMinutes: 15, hostRestartLimit: 2, hostWindowMinutes: 30 };
const NOW = Date.parse("2026-07-12T03:00:00Z");
const MINUTE = 60_000;

const arrival = (index: number, signal: AlarmSignalKind = "zero-count", instanceId = `i-0${String(index).padStart(16, "0")}`): FleetArrival => ({
  incidentId: `inc-${index}`,
  instanceId,
  processName: index % 2 === 0 ? "nginx" : "sshd",
  signal,
});

/** Feeds arrivals through the pure decision as the shell would, one write each. */
function feed(state: FleetBreakerState, arrivals: FleetArrival[], at = NOW) {
  const kinds: string[] = [];
  for (const next of arrivals) {
    const slot = decideFleetSlot(state, next, SETTINGS, at, "trip1");
    kinds.push(slot.kind);
    if ("next" in slot && slot.next !== undefined) state = slot.next;
  }
  return { state, kinds };
}

describe("fleet breaker decisions (pure)", () => {
  it("takes slots up to the restart limit, and the next restart trips it with what it saw", () => {
    const { state, kinds } = feed(
      EMPTY_FLEET_BREAKER,
      [0, 1, 2, 3].map((index) => arrival(index)),
    );
    expect(kinds).toEqual(["take", "take", "take", "trip"]);
    expect(state.trip).toMatchObject({ reason: "restart-rate", trippedAt: NOW });
    expect(state.trip?.seen.map((entry) => entry.incidentId)).toEqual(["inc-0", "inc-1", "inc-2", "inc-3"]);
    expect(state.held).toMatchObject({ total: 1, zeroCount: 1, noData: 0 });
    expect(state.rollupPending).toBe(true);
    expect(state.trips).toBe(1);
  });

  it("trips on the no-data limit separately, before the restart limit", () => {
    const { state, kinds } = feed(EMPTY_FLEET_BREAKER, [arrival(0, "no-data"), arrival(1, "zero-count"), arrival(2, "no-data"), arrival(3, "no-data")]);
    expect(kinds).toEqual(["take", "take", "take", "trip"]);
    expect(state.trip?.reason).toBe("no-data-rate");
    // A zero-count alarm does not count toward the no-data limit.
    expect(feed(EMPTY_FLEET_BREAKER, [arrival(0, "no-data"), arrival(1, "no-data"), arrival(2, "zero-count")]).kinds).toEqual(["take", "take", "take"]);
  });

  it("counts only the window: slots older than FLEET_WINDOW_MINUTES free up", () => {
    const early = feed(
      EMPTY_FLEET_BREAKER,
      [0, 1, 2].map((index) => arrival(index)),
      NOW - 6 * MINUTE,
    ).state;
    expect(decideFleetSlot(early, arrival(3), SETTINGS, NOW, "t").kind).toBe("take");
    expect(decideFleetSlot(early, arrival(3), SETTINGS, NOW - 6 * MINUTE + 1, "t").kind).toBe("trip");
  });

  it("a retry of an alarm that already holds a slot takes no second one", () => {
    const { state } = feed(EMPTY_FLEET_BREAKER, [arrival(0)]);
    expect(decideFleetSlot(state, arrival(0), SETTINGS, NOW, "t")).toEqual({ kind: "already-taken" });
  });

  it("bounds restarts per host, announces the first refusal only, and counts refusals as no slot", () => {
    const host = "i-0aaaaaaaaaaaaaaaa";
    const { state, kinds } = feed(EMPTY_FLEET_BREAKER, [arrival(0, "zero-count", host), arrival(1, "zero-count", host), arrival(2, "zero-count", host)]);
    expect(kinds).toEqual(["take", "take", "host-limit"]);
    expect(decideFleetSlot(state, arrival(2, "zero-count", host), SETTINGS, NOW, "t")).toMatchObject({ kind: "host-limit", announce: true });
    expect(decideFleetSlot(state, arrival(4, "zero-count", host), SETTINGS, NOW, "t")).toMatchObject({ kind: "host-limit", announce: false, recent: 2 });
    // Other hosts still restart: one slot is left fleet-wide.
    expect(decideFleetSlot(state, arrival(5), SETTINGS, NOW, "t").kind).toBe("take");
    // After the host window, the host restarts again.
    expect(decideFleetSlot(state, arrival(6, "zero-count", host), SETTINGS, NOW + 31 * MINUTE, "t").kind).toBe("take");
  });

  it("stays open during the cool-down, then resumes with empty fleet windows (host entries kept)", () => {
    const tripped = feed(
      EMPTY_FLEET_BREAKER,
      [0, 1, 2, 3].map((index) => arrival(index)),
    ).state;
    expect(gateFleetBreaker(tripped, SETTINGS, NOW + 15 * MINUTE - 1).kind).toBe("open");
    const gate = gateFleetBreaker(tripped, SETTINGS, NOW + 15 * MINUTE);
    expect(gate.kind).toBe("resume");
    if (gate.kind !== "resume") return;
    expect(gate.held.total).toBe(1);
    expect(gate.next.trip).toBeUndefined();
    expect(gate.next.version).toBe(tripped.version + 1);
    expect(gateFleetBreaker(gate.next, SETTINGS, NOW + 15 * MINUTE).kind).toBe("closed");
    // Windows start afresh at the resume, even for slots still inside FLEET_WINDOW_MINUTES.
    expect(
      decideFleetSlot(
        { ...gate.next, entries: gate.next.entries.map((entry) => ({ ...entry, at: NOW + 14 * MINUTE })) },
        arrival(9),
        SETTINGS,
        NOW + 15 * MINUTE,
        "t",
      ).kind,
    ).toBe("take");
  });

  it("an operator can open it on purpose and close it early", () => {
    const open = operatorTrip(EMPTY_FLEET_BREAKER, NOW, "op1", "oncall@example.com");
    expect(gateFleetBreaker(open, SETTINGS, NOW + MINUTE)).toMatchObject({ kind: "open", trip: { reason: "operator", requestedBy: "oncall@example.com" } });
    const closed = closedState(open, NOW + MINUTE, SETTINGS);
    expect(gateFleetBreaker(closed, SETTINGS, NOW + MINUTE).kind).toBe("closed");
  });
});

describe("sweep follow-ups (pure)", () => {
  const base: IncidentRecord = {
    incidentId: "a",
    alarmName: "procwatch/i-0123456789abcdef0/nginx",
    state: "ALARM",
    stateChangeTime: "2026-07-12T03:00:00.000Z",
    instanceId: "i-0123456789abcdef0",
    processName: "nginx",
    outcome: "restarting",
    threadId: "t",
    claimedAt: NOW,
    claimToken: "x",
    commandId: "c",
    commandSentAt: NOW,
  };
  const config = { stuckRestartMinutes: 15, recoveryGraceMinutes: 10 };
  it("reports a result overdue after STUCK_RESTART_MINUTES, once", () => {
    expect(decideFollowUp(base, { commandId: "c", status: "InProgress" }, config, NOW + 15 * MINUTE - 1).kind).toBe("none");
    expect(decideFollowUp(base, { commandId: "c", status: "InProgress" }, config, NOW + 15 * MINUTE).kind).toBe("stuck");
    expect(decideFollowUp({ ...base, stuckNoticeAt: NOW }, { commandId: "c", status: "InProgress" }, config, NOW + 20 * MINUTE).kind).toBe("none");
    expect(decideFollowUp(base, { commandId: "c", status: "Success" }, config, NOW + MINUTE)).toEqual({ kind: "lost-result", status: "Success" });
  });
  it("reports a success whose alarm stayed in that ALARM after RECOVERY_GRACE_MINUTES", () => {
    const done = { ...base, result: { status: "Success", finishedAt: NOW + MINUTE } };
    const process = {
      instanceId: base.instanceId,
      processName: "nginx",
      version: 2,
      attempts: [],
      openIncidentId: "a",
      lastTransition: { state: "ALARM" as const, stateChangeTime: base.stateChangeTime },
    };
    expect(decideFollowUp(done, { commandId: "c", status: "Success" }, config, NOW + 11 * MINUTE - 1, process).kind).toBe("none");
    expect(decideFollowUp(done, { commandId: "c", status: "Success" }, config, NOW + 11 * MINUTE).kind).toBe("needs-process");
    expect(decideFollowUp(done, { commandId: "c", status: "Success" }, config, NOW + 11 * MINUTE, process).kind).toBe("unrecovered");
    const recovered = { ...process, openIncidentId: undefined, lastTransition: { state: "OK" as const, stateChangeTime: "2026-07-12T03:03:00.000Z" } };
    expect(decideFollowUp(done, { commandId: "c", status: "Success" }, config, NOW + 11 * MINUTE, recovered).kind).toBe("none");
  });
});

describe("fleet settings from the environment", () => {
  const required = {
    RESTART_DOCUMENT_NAME: "procwatch-restart",
    NOTIFICATION_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:n",
    STATE_TABLE_NAME: "procwatch-state",
    AWS_REGION: "eu-west-1",
  };
  it("has documented defaults", () => {
    const config = configFromEnvironment(required);
    expect(config.fleetBreaker).toEqual({
      restartLimit: 20,
      noDataLimit: 10,
      windowMinutes: 5,
      cooldownMinutes: 15,
      hostRestartLimit: 5,
      hostWindowMinutes: 30,
    });
    expect(config).toMatchObject({ stuckRestartMinutes: 15, recoveryGraceMinutes: 10 });
  });
  it("names every bad variable, its value and what is valid, all at once", () => {
    expect(() =>
      configFromEnvironment({
        ...required,
        FLEET_RESTART_LIMIT: "0",
        FLEET_WINDOW_MINUTES: "five",
        HOST_RESTART_LIMIT: "1000",
        FLEET_BREAKER_COOLDOWN_MINUTES: "-1",
        STUCK_RESTART_MINUTES: "2",
        RECOVERY_GRACE_MINUTES: "1.5",
      }),
    ).toThrow(
      [
        'FLEET_RESTART_LIMIT must be an integer from 1 to 1000, got "0"',
        'FLEET_WINDOW_MINUTES must be an integer from 1 to 1440, got "five"',
        'FLEET_BREAKER_COOLDOWN_MINUTES must be an integer from 1 to 1440, got "-1"',
        'HOST_RESTART_LIMIT must be an integer from 1 to 100, got "1000"',
        'STUCK_RESTART_MINUTES must be an integer from 5 to 1440, got "2"',
        'RECOVERY_GRACE_MINUTES must be an integer from 2 to 1440, got "1.5"',
      ].join("; "),
    );
    expect(() =>
      configFromEnvironment({ ...required, FLEET_RESTART_LIMIT: "5", FLEET_NO_DATA_LIMIT: "6", STUCK_RESTART_MINUTES: "5", COMMAND_TIMEOUT_SECONDS: "600" }),
    ).toThrow(
      /FLEET_NO_DATA_LIMIT must be at most FLEET_RESTART_LIMIT \(5\), got "6".*; STUCK_RESTART_MINUTES must be longer than COMMAND_TIMEOUT_SECONDS \(600 s\), got "5"/,
    );
  });
});
