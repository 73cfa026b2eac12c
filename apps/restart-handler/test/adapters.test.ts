import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { describe, expect, it } from "vitest";
import { DynamoDbRestartLedger } from "../src/adapters/dynamodb-ledger.ts";
import { SsmCommandSender } from "../src/adapters/ssm-command-sender.ts";
import { commandSearchStart } from "../src/core/command.ts";
import { EMPTY_FLEET_BREAKER } from "../src/core/fleet-breaker.ts";
import type { IncidentRecord } from "../src/core/model.ts";
import { AwsCallError, classifyAwsError, isDefinitelyNotAccepted } from "../src/errors.ts";
import type { RestartLedger } from "../src/ports.ts";
import { FakeDynamoTable } from "./support/fake-dynamodb.ts";
import { InMemoryRestartLedger } from "./support/in-memory-ports.ts";

/** A notification as the handler stores it with the command; the ledger only keeps it. */
const NOTE = {
  version: "1.0",
  source: "custom",
  content: { textType: "client-markdown", title: "t", description: "d" },
  metadata: { threadId: "t", summary: "s", eventType: "e", relatedResources: [] },
} as const;

const incident = (id: string): IncidentRecord => ({
  incidentId: id,
  alarmName: "procwatch/i-0123456789abcdef0/nginx",
  state: "ALARM",
  stateChangeTime: "2024-05-01T00:00:00.000Z",
  instanceId: "i-0123456789abcdef0",
  processName: "nginx",
  outcome: "restarting",
  threadId: "t",
  claimedAt: 1000,
  claimToken: "tok",
  attempt: 1,
});
const process = (version: number) => ({ instanceId: "i-0123456789abcdef0", processName: "nginx", version, attempts: [{ incidentId: "a", at: 1 }] });

const ledgers: [string, () => RestartLedger][] = [
  [
    "DynamoDB (stateful fake table)",
    () => new DynamoDbRestartLedger(new FakeDynamoTable().client, { tableName: "t", retentionDays: 14, clock: { now: () => 0 } }),
  ],
  ["in-memory", () => new InMemoryRestartLedger()],
];

describe.each(ledgers)("RestartLedger contract: %s", (_name, make) => {
  it("claims a transition once; a second claim is a duplicate; a stale version is a conflict", async () => {
    const ledger = make();
    expect(await ledger.claim(incident("a"), process(1), 0)).toBe("claimed");
    expect(await ledger.claim(incident("a"), process(2), 1)).toBe("duplicate");
    expect(await ledger.claim(incident("b"), process(2), 0)).toBe("conflict");
    expect(await ledger.claim(incident("b"), process(2), 1)).toBe("claimed");
    expect((await ledger.loadProcess("i-0123456789abcdef0", "nginx")).version).toBe(2);
    expect((await ledger.getIncidents(["a", "b", "zz"])).map((record) => record.incidentId).sort()).toEqual(["a", "b"]);
  });

  it("records the command only for the claim holder, and the result once", async () => {
    const ledger = make();
    await ledger.claim(incident("a"), undefined, 0);
    expect(await ledger.recordCommandSent("a", "other", "cmd", 2, NOTE)).toBe(false);
    expect(await ledger.takeOverClaim("a", "tok", "new", 5000, 999)).toBe(false);
    expect(await ledger.takeOverClaim("a", "tok", "new", 5000, 1000)).toBe(true);
    expect(await ledger.recordCommandSent("a", "new", "cmd", 2, NOTE)).toBe(true);
    expect(await ledger.recordCommandSent("a", "new", "cmd2", 3, NOTE)).toBe(false);
    expect(await ledger.recordCommandResult("a", { status: "Success", finishedAt: 3 }, NOTE)).toBe(true);
    expect(await ledger.recordCommandResult("a", { status: "Success", finishedAt: 3 }, NOTE)).toBe(false);
    await ledger.markNotified("a", "story");
    const stored = await ledger.getIncident("a");
    expect(stored).toMatchObject({ commandId: "cmd", claimToken: "new", result: { status: "Success" }, pendingResultNotification: NOTE });
    expect(stored?.pendingNotification).toBeUndefined();
  });
});

