import { createHash } from "node:crypto";
import type { HandlerConfig } from "../config.ts";
import { resolveCurrentSpec } from "./decide.ts";
import type { FleetBreakerSettings } from "./fleet-breaker.ts";
import { threadIdFor } from "./identity.ts";
import { instanceArnFor, instanceConsoleUrl } from "./links.ts";
import { formatTime } from "./messages.ts";
import type { IncidentRecord, InstanceSnapshot, ProcessLedger, ProfileLookup } from "./model.ts";
import { type ChatbotNotification, escapeMarkdown, link } from "./notifications.ts";

/**
 * A report from a host's own supervision (`detection=local`): systemd or procwatch's supervisor
 * restarted a process on the host, or gave up. It arrives on the `host-reports` SQS queue, which
 * every opted-in host may write to, so it is untrusted: it may only ever become a Slack message,
 * about the host that sent it, bounded per host. Nothing on this path can send a command.
 */
export interface HostReport {
  readonly kind: "local-restart" | "local-escalation";
  /** The instance the report speaks for; must equal the session of the SQS sender (the instance id). */
  readonly instanceId: string;
  readonly process: string;
  readonly unit: string | null;
  /** Who restarted it: systemd (drop-in) or procwatch's own supervisor (start-command processes). */
  readonly supervisor: "systemd" | "procwatch";
  readonly beforePid: number | null;
  readonly afterPid: number | null;
  readonly downMs: number | null;
  /** Restarts in the current local run (systemd's NRestarts), for "local 2/3". */
  readonly nRestarts: number | null;
  /** The host's local budget, as `apply` rendered it. */
  readonly budget: { readonly restarts: number; readonly windowMinutes: number } | null;
  /** Epoch ms the host recorded the event; also what makes the event id unique on the host. */
  readonly recordedAtMs: number;
}

/** One SQS message with its system attributes; the body is already parsed and bounded. */
export interface HostReportDelivery {
  readonly messageId: string;
  /** SQS `SenderId`: for an instance role, `<role-id>:<instance-id>` (the instance profile's session name). */
  readonly senderId: string;
  readonly report: HostReport;
}

export type HostReportRejection =
  | "report-sender-mismatch"
  | "report-instance-unknown"
  | "report-instance-not-opted-in"
  | "report-process-not-local"
  | "report-spec-unresolved";

/**
 * The sender's session name, i.e. what `<role-id>:<session>` says after the colon. An IAM user
 * (`AIDA…`, no colon) or anything else without a session yields `undefined`: such a sender can
 * never speak for an instance.
 */
export function senderSession(senderId: string): string | undefined {
  const colon = senderId.indexOf(":");
  if (colon <= 0 || colon === senderId.length - 1) return undefined;
  return senderId.slice(colon + 1);
}

/** A report is accepted only from the instance it names: the session of its SQS sender must be that instance id. */
export function senderMatches(delivery: Pick<HostReportDelivery, "senderId" | "report">): boolean {
  return senderSession(delivery.senderId) === delivery.report.instanceId;
}

/**
 * Deterministic per event, so a redelivered message (SQS is at-least-once, the agent retries
 * unacknowledged sends) lands on the same ledger item and is posted once. Namespaced with `local`
 * so it can never equal an alarm transition's id.
 */
export function localIncidentIdFor(report: Pick<HostReport, "instanceId" | "process" | "kind" | "recordedAtMs">): string {
  return createHash("sha256").update(`local\n${report.instanceId}\n${report.process}\n${report.kind}\n${report.recordedAtMs}`).digest("hex").slice(0, 16);
}

/** Pseudo process name of the per-host report counter in the ledger: never a valid process name (`#`). */
export const HOST_REPORTS_LEDGER_NAME = "#local-reports";
/** Messages per host per window: a local process may post its budget's restarts plus one escalation, for several processes. */
export const LOCAL_REPORTS_PER_HOST_RESTART = 4;

export function hostReportLimit(settings: FleetBreakerSettings): number {
  return settings.hostRestartLimit * LOCAL_REPORTS_PER_HOST_RESTART;
}

export type HostReportScreen =
  | { readonly accepted: true; readonly instanceName?: string; readonly unit: string }
  | { readonly accepted: false; readonly reason: HostReportRejection; readonly detail: string };

