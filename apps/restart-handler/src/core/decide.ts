import {
  type AlarmIdentity,
  alarmDimensionsFor,
  type Dimension,
  formatIssue,
  type HostSpec,
  metricHostOf,
  type ParseResult,
  parseInstanceTags,
  resolveHostSpec,
  type SpecIssue,
} from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import { alarmSignalOf, describeAlarmSignal } from "./alarm-signal.ts";
import { type RestartCommandRequest, restartCommandFor } from "./command.ts";
import { threadIdFor } from "./identity.ts";
import {
  budgetResetMessage,
  gaveUpMessage,
  insufficientDataMessage,
  type NotRestartedReason,
  notRestartedMessage,
  recoveredMessage,
  type Story,
  type TransitionFacts,
} from "./messages.ts";
import type {
  AlarmTransition,
  BudgetResetRequest,
  IncidentOutcome,
  IncidentRecord,
  InstanceSnapshot,
  ProcessLedger,
  ProfileLookup,
  RestartAttempt,
  SeenTransition,
} from "./model.ts";
import type { ChatbotNotification } from "./notifications.ts";

const NOT_RUNNING_STATES = new Set(["stopping", "stopped", "shutting-down", "terminated"]);

/** Everything `decideAlarm` looks at; the shell loads it, the decision is a pure function of it. */
export interface AlarmDecisionInput {
  readonly transition: AlarmTransition;
  readonly identity: AlarmIdentity;
  readonly incidentId: string;
  /** `null`: the inventory does not know the instance (terminated long ago, or another account). */
  readonly instance: InstanceSnapshot | null;
  /** The profile the instance's tags name, when they name one. */
  readonly profile?: ProfileLookup;
  readonly ledger: ProcessLedger;
  /** Incident records of the ledger's recent attempts and of its open incident, when stored. */
  readonly history: readonly IncidentRecord[];
  readonly config: HandlerConfig;
  readonly now: number;
  readonly claimToken: string;
}

export interface DimensionMismatch {
  readonly expected: readonly Dimension[];
  readonly actual: readonly Dimension[];
}

export interface AlarmDecision {
  /** `dropped`: a late delivery of a transition older than one already seen (reason `stale-transition`). */
  readonly outcome: IncidentOutcome | "ignored" | "dropped";
  /** Machine-readable reason, logged as `reason`. */
  readonly reason: string;
  readonly detail: string;
  readonly story: Story;
  readonly facts: TransitionFacts;
  /** Written with attribute_not_exists(pk): the idempotency claim for this transition. */
  readonly claim?: IncidentRecord;
  /** Next per-process state, written only if the stored version is still `input.ledger.version`. */
  readonly ledger?: ProcessLedger;
  readonly command?: RestartCommandRequest;
  readonly attempt?: number;
  /** Sent after the claim (and, for restarts, built by the shell once the command id is known). */
  readonly notification?: ChatbotNotification;
  readonly notes: readonly string[];
  readonly dimensionMismatch?: DimensionMismatch;
}

export function windowStart(config: HandlerConfig, now: number): number {
  return now - config.restartWindowMinutes * 60_000;
}

/** Attempts that still count against the budget: inside the window and after the last reset. */
export function attemptsInWindow(ledger: ProcessLedger, config: HandlerConfig, now: number): RestartAttempt[] {
  const since = Math.max(windowStart(config, now), ledger.resetAt ?? Number.NEGATIVE_INFINITY);
  return ledger.attempts.filter((attempt) => attempt.at > since).sort((a, b) => a.at - b.at);
}

/**
 * The newer transition already seen for this process, when `transition` is older than it: a late
 * delivery (a platform retry, a slow route) of something that is no longer true. Acting on it
 * would restart a process whose alarm has since gone OK. The same transition again (equal time)
 * is not stale: it is a duplicate, which the incident claim dedupes.
 */
export function newerTransitionThan(transition: AlarmTransition, ledger: ProcessLedger): SeenTransition | undefined {
  const last = ledger.lastTransition;
  if (last === undefined) return undefined;
  const seen = Date.parse(last.stateChangeTime);
  const arriving = Date.parse(transition.stateChangeTime);
  return Number.isFinite(seen) && Number.isFinite(arriving) && arriving < seen ? last : undefined;
}

