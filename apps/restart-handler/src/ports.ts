import type { RestartCommandRequest } from "./core/command.ts";
import type { FleetArrival, FleetBreakerState } from "./core/fleet-breaker.ts";
import type { CommandResultSummary, IncidentOutcome, IncidentRecord, InstanceSnapshot, ProcessLedger, ProfileLookup } from "./core/model.ts";
import type { ChatbotNotification } from "./core/notifications.ts";
import type { InvocationDetails } from "./core/result.ts";

/** Current tags and state of one instance (EC2 or SSM managed); `null` when it does not exist. */
export interface InstanceFacts {
  describe(instanceId: string): Promise<InstanceSnapshot | null>;
}

/** Named fleet profiles (`/procwatch/profiles/<name>`). */
export interface ProfileSource {
  getProfile(name: string): Promise<ProfileLookup>;
}

export type ClaimOutcome = "claimed" | "duplicate" | "conflict";

/**
 * The state that makes the handler safe under duplicate delivery and restart loops. Every write
 * is conditional; the implementation must be atomic across concurrent invocations.
 */
export interface RestartLedger {
  loadProcess(instanceId: string, processName: string): Promise<ProcessLedger>;
  getIncident(incidentId: string): Promise<IncidentRecord | undefined>;
  getIncidents(incidentIds: readonly string[]): Promise<IncidentRecord[]>;
  /**
   * Writes the incident only if it does not exist (`duplicate` otherwise) and, in the same
   * transaction, the process item only if its version is still `expectedVersion` (`conflict`).
   */
  claim(incident: IncidentRecord, process: ProcessLedger | undefined, expectedVersion: number): Promise<ClaimOutcome>;
  /** Records the command on the incident, if this invocation still holds the claim. */
  recordCommandSent(incidentId: string, claimToken: string, commandId: string, sentAt: number, notification: ChatbotNotification): Promise<boolean>;
  /** Lets a retry take the claim over at once after SSM definitely refused the SendCommand. */
  releaseClaim(incidentId: string, claimToken: string): Promise<void>;
  /**
   * Ends a claim that will never send a command (a resumed restart whose transition was
   * superseded, or whose instance no longer wants it): sets the outcome and the message still to
   * publish, if this invocation holds the claim and no command is recorded; false otherwise.
   */
  closeClaimWithoutCommand(incidentId: string, claimToken: string, outcome: IncidentOutcome, notification: ChatbotNotification | undefined): Promise<boolean>;
  /** Replaces a stale claim that never recorded a command; false when someone else holds it. */
  takeOverClaim(incidentId: string, staleToken: string, newToken: string, now: number, staleBefore: number): Promise<boolean>;
  /** Stores the final result once; false when it was already stored (a duplicate status event). */
  recordCommandResult(incidentId: string, result: CommandResultSummary, notification: ChatbotNotification): Promise<boolean>;
  /** Clears the pending message once SNS accepted it. */
  markNotified(incidentId: string, which: "story" | "result"): Promise<void>;
  /** Replaces the process item if its version is still `expectedVersion`. */
  writeProcess(process: ProcessLedger, expectedVersion: number): Promise<boolean>;

  /** The one fleet-wide breaker item (an empty closed breaker when it does not exist yet). */
  loadFleet(): Promise<FleetBreakerState>;
  /**
   * Replaces the fleet item if its version is still `expectedVersion` (0: it must not exist).
   * The one write that moves the breaker closed → open is what makes its rollup message once-only.
   */
  writeFleet(state: FleetBreakerState, expectedVersion: number): Promise<boolean>;
  /**
   * Holds an alarm back while trip `tripId` is open, in one transaction: writes the incident only
   * if it does not exist (`duplicate`) and adds it to the trip's held counts atomically (and bumps
   * the version, so a concurrent replace re-reads), only if that trip is still the open one
   * (`not-open`: it closed meanwhile).
   */
  holdAlarm(incident: IncidentRecord, tripId: string, arrival: FleetArrival, countNames: { host: boolean; process: boolean }): Promise<HoldOutcome>;
  /** Clears the trip's pending rollup once SNS accepted it. */
  markRollupPosted(tripId: string): Promise<void>;
  /** Records a follow-up notice on an incident once; false when it was already recorded. */
  markNotice(incidentId: string, notice: IncidentNotice, at: number): Promise<boolean>;
}