describe.each(ledgers)("RestartLedger contract, late deliveries and unfinished claims: %s", (_name, make) => {
  it("stores the last transition seen with the process item and the first claim time with the incident", async () => {
    const ledger = make();
    const lastTransition = { stateChangeTime: "2024-05-01T00:05:00.000Z", state: "OK" as const };
    expect(await ledger.writeProcess({ ...process(1), lastTransition }, 0)).toBe(true);
    expect(await ledger.loadProcess("i-0123456789abcdef0", "nginx")).toMatchObject({ version: 1, lastTransition });
    expect(await ledger.writeProcess({ ...process(2), lastTransition: { ...lastTransition, state: "ALARM" } }, 0)).toBe(false);
    await ledger.claim({ ...incident("a"), firstClaimedAt: 1000 }, undefined, 0);
    expect((await ledger.getIncident("a"))?.firstClaimedAt).toBe(1000);
  });

  it("closes a claim without a command only for its holder, and never once a command is recorded", async () => {
    const ledger = make();
    await ledger.claim(incident("a"), undefined, 0);
    await ledger.claim(incident("b"), undefined, 0);
    expect(await ledger.closeClaimWithoutCommand("a", "other", "superseded", undefined)).toBe(false);
    expect(await ledger.closeClaimWithoutCommand("a", "tok", "superseded", undefined)).toBe(true);
    expect(await ledger.getIncident("a")).toMatchObject({ outcome: "superseded" });
    expect((await ledger.getIncident("a"))?.pendingNotification).toBeUndefined();
    expect(await ledger.closeClaimWithoutCommand("b", "tok", "not-restarted", NOTE)).toBe(true);
    expect(await ledger.getIncident("b")).toMatchObject({ outcome: "not-restarted", pendingNotification: NOTE });
    await ledger.claim(incident("c"), undefined, 0);
    await ledger.recordCommandSent("c", "tok", "cmd", 2, NOTE);
    expect(await ledger.closeClaimWithoutCommand("c", "tok", "superseded", undefined)).toBe(false);
  });
});

describe.each(ledgers)("RestartLedger contract, the fleet breaker item: %s", (_name, make) => {
  const arrival = { incidentId: "h1", instanceId: "i-0123456789abcdef0", processName: "nginx", signal: "no-data" as const };
  const trip = { tripId: "t1", trippedAt: 5, reason: "restart-rate" as const, seen: [] };

  it("creates the fleet item once and replaces it only at the version it read", async () => {
    const ledger = make();
    expect(await ledger.loadFleet()).toEqual(EMPTY_FLEET_BREAKER);
    const first = { ...EMPTY_FLEET_BREAKER, version: 1, entries: [{ ...arrival, at: 1, kind: "restart" as const }] };
    expect(await ledger.writeFleet(first, 0)).toBe(true);
    expect(await ledger.writeFleet({ ...first, version: 2 }, 0)).toBe(false);
    expect(await ledger.writeFleet({ ...first, version: 2 }, 5)).toBe(false);
    expect(await ledger.loadFleet()).toEqual(first);
    const tripped = {
      ...first,
      version: 2,
      trip,
      held: { total: 1, zeroCount: 1, noData: 0, hosts: ["i-0aaaaaaaaaaaaaaaa"], processes: ["sshd"] },
      rollupPending: true,
      trips: 1,
    };
    expect(await ledger.writeFleet(tripped, 1)).toBe(true);
    expect(await ledger.loadFleet()).toEqual(tripped);
    await ledger.markRollupPosted("other");
    expect((await ledger.loadFleet()).rollupPending).toBe(true);
    await ledger.markRollupPosted("t1");
    expect((await ledger.loadFleet()).rollupPending).toBeUndefined();
  });

  it("holds an alarm atomically: once per incident, only while its trip is open, and a hold moves the version on", async () => {
    const ledger = make();
    expect(await ledger.holdAlarm({ ...incident("h1"), outcome: "held" }, "t1", arrival, { host: true, process: true })).toBe("not-open");
    expect(await ledger.getIncident("h1")).toBeUndefined();
    await ledger.writeFleet({ ...EMPTY_FLEET_BREAKER, version: 1, trip, held: { total: 0, zeroCount: 0, noData: 0, hosts: [], processes: [] } }, 0);
    expect(await ledger.holdAlarm({ ...incident("h1"), outcome: "held" }, "t1", arrival, { host: true, process: true })).toBe("held");
    expect(await ledger.holdAlarm({ ...incident("h1"), outcome: "held" }, "t1", arrival, { host: true, process: true })).toBe("duplicate");
    expect(
      await ledger.holdAlarm(
        { ...incident("h2"), outcome: "held" },
        "t1",
        { ...arrival, incidentId: "h2", signal: "zero-count" },
        { host: false, process: false },
      ),
    ).toBe("held");
    expect(await ledger.holdAlarm({ ...incident("h3"), outcome: "held" }, "t0", { ...arrival, incidentId: "h3" }, { host: true, process: true })).toBe(
      "not-open",
    );
    const fleet = await ledger.loadFleet();
    expect(fleet.held).toEqual({ total: 2, zeroCount: 1, noData: 1, hosts: ["i-0123456789abcdef0"], processes: ["nginx"] });
    expect(fleet.version).toBe(3);
    // A replace built from the state read before the holds must not land.
    expect(await ledger.writeFleet({ ...EMPTY_FLEET_BREAKER, version: 2 }, 1)).toBe(false);
    expect(await ledger.getIncident("h1")).toMatchObject({ outcome: "held" });
  });

  it("records each follow-up notice once", async () => {
    const ledger = make();
    await ledger.claim(incident("a"), undefined, 0);
    expect(await ledger.markNotice("a", "stuck", 10)).toBe(true);
    expect(await ledger.markNotice("a", "stuck", 11)).toBe(false);
    expect(await ledger.markNotice("a", "unrecovered", 12)).toBe(true);
    expect(await ledger.markNotice("zz", "stuck", 12)).toBe(false);
    expect(await ledger.getIncident("a")).toMatchObject({ stuckNoticeAt: 10, unrecoveredNoticeAt: 12 });
  });
});