function seenTransition(transition: AlarmTransition): SeenTransition {
  return { stateChangeTime: transition.stateChangeTime, state: transition.state };
}

function storyFor(input: Pick<AlarmDecisionInput, "identity" | "incidentId" | "instance" | "config" | "transition">, unit: string | undefined): Story {
  const { identity, config } = input;
  return {
    instanceId: identity.instanceId,
    ...(input.instance?.name !== undefined ? { instanceName: input.instance.name } : {}),
    processName: identity.processName,
    ...(unit !== undefined ? { unit } : {}),
    region: config.region,
    accountId: input.transition.accountId,
    alarmName: input.transition.alarmName,
    incidentId: input.incidentId,
    threadId: threadIdFor(identity.instanceId, identity.processName, input.incidentId),
    budget: config.restartBudget,
    windowMinutes: config.restartWindowMinutes,
    commandLogGroup: config.commandLogGroup,
    documentName: config.restartDocumentName,
  };
}

function claimFor(input: AlarmDecisionInput, outcome: IncidentOutcome, threadId: string, attempt?: number): IncidentRecord {
  const signal = input.transition.state === "ALARM" ? alarmSignalOf(input.transition.reason, input.transition.reasonData).kind : undefined;
  return {
    ...(signal !== undefined ? { signal } : {}),
    incidentId: input.incidentId,
    alarmName: input.transition.alarmName,
    state: input.transition.state,
    stateChangeTime: input.transition.stateChangeTime,
    instanceId: input.identity.instanceId,
    processName: input.identity.processName,
    outcome,
    threadId,
    claimedAt: input.now,
    firstClaimedAt: input.now,
    claimToken: input.claimToken,
    ...(attempt !== undefined ? { attempt } : {}),
  };
}

type SpecResolution =
  | { readonly ok: true; readonly spec: HostSpec }
  | { readonly ok: false; readonly reason: NotRestartedReason; readonly explanation: string; readonly issues: readonly SpecIssue[] };

/** Re-derives what procwatch should watch on the instance from its tags *now*; the alarm may be stale. */
export function resolveCurrentSpec(instance: InstanceSnapshot | null, profile: ProfileLookup | undefined, config: HandlerConfig): SpecResolution {
  if (instance === null)
    return { ok: false, reason: "instance-gone", explanation: "the instance no longer exists or is not visible to procwatch.", issues: [] };
  if (NOT_RUNNING_STATES.has(instance.state)) {
    return { ok: false, reason: "instance-not-running", explanation: `the instance is ${instance.state}.`, issues: [] };
  }
  const tags = parseInstanceTags(instance.tags, config.tagPrefix);
  if (tags.spec === null) return { ok: false, reason: "tags-invalid", explanation: "the instance's procwatch tags are invalid.", issues: tags.issues };
  if (!tags.spec.enabled) {
    return {
      ok: false,
      reason: "not-opted-in",
      explanation: `the instance is no longer opted in (\`${config.tagPrefix}:enabled\` is not \`true\`).`,
      issues: [],
    };
  }
  const profileDocument = tags.spec.profile === undefined ? undefined : profile?.found === true ? profile.document : null;
  const resolved: ParseResult<HostSpec> = resolveHostSpec({
    tags: tags.spec,
    ...(profileDocument !== undefined ? { profileDocument } : {}),
    prefix: config.tagPrefix,
  });
  if (resolved.spec === null) {
    const profileIssues = profile?.found === false ? (profile.issues ?? []) : [];
    return {
      ok: false,
      reason: "spec-invalid",
      explanation: "the instance's process spec (tags and profile) does not resolve.",
      issues: [...resolved.issues, ...profileIssues],
    };
  }
  return { ok: true, spec: resolved.spec };
}

function sameDimensions(a: readonly Dimension[], b: readonly Dimension[]): boolean {
  return a.length === b.length && a.every((dimension, index) => dimension.Name === b[index]?.Name && dimension.Value === b[index]?.Value);
}

