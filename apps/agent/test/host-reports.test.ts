import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// The handler's own schema: what the agent sends must be what the restart handler accepts.
import { MAX_HOST_REPORT_BYTES as HANDLER_MAX_BYTES, hostReportSchema } from "../../restart-handler/src/inbound/schemas.ts";
import {
  checkHostReportsConfig,
  hostReportBody,
  MAX_HOST_REPORT_BYTES,
  MAX_REPORTS_PER_RUN,
  planShipping,
  regionOfQueueUrl,
} from "../src/core/host-reports.ts";
import type { LocalEvent } from "../src/core/local-supervision.ts";
import { type HostReportSender, reconcileHostReportsConfig, shipLocalEvents, sqsHostReportSender } from "../src/io/host-reports.ts";
import { appendLocalEvent, readLocalEvents } from "../src/io/local-supervision.ts";

const QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/procwatch-HostReportQueue-abc";
const INSTANCE = "i-03e6aec1a93443558";
const BUDGET = { restarts: 3, windowMinutes: 30 };
const CONFIG = { queueUrl: QUEUE_URL, instanceId: INSTANCE, budget: BUDGET };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function hostDirs(): { stateDir: string; spoolDir: string; allowInsecureConfig: boolean } {
  const dir = mkdtempSync(join(tmpdir(), "pw-reports-"));
  dirs.push(dir);
  return { stateDir: join(dir, "etc"), spoolDir: join(dir, "spool"), allowInsecureConfig: true };
}

function event(index: number, overrides: Partial<LocalEvent> = {}): LocalEvent {
  return {
    kind: "local-restart",
    recordedAtMs: 1_765_083_600_000 + index,
    process: "web",
    unit: "web.service",
    beforePid: 800 + index,
    afterPid: 900 + index,
    downMs: 130,
    escalated: false,
    nRestarts: index,
    detail: `systemd restarted web.service (restart ${index}) ${"x".repeat(300)}`,
    ...overrides,
  };
}

/** A stand-in for SQS: records bodies; `failAt` makes that send (0-based, over its life) throw. */
class RecordingSender implements HostReportSender {
  readonly bodies: string[] = [];
  private calls = 0;
  constructor(private readonly failAt: number | null = null) {}
  async send(_url: string, body: string): Promise<void> {
    const call = this.calls++;
    if (call === this.failAt) throw Object.assign(new Error("getaddrinfo EAI_AGAIN sqs.eu-west-1.amazonaws.com"), { name: "Error" });
    this.bodies.push(body);
  }
  close(): void {}
}

describe("host report bodies (pure)", () => {
  it("are what the restart handler's schema accepts, bounded, without free text", () => {
    const bodies = [
      hostReportBody(event(2), CONFIG),
      hostReportBody(event(3, { kind: "local-escalation", afterPid: null, downMs: null, escalated: true }), CONFIG),
      hostReportBody(event(1, { unit: null }), CONFIG),
    ];
    for (const body of bodies) {
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_HOST_REPORT_BYTES);
      expect(hostReportSchema.safeParse(JSON.parse(body)).success, body).toBe(true);
      expect(body).not.toContain("xxx");
    }
    expect(MAX_HOST_REPORT_BYTES).toBe(HANDLER_MAX_BYTES);
    expect(JSON.parse(bodies[0] ?? "{}")).toMatchObject({
      instanceId: INSTANCE,
      supervisor: "systemd",
      beforePid: 802,
      afterPid: 902,
      downMs: 130,
      nRestarts: 2,
      budget: BUDGET,
    });
    expect(JSON.parse(bodies[2] ?? "{}")).toMatchObject({ supervisor: "procwatch", unit: null });
  });

  it("drops out-of-range numbers to null instead of sending what the handler would refuse", () => {
    const body = JSON.parse(hostReportBody(event(1, { beforePid: -5, afterPid: 1.5, downMs: -1 }), CONFIG));
    expect(body).toMatchObject({ beforePid: null, afterPid: null, downMs: null });
    expect(hostReportSchema.safeParse(body).success).toBe(true);
  });

  it("sends at most MAX_REPORTS_PER_RUN per run, oldest first", () => {
    const plan = planShipping(
      Array.from({ length: MAX_REPORTS_PER_RUN + 5 }, (_, index) => event(MAX_REPORTS_PER_RUN + 5 - index)),
      CONFIG,
    );
    expect(plan.send).toHaveLength(MAX_REPORTS_PER_RUN);
    expect(plan.send[0]?.event.nRestarts).toBe(1);
  });

  it("checks host-reports.json, naming the bad field and its value", () => {
    expect(checkHostReportsConfig(CONFIG)).toEqual({ ok: true, config: CONFIG });
    expect(checkHostReportsConfig({ ...CONFIG, queueUrl: "https://evil.example/q" })).toMatchObject({
      ok: false,
      problem: expect.stringContaining('queueUrl "https://evil.example/q"'),
    });
    expect(checkHostReportsConfig({ ...CONFIG, instanceId: "web-1" })).toMatchObject({ ok: false, problem: expect.stringContaining('instanceId "web-1"') });
    expect(regionOfQueueUrl(QUEUE_URL)).toBe("eu-west-1");
  });
});