export type HoldOutcome = "held" | "duplicate" | "not-open";
/** `stuck`: the restart's final status never arrived; `unrecovered`: restarted, but its alarm never went OK. */
export type IncidentNotice = "stuck" | "unrecovered";

/** A restart command SSM lists for the restart document (ListCommands), reduced. */
export interface ListedRestartCommand {
  readonly commandId: string;
  readonly comment?: string;
  readonly instanceIds: readonly string[];
  readonly status: string;
  readonly requestedAt?: number;
}

/** Recent restart commands, for the sweep that notices lost results and stuck restarts. */
export interface CommandHistory {
  listSince(documentName: string, since: number): Promise<ListedRestartCommand[]>;
}

export interface SentCommand {
  readonly commandId: string;
}

export interface CommandSender {
  send(request: RestartCommandRequest): Promise<SentCommand>;
  /** A command for this incident that SSM already accepted (found by its comment), if any. */
  findSentForIncident(instanceId: string, documentName: string, incidentId: string, since: number): Promise<SentCommand | undefined>;
  /** `undefined` when the invocation does not exist (any more). */
  getInvocation(commandId: string, instanceId: string): Promise<InvocationDetails | undefined>;
}

export interface Notifier {
  publish(notification: ChatbotNotification): Promise<void>;
}

/** Structured logging; Powertools Logger satisfies it. One line per decision. */
export interface DecisionLog {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/**
 * procwatch's own counters (CloudWatch namespace `procwatch`). The names are the ones the
 * dashboard in apps/infra reads (`PROCWATCH_METRICS`), plus `InputsDropped`.
 */
export type RestartMetricName =
  /** SSM accepted a restart command (one per SendCommand, never again for a resumed claim). */
  | "RestartsSent"
  /** The restart command ended `Success`. */
  | "RestartsSucceeded"
  /** The restart command ended in any other terminal status (Failed, TimedOut, Undeliverable, Cancelled, Terminated). */
  | "RestartsFailed"
  /** The restart budget was exhausted and a human was asked to step in. */
  | "GaveUp"
  /** Bad, foreign or unmatched input, dropped without an AWS write. */
  | "InputsDropped"
  /** A valid alarm transition older than one already seen for its process (a late delivery), dropped: no claim, command or message. */
  | "StaleTransitionsDropped"
  /**
   * A delivery found its transition claimed by an invocation still sending and threw, on purpose,
   * so the platform delivers it again later. Each one is also one Lambda `Errors` datapoint.
   */
  | "DuplicatesDeferred"
  /** The fleet-wide breaker tripped (once per trip). */
  | "BreakerTripped"
  /** An alarm held back while the breaker was open: no command, no message of its own. */
  | "RestartsHeld"
  /** No restart because the host reached HOST_RESTART_LIMIT. */
  | "HostLimited"
  /** SSM refused the command with InvalidInstanceId: the host is not reachable through SSM. */
  | "HostsUnreachable"
  /** A restart whose result never arrived, or whose alarm never went OK, was reported by the sweep. */
  | "RestartsStuck";

/** Counts decision outcomes; the Lambda entry publishes them once per invocation. */
export interface RestartMetrics {
  count(name: RestartMetricName, value?: number): void;
}

export interface Clock {
  now(): number;
}

export interface RestartHandlerPorts {
  readonly instances: InstanceFacts;
  readonly profiles: ProfileSource;
  readonly ledger: RestartLedger;
  readonly commands: CommandSender;
  /** Omitted (the demo's local Run Command stand-in): the sweep then checks only the breaker. */
  readonly commandHistory?: CommandHistory;
  readonly notifier: Notifier;
  readonly log: DecisionLog;
  /** Omitted by the demo and the benchmark, which publish no metrics. */
  readonly metrics?: RestartMetrics;
  readonly clock?: Clock;
  /** Random claim tokens; injectable so tests are deterministic. */
  readonly newToken?: () => string;
}
