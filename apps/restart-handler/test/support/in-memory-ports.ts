import type { RestartCommandRequest } from "../../src/core/command.ts";
import { EMPTY_FLEET_BREAKER, type FleetArrival, type FleetBreakerState, holdOne } from "../../src/core/fleet-breaker.ts";
import type { CommandResultSummary, IncidentOutcome, IncidentRecord, InstanceSnapshot, ProcessLedger, ProfileLookup } from "../../src/core/model.ts";
import type { ChatbotNotification } from "../../src/core/notifications.ts";
import type { InvocationDetails } from "../../src/core/result.ts";
import type {
  ClaimOutcome,
  CommandHistory,
  CommandSender,
  HoldOutcome,
  IncidentNotice,
  InstanceFacts,
  ListedRestartCommand,
  Notifier,
  ProfileSource,
  RestartLedger,
  RestartMetricName,
  RestartMetrics,
  SentCommand,
} from "../../src/ports.ts";

/**
 * In-memory ports with the same conditional-write semantics as the DynamoDB ledger. They let the
 * demo and the benchmark run the real handler without AWS; tests run the DynamoDB adapter itself.
 * They live under test/ so the Lambda bundle never carries them; other packages import them as
 * `@procwatch/restart-handler/in-memory-ports`.
 */
export class InMemoryRestartLedger implements RestartLedger {
  readonly incidents = new Map<string, IncidentRecord>();
  readonly processes = new Map<string, ProcessLedger>();
  fleet: FleetBreakerState = EMPTY_FLEET_BREAKER;
  /** Whether the fleet item exists (version 0 writes must create it). */
  private fleetStored = false;

  async loadFleet(): Promise<FleetBreakerState> {
    return this.fleet;
  }

  async writeFleet(state: FleetBreakerState, expectedVersion: number): Promise<boolean> {
    if (expectedVersion === 0 ? this.fleetStored : this.fleet.version !== expectedVersion) return false;
    this.fleet = state;
    this.fleetStored = true;
    return true;
  }

  async holdAlarm(incident: IncidentRecord, tripId: string, arrival: FleetArrival, countNames: { host: boolean; process: boolean }): Promise<HoldOutcome> {
    if (this.incidents.has(incident.incidentId)) return "duplicate";
    if (this.fleet.trip?.tripId !== tripId) return "not-open";
    this.incidents.set(incident.incidentId, incident);
    const held = this.fleet.held ?? { total: 0, zeroCount: 0, noData: 0, hosts: [], processes: [] };
    const counted = holdOne(held, arrival);
    this.fleet = {
      ...this.fleet,
      version: this.fleet.version + 1,
      held: {
        ...counted,
        hosts: countNames.host ? [...new Set([...held.hosts, arrival.instanceId])].sort() : held.hosts,
        processes: countNames.process ? [...new Set([...held.processes, arrival.processName])].sort() : held.processes,
      },
    };
    return "held";
  }

  async markRollupPosted(tripId: string): Promise<void> {
    if (this.fleet.trip?.tripId !== tripId) return;
    const { rollupPending: _posted, ...rest } = this.fleet;
    this.fleet = rest;
  }

  async markNotice(incidentId: string, notice: IncidentNotice, at: number): Promise<boolean> {
    const attribute = notice === "stuck" ? "stuckNoticeAt" : "unrecoveredNoticeAt";
    return this.update(incidentId, (record) => record[attribute] === undefined, { [attribute]: at });
  }

  private static key(instanceId: string, processName: string): string {
    return `${instanceId}#${processName}`;
  }

  async loadProcess(instanceId: string, processName: string): Promise<ProcessLedger> {
    return this.processes.get(InMemoryRestartLedger.key(instanceId, processName)) ?? { instanceId, processName, version: 0, attempts: [] };
  }

  async getIncident(incidentId: string): Promise<IncidentRecord | undefined> {
    return this.incidents.get(incidentId);
  }

  async getIncidents(incidentIds: readonly string[]): Promise<IncidentRecord[]> {
    return incidentIds.map((id) => this.incidents.get(id)).filter((record): record is IncidentRecord => record !== undefined);
  }

  async claim(incident: IncidentRecord, process: ProcessLedger | undefined, expectedVersion: number): Promise<ClaimOutcome> {
    if (this.incidents.has(incident.incidentId)) return "duplicate";
    if (process !== undefined && !this.versionMatches(process, expectedVersion)) return "conflict";
    this.incidents.set(incident.incidentId, incident);
    if (process !== undefined) this.processes.set(InMemoryRestartLedger.key(process.instanceId, process.processName), process);
    return "claimed";
  }

  async recordCommandSent(incidentId: string, claimToken: string, commandId: string, sentAt: number, notification: ChatbotNotification): Promise<boolean> {
    return this.update(incidentId, (record) => record.claimToken === claimToken && record.commandId === undefined, {
      commandId,
      commandSentAt: sentAt,
      pendingNotification: notification,
    });
  }

  async releaseClaim(incidentId: string, claimToken: string): Promise<void> {
    await this.update(incidentId, (record) => record.claimToken === claimToken && record.commandId === undefined, { claimedAt: 0 });
  }

  async closeClaimWithoutCommand(
    incidentId: string,
    claimToken: string,
    outcome: IncidentOutcome,
    notification: ChatbotNotification | undefined,
  ): Promise<boolean> {
    return this.update(incidentId, (record) => record.claimToken === claimToken && record.commandId === undefined, {
      outcome,
      ...(notification !== undefined ? { pendingNotification: notification } : {}),
    });
  }

