import "aws-sdk-client-mock-vitest/extend";
import { SendCommandCommand } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import {
  decideHostReportBound,
  type HostReport,
  type HostReportDelivery,
  hostReportMessage,
  localIncidentIdFor,
  screenHostReport,
  senderMatches,
  senderSession,
} from "../src/core/host-report.ts";
import type { InstanceSnapshot } from "../src/core/model.ts";
import { chatbotNotificationSchema, notificationToSlackText } from "../src/core/notifications.ts";
import { parseInbound } from "../src/inbound/parse.ts";
import type { CommandSender } from "../src/ports.ts";
import { createRestartHandler } from "../src/shell/handler.ts";
import { Harness, INSTANCE_ID, OPTED_IN_TAGS, REGION, testConfig } from "./support/harness.ts";
import { InMemoryRestartLedger, RecordingNotifier, StaticInstanceFacts, StaticProfileSource } from "./support/in-memory-ports.ts";

const ROLE_ID = "AROAEXAMPLEROLEID1234";
const SENDER = `${ROLE_ID}:${INSTANCE_ID}`;
const LOCAL_TAGS: Record<string, string> = { ...OPTED_IN_TAGS, "procwatch:processes": "httpd sshd", "procwatch:process:httpd": "detection=local" };
const RECORDED = Date.parse("2026-12-07T05:00:00.000Z");

function report(overrides: Partial<HostReport> = {}): HostReport {
  return {
    kind: "local-restart",
    instanceId: INSTANCE_ID,
    process: "httpd",
    unit: "httpd.service",
    supervisor: "systemd",
    beforePid: 812,
    afterPid: 905,
    downMs: 130,
    nRestarts: 2,
    budget: { restarts: 3, windowMinutes: 30 },
    recordedAtMs: RECORDED,
    ...overrides,
  };
}

