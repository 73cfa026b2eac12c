import type { Dimension, SpecDocument, SpecIssue } from "@procwatch/contract";
import type { AlarmSignalKind } from "./alarm-signal.ts";
import type { HostReportDelivery } from "./host-report.ts";
import type { ChatbotNotification } from "./notifications.ts";

export const ALARM_STATES = ["OK", "ALARM", "INSUFFICIENT_DATA"] as const;
export type AlarmState = (typeof ALARM_STATES)[number];

/** How the alarm reached the handler; kept for logs and to tell duplicate routes apart. */
export type AlarmRoute = "sns" | "eventbridge" | "lambda-action";

/**
 * One alarm state change, whatever envelope it came in. Strings are as received (bounded in
 * length by the schemas) and are validated against the contract before anything uses them.
 */
export interface AlarmTransition {
  readonly route: AlarmRoute;
  readonly alarmName: string;
  readonly alarmArn?: string;
  /** `undefined` when the payload does not carry the description at all. */
  readonly description?: string | null;
  readonly accountId: string;
  /** Region code (`eu-west-1`), from the alarm ARN or the event. */
  readonly region?: string;
  readonly state: AlarmState;
  readonly previousState?: AlarmState;
  /** ISO-8601, normalized; with the alarm name this is the idempotency key. */
  readonly stateChangeTime: string;
  readonly reason: string;
  /** CloudWatch's structured reason (EventBridge and Lambda alarm actions carry it; SNS does not). */
  readonly reasonData?: string;
  readonly namespace?: string;
  readonly metricName?: string;
  /** `undefined` when the payload has no metric dimensions (a metric-math or composite alarm). */
  readonly dimensions?: readonly Dimension[];
}

/** The EventBridge "EC2 Command Invocation Status-change Notification", reduced. */
export interface CommandStatusChange {
  readonly commandId: string;
  readonly instanceId: string;
  readonly documentName: string;
  readonly status: string;
  readonly accountId: string;
  readonly region: string;
  readonly eventTime: string;
}

/** `{"action":"reset-budget","instanceId":"i-…","processName":"nginx"}` invoked directly by an operator. */
export interface BudgetResetRequest {
  readonly instanceId: string;
  readonly processName: string;
  readonly requestedBy?: string;
}

/** `{"action":"reset-breaker"}` closes the fleet breaker now; `{"action":"trip-breaker"}` opens it on purpose. */
export interface BreakerRequest {
  readonly action: "reset-breaker" | "trip-breaker";
  readonly requestedBy?: string;
}

export type InboundItem =
  | { readonly kind: "alarm"; readonly transition: AlarmTransition }
  | { readonly kind: "command-status"; readonly change: CommandStatusChange }
  | { readonly kind: "reset-budget"; readonly request: BudgetResetRequest }
  | { readonly kind: "breaker"; readonly request: BreakerRequest }
  /** `{"action":"sweep"}` from the schedule: resume an expired breaker, report stuck restarts. */
  | { readonly kind: "sweep" }
  /** A host's own supervision report (SQS `host-reports`): a message at most, never a command. */
  | { readonly kind: "host-report"; readonly delivery: HostReportDelivery }
  | { readonly kind: "rejected"; readonly reason: RejectReason; readonly detail: string; readonly messageId?: string };

export type RejectReason =
  | "malformed-event"
  | "unknown-event"
  | "malformed-sns-message"
  | "malformed-alarm"
  | "malformed-command-status"
  | "malformed-reset-request"
  | "malformed-breaker-request"
  | "malformed-host-report";

/** What the EC2 (or SSM managed-instance) inventory says about an instance right now. */
export interface InstanceSnapshot {
  readonly instanceId: string;
  /** EC2 state name, or `managed` for SSM managed (on-premises) instances. */
  readonly state: string;
  readonly name?: string;
  readonly tags: Readonly<Record<string, string>>;
  /** DescribeInstances `ImageId`/`InstanceType` (EC2 only): part of the alarm's dimensions (contract `metricHostOf`). */
  readonly imageId?: string;
  readonly instanceType?: string;
}

