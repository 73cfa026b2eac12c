import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { ALARM_SIGNAL_KINDS, type AlarmSignalKind } from "../core/alarm-signal.ts";
import { type BreakerTrip, EMPTY_FLEET_BREAKER, type FleetArrival, type FleetBreakerState, type FleetEntry, isNoDataSignal } from "../core/fleet-breaker.ts";
import type { AlarmState, CommandResultSummary, IncidentOutcome, IncidentRecord, ProcessLedger, RestartAttempt, SeenTransition } from "../core/model.ts";
import type { ChatbotNotification } from "../core/notifications.ts";
import { AwsCallError } from "../errors.ts";
import type { ClaimOutcome, Clock, HoldOutcome, IncidentNotice, RestartLedger } from "../ports.ts";

type Item = Record<string, AttributeValue>;

export interface DynamoDbLedgerOptions {
  readonly tableName: string;
  /** Items expire (DynamoDB TTL on `expiresAt`) this many days after their last write. */
  readonly retentionDays: number;
  readonly clock?: Clock;
}

export function incidentKey(incidentId: string): string {
  return `incident#${incidentId}`;
}

export function processKey(instanceId: string, processName: string): string {
  return `process#${instanceId}#${processName}`;
}

/** The one fleet-wide breaker item. */
export const FLEET_KEY = "fleet#breaker";

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });

function str(item: Item, name: string): string | undefined {
  const value = item[name];
  return value !== undefined && "S" in value ? value.S : undefined;
}

function num(item: Item, name: string): number | undefined {
  const value = item[name];
  if (value === undefined || !("N" in value) || value.N === undefined) return undefined;
  const parsed = Number(value.N);
  return Number.isFinite(parsed) ? parsed : undefined;
}