/**
 * The decision for one alarm transition. ALARM: restart if the instance still wants the process
 * watched and the budget allows, else say why not. OK: close the incident in its thread.
 * INSUFFICIENT_DATA: tell, do nothing. Any of them older than the last transition seen for the
 * process: drop it (no claim, no message, no command). Every other decision moves the ledger's
 * `lastTransition` forward to this one.
 */
export function decideAlarm(input: AlarmDecisionInput): AlarmDecision {
  const { transition, ledger, config, now } = input;
  const facts: TransitionFacts = {
    state: transition.state,
    ...(transition.previousState !== undefined ? { previousState: transition.previousState } : {}),
    stateChangeTime: transition.stateChangeTime,
    reason: transition.reason,
    ...(transition.state === "ALARM" ? { signal: alarmSignalOf(transition.reason, transition.reasonData) } : {}),
  };
  const resolution = resolveCurrentSpec(input.instance, input.profile, config);
  const process = resolution.ok ? resolution.spec.processes.find((candidate) => candidate.name === input.identity.processName) : undefined;
  const story = storyFor(input, process?.unit);
  const inWindow = attemptsInWindow(ledger, config, now);

  const newer = newerTransitionThan(transition, ledger);
  if (newer !== undefined) {
    return {
      outcome: "dropped",
      reason: "stale-transition",
      detail: `${transition.state} at ${transition.stateChangeTime} is older than the last transition seen for this process (${newer.state} at ${newer.stateChangeTime})`,
      story,
      facts,
      notes: [],
    };
  }
  const seen = seenTransition(transition);

  if (transition.state === "OK") return decideRecovery(input, story, facts, inWindow, seen);
  if (transition.state === "INSUFFICIENT_DATA") {
    const openThread = ledger.openIncidentId !== undefined ? threadIdFor(story.instanceId, story.processName, ledger.openIncidentId) : story.threadId;
    const threaded = { ...story, threadId: openThread };
    return {
      outcome: "notified",
      reason: "insufficient-data",
      detail: `alarm ${transition.alarmName} has insufficient data; nothing restarted`,
      story: threaded,
      facts,
      claim: claimFor(input, "notified", openThread),
      ledger: { ...ledger, version: ledger.version + 1, lastTransition: seen },
      notification: insufficientDataMessage(threaded, facts),
      notes: [],
    };
  }

  const nextLedgerBase: ProcessLedger = { ...ledger, version: ledger.version + 1, attempts: inWindow, openIncidentId: input.incidentId, lastTransition: seen };
  if (!resolution.ok || process === undefined) {
    const reason: NotRestartedReason = resolution.ok ? "process-not-listed" : resolution.reason;
    const explanation = resolution.ok
      ? `\`${story.processName}\` is no longer in the instance's process list (${resolution.spec.processes.map((candidate) => candidate.name).join(", ") || "empty"}).`
      : resolution.explanation;
    const issues = resolution.ok ? [] : resolution.issues;
    return {
      outcome: "not-restarted",
      reason,
      detail: `${explanation}${issues.length > 0 ? ` ${issues.slice(0, 3).map(formatIssue).join("; ")}` : ""}`,
      story,
      facts,
      claim: claimFor(input, "not-restarted", story.threadId),
      ledger: nextLedgerBase,
      notification: notRestartedMessage(story, facts, reason, explanation, issues),
      notes: [],
    };
  }

  const expected = alarmDimensionsFor(process, metricHostOf(input.instance ?? { instanceId: story.instanceId }));
  const actual = transition.dimensions ?? [];
  const dimensionMismatch = sameDimensions(expected, actual) ? undefined : { expected, actual };
  const notes =
    dimensionMismatch !== undefined
      ? ["the alarm's dimensions differ from the current spec (the fleet manager updates the alarm on its next run); restarting per the current tags."]
      : [];

  if (inWindow.length >= config.restartBudget) {
    const byId = new Map(input.history.map((record) => [record.incidentId, record]));
    const recent = inWindow.map((attempt) => byId.get(attempt.incidentId)).filter((record): record is IncidentRecord => record !== undefined);
    return {
      outcome: "gave-up",
      reason: "budget-exhausted",
      detail: `${inWindow.length} restarts in the last ${config.restartWindowMinutes} min reached the budget of ${config.restartBudget}`,
      story,
      facts,
      claim: claimFor(input, "gave-up", story.threadId),
      ledger: nextLedgerBase,
      notification: gaveUpMessage(story, facts, recent),
      notes,
      ...(dimensionMismatch !== undefined ? { dimensionMismatch } : {}),
    };
  }

  const attempt = inWindow.length + 1;
  return {
    outcome: "restarting",
    reason: "restart",
    detail: `restart ${attempt}/${config.restartBudget} of ${story.processName} on ${story.instanceId}: ${describeAlarmSignal(facts.signal ?? { kind: "unknown" })}`,
    story,
    facts,
    claim: claimFor(input, "restarting", story.threadId, attempt),
    ledger: { ...nextLedgerBase, attempts: [...inWindow, { incidentId: input.incidentId, at: now }] },
    command: restartCommandFor(story.instanceId, story.processName, input.incidentId, config),
    attempt,
    notes,
    ...(dimensionMismatch !== undefined ? { dimensionMismatch } : {}),
  };
}

