import { randomUUID } from "node:crypto";
import { type AlarmIdentity, parseInstanceTags, printableValue } from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import { alarmSignalOf } from "../core/alarm-signal.ts";
import { commandSearchStart } from "../core/command.ts";
import { type AlarmDecision, decideAlarm, decideBudgetReset } from "../core/decide.ts";
import {
  type BreakerTrip,
  closedState,
  decideFleetSlot,
  type FleetArrival,
  type FleetBreakerState,
  gateFleetBreaker,
  type HeldCounts,
  MAX_HELD_NAMES,
  operatorTrip,
} from "../core/fleet-breaker.ts";
import { breakerResumedMessage, breakerThreadId, breakerTrippedMessage } from "../core/fleet-messages.ts";
import { decideFollowUp, storyForIncident } from "../core/follow-up.ts";
import {
  decideHostReportBound,
  HOST_REPORTS_LEDGER_NAME,
  type HostReportDelivery,
  hostReportLimit,
  hostReportMessage,
  hostReportRecord,
  hostReportRollupMessage,
  localIncidentIdFor,
  screenHostReport,
  senderMatches,
} from "../core/host-report.ts";
import { incidentIdFromComment, transitionIdFor } from "../core/identity.ts";
import { hostLimitedMessage, restartStartedMessage, stuckRestartMessage, unreachableMessage, unrecoveredMessage } from "../core/messages.ts";
import type {
  AlarmTransition,
  BreakerRequest,
  BudgetResetRequest,
  CommandStatusChange,
  InboundItem,
  IncidentRecord,
  ProcessLedger,
  ProfileLookup,
} from "../core/model.ts";
import { decideCommandResult, screenCommandStatus } from "../core/result.ts";
import { screenTransition } from "../core/screen.ts";
import { AwsCallError, ClaimInFlightError, classifyAwsError, isDefinitelyNotAccepted, LedgerContentionError } from "../errors.ts";
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
  /**
   * For an SQS batch (the `host-reports` queue, ReportBatchItemFailures): the messages that failed
   * with a retryable error and must be delivered again; the others are deleted.
   */
  readonly batchItemFailures?: readonly { readonly itemIdentifier: string }[];
}

export type RestartHandler = (event: unknown, context?: InvocationContext) => Promise<HandlerSummary>;

const MAX_LEDGER_RETRIES = 5;
/**
 * The fleet item is the one hot item: with reserved concurrency N, a version-conditioned write
 * loses to at most N - 1 others per round. Holds never contend (atomic ADD).
 */
const MAX_FLEET_ROUNDS = 25;
/** How far back the sweep lists restart commands, beyond the two thresholds it checks. */
const SWEEP_EXTRA_LOOKBACK_MS = 60 * 60_000;

