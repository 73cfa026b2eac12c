import { describe, expect, it } from "vitest";
import { type AlarmDecisionInput, attemptsInWindow, decideAlarm, decideBudgetReset } from "../src/core/decide.ts";
import type { AlarmTransition, IncidentRecord, ProcessLedger } from "../src/core/model.ts";
import { chatbotNotificationSchema, escapeMarkdown, notificationToEmailText, notificationToSlackText } from "../src/core/notifications.ts";
import { normalizeTimestamp, parseInbound } from "../src/inbound/parse.ts";
import { testConfig } from "./support/harness.ts";

const NOW = Date.parse("2024-05-01T03:00:00Z");
const INSTANCE = "i-0123456789abcdef0";

function transition(overrides: Partial<AlarmTransition> = {}): AlarmTransition {
  return {
    route: "eventbridge",
    alarmName: `procwatch/${INSTANCE}/nginx`,
    accountId: "123456789012",
    region: "ap-northeast-2",
    state: "ALARM",
    previousState: "OK",
    stateChangeTime: "2024-05-01T02:59:50.000Z",
    reason: "Threshold Crossed",
    // What the fleet manager gives nginx's alarm on this instance (a plain name: argv[0] pattern; host dimensions pinned).
    dimensions: [
      { Name: "ImageId", Value: "ami-0123456789abcdef0" },
      { Name: "InstanceId", Value: INSTANCE },
      { Name: "InstanceType", Value: "m7g.large" },
      { Name: "pattern", Value: "^([^ ]*/)?nginx:?( |$)" },
      { Name: "pid_finder", Value: "native" },
    ],
    ...overrides,
  };
}

function ledger(attemptMinutesAgo: number[], overrides: Partial<ProcessLedger> = {}): ProcessLedger {
  return {
    instanceId: INSTANCE,
    processName: "nginx",
    version: attemptMinutesAgo.length,
    attempts: attemptMinutesAgo.map((minutes, index) => ({ incidentId: `000000000000000${index}`, at: NOW - minutes * 60_000 })),
    ...overrides,
  };
}

function input(overrides: Partial<AlarmDecisionInput> = {}): AlarmDecisionInput {
  return {
    transition: transition(),
    identity: { instanceId: INSTANCE, processName: "nginx" },
    incidentId: "abcdefabcdefabcd",
    instance: {
      instanceId: INSTANCE,
      state: "running",
      name: "web-1",
      imageId: "ami-0123456789abcdef0",
      instanceType: "m7g.large",
      tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx sshd" },
    },
    ledger: ledger([]),
    history: [],
    config: testConfig(),
    now: NOW,
    claimToken: "token",
    ...overrides,
  };
}