function json<T>(item: Item, name: string): T | undefined {
  const text = str(item, name);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

/**
 * The restart ledger in one DynamoDB table (`pk` string, TTL `expiresAt`):
 *  - `incident#<id>`: one item per alarm transition, created with attribute_not_exists(pk) before
 *    any command is sent — the idempotency claim — then updated with the command id and result.
 *  - `process#<instance>#<process>`: recent restart attempts (the budget) and the open incident,
 *    replaced only if its `version` is unchanged (optimistic concurrency).
 * A claim writes both in one transaction, so a budget slot is never spent without its incident.
 */
export class DynamoDbRestartLedger implements RestartLedger {
  private readonly table: string;
  private readonly retentionSeconds: number;
  private readonly clock: Clock;

  constructor(
    private readonly dynamodb: DynamoDBClient,
    options: DynamoDbLedgerOptions,
  ) {
    this.table = options.tableName;
    this.retentionSeconds = options.retentionDays * 86_400;
    this.clock = options.clock ?? { now: () => Date.now() };
  }

  private expiresAt(): AttributeValue {
    return n(Math.floor(this.clock.now() / 1000) + this.retentionSeconds);
  }

  async loadProcess(instanceId: string, processName: string): Promise<ProcessLedger> {
    const item = await this.get(processKey(instanceId, processName));
    if (item === undefined) return { instanceId, processName, version: 0, attempts: [] };
    const attempts = (json<RestartAttempt[]>(item, "attempts") ?? []).filter(
      (attempt) => typeof attempt?.incidentId === "string" && typeof attempt?.at === "number",
    );
    const openIncidentId = str(item, "openIncidentId");
    const resetAt = num(item, "resetAt");
    const lastTransition = seenTransitionFromItem(item);
    return {
      instanceId,
      processName,
      version: num(item, "version") ?? 0,
      attempts,
      ...(openIncidentId !== undefined ? { openIncidentId } : {}),
      ...(resetAt !== undefined ? { resetAt } : {}),
      ...(lastTransition !== undefined ? { lastTransition } : {}),
    };
  }

  async getIncident(incidentId: string): Promise<IncidentRecord | undefined> {
    const item = await this.get(incidentKey(incidentId));
    return item === undefined ? undefined : incidentFromItem(item);
  }

  async getIncidents(incidentIds: readonly string[]): Promise<IncidentRecord[]> {
    const unique = [...new Set(incidentIds)].slice(0, 100);
    if (unique.length === 0) return [];
    let keys: Item[] = unique.map((id) => ({ pk: s(incidentKey(id)) }));
    const records: IncidentRecord[] = [];
    for (let round = 0; round < 5 && keys.length > 0; round += 1) {
      try {
        const output = await this.dynamodb.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of output.Responses?.[this.table] ?? []) {
          const record = incidentFromItem(item);
          if (record !== undefined) records.push(record);
        }
        keys = output.UnprocessedKeys?.[this.table]?.Keys ?? [];
      } catch (error) {
        throw new AwsCallError("BatchGetItem", error);
      }
    }
    if (keys.length > 0)
      throw new AwsCallError("BatchGetItem", Object.assign(new Error("keys left unprocessed"), { name: "ProvisionedThroughputExceededException" }));
    return records;
  }

  async claim(incident: IncidentRecord, process: ProcessLedger | undefined, expectedVersion: number): Promise<ClaimOutcome> {
    const incidentPut = { TableName: this.table, Item: this.incidentItem(incident), ConditionExpression: "attribute_not_exists(pk)" };
    if (process === undefined) {
      try {
        await this.dynamodb.send(new PutItemCommand(incidentPut));
        return "claimed";
      } catch (error) {
        if (isConditionFailure(error)) return "duplicate";
        throw new AwsCallError("PutItem", error);
      }
    }
    try {
      await this.dynamodb.send(new TransactWriteItemsCommand({ TransactItems: [{ Put: incidentPut }, { Put: this.processPut(process, expectedVersion) }] }));
      return "claimed";
    } catch (error) {
      if (error instanceof Error && error.name === "TransactionCanceledException") {
        const reasons = (error as Error & { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        if (reasons[0]?.Code === "ConditionalCheckFailed") return "duplicate";
        if (reasons[1]?.Code === "ConditionalCheckFailed") return "conflict";
      }
      throw new AwsCallError("TransactWriteItems", error);
    }
  }

  async recordCommandSent(incidentId: string, claimToken: string, commandId: string, sentAt: number, notification: ChatbotNotification): Promise<boolean> {
    return this.conditionalUpdate(
      incidentId,
      "SET commandId = :commandId, commandSentAt = :sentAt, pendingNotification = :notification, expiresAt = :expiresAt",
      "claimToken = :token AND attribute_not_exists(commandId)",
      {
        ":commandId": s(commandId),
        ":sentAt": n(sentAt),
        ":notification": s(JSON.stringify(notification)),
        ":token": s(claimToken),
        ":expiresAt": this.expiresAt(),
      },
    );
  }

  async releaseClaim(incidentId: string, claimToken: string): Promise<void> {
    await this.conditionalUpdate(incidentId, "SET claimedAt = :zero", "claimToken = :token AND attribute_not_exists(commandId)", {
      ":zero": n(0),
      ":token": s(claimToken),
    });
  }

  async closeClaimWithoutCommand(
    incidentId: string,
    claimToken: string,
    outcome: IncidentOutcome,
    notification: ChatbotNotification | undefined,
  ): Promise<boolean> {
    const values: Item = { ":outcome": s(outcome), ":token": s(claimToken), ":expiresAt": this.expiresAt() };
    if (notification !== undefined) values[":notification"] = s(JSON.stringify(notification));
    return this.conditionalUpdate(
      incidentId,
      `SET outcome = :outcome, expiresAt = :expiresAt${notification !== undefined ? ", pendingNotification = :notification" : ""}`,
      "claimToken = :token AND attribute_not_exists(commandId)",
      values,
    );
  }

  async takeOverClaim(incidentId: string, staleToken: string, newToken: string, now: number, staleBefore: number): Promise<boolean> {
    return this.conditionalUpdate(
      incidentId,
      "SET claimToken = :newToken, claimedAt = :now",
      "claimToken = :staleToken AND attribute_not_exists(commandId) AND claimedAt <= :staleBefore",
      { ":newToken": s(newToken), ":now": n(now), ":staleToken": s(staleToken), ":staleBefore": n(staleBefore) },
    );
  }

  async recordCommandResult(incidentId: string, result: CommandResultSummary, notification: ChatbotNotification): Promise<boolean> {
    return this.conditionalUpdate(
      incidentId,
      "SET commandResult = :result, pendingResultNotification = :notification, expiresAt = :expiresAt",
      "attribute_exists(pk) AND attribute_not_exists(commandResult)",
      { ":result": s(JSON.stringify(result)), ":notification": s(JSON.stringify(notification)), ":expiresAt": this.expiresAt() },
    );
  }

  async markNotified(incidentId: string, which: "story" | "result"): Promise<void> {
    const attribute = which === "story" ? "pendingNotification" : "pendingResultNotification";
    await this.conditionalUpdate(incidentId, `REMOVE ${attribute}`, "attribute_exists(pk)", undefined);
  }

  async writeProcess(process: ProcessLedger, expectedVersion: number): Promise<boolean> {
    try {
      await this.dynamodb.send(new PutItemCommand(this.processPut(process, expectedVersion)));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw new AwsCallError("PutItem", error);
    }
  }

  async loadFleet(): Promise<FleetBreakerState> {
    const item = await this.get(FLEET_KEY);
    if (item === undefined) return EMPTY_FLEET_BREAKER;
    const trip = json<BreakerTrip>(item, "trip");
    const fleetWindowStart = num(item, "fleetWindowStart");
    const hosts = strings(item, "heldHosts");
    const processes = strings(item, "heldProcesses");
    return {
      version: num(item, "version") ?? 0,
      entries: (json<FleetEntry[]>(item, "entries") ?? []).filter((entry) => typeof entry?.incidentId === "string" && typeof entry?.at === "number"),
      trips: num(item, "trips") ?? 0,
      ...(fleetWindowStart !== undefined ? { fleetWindowStart } : {}),
      ...(trip !== undefined && str(item, "tripId") === trip.tripId
        ? {
            trip,
            held: {
              total: num(item, "heldTotal") ?? 0,
              zeroCount: num(item, "heldZeroCount") ?? 0,
              noData: num(item, "heldNoData") ?? 0,
              hosts,
              processes,
            },
            ...(num(item, "rollupPending") === 1 ? { rollupPending: true } : {}),
          }
        : {}),
    };
  }

  async writeFleet(state: FleetBreakerState, expectedVersion: number): Promise<boolean> {
    const held = state.held;
    const item: Item = {
      pk: s(FLEET_KEY),
      kind: s("fleet"),
      version: n(state.version),
      entries: s(JSON.stringify(state.entries)),
      trips: n(state.trips),
      ...(state.fleetWindowStart !== undefined ? { fleetWindowStart: n(state.fleetWindowStart) } : {}),
      ...(state.trip !== undefined ? { trip: s(JSON.stringify(state.trip)), tripId: s(state.trip.tripId) } : {}),
      ...(held !== undefined
        ? {
            heldTotal: n(held.total),
            heldZeroCount: n(held.zeroCount),
            heldNoData: n(held.noData),
            ...(held.hosts.length > 0 ? { heldHosts: { SS: [...held.hosts] } } : {}),
            ...(held.processes.length > 0 ? { heldProcesses: { SS: [...held.processes] } } : {}),
          }
        : {}),
      ...(state.rollupPending === true ? { rollupPending: n(1) } : {}),
    };
    // No TTL: the breaker must outlive quiet months.
    const put =
      expectedVersion === 0
        ? { TableName: this.table, Item: item, ConditionExpression: "attribute_not_exists(pk)" }
        : { TableName: this.table, Item: item, ConditionExpression: "version = :expected", ExpressionAttributeValues: { ":expected": n(expectedVersion) } };
    try {
      await this.dynamodb.send(new PutItemCommand(put));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw new AwsCallError("PutItem", error);
    }
  }

  async holdAlarm(incident: IncidentRecord, tripId: string, arrival: FleetArrival, countNames: { host: boolean; process: boolean }): Promise<HoldOutcome> {
    const noData = isNoDataSignal(arrival.signal);
    const values: Item = { ":one": n(1), ":zero": n(0), ":tripId": s(tripId) };
    const adds = ["version :one", "heldTotal :one", `heldZeroCount ${noData ? ":zero" : ":one"}`, `heldNoData ${noData ? ":one" : ":zero"}`];
    if (countNames.host) {
      adds.push("heldHosts :host");
      values[":host"] = { SS: [arrival.instanceId] };
    }
    if (countNames.process) {
      adds.push("heldProcesses :process");
      values[":process"] = { SS: [arrival.processName] };
    }
    try {
      await this.dynamodb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: this.incidentItem(incident), ConditionExpression: "attribute_not_exists(pk)" } },
            {
              Update: {
                TableName: this.table,
                Key: { pk: s(FLEET_KEY) },
                UpdateExpression: `ADD ${adds.join(", ")}`,
                ConditionExpression: "tripId = :tripId",
                ExpressionAttributeValues: values,
              },
            },
          ],
        }),
      );
      return "held";
    } catch (error) {
      if (error instanceof Error && error.name === "TransactionCanceledException") {
        const reasons = (error as Error & { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        if (reasons[0]?.Code === "ConditionalCheckFailed") return "duplicate";
        if (reasons[1]?.Code === "ConditionalCheckFailed") return "not-open";
      }
      throw new AwsCallError("TransactWriteItems", error);
    }
  }

  async markRollupPosted(tripId: string): Promise<void> {
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: s(FLEET_KEY) },
          UpdateExpression: "REMOVE rollupPending",
          ConditionExpression: "tripId = :tripId",
          ExpressionAttributeValues: { ":tripId": s(tripId) },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      throw new AwsCallError("UpdateItem", error);
    }
  }

  async markNotice(incidentId: string, notice: IncidentNotice, at: number): Promise<boolean> {
    const attribute = notice === "stuck" ? "stuckNoticeAt" : "unrecoveredNoticeAt";
    return this.conditionalUpdate(incidentId, `SET ${attribute} = :at`, `attribute_exists(pk) AND attribute_not_exists(${attribute})`, { ":at": n(at) });
  }

  private processPut(process: ProcessLedger, expectedVersion: number) {
    const item: Item = {
      pk: s(processKey(process.instanceId, process.processName)),
      kind: s("process"),
      instanceId: s(process.instanceId),
      processName: s(process.processName),
      version: n(process.version),
      attempts: s(JSON.stringify(process.attempts)),
      expiresAt: this.expiresAt(),
      ...(process.openIncidentId !== undefined ? { openIncidentId: s(process.openIncidentId) } : {}),
      ...(process.resetAt !== undefined ? { resetAt: n(process.resetAt) } : {}),
      ...(process.lastTransition !== undefined
        ? { lastStateChangeTime: s(process.lastTransition.stateChangeTime), lastState: s(process.lastTransition.state) }
        : {}),
    };
    // Monotonic by construction: the core only ever moves lastTransition forward from the item it
    // read, and this write lands only if that item is still the stored one (same version).
    // Version 0 means "no item was read": the write must then be the one that creates it.
    return expectedVersion === 0
      ? { TableName: this.table, Item: item, ConditionExpression: "attribute_not_exists(pk)" }
      : { TableName: this.table, Item: item, ConditionExpression: "version = :expected", ExpressionAttributeValues: { ":expected": n(expectedVersion) } };
  }

  private incidentItem(incident: IncidentRecord): Item {
    return {
      pk: s(incidentKey(incident.incidentId)),
      kind: s("incident"),
      alarmName: s(incident.alarmName),
      alarmState: s(incident.state),
      stateChangeTime: s(incident.stateChangeTime),
      instanceId: s(incident.instanceId),
      processName: s(incident.processName),
      outcome: s(incident.outcome),
      threadId: s(incident.threadId),
      claimedAt: n(incident.claimedAt),
      ...(incident.firstClaimedAt !== undefined ? { firstClaimedAt: n(incident.firstClaimedAt) } : {}),
      claimToken: s(incident.claimToken),
      expiresAt: this.expiresAt(),
      ...(incident.attempt !== undefined ? { attempt: n(incident.attempt) } : {}),
      ...(incident.signal !== undefined ? { alarmSignal: s(incident.signal) } : {}),
      ...(incident.commandId !== undefined ? { commandId: s(incident.commandId) } : {}),
      ...(incident.commandSentAt !== undefined ? { commandSentAt: n(incident.commandSentAt) } : {}),
      ...(incident.result !== undefined ? { commandResult: s(JSON.stringify(incident.result)) } : {}),
      ...(incident.pendingNotification !== undefined ? { pendingNotification: s(JSON.stringify(incident.pendingNotification)) } : {}),
      ...(incident.pendingResultNotification !== undefined ? { pendingResultNotification: s(JSON.stringify(incident.pendingResultNotification)) } : {}),
      ...(incident.stuckNoticeAt !== undefined ? { stuckNoticeAt: n(incident.stuckNoticeAt) } : {}),
      ...(incident.unrecoveredNoticeAt !== undefined ? { unrecoveredNoticeAt: n(incident.unrecoveredNoticeAt) } : {}),
    };
  }

  private async get(pk: string): Promise<Item | undefined> {
    try {
      const output = await this.dynamodb.send(new GetItemCommand({ TableName: this.table, Key: { pk: s(pk) }, ConsistentRead: true }));
      return output.Item;
    } catch (error) {
      throw new AwsCallError("GetItem", error);
    }
  }

  private async conditionalUpdate(incidentId: string, update: string, condition: string, values: Item | undefined): Promise<boolean> {
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: s(incidentKey(incidentId)) },
          UpdateExpression: update,
          ConditionExpression: condition,
          ...(values !== undefined ? { ExpressionAttributeValues: values } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw new AwsCallError("UpdateItem", error);
    }
  }
}