  async takeOverClaim(incidentId: string, staleToken: string, newToken: string, now: number, staleBefore: number): Promise<boolean> {
    return this.update(incidentId, (record) => record.claimToken === staleToken && record.commandId === undefined && record.claimedAt <= staleBefore, {
      claimToken: newToken,
      claimedAt: now,
    });
  }

  async recordCommandResult(incidentId: string, result: CommandResultSummary, notification: ChatbotNotification): Promise<boolean> {
    return this.update(incidentId, (record) => record.result === undefined, { result, pendingResultNotification: notification });
  }

  async markNotified(incidentId: string, which: "story" | "result"): Promise<void> {
    const record = this.incidents.get(incidentId);
    if (record === undefined) return;
    const { pendingNotification, pendingResultNotification, ...rest } = record;
    this.incidents.set(incidentId, {
      ...rest,
      ...(which === "story" ? {} : pendingNotification !== undefined ? { pendingNotification } : {}),
      ...(which === "result" ? {} : pendingResultNotification !== undefined ? { pendingResultNotification } : {}),
    });
  }

  async writeProcess(process: ProcessLedger, expectedVersion: number): Promise<boolean> {
    if (!this.versionMatches(process, expectedVersion)) return false;
    this.processes.set(InMemoryRestartLedger.key(process.instanceId, process.processName), process);
    return true;
  }

  private versionMatches(process: ProcessLedger, expectedVersion: number): boolean {
    const stored = this.processes.get(InMemoryRestartLedger.key(process.instanceId, process.processName));
    return expectedVersion === 0 ? stored === undefined : stored?.version === expectedVersion;
  }

  private update(incidentId: string, condition: (record: IncidentRecord) => boolean, changes: Partial<IncidentRecord>): boolean {
    const record = this.incidents.get(incidentId);
    if (record === undefined || !condition(record)) return false;
    this.incidents.set(incidentId, { ...record, ...changes });
    return true;
  }
}

export class StaticInstanceFacts implements InstanceFacts {
  constructor(readonly instances: Map<string, InstanceSnapshot> = new Map()) {}

  async describe(instanceId: string): Promise<InstanceSnapshot | null> {
    return this.instances.get(instanceId) ?? null;
  }
}

export class StaticProfileSource implements ProfileSource {
  constructor(readonly profiles: Map<string, ProfileLookup> = new Map()) {}

  async getProfile(name: string): Promise<ProfileLookup> {
    return this.profiles.get(name) ?? { found: false };
  }
}

/** Records commands instead of sending them; `outputFor` plays the host's reply for GetCommandInvocation. */
export class RecordingCommandSender implements CommandSender, CommandHistory {
  readonly sent: { commandId: string; request: RestartCommandRequest; at: number; status: string }[] = [];
  /** Instances SSM refuses with InvalidInstanceId (not registered, or its SSM Agent offline). */
  readonly unreachable = new Set<string>();
  /** Epoch ms stamped on each command; status `InProgress` until `setStatus`. */
  now: () => number = () => Date.now();
  private counter = 0;

  constructor(private readonly outputFor: (request: RestartCommandRequest) => InvocationDetails = () => ({})) {}

  async send(request: RestartCommandRequest): Promise<SentCommand> {
    if (this.unreachable.has(request.InstanceIds[0])) {
      // What SSM answers for an instance it cannot reach (one attempt, 400).
      throw Object.assign(new Error(`Instances [[${request.InstanceIds[0]}]] not in a valid state for account`), {
        name: "InvalidInstanceId",
        $metadata: { httpStatusCode: 400, attempts: 1 },
      });
    }
    this.counter += 1;
    const commandId = `00000000-0000-4000-8000-${this.counter.toString(16).padStart(12, "0")}`;
    this.sent.push({ commandId, request, at: this.now(), status: "InProgress" });
    return { commandId };
  }

  setStatus(commandId: string, status: string): void {
    const entry = this.sent.find((candidate) => candidate.commandId === commandId);
    if (entry !== undefined) entry.status = status;
  }

  async listSince(documentName: string, since: number): Promise<ListedRestartCommand[]> {
    return this.sent
      .filter((entry) => entry.request.DocumentName === documentName && entry.at >= since)
      .map((entry) => ({
        commandId: entry.commandId,
        comment: entry.request.Comment,
        instanceIds: [...entry.request.InstanceIds],
        status: entry.status,
        requestedAt: entry.at,
      }));
  }

  async findSentForIncident(instanceId: string, _documentName: string, incidentId: string): Promise<SentCommand | undefined> {
    const match = this.sent.find((entry) => entry.request.InstanceIds[0] === instanceId && entry.request.Comment.includes(incidentId));
    return match !== undefined ? { commandId: match.commandId } : undefined;
  }

  async getInvocation(commandId: string): Promise<InvocationDetails | undefined> {
    const match = this.sent.find((entry) => entry.commandId === commandId);
    return match === undefined ? undefined : { comment: match.request.Comment, status: match.status, ...this.outputFor(match.request) };
  }
}

export class RecordingNotifier implements Notifier {
  readonly published: ChatbotNotification[] = [];

  async publish(notification: ChatbotNotification): Promise<void> {
    this.published.push(notification);
  }
}

/** Keeps every count in order, so a test can assert exactly which metrics a decision produced. */
export class RecordingRestartMetrics implements RestartMetrics {
  readonly counted: { name: RestartMetricName; value: number }[] = [];

  count(name: RestartMetricName, value = 1): void {
    this.counted.push({ name, value });
  }

  /** Totals per name, only for names that were counted. */
  totals(): Partial<Record<RestartMetricName, number>> {
    const totals: Partial<Record<RestartMetricName, number>> = {};
    for (const { name, value } of this.counted) totals[name] = (totals[name] ?? 0) + value;
    return totals;
  }

  clear(): void {
    this.counted.length = 0;
  }
}