describe("decideAlarm (pure)", () => {
  it("restarts with attempt 1 and records the attempt on the next ledger version", () => {
    const decision = decideAlarm(input());
    expect(decision).toMatchObject({ outcome: "restarting", attempt: 1, ledger: { version: 1, openIncidentId: "abcdefabcdefabcd" } });
    expect(decision.ledger?.attempts).toEqual([{ incidentId: "abcdefabcdefabcd", at: NOW }]);
    expect(decision.command).toMatchObject({ DocumentName: "procwatch-restart", InstanceIds: [INSTANCE], Parameters: { ProcessName: ["nginx"] } });
    expect(decision.dimensionMismatch).toBeUndefined();
  });

  it("counts only attempts inside the window and after a reset", () => {
    const config = testConfig();
    expect(attemptsInWindow(ledger([31, 29, 1]), config, NOW)).toHaveLength(2);
    expect(attemptsInWindow(ledger([20, 10, 1], { resetAt: NOW - 5 * 60_000 }), config, NOW)).toHaveLength(1);
    expect(decideAlarm(input({ ledger: ledger([31, 29, 1]) }))).toMatchObject({ outcome: "restarting", attempt: 3 });
  });

  it("gives up at the budget and lists the recorded results", () => {
    const history: IncidentRecord[] = [0, 1, 2].map((index) => ({
      incidentId: `000000000000000${index}`,
      alarmName: `procwatch/${INSTANCE}/nginx`,
      state: "ALARM",
      stateChangeTime: "2024-05-01T02:40:00.000Z",
      instanceId: INSTANCE,
      processName: "nginx",
      outcome: "restarting",
      threadId: "t",
      claimedAt: NOW - 60_000,
      claimToken: "x",
      commandId: `c-${index}`,
      result: { status: index === 2 ? "Failed" : "Success", finishedAt: NOW - 30_000 },
    }));
    const decision = decideAlarm(input({ ledger: ledger([25, 15, 5]), history }));
    expect(decision.outcome).toBe("gave-up");
    expect(decision.command).toBeUndefined();
    expect(decision.notification?.content.description).toContain("*Failed*");
    expect(decision.ledger?.attempts).toHaveLength(3);
  });

  it("re-derives the target from the current tags", () => {
    expect(
      decideAlarm(input({ instance: { instanceId: INSTANCE, state: "running", tags: { "procwatch:enabled": "true", "procwatch:processes": "sshd" } } })),
    ).toMatchObject({
      outcome: "not-restarted",
      reason: "process-not-listed",
    });
    expect(decideAlarm(input({ instance: null }))).toMatchObject({ outcome: "not-restarted", reason: "instance-gone" });
    expect(decideAlarm(input({ instance: { instanceId: INSTANCE, state: "stopped", tags: {} } }))).toMatchObject({ reason: "instance-not-running" });
  });

  it("flags dimensions that differ from the current spec but still restarts", () => {
    const decision = decideAlarm(input({ transition: transition({ dimensions: [{ Name: "InstanceId", Value: INSTANCE }] }) }));
    expect(decision.outcome).toBe("restarting");
    expect(decision.dimensionMismatch?.expected).toHaveLength(5);
  });

  it("closes the open incident on OK, in that incident's thread", () => {
    const decision = decideAlarm(
      input({ transition: transition({ state: "OK", previousState: "ALARM" }), ledger: ledger([1], { openIncidentId: "1111111111111111" }) }),
    );
    expect(decision.outcome).toBe("recovered");
    expect(decision.ledger?.openIncidentId).toBeUndefined();
    expect(decision.notification?.metadata.threadId).toBe(`procwatch/${INSTANCE}/nginx/1111111111111111`);
  });

  it("drops a transition older than the last one seen for the process: no claim, ledger write, command or message", () => {
    const seen = { stateChangeTime: "2024-05-01T02:59:55.000Z", state: "OK" as const };
    for (const state of ["ALARM", "OK", "INSUFFICIENT_DATA"] as const) {
      const decision = decideAlarm(
        input({ transition: transition({ state, stateChangeTime: "2024-05-01T02:59:50.000Z" }), ledger: ledger([], { lastTransition: seen }) }),
      );
      expect(decision).toMatchObject({ outcome: "dropped", reason: "stale-transition" });
      expect(decision.detail).toContain("OK at 2024-05-01T02:59:55.000Z");
      expect([decision.claim, decision.ledger, decision.command, decision.notification]).toEqual([undefined, undefined, undefined, undefined]);
    }
  });

  it("does not drop the same transition again (that is a duplicate, for the claim to dedupe) nor a newer one", () => {
    const seen = { stateChangeTime: "2024-05-01T02:59:50.000Z", state: "ALARM" as const };
    expect(decideAlarm(input({ ledger: ledger([], { lastTransition: seen }) })).outcome).toBe("restarting");
    const newer = decideAlarm(input({ transition: transition({ stateChangeTime: "2024-05-01T02:59:51.000Z" }), ledger: ledger([], { lastTransition: seen }) }));
    expect(newer.ledger?.lastTransition).toEqual({ stateChangeTime: "2024-05-01T02:59:51.000Z", state: "ALARM" });
  });

  it("moves lastTransition forward with every decision that writes the ledger", () => {
    const at = "2024-05-01T02:59:50.000Z";
    const cases = [
      decideAlarm(input()),
      decideAlarm(input({ instance: null })),
      decideAlarm(input({ ledger: ledger([25, 15, 5]) })),
      decideAlarm(input({ transition: transition({ state: "INSUFFICIENT_DATA" }) })),
      decideAlarm(input({ transition: transition({ state: "OK" }), ledger: ledger([1], { openIncidentId: "1111111111111111" }) })),
    ];
    expect(cases.map((decision) => decision.outcome)).toEqual(["restarting", "not-restarted", "gave-up", "notified", "recovered"]);
    for (const decision of cases) expect(decision.ledger?.lastTransition?.stateChangeTime).toBe(at);
  });

  it("remembers an OK without an open incident, so its late ALARM is recognised; the same OK again writes nothing", () => {
    const ok = transition({ state: "OK", previousState: "ALARM", stateChangeTime: "2024-05-01T02:59:58.000Z" });
    const first = decideAlarm(input({ transition: ok }));
    expect(first).toMatchObject({ outcome: "ignored", ledger: { version: 1, lastTransition: { state: "OK", stateChangeTime: ok.stateChangeTime } } });
    expect(first.claim).toBeUndefined();
    expect(decideAlarm(input({ transition: ok, ledger: first.ledger! })).ledger).toBeUndefined();
    expect(decideAlarm(input({ ledger: first.ledger! }))).toMatchObject({ outcome: "dropped", reason: "stale-transition" });
  });

  it("records the first claim time, which a takeover never changes", () => {
    expect(decideAlarm(input()).claim).toMatchObject({ claimedAt: NOW, firstClaimedAt: NOW });
  });

  it("resets the budget explicitly", () => {
    const reset = decideBudgetReset({ instanceId: INSTANCE, processName: "nginx" }, ledger([3, 2, 1]), null, testConfig(), "123456789012", NOW);
    expect(reset).toMatchObject({ cleared: 3, ledger: { attempts: [], resetAt: NOW, version: 4 } });
    const seen = { stateChangeTime: "2024-05-01T02:00:00.000Z", state: "ALARM" as const };
    const keeps = decideBudgetReset(
      { instanceId: INSTANCE, processName: "nginx" },
      ledger([1], { lastTransition: seen }),
      null,
      testConfig(),
      "123456789012",
      NOW,
    );
    expect(keeps.ledger.lastTransition).toEqual(seen);
  });
});