let messageCounter = 0;
/** One SQS record as Lambda's event source mapping delivers it (attributes set by SQS). */
function sqsRecord(body: unknown, senderId = SENDER, messageId = `059f36b4-87a3-44ab-83d2-${(++messageCounter).toString(16).padStart(12, "0")}`) {
  return {
    messageId,
    receiptHandle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "1765083600000",
      SenderId: senderId,
      ApproximateFirstReceiveTimestamp: "1765083600010",
    },
    messageAttributes: {},
    md5OfBody: "e4e68fb7bd0e697a0ae8f1bb342846b3",
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:${REGION}:123456789012:procwatch-host-reports`,
    awsRegion: REGION,
  };
}

function body(overrides: Partial<HostReport> = {}): Record<string, unknown> {
  return { type: "procwatch-host-report", version: 1, ...report(overrides) };
}

function sqsEvent(...records: ReturnType<typeof sqsRecord>[]) {
  return { Records: records };
}

function localHarness(tags: Record<string, string> = LOCAL_TAGS): Harness {
  const harness = new Harness();
  harness.instances.set(INSTANCE_ID, { state: "running", tags });
  harness.now = RECORDED + 500;
  return harness;
}

const snapshot = (tags: Record<string, string>): InstanceSnapshot => ({ instanceId: INSTANCE_ID, state: "running", name: "web-1", tags });

describe("host reports: pure decisions", () => {
  it("reads the instance id from an instance role's SenderId and nothing else", () => {
    expect(senderSession(SENDER)).toBe(INSTANCE_ID);
    expect(senderSession("AIDAEXAMPLEUSER")).toBeUndefined();
    expect(senderSession(`${ROLE_ID}:`)).toBeUndefined();
    expect(senderMatches({ senderId: SENDER, report: report() })).toBe(true);
    expect(senderMatches({ senderId: `${ROLE_ID}:i-0aaaaaaaaaaaaaaaa`, report: report() })).toBe(false);
    expect(senderMatches({ senderId: `${ROLE_ID}:attacker-session`, report: report() })).toBe(false);
  });

  it("accepts a report only from its own instance, opted in, for a local process", () => {
    const delivery: HostReportDelivery = { messageId: "m", senderId: SENDER, report: report() };
    expect(screenHostReport(delivery, snapshot(LOCAL_TAGS), undefined, testConfig())).toMatchObject({
      accepted: true,
      unit: "httpd.service",
      instanceName: "web-1",
    });
    expect(screenHostReport({ ...delivery, senderId: `${ROLE_ID}:i-0aaaaaaaaaaaaaaaa` }, snapshot(LOCAL_TAGS), undefined, testConfig())).toMatchObject({
      accepted: false,
      reason: "report-sender-mismatch",
    });
    expect(screenHostReport(delivery, null, undefined, testConfig())).toMatchObject({ accepted: false, reason: "report-instance-unknown" });
    expect(screenHostReport(delivery, snapshot({ ...LOCAL_TAGS, "procwatch:enabled": "false" }), undefined, testConfig())).toMatchObject({
      accepted: false,
      reason: "report-instance-not-opted-in",
    });
    expect(screenHostReport(delivery, snapshot(OPTED_IN_TAGS), undefined, testConfig())).toMatchObject({ accepted: false, reason: "report-process-not-local" });
    expect(screenHostReport({ ...delivery, report: report({ process: "sshd" }) }, snapshot(LOCAL_TAGS), undefined, testConfig())).toMatchObject({
      accepted: false,
      reason: "report-process-not-local",
    });
  });

  it("words a local restart and an escalation as the thread format expects", () => {
    const context = { region: REGION, accountId: "123456789012", instanceName: "web-1", unit: "httpd.service" };
    const id = localIncidentIdFor(report());
    const restart = hostReportMessage(report(), id, context);
    expect(restart.content.title).toBe(":recycle: httpd restarted on web-1 by systemd in 130 ms — PID 812 → 905 (local 2/3 in 30 min)");
    expect(restart.metadata.threadId).toBe(`procwatch/${INSTANCE_ID}/httpd/${id}`);
    expect(restart.content.keywords).toContain("local");
    expect(chatbotNotificationSchema.safeParse(restart).success).toBe(true);
    const escalation = hostReportMessage(report({ kind: "local-escalation", nRestarts: 3, afterPid: null, downMs: null }), id, context);
    expect(escalation.content.title).toBe(
      ":octagonal_sign: local supervision of httpd on web-1 gave up after 3 restarts in 30 min — the CloudWatch alarm takes over",
    );
    expect(chatbotNotificationSchema.safeParse(escalation).success).toBe(true);
    expect(notificationToSlackText(restart)).toContain("before 812 → after 905; down 130 ms");
  });

  it("bounds messages per host: the limit, then one rollup, then silence; a redelivery is already counted", () => {
    let ledger = { instanceId: INSTANCE_ID, processName: "#local-reports", version: 0, attempts: [] as { incidentId: string; at: number }[] };
    const kinds: string[] = [];
    for (let index = 0; index < 8; index += 1) {
      const decision = decideHostReportBound(ledger, `id-${index}`, 5, 30, RECORDED + index);
      kinds.push(decision.kind);
      if ("next" in decision) ledger = { ...decision.next, attempts: [...decision.next.attempts] };
    }
    expect(kinds).toEqual(["post", "post", "post", "post", "post", "rollup", "suppress", "suppress"]);
    expect(decideHostReportBound(ledger, "id-0", 5, 30, RECORDED + 10).kind).toBe("already-counted");
    // The window moves on: posting resumes.
    expect(decideHostReportBound(ledger, "id-9", 5, 30, RECORDED + 31 * 60_000).kind).toBe("post");
  });
});

describe("host reports: parsing hostile bodies", () => {
  const cases: [string, unknown][] = [
    ["not JSON", "{nope"],
    ["a body of 1 MB", JSON.stringify({ ...body(), padding: "A".repeat(1024 * 1024) })],
    ["an unknown key (a command, say)", { ...body(), command: "rm -rf /" }],
    ["a shell command as process name", body({ process: "httpd; rm -rf /" })],
    ["a unit that is not a service", body({ unit: "../../etc/passwd" })],
    ["an instance id that is not one", body({ instanceId: "i-$(reboot)" })],
    ["a negative pid", body({ beforePid: -1 })],
    ["a far-future timestamp", body({ recordedAtMs: 9e15 })],
    ["a wrong version", { ...body(), version: 2 }],
  ];
  for (const [name, payload] of cases) {
    it(`drops ${name} as malformed-host-report, naming what was wrong`, () => {
      const [item] = parseInbound(sqsEvent(sqsRecord(payload)));
      expect(item).toMatchObject({ kind: "rejected", reason: "malformed-host-report" });
      expect(item?.kind === "rejected" ? item.detail.length : 0).toBeLessThan(1000);
    });
  }
  it("drops a record without a SenderId", () => {
    const record = sqsRecord(body()) as { attributes: Record<string, string> };
    delete record.attributes.SenderId;
    expect(parseInbound({ Records: [record] })[0]).toMatchObject({ kind: "rejected", reason: "malformed-host-report" });
  });
});

describe("host reports through the real handler (mocked SDK clients, fake DynamoDB)", () => {
  it("posts a local restart in its thread, marked local, with PIDs and downtime, and sends no command", async () => {
    const harness = localHarness();
    const summary = await harness.invoke(sqsEvent(sqsRecord(body())));
    expect(summary.items).toEqual([expect.objectContaining({ kind: "host-report", outcome: "notified", reason: "local-restart" })]);
    expect(summary.batchItemFailures).toEqual([]);
    const [message] = harness.published();
    expect(message?.content.title).toBe(":recycle: httpd restarted on web-1 by systemd in 130 ms — PID 812 → 905 (local 2/3 in 30 min)");
    expect(message?.metadata.threadId).toMatch(new RegExp(`^procwatch/${INSTANCE_ID}/httpd/[0-9a-f]{16}$`));
    expect(message?.content.keywords).toContain("local");
    expect(harness.ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it("posts an escalation saying the CloudWatch alarm takes over", async () => {
    const harness = localHarness();
    await harness.invoke(sqsEvent(sqsRecord(body({ kind: "local-escalation", afterPid: null, downMs: null, nRestarts: 3 }))));
    expect(harness.published()[0]?.content.title).toContain("gave up after 3 restarts in 30 min — the CloudWatch alarm takes over");
    expect(harness.sendCount()).toBe(0);
  });

  it("drops a report whose SQS sender is another instance (report-sender-mismatch) without even describing the instance", async () => {
    const harness = localHarness();
    const summary = await harness.invoke(sqsEvent(sqsRecord(body(), `${ROLE_ID}:i-0aaaaaaaaaaaaaaaa`)));
    expect(summary.items[0]).toMatchObject({ outcome: "dropped", reason: "report-sender-mismatch" });
    expect(harness.logs.some((line) => line.level === "warn" && line.attributes.reason === "report-sender-mismatch")).toBe(true);
    expect(harness.published()).toEqual([]);
    expect(harness.ec2Mock.calls()).toHaveLength(0);
    expect(harness.sendCount()).toBe(0);
  });

  it("drops a report for an unknown instance, a host not opted in, and a process that is not local", async () => {
    const unknown = localHarness();
    unknown.instances.clear();
    expect((await unknown.invoke(sqsEvent(sqsRecord(body())))).items[0]).toMatchObject({ outcome: "dropped", reason: "report-instance-unknown" });
    const optedOut = localHarness({ ...LOCAL_TAGS, "procwatch:enabled": "false" });
    expect((await optedOut.invoke(sqsEvent(sqsRecord(body())))).items[0]).toMatchObject({ outcome: "dropped", reason: "report-instance-not-opted-in" });
    const standard = localHarness(OPTED_IN_TAGS);
    expect((await standard.invoke(sqsEvent(sqsRecord(body())))).items[0]).toMatchObject({ outcome: "dropped", reason: "report-process-not-local" });
    for (const harness of [unknown, optedOut, standard]) {
      expect(harness.published()).toEqual([]);
      expect(harness.sendCount()).toBe(0);
    }
  });

  it("posts a duplicate delivery once", async () => {
    const harness = localHarness();
    const first = await harness.invoke(sqsEvent(sqsRecord(body())));
    const again = await harness.invoke(sqsEvent(sqsRecord(body())));
    expect(first.items[0]?.outcome).toBe("notified");
    expect(again.items[0]).toMatchObject({ outcome: "duplicate", reason: "report-already-posted" });
    expect(harness.published()).toHaveLength(1);
  });

  it("re-posts a message whose Publish failed: the record is retried alone (batch item failure)", async () => {
    const harness = localHarness();
    harness.publishFaults.push(Object.assign(new Error("throttled"), { name: "Throttling", $metadata: { httpStatusCode: 400 } }));
    const failing = sqsRecord(body());
    const other = sqsRecord(body({ recordedAtMs: RECORDED + 1 }));
    const summary = await harness.invoke(sqsEvent(failing, other));
    expect(summary.batchItemFailures).toEqual([{ itemIdentifier: failing.messageId }]);
    const retried = await harness.invoke(sqsEvent({ ...failing }));
    expect(retried.items[0]).toMatchObject({ outcome: "duplicate", reason: "resent-pending-notification" });
    // Three Publish calls: the one that failed, the other record's, and the retry's.
    const ids = harness.published().map((message) => message.id);
    expect(ids).toHaveLength(3);
    expect(ids[2]).toBe(ids[0]);
  });

  it("turns a flood from one host into the limit, one rollup, then silence", async () => {
    const harness = localHarness();
    const records = Array.from({ length: 40 }, (_, index) => sqsRecord(body({ recordedAtMs: RECORDED + index })));
    for (let start = 0; start < records.length; start += 10) await harness.invoke(sqsEvent(...records.slice(start, start + 10)));
    const published = harness.published();
    expect(published).toHaveLength(21);
    expect(published.filter((message) => message.metadata.eventType === "local-reports-limited")).toHaveLength(1);
    expect(harness.sendCount()).toBe(0);
  });
});

describe("no host report ever reaches the command port", () => {
  it("a command sender that records every call is never called, whatever the reports say", async () => {
    // Recorded, not thrown: a throw inside the handler would only become a batch item failure.
    const calls: string[] = [];
    const forbidden: CommandSender = {
      send: async () => {
        calls.push("SendCommand");
        return { commandId: "00000000-0000-4000-8000-000000000001" };
      },
      findSentForIncident: async () => {
        calls.push("ListCommands");
        return undefined;
      },
      getInvocation: async () => {
        calls.push("GetCommandInvocation");
        return undefined;
      },
    };
    const notifier = new RecordingNotifier();
    const handler = createRestartHandler(
      {
        instances: new StaticInstanceFacts(new Map([[INSTANCE_ID, snapshot(LOCAL_TAGS)]])),
        profiles: new StaticProfileSource(),
        ledger: new InMemoryRestartLedger(),
        commands: forbidden,
        notifier,
        log: { info: () => undefined, warn: () => undefined, error: () => undefined },
        clock: { now: () => RECORDED + 500 },
      },
      testConfig(),
    );
    const hostile = [
      body(),
      body({ kind: "local-escalation", afterPid: null }),
      body({ process: "sshd" }),
      { ...body(), action: "reset-budget" },
      { ...body(), command: "systemctl restart httpd" },
      { action: "reset-breaker" },
      { "detail-type": "CloudWatch Alarm State Change", source: "aws.cloudwatch" },
      body({ instanceId: "i-0aaaaaaaaaaaaaaaa" }),
      "x".repeat(300_000),
    ];
    for (const [index, payload] of hostile.entries()) {
      for (const [senderId, messageId] of [
        [SENDER, `m-${index}`],
        [`${ROLE_ID}:i-0aaaaaaaaaaaaaaaa`, `n-${index}`],
      ] as const) {
        const summary = await handler(sqsEvent(sqsRecord(payload, senderId, messageId)), {
          invokedFunctionArn: `arn:aws:lambda:${REGION}:123456789012:function:f`,
        });
        expect(summary.batchItemFailures ?? []).toEqual([]);
      }
    }
    expect(calls).toEqual([]);
    expect(notifier.published.length).toBeGreaterThan(0);
    expect(notifier.published.every((message) => message.metadata.additionalContext?.instanceId === INSTANCE_ID)).toBe(true);
  });
});