const OUTCOMES: readonly IncidentOutcome[] = [
  "restarting",
  "gave-up",
  "not-restarted",
  "recovered",
  "notified",
  "superseded",
  "held",
  "host-limited",
  "unreachable",
];

function strings(item: Item, name: string): string[] {
  const value = item[name];
  return value !== undefined && "SS" in value && value.SS !== undefined ? [...value.SS].sort() : [];
}
const STATES: readonly AlarmState[] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

function seenTransitionFromItem(item: Item): SeenTransition | undefined {
  const stateChangeTime = str(item, "lastStateChangeTime");
  const state = str(item, "lastState") as AlarmState | undefined;
  if (stateChangeTime === undefined || state === undefined || !STATES.includes(state) || !Number.isFinite(Date.parse(stateChangeTime))) return undefined;
  return { stateChangeTime, state };
}

function incidentFromItem(item: Item): IncidentRecord | undefined {
  const pk = str(item, "pk");
  const incidentId = pk?.startsWith("incident#") ? pk.slice("incident#".length) : undefined;
  const alarmName = str(item, "alarmName");
  const state = str(item, "alarmState") as AlarmState | undefined;
  const stateChangeTime = str(item, "stateChangeTime");
  const instanceId = str(item, "instanceId");
  const processName = str(item, "processName");
  const outcome = str(item, "outcome") as IncidentOutcome | undefined;
  const threadId = str(item, "threadId");
  const claimedAt = num(item, "claimedAt");
  const claimToken = str(item, "claimToken");
  if (
    incidentId === undefined ||
    alarmName === undefined ||
    state === undefined ||
    !STATES.includes(state) ||
    stateChangeTime === undefined ||
    instanceId === undefined ||
    processName === undefined ||
    outcome === undefined ||
    !OUTCOMES.includes(outcome) ||
    threadId === undefined ||
    claimedAt === undefined ||
    claimToken === undefined
  ) {
    return undefined;
  }
  const attempt = num(item, "attempt");
  const signal = str(item, "alarmSignal") as AlarmSignalKind | undefined;
  const firstClaimedAt = num(item, "firstClaimedAt");
  const commandId = str(item, "commandId");
  const commandSentAt = num(item, "commandSentAt");
  const result = json<CommandResultSummary>(item, "commandResult");
  const pendingNotification = json<ChatbotNotification>(item, "pendingNotification");
  const pendingResultNotification = json<ChatbotNotification>(item, "pendingResultNotification");
  const stuckNoticeAt = num(item, "stuckNoticeAt");
  const unrecoveredNoticeAt = num(item, "unrecoveredNoticeAt");
  return {
    incidentId,
    alarmName,
    state,
    stateChangeTime,
    instanceId,
    processName,
    outcome,
    threadId,
    claimedAt,
    claimToken,
    ...(firstClaimedAt !== undefined ? { firstClaimedAt } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
    ...(signal !== undefined && ALARM_SIGNAL_KINDS.includes(signal) ? { signal } : {}),
    ...(commandId !== undefined ? { commandId } : {}),
    ...(commandSentAt !== undefined ? { commandSentAt } : {}),
    ...(result !== undefined ? { result } : {}),
    ...(pendingNotification !== undefined ? { pendingNotification } : {}),
    ...(pendingResultNotification !== undefined ? { pendingResultNotification } : {}),
    ...(stuckNoticeAt !== undefined ? { stuckNoticeAt } : {}),
    ...(unrecoveredNoticeAt !== undefined ? { unrecoveredNoticeAt } : {}),
  };
}
