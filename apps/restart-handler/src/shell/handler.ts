import { randomUUID } from "node:crypto";
import { type AlarmIdentity, parseInstanceTags, printableValue } from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import { commandSearchStart } from "../core/command.ts";
import { type AlarmDecision, decideAlarm, decideBudgetReset } from "../core/decide.ts";
import { incidentIdFromComment, transitionIdFor } from "../core/identity.ts";
import { restartStartedMessage } from "../core/messages.ts";
import type { AlarmTransition, BudgetResetRequest, CommandStatusChange, InboundItem, IncidentRecord, ProfileLookup } from "../core/model.ts";
import { decideCommandResult, screenCommandStatus } from "../core/result.ts";
import { screenTransition } from "../core/screen.ts";
import { ClaimInFlightError, classifyAwsError, isDefinitelyNotAccepted, LedgerContentionError } from "../errors.ts";
import { accountOfArn, parseInbound } from "../inbound/parse.ts";
import type { RestartHandlerPorts, RestartMetricName } from "../ports.ts";

/** The part of the Lambda context the handler reads. */
export interface InvocationContext {
  readonly invokedFunctionArn?: string;
  readonly awsRequestId?: string;
}

export interface ItemOutcome {
  readonly kind: InboundItem["kind"];
  /** `dropped` (bad or foreign input), `duplicate`, `ignored`, or what was done. */
  readonly outcome: string;
  readonly reason: string;
  readonly incidentId?: string;
  readonly commandId?: string;
}

export interface HandlerSummary {
  readonly items: readonly ItemOutcome[];
}

export type RestartHandler = (event: unknown, context?: InvocationContext) => Promise<HandlerSummary>;

const MAX_LEDGER_RETRIES = 5;

/**
 * Builds the handler from ports. Input that can never become valid is logged once and dropped
 * (the function returns normally); AWS failures are rethrown so the platform retries, and the
 * ledger makes every retry safe: a claimed transition never sends a second command.
 */