/** Sender first (no AWS read for a forged report), then the instance's *current* tags: opted in, and the process `local`. */
export function screenHostReport(
  delivery: HostReportDelivery,
  instance: InstanceSnapshot | null | "not-read",
  profile: ProfileLookup | undefined,
  config: HandlerConfig,
): HostReportScreen {
  const { report } = delivery;
  if (!senderMatches(delivery))
    return {
      accepted: false,
      reason: "report-sender-mismatch",
      detail: `report names instance ${report.instanceId} but SQS SenderId "${escapeMarkdown(delivery.senderId, 140)}" is session ${senderSession(delivery.senderId) ?? "(none)"}; a host may only report for itself`,
    };
  if (instance === "not-read" || instance === null)
    return { accepted: false, reason: "report-instance-unknown", detail: `instance ${report.instanceId} does not exist or is not visible to procwatch` };
  const resolved = resolveCurrentSpec(instance, profile, config);
  if (!resolved.ok) {
    const reason =
      resolved.reason === "not-opted-in"
        ? "report-instance-not-opted-in"
        : resolved.reason === "instance-gone"
          ? "report-instance-unknown"
          : "report-spec-unresolved";
    return { accepted: false, reason, detail: `instance ${report.instanceId}: ${resolved.explanation}` };
  }
  const process = resolved.spec.processes.find((candidate) => candidate.name === report.process);
  if (process === undefined || process.detection !== "local")
    return {
      accepted: false,
      reason: "report-process-not-local",
      detail: `process ${report.process} on ${report.instanceId} is ${process === undefined ? "not watched" : `detection=${process.detection}`} in the instance's current tags; only detection=local processes report`,
    };
  return { accepted: true, unit: process.unit, ...(instance.name !== undefined ? { instanceName: instance.name } : {}) };
}

export type HostReportBound =
  /** This report's incident is already counted (a redelivery): post it if its message is still pending. */
  | { readonly kind: "already-counted" }
  | { readonly kind: "post"; readonly next: ProcessLedger }
  /** The first report past the limit in the window: one rollup message instead of this report's own. */
  | { readonly kind: "rollup"; readonly next: ProcessLedger; readonly recent: number }
  /** Past the limit, rollup already posted: counted in the log only. */
  | { readonly kind: "suppress"; readonly recent: number };

const ROLLUP_PREFIX = "rollup-";

/**
 * Per-host bound on report messages, kept in a ledger item of its own (`process#<host>##local-reports`,
 * version-conditioned like every process item): at most `limit` messages per window, then one rollup,
 * then silence until the window moves on. A flood from one host is one rollup, not hundreds of messages.
 */
export function decideHostReportBound(ledger: ProcessLedger, incidentId: string, limit: number, windowMinutes: number, now: number): HostReportBound {
  if (ledger.attempts.some((attempt) => attempt.incidentId === incidentId)) return { kind: "already-counted" };
  const since = now - windowMinutes * 60_000;
  const kept = ledger.attempts.filter((attempt) => attempt.at > since);
  const posted = kept.filter((attempt) => !attempt.incidentId.startsWith(ROLLUP_PREFIX));
  const next = (attempts: ProcessLedger["attempts"]): ProcessLedger => ({ ...ledger, version: ledger.version + 1, attempts });
  if (posted.length < limit) return { kind: "post", next: next([...kept, { incidentId, at: now }]) };
  if (kept.some((attempt) => attempt.incidentId.startsWith(ROLLUP_PREFIX))) return { kind: "suppress", recent: posted.length };
  return { kind: "rollup", recent: posted.length, next: next([...kept, { incidentId: `${ROLLUP_PREFIX}${incidentId}`, at: now }]) };
}

function hostPlain(instanceId: string, instanceName: string | undefined): string {
  return instanceName !== undefined && instanceName !== "" ? escapeMarkdown(instanceName, 40) : instanceId;
}

function hostLabel(instanceId: string, instanceName: string | undefined): string {
  return instanceName !== undefined && instanceName !== "" ? `*${escapeMarkdown(instanceName, 80)}* (\`${instanceId}\`)` : `\`${instanceId}\``;
}

function pid(value: number | null): string {
  return value === null ? "?" : String(value);
}

function downText(downMs: number | null): string {
  if (downMs === null) return "";
  return downMs < 10_000 ? ` in ${downMs} ms` : ` in ${Math.round(downMs / 1000)} s`;
}

export interface HostReportContext {
  readonly region: string;
  readonly accountId: string;
  readonly instanceName?: string;
  readonly unit: string;
}