describe("shipping the spool", () => {
  it("does nothing without host-reports.json: events stay in the spool", async () => {
    const host = hostDirs();
    appendLocalEvent(host.spoolDir, event(1));
    const sender = new RecordingSender();
    const result = await shipLocalEvents(host, async () => sender);
    expect(result).toMatchObject({ configured: false, sent: 0, pending: 1 });
    expect(sender.bodies).toEqual([]);
  });

  it("sends one message per new event and marks them reported", async () => {
    const host = hostDirs();
    reconcileHostReportsConfig(host, QUEUE_URL, INSTANCE, BUDGET);
    for (const index of [1, 2, 3]) appendLocalEvent(host.spoolDir, event(index));
    const sender = new RecordingSender();
    expect(await shipLocalEvents(host, async () => sender)).toMatchObject({ configured: true, sent: 3, pending: 0 });
    expect(sender.bodies.map((body) => JSON.parse(body).nRestarts)).toEqual([1, 2, 3]);
    expect(readLocalEvents(host.spoolDir).sinceLastReport).toEqual([]);
    // Nothing new: nothing sent again.
    expect(await shipLocalEvents(host, async () => sender)).toMatchObject({ sent: 0, pending: 0 });
    expect(sender.bodies).toHaveLength(3);
  });

  it("keeps what failed in the spool, and the next run sends it (once)", async () => {
    const host = hostDirs();
    reconcileHostReportsConfig(host, QUEUE_URL, INSTANCE, BUDGET);
    for (const index of [1, 2, 3]) appendLocalEvent(host.spoolDir, event(index));
    const flaky = new RecordingSender(1);
    const first = await shipLocalEvents(host, async () => flaky);
    expect(first).toMatchObject({ sent: 1, pending: 2, error: expect.stringContaining("EAI_AGAIN") });
    expect(readLocalEvents(host.spoolDir).sinceLastReport.map((entry) => entry.nRestarts)).toEqual([2, 3]);
    const next = new RecordingSender();
    expect(await shipLocalEvents(host, async () => next)).toMatchObject({ sent: 2, pending: 0 });
    expect(next.bodies.map((body) => JSON.parse(body).nRestarts)).toEqual([2, 3]);
  });

  it("keeps everything when the client cannot even be built", async () => {
    const host = hostDirs();
    reconcileHostReportsConfig(host, QUEUE_URL, INSTANCE, BUDGET);
    appendLocalEvent(host.spoolDir, event(1));
    const result = await shipLocalEvents(host, async () => {
      throw new Error("Could not load credentials from any providers");
    });
    expect(result).toMatchObject({ sent: 0, pending: 1, error: expect.stringContaining("credentials") });
  });

  it("apply's part: writes host-reports.json for a valid queue, keeps it when unset, removes it when empty, refuses a bad URL", () => {
    const host = hostDirs();
    expect(reconcileHostReportsConfig(host, QUEUE_URL, INSTANCE, BUDGET).change).toBe("written");
    expect(JSON.parse(readFileSync(join(host.stateDir, "host-reports.json"), "utf8"))).toEqual(CONFIG);
    expect(reconcileHostReportsConfig(host, QUEUE_URL, INSTANCE, BUDGET).change).toBe("unchanged");
    expect(reconcileHostReportsConfig(host, undefined, INSTANCE, BUDGET).change).toBe("kept");
    expect(reconcileHostReportsConfig(host, "https://sqs.eu-west-1.amazonaws.com/1/x;reboot", INSTANCE, BUDGET)).toMatchObject({
      change: "kept",
      problem: expect.stringContaining("is not an SQS queue URL"),
    });
    expect(reconcileHostReportsConfig(host, QUEUE_URL, undefined, BUDGET)).toMatchObject({ change: "kept", problem: expect.stringContaining("instance id") });
    expect(reconcileHostReportsConfig(host, "", INSTANCE, BUDGET).change).toBe("removed");
  });
});

describe("the SQS sender (real SDK client against a local stand-in, no AWS)", () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it("sends SendMessage with the body to the queue URL", async () => {
    const received: { target: string | undefined; body: Record<string, unknown> }[] = [];
    server = createServer((request, response) => {
      let text = "";
      request.on("data", (chunk) => {
        text += chunk;
      });
      request.on("end", () => {
        const body = JSON.parse(text) as { MessageBody: string };
        received.push({ target: request.headers["x-amz-target"] as string | undefined, body });
        response.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
        response.end(JSON.stringify({ MessageId: "m-1", MD5OfMessageBody: createHash("md5").update(body.MessageBody).digest("hex") }));
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const saved = { ...process.env };
    // The SQS client sends to the queue URL's own host (useQueueUrlAsEndpoint): here, the stand-in.
    const localQueueUrl = `http://127.0.0.1:${port}/123456789012/procwatch-HostReportQueue-abc`;
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    try {
      const sender = await sqsHostReportSender(QUEUE_URL);
      await sender.send(localQueueUrl, hostReportBody(event(2), CONFIG));
      sender.close();
    } finally {
      for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
    expect(received).toHaveLength(1);
    expect(received[0]?.target).toBe("AmazonSQS.SendMessage");
    expect(received[0]?.body.QueueUrl).toBe(localQueueUrl);
    expect(JSON.parse(String(received[0]?.body.MessageBody))).toMatchObject({ instanceId: INSTANCE, process: "web", kind: "local-restart" });
  });
});