describe("notifications", () => {
  it("every message shape validates against the custom-notification schema", () => {
    const shapes = [
      decideAlarm(input({ ledger: ledger([25, 15, 5]) })).notification,
      decideAlarm(input({ instance: null })).notification,
      decideAlarm(input({ transition: transition({ state: "OK" }), ledger: ledger([], { openIncidentId: "1111111111111111" }) })).notification,
      decideAlarm(input({ transition: transition({ state: "INSUFFICIENT_DATA" }) })).notification,
      decideBudgetReset({ instanceId: INSTANCE, processName: "nginx" }, ledger([]), null, testConfig(), "123456789012", NOW).notification,
    ];
    for (const shape of shapes) expect(chatbotNotificationSchema.safeParse(shape).success).toBe(true);
  });

  it("neutralises hostile Name tags in markdown, e-mail and the Slack preview", () => {
    const decision = decideAlarm(
      input({ instance: { instanceId: INSTANCE, state: "running", name: "<!channel> *pwn*\nline", tags: { "procwatch:enabled": "false" } } }),
    );
    const message = decision.notification!;
    expect(message.content.title).not.toContain("<!channel>");
    expect(message.content.description).toContain("&lt;!channel&gt;");
    expect(notificationToEmailText(message)).toContain("<!channel>");
    expect(notificationToSlackText(message)).toMatch(/^┌ :warning: nginx is down/);
    expect(escapeMarkdown("a\u0000b`c", 10)).toBe("a b\u200b`c");
  });
});

describe("inbound parsing", () => {
  it("normalizes CloudWatch and EventBridge timestamps to the same key", () => {
    expect(normalizeTimestamp("2022-06-28T01:57:35.603+0000")).toBe("2022-06-28T01:57:35.603Z");
    expect(normalizeTimestamp("2022-06-28T10:57:35.603+09:00")).toBe("2022-06-28T01:57:35.603Z");
    expect(normalizeTimestamp("2022-06-28T01:57:35Z")).toBe("2022-06-28T01:57:35.000Z");
    expect(normalizeTimestamp("2023-08-04T12: 36: 15.490+0000")).toBeNull();
  });

  it("reads a command status event", () => {
    const [item] = parseInbound({
      "detail-type": "EC2 Command Invocation Status-change Notification",
      source: "aws.ssm",
      account: "123456789012",
      region: "ap-northeast-2",
      time: "2022-06-28T01:58:02Z",
      detail: { "command-id": "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b", "document-name": "procwatch-restart", "instance-id": INSTANCE, status: "Success" },
    });
    expect(item).toMatchObject({ kind: "command-status", change: { status: "Success", instanceId: INSTANCE } });
  });
});