/** The Slack message for one accepted report: a message only, threaded like every incident. */
export function hostReportMessage(report: HostReport, incidentId: string, context: HostReportContext): ChatbotNotification {
  const host = hostPlain(report.instanceId, context.instanceName);
  const by = report.supervisor === "systemd" ? "systemd" : "procwatch's supervisor";
  const budget = report.budget;
  const local =
    budget !== null && report.nRestarts !== null
      ? ` (local ${report.nRestarts}/${budget.restarts} in ${budget.windowMinutes} min)`
      : report.nRestarts !== null
        ? ` (local restart ${report.nRestarts})`
        : "";
  const processName = report.process;
  const unitText = `\`${processName}\` (unit \`${context.unit}\`)`;
  const recorded = `*Recorded* on the host at ${formatTime(report.recordedAtMs)}.`;
  const common = {
    threadId: threadIdFor(report.instanceId, processName, incidentId),
    relatedResources: [instanceArnFor(context.region, context.accountId, report.instanceId)],
    additionalContext: { incidentId, instanceId: report.instanceId, processName, detection: "local" },
  };
  if (report.kind === "local-restart") {
    const title = `:recycle: ${processName} restarted on ${host} by ${by}${downText(report.downMs)} — PID ${pid(report.beforePid)} → ${pid(report.afterPid)}${local}`;
    return {
      version: "1.0",
      source: "custom",
      id: `${incidentId}-local-restart`,
      content: {
        textType: "client-markdown",
        title: title.slice(0, 250),
        description: [
          `*Process* ${unitText} on ${hostLabel(report.instanceId, context.instanceName)} exited and was restarted on the host by ${by} (\`detection=local\`).`,
          `*PIDs* before ${pid(report.beforePid)} → after ${pid(report.afterPid)}; down ${report.downMs === null ? "unknown" : `${report.downMs} ms`}.`,
          recorded,
          `*Incident* \`${incidentId}\` (local). No command was sent: the CloudWatch alarm stays the backstop.`,
        ].join("\n"),
        nextSteps: [
          `If it keeps happening: \`journalctl -u ${context.unit}\` on the host; local supervision gives up after its budget and the alarm takes over.`,
        ],
        keywords: ["procwatch", processName, report.instanceId, "local", "local-restart"],
      },
      metadata: { ...common, summary: `${processName} on ${report.instanceId}: restarted locally by ${by}`, eventType: "local-restart" },
    };
  }
  const restarts = report.nRestarts ?? budget?.restarts;
  const window = budget !== null ? ` in ${budget.windowMinutes} min` : "";
  return {
    version: "1.0",
    source: "custom",
    id: `${incidentId}-local-escalation`,
    content: {
      textType: "client-markdown",
      title:
        `:octagonal_sign: local supervision of ${processName} on ${host} gave up after ${restarts ?? "?"} restarts${window} — the CloudWatch alarm takes over`.slice(
          0,
          250,
        ),
      description: [
        `*Process* ${unitText} on ${hostLabel(report.instanceId, context.instanceName)}: ${by} stopped restarting it (local budget spent, or the unit could not be restarted).`,
        `*Last PID* ${pid(report.beforePid)}.`,
        recorded,
        `*Next* the process stays down, so its CloudWatch alarm fires on the standard cadence and the central restart runs once, within the restart handler's budget; that story gets its own thread.`,
        `*Incident* \`${incidentId}\` (local).`,
      ].join("\n"),
      nextSteps: [
        `Find why it keeps exiting: \`journalctl -u ${context.unit}\` on the host (${link(instanceConsoleUrl(context.region, report.instanceId), "instance")}).`,
        `\`procwatch-agent restart --process ${processName}\` clears systemd's start limit and starts it once.`,
      ],
      keywords: ["procwatch", processName, report.instanceId, "local", "local-escalation", "needs-human"],
    },
    metadata: { ...common, summary: `${processName} on ${report.instanceId}: local supervision gave up`, eventType: "local-escalation" },
  };
}

/** The one message a flooding host gets per window instead of one per report. */
export function hostReportRollupMessage(
  report: HostReport,
  incidentId: string,
  recent: number,
  limit: number,
  windowMinutes: number,
  context: Omit<HostReportContext, "unit">,
): ChatbotNotification {
  const host = hostPlain(report.instanceId, context.instanceName);
  return {
    version: "1.0",
    source: "custom",
    id: `${incidentId}-local-reports-limited`,
    content: {
      textType: "client-markdown",
      title: `:octagonal_sign: ${host} sent ${recent} local supervision reports in ${windowMinutes} min — further ones are not posted`.slice(0, 250),
      description: [
        `*Host* ${hostLabel(report.instanceId, context.instanceName)} reached the per-host bound on local reports (${limit} per ${windowMinutes} min).`,
        "Later reports from this host in the window are only logged (`report-host-limited`); nothing is ever restarted from a report.",
        `*Incident* \`${incidentId}\` (local).`,
      ].join("\n"),
      nextSteps: [
        `Look at the host: ${link(instanceConsoleUrl(context.region, report.instanceId), "instance")}, \`journalctl -b\` (a crash loop, or a host writing reports it should not).`,
      ],
      keywords: ["procwatch", report.instanceId, "local", "host-limited", "needs-human"],
    },
    metadata: {
      threadId: `procwatch/${report.instanceId}/local-reports/${incidentId}`,
      summary: `${report.instanceId}: local report limit ${limit} reached`,
      eventType: "local-reports-limited",
      relatedResources: [instanceArnFor(context.region, context.accountId, report.instanceId)],
      additionalContext: { incidentId, instanceId: report.instanceId, detection: "local" },
    },
  };
}

/** The ledger item of an accepted report: dedupe key and pending message, never a command. */
export function hostReportRecord(
  report: HostReport,
  incidentId: string,
  now: number,
  notification: ChatbotNotification | undefined,
  claimToken: string,
): IncidentRecord {
  return {
    incidentId,
    alarmName: `local/${report.instanceId}/${report.process}`,
    state: report.kind === "local-restart" ? "OK" : "ALARM",
    stateChangeTime: new Date(report.recordedAtMs).toISOString(),
    instanceId: report.instanceId,
    processName: report.process,
    outcome: notification === undefined ? "held" : "notified",
    threadId: threadIdFor(report.instanceId, report.process, incidentId),
    claimedAt: now,
    firstClaimedAt: now,
    claimToken,
    ...(notification !== undefined ? { pendingNotification: notification } : {}),
  };
}
