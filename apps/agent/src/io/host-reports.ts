import { join } from "node:path";
import {
  checkHostReportsConfig,
  HOST_REPORTS_FILE_NAME,
  type HostReportsConfig,
  planShipping,
  QUEUE_URL_PATTERN,
  regionOfQueueUrl,
} from "../core/host-reports.ts";
import type { LocalBudget } from "../core/local-supervision.ts";
import type { AgentSettings } from "../settings.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { removeFileIfPresent } from "./file-removal.ts";
import { loadHeavyModules } from "./heavy-modules.ts";
import { markReported, readLocalEvents } from "./local-supervision.ts";
import { readTextOrNull } from "./read-optional-file.ts";
import { readTrustedJson } from "./trusted-file.ts";

/** Per message, credentials included. */
export const SEND_DEADLINE_MS = 5000;

/** One SQS SendMessage; the only AWS call of the report path. */
export interface HostReportSender {
  send(queueUrl: string, body: string): Promise<void>;
  close(): void;
}

/**
 * The SQS client comes from the heavy chunk on first use, so `health` and the hooks of hosts
 * without a queue never load it. Credentials: the SDK's default chain (the instance profile,
 * through IMDS); region: the queue's own, from its URL.
 */
export async function sqsHostReportSender(queueUrl: string): Promise<HostReportSender> {
  const { SQSClient, SendMessageCommand } = await loadHeavyModules();
  const region = regionOfQueueUrl(queueUrl);
  const client = new SQSClient({ ...(region !== undefined ? { region } : {}), maxAttempts: 2 });
  return {
    async send(url, body) {
      // The ExecStartPost= hook runs this: systemd holds the unit in "activating" until it returns,
      // so one send may never take long. What is not sent stays in the spool for the next run.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${SEND_DEADLINE_MS} ms`), { name: "TimeoutError" })), SEND_DEADLINE_MS);
      });
      try {
        await Promise.race([client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body })), deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => client.destroy(),
  };
}

export function hostReportsConfigPath(settings: Pick<AgentSettings, "stateDir">): string {
  return join(settings.stateDir, HOST_REPORTS_FILE_NAME);
}

/** `null`: reports are not configured on this host (no queue passed to apply yet). */
export function readHostReportsConfig(settings: Pick<AgentSettings, "stateDir" | "allowInsecureConfig">): HostReportsConfig | null {
  const path = hostReportsConfigPath(settings);
  const value = readTrustedJson(path, {
    allowInsecure: settings.allowInsecureConfig,
    missingHint: "procwatch-agent apply writes it from the configure document's HostReportQueueUrl",
  });
  if (value === null) return null;
  const check = checkHostReportsConfig(value);
  if (!check.ok) throw new Error(`${path}: ${check.problem}`);
  return check.config;
}

export type HostReportsConfigChange = "written" | "unchanged" | "removed" | "kept";

/**
 * Called by `apply` with PROCWATCH_HOST_REPORT_QUEUE_URL as the configure document passes it:
 * unset (an older document, or apply by hand) keeps what is there; empty removes it.
 */
export function reconcileHostReportsConfig(
  settings: Pick<AgentSettings, "stateDir">,
  queueUrl: string | undefined,
  instanceId: string | undefined,
  budget: LocalBudget,
): { change: HostReportsConfigChange; problem?: string } {
  const path = hostReportsConfigPath(settings);
  if (queueUrl === undefined) return { change: "kept" };
  if (queueUrl === "") return { change: removeFileIfPresent(path) ? "removed" : "unchanged" };
  if (!QUEUE_URL_PATTERN.test(queueUrl))
    return {
      change: "kept",
      problem: `PROCWATCH_HOST_REPORT_QUEUE_URL ${JSON.stringify(queueUrl.slice(0, 120))} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    };
  if (instanceId === undefined) return { change: "kept", problem: "the instance id is unknown (no instance metadata): this host cannot report local restarts" };
  const text = `${JSON.stringify({ queueUrl, instanceId, budget }, null, 2)}\n`;
  if (readTextOrNull(path) === text) return { change: "unchanged" };
  writeFileAtomic(path, text, { mode: 0o644 });
  return { change: "written" };
}

export interface ShipResult {
  readonly configured: boolean;
  readonly sent: number;
  /** Still in the spool after this run (a send failed, or more than one run's worth). */
  readonly pending: number;
  readonly skipped: number;
  readonly error?: string;
}

/**
 * Sends the spool's unreported events, oldest first, one SQS message each, and moves the report
 * cursor past each one SQS accepted. A failure stops the run and leaves the rest in the spool:
 * the next hook or `apply` (every 30 minutes) sends them. A message sent twice (a cursor write
 * lost after SendMessage) is one message in Slack: the handler dedupes on the event.
 */
export async function shipLocalEvents(
  settings: Pick<AgentSettings, "stateDir" | "spoolDir" | "allowInsecureConfig">,
  makeSender: (queueUrl: string) => Promise<HostReportSender> = sqsHostReportSender,
): Promise<ShipResult> {
  const config = readHostReportsConfig(settings);
  const { sinceLastReport } = readLocalEvents(settings.spoolDir);
  if (config === null) return { configured: false, sent: 0, pending: sinceLastReport.length, skipped: 0 };
  if (sinceLastReport.length === 0) return { configured: true, sent: 0, pending: 0, skipped: 0 };
  const plan = planShipping(sinceLastReport, config);
  let sent = 0;
  let error: string | undefined;
  let sender: HostReportSender | undefined;
  try {
    sender = await makeSender(config.queueUrl);
    for (const [index, { event, body }] of plan.send.entries()) {
      try {
        await sender.send(config.queueUrl, body);
      } catch (caught) {
        error = `SQS SendMessage: ${(caught as Error).name ?? "Error"}: ${String((caught as Error).message ?? caught).slice(0, 200)}`;
        break;
      }
      sent += 1;
      // Never past an event of the same millisecond that is still unsent.
      const next = plan.send[index + 1]?.event;
      markReported(settings.spoolDir, next !== undefined && next.recordedAtMs === event.recordedAtMs ? event.recordedAtMs - 1 : event.recordedAtMs);
    }
  } catch (caught) {
    error = `SQS client: ${String((caught as Error).message ?? caught).slice(0, 200)}`;
  } finally {
    sender?.close();
  }
  const pending = readLocalEvents(settings.spoolDir).sinceLastReport.length;
  return { configured: true, sent, pending, skipped: plan.skipped.length, ...(error !== undefined ? { error } : {}) };
}