describe("SsmCommandSender", () => {
  it("passes the request through and maps a missing invocation to undefined", async () => {
    const ssm = new SSMClient({ region: "eu-west-1" });
    const mock = mockClient(ssm);
    mock.on(SendCommandCommand).resolves({ Command: { CommandId: "c-1" } });
    mock.on(GetCommandInvocationCommand).rejects(Object.assign(new Error("gone"), { name: "InvocationDoesNotExist", $metadata: { httpStatusCode: 400 } }));
    const sender = new SsmCommandSender(ssm);
    const request = {
      DocumentName: "procwatch-restart",
      InstanceIds: ["i-0123456789abcdef0"] as [string],
      Parameters: { ProcessName: ["nginx"] },
      Comment: "procwatch incident 0123456789abcdef restart nginx",
      TimeoutSeconds: 120,
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true as const, CloudWatchLogGroupName: "/aws/ssm/procwatch-restart" },
    };
    expect(await sender.send(request)).toEqual({ commandId: "c-1" });
    expect(mock).toHaveReceivedCommandWith(SendCommandCommand, request);
    expect(await sender.getInvocation("c-1", "i-0123456789abcdef0")).toBeUndefined();
  });

  it("sends SendCommand through its single-attempt client and everything else through the shared one", async () => {
    const shared = new SSMClient({ region: "eu-west-1" });
    const singleAttempt = new SSMClient({ region: "eu-west-1", maxAttempts: 1 });
    const sharedMock = mockClient(shared);
    const sendMock = mockClient(singleAttempt);
    sendMock.on(SendCommandCommand).resolves({ Command: { CommandId: "c-2" } });
    sharedMock.on(ListCommandsCommand).resolves({ Commands: [] });
    const sender = new SsmCommandSender(shared, { sendClient: singleAttempt });
    await sender.send({
      DocumentName: "procwatch-restart",
      InstanceIds: ["i-0123456789abcdef0"],
      Parameters: { ProcessName: ["nginx"] },
      Comment: "procwatch incident 0123456789abcdef restart nginx",
      TimeoutSeconds: 120,
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: "/aws/ssm/procwatch-restart" },
    });
    await sender.findSentForIncident("i-0123456789abcdef0", "procwatch-restart", "0123456789abcdef", Date.now() - 60_000);
    expect(sendMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(sharedMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    expect(sharedMock).toHaveReceivedCommandTimes(ListCommandsCommand, 1);
    expect(sendMock).toHaveReceivedCommandTimes(ListCommandsCommand, 0);
  });

  it("pages ListCommands from the given time, matches the incident on this instance only, and never reports 'not found' for an unfinished search", async () => {
    const ssm = new SSMClient({ region: "eu-west-1" });
    const mock = mockClient(ssm);
    const comment = "procwatch incident 0123456789abcdef restart nginx";
    mock
      .on(ListCommandsCommand)
      .resolvesOnce({ Commands: [{ CommandId: "other-instance", Comment: comment, InstanceIds: ["i-0fffffffffffffff0"] }], NextToken: "t1" })
      .resolvesOnce({
        Commands: [{ CommandId: "other-incident", Comment: "procwatch incident ffffffffffffffff restart nginx", InstanceIds: ["i-0123456789abcdef0"] }],
        NextToken: "t2",
      })
      .resolvesOnce({ Commands: [{ CommandId: "ours", Comment: comment, InstanceIds: ["i-0123456789abcdef0"] }], NextToken: "t3" });
    const sender = new SsmCommandSender(ssm);
    const since = Date.parse("2024-05-01T00:00:00Z");
    expect(await sender.findSentForIncident("i-0123456789abcdef0", "procwatch-restart", "0123456789abcdef", since)).toEqual({ commandId: "ours" });
    expect(mock.commandCalls(ListCommandsCommand).map((call) => call.args[0].input)).toEqual([
      {
        Filters: [
          { key: "DocumentName", value: "procwatch-restart" },
          { key: "InvokedAfter", value: "2024-05-01T00:00:00.000Z" },
        ],
        MaxResults: 50,
      },
      expect.objectContaining({ NextToken: "t1" }),
      expect.objectContaining({ NextToken: "t2" }),
    ]);

    mock.reset();
    mock.on(ListCommandsCommand).resolves({ Commands: [] });
    expect(await sender.findSentForIncident("i-0123456789abcdef0", "procwatch-restart", "0123456789abcdef", since)).toBeUndefined();

    mock.reset();
    mock.on(ListCommandsCommand).resolves({ Commands: [], NextToken: "more" });
    await expect(
      new SsmCommandSender(ssm, { maxSearchPages: 3 }).findSentForIncident("i-0123456789abcdef0", "procwatch-restart", "0123456789abcdef", since),
    ).rejects.toMatchObject({
      name: "CommandSearchIncompleteError",
      retryable: true,
    });
    expect(mock.commandCalls(ListCommandsCommand)).toHaveLength(3);
  });

  it("starts the command search at the first claim minus a margin, whatever takeovers and releases did since", () => {
    const base = { stateChangeTime: "2024-05-01T00:00:00.000Z", claimedAt: 0 };
    const claim = Date.parse("2024-05-01T00:00:02.000Z");
    expect(commandSearchStart({ ...base, firstClaimedAt: claim })).toBe(claim - 5 * 60_000);
    expect(commandSearchStart({ ...base, firstClaimedAt: claim, claimedAt: claim + 120_000 })).toBe(claim - 5 * 60_000);
    // Items written before firstClaimedAt existed: the transition precedes every claim.
    expect(commandSearchStart(base)).toBe(Date.parse(base.stateChangeTime) - 5 * 60_000);
    expect(commandSearchStart({ ...base, stateChangeTime: "garbage", claimedAt: claim })).toBe(claim - 5 * 60_000);
  });

  it("tells a SendCommand that SSM refused from one whose outcome is unknown", () => {
    const failure = (name: string, metadata?: { httpStatusCode?: number; attempts?: number }) =>
      Object.assign(new Error(name), { name, ...(metadata !== undefined ? { $metadata: metadata } : {}) });
    const refused = [
      failure("InvalidInstanceId", { httpStatusCode: 400, attempts: 1 }),
      failure("InvalidDocument", { httpStatusCode: 400 }),
      failure("InvalidParameters"),
      failure("ThrottlingException", { httpStatusCode: 400, attempts: 1 }),
      failure("AccessDeniedException", { httpStatusCode: 403, attempts: 1 }),
      new AwsCallError("SendCommand", failure("InvalidInstanceId", { httpStatusCode: 400, attempts: 1 })),
    ];
    const unknown = [
      failure("TimeoutError"),
      failure("ECONNRESET"),
      failure("InternalServerError", { httpStatusCode: 500, attempts: 1 }),
      failure("ServiceUnavailable", { httpStatusCode: 503 }),
      failure("RequestTimeout", { httpStatusCode: 408 }),
      // The SDK retried: an earlier attempt may have timed out after SSM accepted it.
      failure("ThrottlingException", { httpStatusCode: 400, attempts: 4 }),
      new AwsCallError("SendCommand", new Error("SendCommand returned no CommandId")),
      "not an error",
    ];
    expect(refused.map(isDefinitelyNotAccepted)).toEqual(refused.map(() => true));
    expect(unknown.map(isDefinitelyNotAccepted)).toEqual(unknown.map(() => false));
  });

  it("classifies errors as retryable or terminal", () => {
    expect(classifyAwsError(Object.assign(new Error("x"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } })).retryable).toBe(true);
    expect(classifyAwsError(Object.assign(new Error("x"), { name: "AccessDeniedException", $metadata: { httpStatusCode: 403 } })).retryable).toBe(false);
    expect(classifyAwsError(Object.assign(new Error("x"), { name: "InternalError", $metadata: { httpStatusCode: 500 } })).retryable).toBe(true);
    expect(classifyAwsError(Object.assign(new Error("x"), { retryable: false })).retryable).toBe(false);
  });
});