function awsErrorName(error: unknown): string {
  if (error instanceof AwsCallError) return error.awsErrorName;
  return classifyAwsError(error).name;
}

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
        const sent = await sendClaimed(existing.incidentId, token, decision);
        if ("unreachable" in sent) return { ...base, outcome: "unreachable", reason: "InvalidInstanceId" };
        commandId = sent.commandId;
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

  /** `unreachable`: SSM refused with InvalidInstanceId; the incident is closed with its message, nothing to retry. */
  async function sendClaimed(incidentId: string, token: string, decision: AlarmDecision): Promise<{ commandId: string } | { unreachable: true }> {
    if (decision.command === undefined) throw new Error("sendClaimed without a command");
    let commandId: string;
    try {
      commandId = (await ports.commands.send(decision.command)).commandId;
    } catch (error) {
      const refused = isDefinitelyNotAccepted(error);
      if (refused && awsErrorName(error) === "InvalidInstanceId") return closeUnreachable(incidentId, token, decision, error);
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

  /**
   * SSM cannot reach the host (not registered, SSM Agent offline): a definite answer that a retry
   * would only repeat. Say so in the incident's thread, give the budget slot back (nothing ran),
   * close the claim so redeliveries are duplicates, and return normally (no DLQ).
   */
  async function closeUnreachable(incidentId: string, token: string, decision: AlarmDecision, error: unknown): Promise<{ unreachable: true }> {
    const message = unreachableMessage(decision.story, decision.facts, printableValue(classifyAwsError(error).message));
    if (!(await ports.ledger.closeClaimWithoutCommand(incidentId, token, "unreachable", message))) throw new ClaimInFlightError(incidentId);
    for (let round = 0; round < MAX_LEDGER_RETRIES; round += 1) {
      const process = await ports.ledger.loadProcess(decision.story.instanceId, decision.story.processName);
      if (!process.attempts.some((attempt) => attempt.incidentId === incidentId)) break;
      const refunded: ProcessLedger = {
        ...process,
        version: process.version + 1,
        attempts: process.attempts.filter((attempt) => attempt.incidentId !== incidentId),
      };
      if (await ports.ledger.writeProcess(refunded, process.version)) break;
    }
    await ports.notifier.publish(message);
    await ports.ledger.markNotified(incidentId, "story");
    count("HostsUnreachable");
    log.warn("host unreachable through SSM", {
      outcome: "unreachable",
      reason: "InvalidInstanceId",
      incidentId,
      instanceId: decision.story.instanceId,
      processName: decision.story.processName,
      ...(decision.facts.signal !== undefined ? { signal: decision.facts.signal.kind } : {}),
      error: printableValue(classifyAwsError(error).message),
    });
    return { unreachable: true };
  }

  /** The incident a held-back (or host-limited) alarm leaves: dedupes redeliveries, sends nothing. */
  function quietIncident(transition: AlarmTransition, arrival: FleetArrival, outcome: "held" | "host-limited", threadId: string): IncidentRecord {
    const at = now();
    return {
      incidentId: arrival.incidentId,
      alarmName: transition.alarmName,
      state: transition.state,
      stateChangeTime: transition.stateChangeTime,
      instanceId: arrival.instanceId,
      processName: arrival.processName,
      outcome,
      threadId,
      claimedAt: at,
      firstClaimedAt: at,
      claimToken: newToken(),
      signal: arrival.signal,
    };
  }

  async function publishRollup(trip: BreakerTrip, trips: number): Promise<void> {
    await ports.notifier.publish(breakerTrippedMessage(trip, config.fleetBreaker, trips));
    await ports.ledger.markRollupPosted(trip.tripId);
  }

  async function publishResumed(trip: BreakerTrip, held: HeldCounts, how: { operator?: string; byCooldown: boolean }): Promise<void> {
    await ports.notifier.publish(breakerResumedMessage(trip, held, config.fleetBreaker, now(), how));
    log.info("fleet breaker closed", {
      outcome: "breaker-resumed",
      reason: how.byCooldown ? "cooldown" : "operator",
      tripId: trip.tripId,
      held: held.total,
      heldNoData: held.noData,
      heldHosts: held.hosts.length,
      ...(how.operator !== undefined ? { requestedBy: how.operator } : {}),
    });
  }

  /** A rollup whose Publish failed is sent again by a later invocation (at least once, like every message). */
  async function resendRollupIfLost(fleet: FleetBreakerState): Promise<void> {
    if (fleet.trip === undefined || fleet.rollupPending !== true) return;
    if (now() - fleet.trip.trippedAt < config.claimTakeoverSeconds * 1000) return;
    await publishRollup(fleet.trip, fleet.trips);
  }

  /**
   * Reads the breaker; closes it when its cool-down has passed (posting what it held back); while
   * open, holds the alarm back: one transaction (incident + atomic held counts), no message.
   * `undefined`: the breaker is closed, handle the alarm.
   */
  async function holdIfBreakerOpen(transition: AlarmTransition, arrival: FleetArrival): Promise<ItemOutcome | undefined> {
    for (let round = 0; round < MAX_FLEET_ROUNDS; round += 1) {
      const fleet = await ports.ledger.loadFleet();
      const gate = gateFleetBreaker(fleet, config.fleetBreaker, now());
      if (gate.kind === "closed") return undefined;
      if (gate.kind === "resume") {
        if (await ports.ledger.writeFleet(gate.next, fleet.version)) await publishResumed(gate.ended, gate.held, { byCooldown: true });
        continue;
      }
      await resendRollupIfLost(fleet);
      const held = fleet.held;
      const countNames = {
        host: !(held?.hosts.includes(arrival.instanceId) ?? false) && (held?.hosts.length ?? 0) < MAX_HELD_NAMES,
        process: !(held?.processes.includes(arrival.processName) ?? false) && (held?.processes.length ?? 0) < MAX_HELD_NAMES,
      };
      const incident = quietIncident(transition, arrival, "held", breakerThreadId(gate.trip.tripId));
      const outcome = await ports.ledger.holdAlarm(incident, gate.trip.tripId, arrival, countNames);
      if (outcome === "not-open") continue;
      const fields = {
        incidentId: arrival.incidentId,
        alarmName: transition.alarmName,
        instanceId: arrival.instanceId,
        processName: arrival.processName,
        signal: arrival.signal,
        tripId: gate.trip.tripId,
      };
      if (outcome === "duplicate") {
        log.info("duplicate delivery", { ...fields, outcome: "duplicate", reason: "claimed-concurrently" });
        return { kind: "alarm", outcome: "duplicate", reason: "claimed-concurrently", incidentId: arrival.incidentId };
      }
      count("RestartsHeld");
      log.info("alarm held back", { ...fields, outcome: "held", reason: "fleet-breaker-open" });
      return { kind: "alarm", outcome: "held", reason: "fleet-breaker-open", incidentId: arrival.incidentId };
    }
    throw new LedgerContentionError("fleet#breaker");
  }

  /**
   * The per-process decision says restart: may the command go out? Writes the slot (or the trip)
   * with the fleet item's version; `undefined`: it may. Otherwise the alarm is answered here: held
   * back by the trip it caused (with the one rollup), or refused for its host.
   */
  async function takeFleetSlot(
    decision: AlarmDecision & { expectedVersion: number },
    arrival: FleetArrival,
    transition: AlarmTransition,
    fields: Record<string, unknown>,
  ): Promise<ItemOutcome | undefined> {
    for (let round = 0; round < MAX_FLEET_ROUNDS; round += 1) {
      const fleet = await ports.ledger.loadFleet();
      const gate = gateFleetBreaker(fleet, config.fleetBreaker, now());
      if (gate.kind !== "closed") {
        // It tripped (or must close) since this alarm was gated: gate it again.
        const held = await holdIfBreakerOpen(transition, arrival);
        if (held !== undefined) return held;
        continue;
      }
      const slot = decideFleetSlot(fleet, arrival, config.fleetBreaker, now(), newToken().slice(0, 8));
      if (slot.kind === "already-taken") return undefined;
      if (slot.next !== undefined && !(await ports.ledger.writeFleet(slot.next, fleet.version))) continue;
      if (slot.kind === "take") return undefined;
      if (slot.kind === "trip") {
        count("BreakerTripped");
        count("RestartsHeld");
        log.warn("fleet breaker tripped", {
          ...fields,
          outcome: "breaker-tripped",
          reason: slot.trip.reason,
          tripId: slot.trip.tripId,
          seen: slot.trip.seen.length,
          seenNoData: slot.trip.seen.filter((entry) => entry.signal === "no-data").length,
          seenHosts: new Set(slot.trip.seen.map((entry) => entry.instanceId)).size,
        });
        // The tripping alarm is already in the held counts; its incident only dedupes redeliveries.
        await ports.ledger.claim(quietIncident(transition, arrival, "held", breakerThreadId(slot.trip.tripId)), undefined, 0);
        await publishRollup(slot.trip, slot.next.trips);
        return { kind: "alarm", outcome: "held", reason: "fleet-breaker-tripped", incidentId: arrival.incidentId };
      }
      // Host limit: no command, the budget slot is not spent; announced once per host and window.
      const notification = slot.announce
        ? hostLimitedMessage(decision.story, decision.facts, slot.recent, config.fleetBreaker.hostRestartLimit, config.fleetBreaker.hostWindowMinutes)
        : undefined;
      const token = newToken();
      const incident: IncidentRecord = {
        ...quietIncident(transition, arrival, "host-limited", decision.story.threadId),
        claimToken: token,
        ...(notification !== undefined ? { pendingNotification: notification } : {}),
      };
      const ledger =
        decision.ledger !== undefined
          ? { ...decision.ledger, attempts: decision.ledger.attempts.filter((attempt) => attempt.incidentId !== arrival.incidentId) }
          : undefined;
      const claimed = await ports.ledger.claim(incident, ledger, decision.expectedVersion);
      if (claimed === "conflict") await ports.ledger.claim(incident, undefined, 0);
      count("HostLimited");
      log.warn("restart refused for its host", {
        ...fields,
        outcome: "host-limited",
        reason: "host-restart-limit",
        recent: slot.recent,
        announced: slot.announce,
      });
      if (notification !== undefined && claimed !== "duplicate") {
        await ports.notifier.publish(notification);
        await ports.ledger.markNotified(arrival.incidentId, "story");
      }
      return { kind: "alarm", outcome: "host-limited", reason: "host-restart-limit", incidentId: arrival.incidentId };
    }
    throw new LedgerContentionError("fleet#breaker");
  }

  async function handleBreakerRequest(request: BreakerRequest): Promise<ItemOutcome> {
    for (let round = 0; round < MAX_FLEET_ROUNDS; round += 1) {
      const fleet = await ports.ledger.loadFleet();
      if (request.action === "reset-breaker") {
        if (fleet.trip === undefined) {
          log.info("fleet breaker reset requested, but it is closed", { outcome: "breaker-closed", reason: "not-open" });
          return { kind: "breaker", outcome: "breaker-closed", reason: "not-open" };
        }
        if (!(await ports.ledger.writeFleet(closedState(fleet, now(), config.fleetBreaker), fleet.version))) continue;
        const held = fleet.held ?? { total: 0, zeroCount: 0, noData: 0, hosts: [], processes: [] };
        await publishResumed(fleet.trip, held, { byCooldown: false, ...(request.requestedBy !== undefined ? { operator: request.requestedBy } : {}) });
        return { kind: "breaker", outcome: "breaker-resumed", reason: `held ${held.total}` };
      }
      if (fleet.trip !== undefined) {
        log.info("fleet breaker trip requested, but it is open", { outcome: "breaker-open", reason: "already-open", tripId: fleet.trip.tripId });
        return { kind: "breaker", outcome: "breaker-open", reason: "already-open" };
      }
      const next = operatorTrip(fleet, now(), newToken().slice(0, 8), request.requestedBy);
      if (!(await ports.ledger.writeFleet(next, fleet.version)) || next.trip === undefined) continue;
      count("BreakerTripped");
      log.warn("fleet breaker tripped", { outcome: "breaker-tripped", reason: "operator", tripId: next.trip.tripId, requestedBy: request.requestedBy });
      await publishRollup(next.trip, next.trips);
      return { kind: "breaker", outcome: "breaker-tripped", reason: "operator" };
    }
    throw new LedgerContentionError("fleet#breaker");
  }

  /**
   * The scheduled sweep: closes a breaker whose cool-down has passed (so it resumes, and says so,
   * even when no alarm comes), re-sends a lost rollup, and looks at the restart commands of the
   * last hours: a lost final status is handled, a restart with no final status after
   * STUCK_RESTART_MINUTES and one whose alarm stayed in ALARM RECOVERY_GRACE_MINUTES after it
   * "succeeded" are each reported once in their thread.
   */
  async function handleSweep(ownAccountId: string | undefined): Promise<ItemOutcome> {
    const fleet = await ports.ledger.loadFleet();
    const gate = gateFleetBreaker(fleet, config.fleetBreaker, now());
    if (gate.kind === "resume" && (await ports.ledger.writeFleet(gate.next, fleet.version))) {
      await publishResumed(gate.ended, gate.held, { byCooldown: true });
    } else if (gate.kind === "open") await resendRollupIfLost(fleet);
    if (ports.commandHistory === undefined) return { kind: "sweep", outcome: "swept", reason: "no command history" };
    const at = now();
    const since = at - (config.stuckRestartMinutes + config.recoveryGraceMinutes) * 60_000 - SWEEP_EXTRA_LOOKBACK_MS;
    const commands = await ports.commandHistory.listSince(config.restartDocumentName, since);
    const byIncident = new Map(
      commands.flatMap((command) => {
        const incidentId = incidentIdFromComment(command.comment);
        return incidentId !== undefined ? [[incidentId, command] as const] : [];
      }),
    );
    const ids = [...byIncident.keys()];
    const incidents: IncidentRecord[] = [];
    for (let start = 0; start < ids.length; start += 100) incidents.push(...(await ports.ledger.getIncidents(ids.slice(start, start + 100))));
    const accountId = config.expectedAccountId ?? ownAccountId ?? "000000000000";
    let reported = 0;
    for (const incident of incidents) {
      const command = byIncident.get(incident.incidentId);
      if (command === undefined) continue;
      let followUp = decideFollowUp(incident, command, config, at);
      if (followUp.kind === "needs-process") {
        const process = await ports.ledger.loadProcess(incident.instanceId, incident.processName);
        followUp = decideFollowUp(incident, command, config, at, process);
      }
      const story = storyForIncident(incident, config, accountId);
      if (followUp.kind === "lost-result") {
        await handleCommandStatus(
          {
            commandId: command.commandId,
            instanceId: incident.instanceId,
            documentName: config.restartDocumentName,
            status: followUp.status,
            accountId,
            region: config.region,
            eventTime: new Date(at).toISOString(),
          },
          accountId,
        );
        reported += 1;
      } else if (followUp.kind === "stuck" && (await ports.ledger.markNotice(incident.incidentId, "stuck", at))) {
        await ports.notifier.publish(stuckRestartMessage(story, command.commandId, followUp.sentAt, command.status, at));
        count("RestartsStuck");
        log.warn("restart result overdue", { outcome: "stuck", reason: command.status, incidentId: incident.incidentId, commandId: command.commandId });
        reported += 1;
      } else if (followUp.kind === "unrecovered" && (await ports.ledger.markNotice(incident.incidentId, "unrecovered", at))) {
        await ports.notifier.publish(unrecoveredMessage(story, command.commandId, followUp.finishedAt, at));
        count("RestartsStuck");
        log.warn("still in ALARM after the restart", {
          outcome: "not-recovered",
          reason: "alarm-still-in-alarm",
          incidentId: incident.incidentId,
          commandId: command.commandId,
        });
        reported += 1;
      }
    }
    log.info("sweep done", { outcome: "swept", reason: "schedule", commands: commands.length, reported });
    return { kind: "sweep", outcome: "swept", reason: `${commands.length} commands, ${reported} reported` };
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
    const arrival: FleetArrival = {
      incidentId,
      instanceId: screen.identity.instanceId,
      processName: screen.identity.processName,
      signal: alarmSignalOf(transition.reason, transition.reasonData).kind,
    };
    if (transition.state === "ALARM") {
      // Before the instance is described: an open breaker costs one GetItem and one write per alarm.
      const held = await holdIfBreakerOpen(transition, arrival);
      if (held !== undefined) return held;
    }

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
      if (decision.command !== undefined) {
        const slot = await takeFleetSlot(decision, arrival, transition, fields);
        if (slot !== undefined) return slot;
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
        const sent = await sendClaimed(incidentId, token, decision);
        if ("unreachable" in sent) return { kind: "alarm", outcome: "unreachable", reason: "InvalidInstanceId", incidentId };
        log.info("alarm handled", { ...fields, commandId: sent.commandId, attempt: decision.attempt, budget: config.restartBudget });
        return { kind: "alarm", outcome: decision.outcome, reason: decision.reason, incidentId, commandId: sent.commandId };
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

  /**
   * A host's own supervision report. Only ever reads the instance and the ledger and publishes a
   * message: `ports.commands` is not reachable from here, whatever the report says.
   */
  async function handleHostReport(delivery: HostReportDelivery, ownAccountId: string | undefined): Promise<ItemOutcome> {
    const { report } = delivery;
    const incidentId = localIncidentIdFor(report);
    const fields = { instanceId: report.instanceId, processName: report.process, kind: report.kind, messageId: delivery.messageId, incidentId };
    const drop = (reason: string, detail: string): ItemOutcome => {
      log.warn("host report dropped", { ...fields, outcome: "dropped", reason, detail, senderId: delivery.senderId.slice(0, 256) });
      count("InputsDropped");
      return { kind: "host-report", outcome: "dropped", reason, incidentId };
    };
    // The sender check comes before any read: a forged report costs no DescribeInstances.
    const instance = senderMatches(delivery) ? await ports.instances.describe(report.instanceId) : "not-read";
    const profile = instance === "not-read" || instance === null ? undefined : await loadProfile(instance.tags);
    const screen = screenHostReport(delivery, instance, profile, config);
    if (!screen.accepted) return drop(screen.reason, screen.detail);
    const accountId = config.expectedAccountId ?? ownAccountId ?? "000000000000";
    const context = {
      region: config.region,
      accountId,
      unit: screen.unit,
      ...(screen.instanceName !== undefined ? { instanceName: screen.instanceName } : {}),
    };
    const limit = hostReportLimit(config.fleetBreaker);
    const windowMinutes = config.fleetBreaker.hostWindowMinutes;
    for (let round = 0; round < MAX_LEDGER_RETRIES; round += 1) {
      const at = now();
      const counter = await ports.ledger.loadProcess(report.instanceId, HOST_REPORTS_LEDGER_NAME);
      const bound = decideHostReportBound(counter, incidentId, limit, windowMinutes, at);
      if (bound.kind === "suppress") {
        log.info("host report not posted", { ...fields, outcome: "host-limited", reason: "report-host-limited", recent: bound.recent, limit });
        return { kind: "host-report", outcome: "host-limited", reason: "report-host-limited", incidentId };
      }
      if (bound.kind !== "already-counted" && !(await ports.ledger.writeProcess(bound.next, counter.version))) continue;
      const notification =
        bound.kind === "rollup"
          ? hostReportRollupMessage(report, incidentId, bound.recent, limit, windowMinutes, context)
          : hostReportMessage(report, incidentId, context);
      const claimed = await ports.ledger.claim(hostReportRecord(report, incidentId, at, notification, newToken()), undefined, 0);
      if (claimed === "duplicate") {
        const existing = await ports.ledger.getIncident(incidentId);
        if (existing?.pendingNotification !== undefined) {
          await publishPending(existing, "story");
          log.info("duplicate host report", { ...fields, outcome: "duplicate", reason: "resent-pending-notification" });
          return { kind: "host-report", outcome: "duplicate", reason: "resent-pending-notification", incidentId };
        }
        log.info("duplicate host report", { ...fields, outcome: "duplicate", reason: "report-already-posted" });
        return { kind: "host-report", outcome: "duplicate", reason: "report-already-posted", incidentId };
      }
      if (claimed === "conflict") continue;
      await ports.notifier.publish(notification);
      await ports.ledger.markNotified(incidentId, "story");
      const outcome = bound.kind === "rollup" ? "host-limited" : "notified";
      const reason = bound.kind === "rollup" ? "report-host-limit-rollup" : report.kind;
      log.info("host report handled", { ...fields, outcome, reason, beforePid: report.beforePid, afterPid: report.afterPid, downMs: report.downMs });
      return { kind: "host-report", outcome, reason, incidentId };
    }
    throw new LedgerContentionError(`process#${report.instanceId}#${HOST_REPORTS_LEDGER_NAME}`);
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
      case "breaker":
        return handleBreakerRequest(item.request);
      case "sweep":
        return handleSweep(ownAccountId);
      case "host-report":
        return handleHostReport(item.delivery, ownAccountId);
    }
  }

  return async (event, context) => {
    const ownAccountId = accountOfArn(context?.invokedFunctionArn);
    const items: ItemOutcome[] = [];
    const parsed = parseInbound(event);
    if (parsed.some((item) => item.kind === "host-report" || (item.kind === "rejected" && item.messageId !== undefined)))
      return handleReportBatch(parsed, ownAccountId);
    for (const item of parsed) {
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

  /**
   * An SQS batch: each message stands alone. A retryable failure marks only that message for
   * redelivery (ReportBatchItemFailures); bad input is dropped and deleted, like every other drop.
   */
  async function handleReportBatch(parsed: readonly InboundItem[], ownAccountId: string | undefined): Promise<HandlerSummary> {
    const items: ItemOutcome[] = [];
    const batchItemFailures: { itemIdentifier: string }[] = [];
    for (const item of parsed) {
      if (item.kind !== "host-report") {
        items.push(await handleItem(item, ownAccountId));
        continue;
      }
      try {
        items.push(await handleHostReport(item.delivery, ownAccountId));
      } catch (error) {
        const classification = classifyAwsError(error);
        log.error("host report failed; SQS will deliver it again", {
          outcome: "failed",
          reason: classification.name,
          retryable: classification.retryable,
          detail: printableValue(classification.message),
          kind: item.kind,
          messageId: item.delivery.messageId,
          error,
        });
        batchItemFailures.push({ itemIdentifier: item.delivery.messageId });
        items.push({ kind: "host-report", outcome: "failed", reason: classification.name });
      }
    }
    return { items, batchItemFailures };
  }
}