function decideRecovery(input: AlarmDecisionInput, story: Story, facts: TransitionFacts, inWindow: RestartAttempt[], seen: SeenTransition): AlarmDecision {
  const { ledger, transition } = input;
  const openId = ledger.openIncidentId;
  if (openId === undefined) {
    // A new alarm's first OK, or an OK that overtook its ALARM: nothing to close, nothing to say,
    // but remembered, so that the ALARM, should it arrive now, is recognised as the past.
    const alreadySeen = ledger.lastTransition?.stateChangeTime === seen.stateChangeTime && ledger.lastTransition.state === seen.state;
    return {
      outcome: "ignored",
      reason: "ok-without-open-incident",
      detail: `alarm ${transition.alarmName} is OK and no incident is open`,
      story,
      facts,
      ...(alreadySeen ? {} : { ledger: { ...ledger, version: ledger.version + 1, lastTransition: seen } }),
      notes: [],
    };
  }
  const open = input.history.find((record) => record.incidentId === openId);
  const threaded: Story = { ...story, incidentId: openId, threadId: threadIdFor(story.instanceId, story.processName, openId) };
  const { openIncidentId: _closed, ...rest } = ledger;
  return {
    outcome: "recovered",
    reason: "recovered",
    detail: `incident ${openId} closed: ${transition.alarmName} is OK`,
    story: threaded,
    facts,
    claim: claimFor(input, "recovered", threaded.threadId),
    ledger: { ...rest, version: ledger.version + 1, attempts: inWindow, lastTransition: seen },
    notification: recoveredMessage(threaded, facts, open?.stateChangeTime, open),
    notes: [],
  };
}

export interface ResetDecision {
  readonly ledger: ProcessLedger;
  readonly cleared: number;
  readonly notification: ChatbotNotification;
}

/** An operator's explicit reset: the window starts afresh; the open incident (if any) keeps its thread. */
export function decideBudgetReset(
  request: BudgetResetRequest,
  ledger: ProcessLedger,
  instance: InstanceSnapshot | null,
  config: HandlerConfig,
  accountId: string,
  now: number,
): ResetDecision {
  const cleared = attemptsInWindow(ledger, config, now).length;
  const incidentId = ledger.openIncidentId ?? `reset-${now}`;
  const story: Story = {
    instanceId: request.instanceId,
    ...(instance?.name !== undefined ? { instanceName: instance.name } : {}),
    processName: request.processName,
    region: config.region,
    accountId,
    alarmName: `${config.alarmPrefix}/${request.instanceId}/${request.processName}`,
    incidentId,
    threadId: threadIdFor(request.instanceId, request.processName, incidentId),
    budget: config.restartBudget,
    windowMinutes: config.restartWindowMinutes,
    commandLogGroup: config.commandLogGroup,
    documentName: config.restartDocumentName,
  };
  return {
    ledger: { ...ledger, version: ledger.version + 1, attempts: [], resetAt: now },
    cleared,
    notification: budgetResetMessage(story, cleared, request.requestedBy),
  };
}