export function createRestartHandler(ports: RestartHandlerPorts, config: HandlerConfig): RestartHandler {
  const now = () => ports.clock?.now() ?? Date.now();
  const newToken = ports.newToken ?? randomUUID;
  const { log } = ports;
  const count = (name: RestartMetricName) => ports.metrics?.count(name, 1);

  async function publishPending(incident: IncidentRecord, which: "story" | "result"): Promise<void> {
    const pending = which === "story" ? incident.pendingNotification : incident.pendingResultNotification;
    if (pending === undefined) return;
    await ports.notifier.publish(pending);
    await ports.ledger.markNotified(incident.incidentId, which);
  }

  async function loadProfile(tags: Readonly<Record<string, string>>): Promise<ProfileLookup | undefined> {
    const profile = parseInstanceTags(tags, config.tagPrefix).spec?.profile;
    return profile === undefined ? undefined : ports.profiles.getProfile(profile);
  }

  /** A transition already claimed: resume a half-finished restart, re-send a lost message, or do nothing. */
  async function handleExisting(existing: IncidentRecord, transition: AlarmTransition, identity: AlarmIdentity): Promise<ItemOutcome> {
    const base = { kind: "alarm" as const, incidentId: existing.incidentId };
    const at = now();
    if (existing.outcome === "restarting" && existing.commandId === undefined) {
      const found = await ports.commands.findSentForIncident(
        existing.instanceId,
        config.restartDocumentName,
        existing.incidentId,
        commandSearchStart(existing),
      );
      let token = existing.claimToken;
      let commandId = found?.commandId;
      if (commandId === undefined) {
        const staleBefore = at - config.claimTakeoverSeconds * 1000;
        if (existing.claimedAt > staleBefore) throw new ClaimInFlightError(existing.incidentId);
        token = newToken();
        if (!(await ports.ledger.takeOverClaim(existing.incidentId, existing.claimToken, token, at, staleBefore)))
          throw new ClaimInFlightError(existing.incidentId);
        const decision = await decideFresh(transition, identity, existing.incidentId, true);
        if (decision.command === undefined) return closeWithoutCommand(existing, token, decision);
        commandId = (await sendClaimed(existing.incidentId, token, decision)).commandId;
      } else {
        const decision = await decideFresh(transition, identity, existing.incidentId, true);
        await recordAndNotify(existing.incidentId, token, commandId, decision, existing.attempt ?? decision.attempt ?? 1);
      }
      log.info("alarm handled", {
        outcome: "restarting",
        reason: found !== undefined ? "resumed-sent-command" : "took-over-stale-claim",
        incidentId: existing.incidentId,
        commandId,
      });
      return { ...base, outcome: "restarting", reason: found !== undefined ? "resumed-sent-command" : "took-over-stale-claim", commandId };
    }
    if (existing.pendingNotification !== undefined && (existing.claimedAt === 0 || existing.claimedAt <= at - config.claimTakeoverSeconds * 1000)) {
      await publishPending(existing, "story");
      log.info("duplicate delivery", { outcome: "duplicate", reason: "resent-pending-notification", incidentId: existing.incidentId });
      return { ...base, outcome: "duplicate", reason: "resent-pending-notification" };
    }
    log.info("duplicate delivery", {
      outcome: "duplicate",
      reason: "transition-already-handled",
      incidentId: existing.incidentId,
      alarmName: existing.alarmName,
      stateChangeTime: existing.stateChangeTime,
      previousOutcome: existing.outcome,
      ...(existing.commandId !== undefined ? { commandId: existing.commandId } : {}),
    });
    return {
      ...base,
      outcome: "duplicate",
      reason: "transition-already-handled",
      ...(existing.commandId !== undefined ? { commandId: existing.commandId } : {}),
    };
  }

  /**
   * A half-finished restart claim that must not send after all: a newer transition arrived while
   * it was unfinished (an OK: the process is back), or the instance no longer wants the restart.
   * The claim is closed so later deliveries see a handled transition instead of resuming it.
   */
  async function closeWithoutCommand(existing: IncidentRecord, token: string, decision: AlarmDecision): Promise<ItemOutcome> {
    const incidentId = existing.incidentId;
    const outcome = decision.outcome === "dropped" || decision.outcome === "ignored" || decision.outcome === "restarting" ? "superseded" : decision.outcome;
    if (!(await ports.ledger.closeClaimWithoutCommand(incidentId, token, outcome, decision.notification))) throw new ClaimInFlightError(incidentId);
    if (decision.notification !== undefined) {
      await ports.notifier.publish(decision.notification);
      await ports.ledger.markNotified(incidentId, "story");
    }
    const fields = { outcome: decision.outcome, reason: decision.reason, detail: decision.detail, incidentId, alarmName: existing.alarmName };
    if (decision.outcome === "dropped") {
      log.warn("alarm dropped", fields);
      count("StaleTransitionsDropped");
    } else log.info("alarm handled", fields);
    return { kind: "alarm", outcome: decision.outcome, reason: decision.reason, incidentId };
  }

  /** Loads everything `decideAlarm` needs and decides; `resuming` keeps the incident's own attempt in the budget. */
  async function decideFresh(
    transition: AlarmTransition,
    identity: AlarmIdentity,
    incidentId: string,
    resuming: boolean,
  ): Promise<AlarmDecision & { expectedVersion: number }> {
    const instance = await ports.instances.describe(identity.instanceId);
    const profile = instance === null ? undefined : await loadProfile(instance.tags);
    const ledger = await ports.ledger.loadProcess(identity.instanceId, identity.processName);
    const effective = resuming ? { ...ledger, attempts: ledger.attempts.filter((attempt) => attempt.incidentId !== incidentId) } : ledger;
    const historyIds = [
      ...new Set([...ledger.attempts.map((attempt) => attempt.incidentId), ...(ledger.openIncidentId !== undefined ? [ledger.openIncidentId] : [])]),
    ];
    const history = historyIds.length > 0 ? await ports.ledger.getIncidents(historyIds) : [];
    const decision = decideAlarm({
      transition,
      identity,
      incidentId,
      instance,
      ...(profile !== undefined ? { profile } : {}),
      ledger: effective,
      history,
      config,
      now: now(),
      claimToken: "",
    });
    return { ...decision, expectedVersion: ledger.version };
  }

  async function recordAndNotify(incidentId: string, token: string, commandId: string, decision: AlarmDecision, attempt: number): Promise<void> {
    const message = restartStartedMessage(decision.story, decision.facts, attempt, commandId, decision.notes);
    await ports.ledger.recordCommandSent(incidentId, token, commandId, now(), message);
    await ports.notifier.publish(message);
    await ports.ledger.markNotified(incidentId, "story");
  }

  async function sendClaimed(incidentId: string, token: string, decision: AlarmDecision): Promise<{ commandId: string }> {
    if (decision.command === undefined) throw new Error("sendClaimed without a command");
    let commandId: string;
    try {
      commandId = (await ports.commands.send(decision.command)).commandId;
    } catch (error) {
      const refused = isDefinitelyNotAccepted(error);
      // Refused: no command exists, so the platform's retry may take the claim over at once.
      // Otherwise (timeout, 5xx, network) SSM may hold the command: the claim stays, and the
      // retry looks for the command by its incident id and sends only once the claim is stale.
      if (refused) await ports.ledger.releaseClaim(incidentId, token).catch(() => undefined);
      log.warn("SendCommand failed", {
        reason: refused ? "not-accepted" : "outcome-unknown",
        claim: refused ? "released" : "kept",
        incidentId,
        error: printableValue(classifyAwsError(error).message),
      });
      throw error;
    }
    // Counted here, before anything else can fail: a retry that finds this command through
    // ListCommands adopts it without counting it again.
    count("RestartsSent");
    await recordAndNotify(incidentId, token, commandId, decision, decision.attempt ?? 1);
    return { commandId };
  }

  async function handleAlarm(transition: AlarmTransition, ownAccountId: string | undefined): Promise<ItemOutcome> {
    const screen = screenTransition(transition, config, ownAccountId);
    if (!screen.accepted) {
      log.warn("alarm dropped", {
        outcome: "dropped",
        reason: screen.reason,
        detail: screen.detail,
        route: transition.route,
        alarmName: printableValue(transition.alarmName),
      });
      count("InputsDropped");
      return { kind: "alarm", outcome: "dropped", reason: screen.reason };
    }
    const incidentId = transitionIdFor(transition.alarmName, transition.stateChangeTime);
    const existing = await ports.ledger.getIncident(incidentId);
    if (existing !== undefined) return handleExisting(existing, transition, screen.identity);

    for (let round = 0; round < MAX_LEDGER_RETRIES; round += 1) {
      const decision = await decideFresh(transition, screen.identity, incidentId, false);
      const fields = {
        outcome: decision.outcome,
        reason: decision.reason,
        detail: decision.detail,
        route: transition.route,
        alarmName: transition.alarmName,
        state: transition.state,
        stateChangeTime: transition.stateChangeTime,
        instanceId: decision.story.instanceId,
        processName: decision.story.processName,
        incidentId,
        ...(decision.facts.signal !== undefined ? { signal: decision.facts.signal.kind } : {}),
      };
      if (decision.dimensionMismatch !== undefined) {
        log.warn("alarm dimensions differ from the current spec", {
          reason: "dimension-mismatch",
          alarmName: transition.alarmName,
          expected: decision.dimensionMismatch.expected,
          actual: decision.dimensionMismatch.actual.map((dimension) => ({ Name: printableValue(dimension.Name), Value: printableValue(dimension.Value) })),
        });
      }
      if (decision.outcome === "dropped") {
        // Older than a transition already seen: acting on it would act on the past.
        log.warn("alarm dropped", fields);
        count("StaleTransitionsDropped");
        return { kind: "alarm", outcome: "dropped", reason: decision.reason };
      }
      if (decision.claim === undefined) {
        // Nothing to claim, but the transition is remembered (an OK overtaking its ALARM).
        if (decision.ledger !== undefined && !(await ports.ledger.writeProcess(decision.ledger, decision.expectedVersion))) continue;
        log.info("alarm ignored", fields);
        return { kind: "alarm", outcome: decision.outcome, reason: decision.reason, incidentId };
      }
      const token = newToken();
      const claim: IncidentRecord = {
        ...decision.claim,
        claimToken: token,
        ...(decision.notification !== undefined ? { pendingNotification: decision.notification } : {}),
      };
      const claimed = await ports.ledger.claim(claim, decision.ledger, decision.expectedVersion);
      if (claimed === "conflict") continue;
      if (claimed === "duplicate") {
        log.info("duplicate delivery", { ...fields, outcome: "duplicate", reason: "claimed-concurrently" });
        return { kind: "alarm", outcome: "duplicate", reason: "claimed-concurrently", incidentId };
      }
      // Once per transition: the claim is what makes this delivery the one that gave up.
      if (decision.outcome === "gave-up") count("GaveUp");
      if (decision.command !== undefined) {
        const { commandId } = await sendClaimed(incidentId, token, decision);
        log.info("alarm handled", { ...fields, commandId, attempt: decision.attempt, budget: config.restartBudget });
        return { kind: "alarm", outcome: decision.outcome, reason: decision.reason, incidentId, commandId };
      }
      if (decision.notification !== undefined) {
        try {
          await ports.notifier.publish(decision.notification);
        } catch (error) {
          await ports.ledger.releaseClaim(incidentId, token).catch(() => undefined);
          throw error;
        }
        await ports.ledger.markNotified(incidentId, "story");
      }
      log.info("alarm handled", fields);
      return { kind: "alarm", outcome: decision.outcome, reason: decision.reason, incidentId };
    }
    throw new LedgerContentionError(`process#${transition.alarmName}`);
  }

  async function handleCommandStatus(change: CommandStatusChange, ownAccountId: string | undefined): Promise<ItemOutcome> {
    const screen = screenCommandStatus(change, config, ownAccountId);
    if (!screen.accepted) {
      const fields = { outcome: "dropped", reason: screen.reason, detail: screen.detail, commandId: change.commandId };
      if (screen.reason === "non-terminal-status") log.info("command status ignored", { ...fields, outcome: "ignored" });
      else {
        log.warn("command status dropped", fields);
        count("InputsDropped");
      }
      return {
        kind: "command-status",
        outcome: screen.reason === "non-terminal-status" ? "ignored" : "dropped",
        reason: screen.reason,
        commandId: change.commandId,
      };
    }
    const invocation = await ports.commands.getInvocation(change.commandId, change.instanceId);
    const incidentId = incidentIdFromComment(invocation?.comment);
    const incident = incidentId !== undefined ? await ports.ledger.getIncident(incidentId) : undefined;
    const instance = incident !== undefined ? await ports.instances.describe(change.instanceId) : null;
    const decision = decideCommandResult(change, incident, invocation, instance, config, now());
    if (decision.kind === "drop") {
      log.warn("command status dropped", { outcome: "dropped", reason: decision.reason, detail: decision.detail, commandId: change.commandId });
      count("InputsDropped");
      return { kind: "command-status", outcome: "dropped", reason: decision.reason, commandId: change.commandId };
    }
    const recorded = await ports.ledger.recordCommandResult(decision.incidentId, decision.result, decision.notification);
    if (!recorded) {
      const stored = await ports.ledger.getIncident(decision.incidentId);
      if (stored?.pendingResultNotification !== undefined) await publishPending(stored, "result");
      log.info("duplicate command status", {
        outcome: "duplicate",
        reason: "result-already-recorded",
        incidentId: decision.incidentId,
        commandId: change.commandId,
      });
      return { kind: "command-status", outcome: "duplicate", reason: "result-already-recorded", incidentId: decision.incidentId, commandId: change.commandId };
    }
    // Once per command: a repeated status event finds the result already recorded (above).
    count(decision.result.status === "Success" ? "RestartsSucceeded" : "RestartsFailed");
    await ports.notifier.publish(decision.notification);
    await ports.ledger.markNotified(decision.incidentId, "result");
    log.info("command result handled", {
      outcome: "result-notified",
      reason: decision.result.status,
      incidentId: decision.incidentId,
      commandId: change.commandId,
      instanceId: change.instanceId,
      ...(decision.result.agent !== undefined ? { agent: decision.result.agent } : {}),
    });
    return { kind: "command-status", outcome: "result-notified", reason: decision.result.status, incidentId: decision.incidentId, commandId: change.commandId };
  }

  async function handleReset(request: BudgetResetRequest, ownAccountId: string | undefined): Promise<ItemOutcome> {
    const instance = await ports.instances.describe(request.instanceId);
    for (let round = 0; round < MAX_LEDGER_RETRIES; round += 1) {
      const ledger = await ports.ledger.loadProcess(request.instanceId, request.processName);
      const decision = decideBudgetReset(request, ledger, instance, config, config.expectedAccountId ?? ownAccountId ?? "000000000000", now());
      if (!(await ports.ledger.writeProcess(decision.ledger, ledger.version))) continue;
      await ports.notifier.publish(decision.notification);
      log.info("restart budget reset", {
        outcome: "budget-reset",
        reason: "operator-request",
        instanceId: request.instanceId,
        processName: request.processName,
        cleared: decision.cleared,
        ...(request.requestedBy !== undefined ? { requestedBy: request.requestedBy } : {}),
      });
      return { kind: "reset-budget", outcome: "budget-reset", reason: `cleared ${decision.cleared}` };
    }
    throw new LedgerContentionError(`process#${request.instanceId}#${request.processName}`);
  }

  async function handleItem(item: InboundItem, ownAccountId: string | undefined): Promise<ItemOutcome> {
    switch (item.kind) {
      case "rejected":
        log.warn("event dropped", { outcome: "dropped", reason: item.reason, detail: item.detail });
        count("InputsDropped");
        return { kind: "rejected", outcome: "dropped", reason: item.reason };
      case "alarm":
        return handleAlarm(item.transition, ownAccountId);
      case "command-status":
        return handleCommandStatus(item.change, ownAccountId);
      case "reset-budget":
        return handleReset(item.request, ownAccountId);
    }
  }

  return async (event, context) => {
    const ownAccountId = accountOfArn(context?.invokedFunctionArn);
    const items: ItemOutcome[] = [];
    for (const item of parseInbound(event)) {
      try {
        items.push(await handleItem(item, ownAccountId));
      } catch (error) {
        if (error instanceof ClaimInFlightError) {
          // Expected under duplicate delivery, not a failure: the throw only asks for a redelivery.
          log.info("delivery deferred; the platform will deliver it again", {
            outcome: "deferred",
            reason: "claim-in-flight",
            incidentId: error.incidentId,
            kind: item.kind,
          });
          count("DuplicatesDeferred");
          throw error;
        }
        const classification = classifyAwsError(error);
        log.error("event failed; the platform will retry it", {
          outcome: "failed",
          reason: classification.name,
          retryable: classification.retryable,
          detail: printableValue(classification.message),
          kind: item.kind,
          error,
        });
        throw error;
      }
    }
    return { items };
  };
}