export type ProfileLookup = { readonly found: true; readonly document: SpecDocument } | { readonly found: false; readonly issues?: readonly SpecIssue[] };

/** One restart attempt counted against the budget. */
export interface RestartAttempt {
  readonly incidentId: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** An alarm transition as the ledger remembers it: enough to tell a late delivery from a new one. */
export interface SeenTransition {
  /** ISO-8601 UTC, normalized like {@link AlarmTransition.stateChangeTime}. */
  readonly stateChangeTime: string;
  readonly state: AlarmState;
}

/** The per-(instance, process) ledger item: budget attempts and the incident a recovery threads onto. */
export interface ProcessLedger {
  readonly instanceId: string;
  readonly processName: string;
  /** 0 when the item does not exist yet; every write bumps it (optimistic concurrency). */
  readonly version: number;
  readonly attempts: readonly RestartAttempt[];
  readonly openIncidentId?: string;
  /** Epoch ms of the last explicit budget reset. */
  readonly resetAt?: number;
  /**
   * The newest transition of this process's alarm seen so far, whatever was done with it (an
   * ignored OK included). Only ever moves forward; a transition older than it is a late delivery.
   */
  readonly lastTransition?: SeenTransition;
}

/** `superseded`: a half-finished restart claim closed without a command because a newer transition arrived meanwhile. */
/**
 * `held`: an ALARM held back by the open fleet breaker (no command, no message of its own);
 * `host-limited`: no command because its host reached HOST_RESTART_LIMIT;
 * `unreachable`: SSM refused the command with InvalidInstanceId (budget slot given back).
 */
export type IncidentOutcome = "restarting" | "gave-up" | "not-restarted" | "recovered" | "notified" | "superseded" | "held" | "host-limited" | "unreachable";

/** The per-transition ledger item. For an ALARM transition it is the incident. */
export interface IncidentRecord {
  readonly incidentId: string;
  readonly alarmName: string;
  readonly state: AlarmState;
  readonly stateChangeTime: string;
  readonly instanceId: string;
  readonly processName: string;
  readonly outcome: IncidentOutcome;
  /** Thread every message of this story goes to. */
  readonly threadId: string;
  /** Epoch ms when the claim was written (or taken over); 0 once released after a definite SendCommand rejection. */
  readonly claimedAt: number;
  /**
   * Epoch ms of the first claim, never changed by a takeover or a release: no command for this
   * incident can predate it, so the search for one (`ListCommands`) starts there. Absent on
   * items written before it existed.
   */
  readonly firstClaimedAt?: number;
  /** Random per claim; a stale claim is taken over by replacing it conditionally. */
  readonly claimToken: string;
  readonly attempt?: number;
  /** For an ALARM: whether the count fell to 0 or stopped arriving (see alarm-signal.ts). */
  readonly signal?: AlarmSignalKind;
  readonly commandId?: string;
  readonly commandSentAt?: number;
  readonly result?: CommandResultSummary;
  /**
   * A message decided but not yet confirmed published. A retry after a failed Publish finds it
   * here and sends it, so "gave up — needs a human" is never lost to a transient SNS error.
   */
  readonly pendingNotification?: ChatbotNotification;
  readonly pendingResultNotification?: ChatbotNotification;
  /** Epoch ms the sweep reported the restart's result as overdue. */
  readonly stuckNoticeAt?: number;
  /** Epoch ms the sweep reported that the alarm stayed in ALARM after the restart. */
  readonly unrecoveredNoticeAt?: number;
}

export interface CommandResultSummary {
  readonly status: string;
  readonly statusDetails?: string;
  readonly finishedAt: number;
  readonly agent?: AgentRestartReport;
}

/** What the host agent printed (`procwatch-agent restart --json`), parsed leniently, display only. */
export interface AgentRestartReport {
  readonly ok?: boolean;
  readonly outcome?: string;
  readonly beforePids?: readonly number[];
  readonly afterPids?: readonly number[];
  readonly message?: string;
}
