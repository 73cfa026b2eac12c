import { instanceIdRegex } from "@procwatch/contract";
import type { LocalBudget, LocalEvent } from "./local-supervision.ts";

/**
 * What `procwatch-agent local-event` sends to the deployment's `host-reports` SQS queue: one
 * message per spooled local restart or escalation. The restart handler turns an accepted report
 * into a Slack message and nothing else, and accepts it only when the instance named here is the
 * SQS sender's own (SenderId `<role-id>:<instance-id>`). The body carries no free text: every
 * field is a name, a number or an enum, so it is small and bounded by construction.
 */
export const HOST_REPORTS_FILE_NAME = "host-reports.json";
/** The restart handler's own bound (MAX_HOST_REPORT_BYTES); a body is far below it. */
export const MAX_HOST_REPORT_BYTES = 4096;
/** Per run of `local-event`/`apply`: a crash loop's backlog goes out over several runs, never as a burst of hundreds. */
export const MAX_REPORTS_PER_RUN = 20;
/** Same pattern as the configure document's HostReportQueueUrl parameter. */
export const QUEUE_URL_PATTERN = /^https:\/\/sqs[.]([a-z0-9-]{1,40})[.]amazonaws[.]com([.]cn)?\/[0-9]{12}\/[A-Za-z0-9_-]{1,80}$/;

/** `<state-dir>/host-reports.json`, written by `apply`: where to send, as whom, with which local budget. */
export interface HostReportsConfig {
  readonly queueUrl: string;
  readonly instanceId: string;
  readonly budget: LocalBudget;
}

export type HostReportsConfigCheck = { readonly ok: true; readonly config: HostReportsConfig } | { readonly ok: false; readonly problem: string };

export function checkHostReportsConfig(value: unknown): HostReportsConfigCheck {
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const { queueUrl, instanceId, budget } = record;
  if (typeof queueUrl !== "string" || !QUEUE_URL_PATTERN.test(queueUrl))
    return {
      ok: false,
      problem: `queueUrl ${JSON.stringify(String(queueUrl).slice(0, 120))} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    };
  if (typeof instanceId !== "string" || !instanceIdRegex.test(instanceId))
    return { ok: false, problem: `instanceId ${JSON.stringify(String(instanceId).slice(0, 40))} is not an EC2 or managed-instance id` };
  const b = (typeof budget === "object" && budget !== null ? budget : {}) as Record<string, unknown>;
  if (!Number.isInteger(b.restarts) || !Number.isInteger(b.windowMinutes))
    return { ok: false, problem: "budget must be {restarts, windowMinutes} in whole numbers" };
  return { ok: true, config: { queueUrl, instanceId, budget: { restarts: b.restarts as number, windowMinutes: b.windowMinutes as number } } };
}

/** `https://sqs.eu-west-1.amazonaws.com/…` → `eu-west-1`: the queue's own region, whatever the host's. */
export function regionOfQueueUrl(queueUrl: string): string | undefined {
  return QUEUE_URL_PATTERN.exec(queueUrl)?.[1];
}

function pidOrNull(value: number | null): number | null {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 4_194_304 ? value : null;
}

function boundedOrNull(value: number | null, max: number): number | null {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max ? value : null;
}

/** The message body for one spool line, in the handler's schema (`hostReportSchema`). */
export function hostReportBody(event: LocalEvent, config: HostReportsConfig): string {
  const body = {
    type: "procwatch-host-report",
    version: 1,
    kind: event.kind,
    instanceId: config.instanceId,
    process: event.process,
    unit: event.unit,
    // The supervisor of start-command processes spools without a unit; systemd's hooks always name it.
    supervisor: event.unit === null ? "procwatch" : "systemd",
    beforePid: pidOrNull(event.beforePid),
    afterPid: pidOrNull(event.afterPid),
    downMs: boundedOrNull(event.downMs, 86_400_000),
    nRestarts: boundedOrNull(event.nRestarts, 100_000),
    budget: config.budget,
    recordedAtMs: event.recordedAtMs,
  };
  return JSON.stringify(body);
}

export interface ShipPlan {
  readonly send: readonly { readonly event: LocalEvent; readonly body: string }[];
  /** Lines that can never be a valid report (too big): skipped, so they do not block the spool. */
  readonly skipped: readonly LocalEvent[];
}

/** Oldest first, at most MAX_REPORTS_PER_RUN; the cursor moves past each one only once it is sent. */
export function planShipping(events: readonly LocalEvent[], config: HostReportsConfig): ShipPlan {
  const send: { event: LocalEvent; body: string }[] = [];
  const skipped: LocalEvent[] = [];
  for (const event of [...events].sort((a, b) => a.recordedAtMs - b.recordedAtMs)) {
    if (send.length >= MAX_REPORTS_PER_RUN) break;
    const body = hostReportBody(event, config);
    if (Buffer.byteLength(body, "utf8") > MAX_HOST_REPORT_BYTES) skipped.push(event);
    else send.push({ event, body });
  }
  return { send, skipped };
}
