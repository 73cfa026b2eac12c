import type { AlarmSignalKind } from "./alarm-signal.ts";

/**
 * The fleet-wide circuit breaker: one item for the whole deployment, so that one telemetry outage
 * or one bad policy change cannot turn into a restart (and a Slack message) on every host at once.
 * Everything here is pure: the shell reads the item, calls these functions and writes the result
 * back only if the item's version is still the one it read.
 */
export interface FleetBreakerSettings {
  /** Restart commands allowed across the fleet within `windowMinutes`; the next one trips the breaker. */
  readonly restartLimit: number;
  /** No-data checks allowed across the fleet within `windowMinutes`; the next one trips it. */
  readonly noDataLimit: number;
  readonly windowMinutes: number;
  /** The breaker closes by itself this long after it tripped. */
  readonly cooldownMinutes: number;
  /** Restart commands allowed per host within `hostWindowMinutes`, whatever the process. */
  readonly hostRestartLimit: number;
  readonly hostWindowMinutes: number;
}

/** One restart command the fleet counted (a slot), or one host-limit refusal already announced. */
export interface FleetEntry {
  readonly incidentId: string;
  readonly instanceId: string;
  readonly processName: string;
  readonly signal: AlarmSignalKind;
  /** Epoch ms. */
  readonly at: number;
  /** `restart`: a command slot; `host-limited`: a refusal announced for this host (counts nothing). */
  readonly kind: "restart" | "host-limited";
}

export type TripReason = "restart-rate" | "no-data-rate" | "operator";

/** What the breaker saw when it tripped: the rollup message is built from this. */
export interface BreakerTrip {
  readonly tripId: string;
  readonly trippedAt: number;
  readonly reason: TripReason;
  /** The slots in the window at the trip plus the alarm that tripped it. */
  readonly seen: readonly FleetEntry[];
  readonly requestedBy?: string;
}

/** Alarms held back while the breaker is open: counted atomically, never by read-modify-write. */
export interface HeldCounts {
  readonly total: number;
  readonly zeroCount: number;
  readonly noData: number;
  /** Distinct hosts and processes (bounded sets). */
  readonly hosts: readonly string[];
  readonly processes: readonly string[];
}

export interface FleetBreakerState {
  /** 0 when the item does not exist yet; every replacing write bumps it. */
  readonly version: number;
  /** Recent slots, newest last, pruned to the longer of the two windows. */
  readonly entries: readonly FleetEntry[];
  readonly trip?: BreakerTrip;
  readonly held?: HeldCounts;
  /** The rollup of the current trip, until SNS accepted it. */
  readonly rollupPending?: boolean;
  /** How many times the breaker tripped since the item exists (for the rollup's wording and the logs). */
  readonly trips: number;
  /** Epoch ms the breaker last closed: slots before it no longer count fleet-wide (they still count per host). */
  readonly fleetWindowStart?: number;
}

export const EMPTY_FLEET_BREAKER: FleetBreakerState = { version: 0, entries: [], trips: 0 };
/** Bounds the fleet item whatever the settings: the oldest entries go first. */
export const MAX_FLEET_ENTRIES = 400;
/** Distinct hosts / processes kept in the held counts; the totals stay exact beyond it. */
export const MAX_HELD_NAMES = 500;

export interface FleetArrival {
  readonly incidentId: string;
  readonly instanceId: string;
  readonly processName: string;
  readonly signal: AlarmSignalKind;
}

export function isNoDataSignal(signal: AlarmSignalKind): boolean {
  return signal === "no-data";
}

/** When an open breaker closes by itself; `undefined` while closed. */
export function breakerResumesAt(state: FleetBreakerState, settings: FleetBreakerSettings): number | undefined {
  return state.trip === undefined ? undefined : state.trip.trippedAt + settings.cooldownMinutes * 60_000;
}

export type BreakerGate =
  | { readonly kind: "closed" }
  | { readonly kind: "open"; readonly trip: BreakerTrip }
  /** Open, but the cool-down has passed: close it (write `next`) and go on as closed. */
  | { readonly kind: "resume"; readonly next: FleetBreakerState; readonly ended: BreakerTrip; readonly held: HeldCounts };

/**
 * Checked before anything else is read for an ALARM: while the breaker is open, the alarm is held
 * back without even describing the instance (that is what keeps DescribeInstances in bounds too).
 */
export function gateFleetBreaker(state: FleetBreakerState, settings: FleetBreakerSettings, now: number): BreakerGate {
  const trip = state.trip;
  if (trip === undefined) return { kind: "closed" };
  const resumesAt = breakerResumesAt(state, settings) ?? now;
  if (now < resumesAt) return { kind: "open", trip };
  return { kind: "resume", next: closedState(state, now, settings), ended: trip, held: state.held ?? emptyHeld() };
}

/** The breaker closed, by the cool-down or by an operator: windows start empty, so a storm that goes on trips it again. */
export function closedState(state: FleetBreakerState, now: number, settings: FleetBreakerSettings): FleetBreakerState {
  // Host entries stay: the per-host bound must not reset because the fleet breaker did.
  const hostSince = now - settings.hostWindowMinutes * 60_000;
  return { version: state.version + 1, entries: state.entries.filter((entry) => entry.at > hostSince), trips: state.trips, fleetWindowStart: now };
}

export function emptyHeld(): HeldCounts {
  return { total: 0, zeroCount: 0, noData: 0, hosts: [], processes: [] };
}

export type SlotDecision =
  /** This incident already holds a slot (a retry of the same delivery): go on, write nothing. */
  | { readonly kind: "already-taken" }
  | { readonly kind: "take"; readonly next: FleetBreakerState }
  /** Too many restarts on this host: no command. `announce`: the first refusal for the host in its window. */
  | { readonly kind: "host-limit"; readonly next?: FleetBreakerState; readonly announce: boolean; readonly recent: number }
  /** This alarm trips the breaker: no command, hold it, post the rollup once (the write that lands is the once). */
  | { readonly kind: "trip"; readonly next: FleetBreakerState; readonly trip: BreakerTrip };

/** Slots inside the fleet window that count toward `restartLimit` (and, for no-data, `noDataLimit`). */
export function fleetWindowEntries(state: FleetBreakerState, settings: FleetBreakerSettings, now: number): FleetEntry[] {
  const since = Math.max(now - settings.windowMinutes * 60_000, state.fleetWindowStart ?? Number.NEGATIVE_INFINITY);
  return state.entries.filter((entry) => entry.kind === "restart" && entry.at > since);
}

/**
 * Called once the per-process decision says "restart": may this command go out? Per host first
 * (a host whose processes all die is one problem, not thirty), then fleet-wide: a restart past
 * `restartLimit`, or a no-data check past `noDataLimit`, within the window trips the breaker.
 */
export function decideFleetSlot(state: FleetBreakerState, arrival: FleetArrival, settings: FleetBreakerSettings, now: number, tripId: string): SlotDecision {
  if (state.entries.some((entry) => entry.incidentId === arrival.incidentId && entry.kind === "restart")) return { kind: "already-taken" };
  // A retry of the alarm that announced its host's limit: announce it (its message may be lost), write nothing.
  if (state.entries.some((entry) => entry.incidentId === arrival.incidentId && entry.kind === "host-limited")) {
    return { kind: "host-limit", announce: true, recent: settings.hostRestartLimit };
  }
  const keepSince = now - Math.max(settings.windowMinutes, settings.hostWindowMinutes) * 60_000;
  const kept = state.entries.filter((entry) => entry.at > keepSince);
  const entry: FleetEntry = { ...arrival, at: now, kind: "restart" };

  const hostSince = now - settings.hostWindowMinutes * 60_000;
  const onHost = kept.filter((candidate) => candidate.instanceId === arrival.instanceId && candidate.at > hostSince);
  const hostRestarts = onHost.filter((candidate) => candidate.kind === "restart").length;
  if (hostRestarts >= settings.hostRestartLimit) {
    const announced = onHost.some((candidate) => candidate.kind === "host-limited");
    if (announced) return { kind: "host-limit", announce: false, recent: hostRestarts };
    return {
      kind: "host-limit",
      announce: true,
      recent: hostRestarts,
      next: { ...state, version: state.version + 1, entries: bounded([...kept, { ...entry, kind: "host-limited" }]) },
    };
  }

  const inWindow = fleetWindowEntries({ ...state, entries: kept }, settings, now);
  const restartsOver = inWindow.length >= settings.restartLimit;
  const noDataOver = isNoDataSignal(arrival.signal) && inWindow.filter((candidate) => isNoDataSignal(candidate.signal)).length >= settings.noDataLimit;
  if (restartsOver || noDataOver) {
    const trip: BreakerTrip = { tripId, trippedAt: now, reason: noDataOver ? "no-data-rate" : "restart-rate", seen: [...inWindow, entry] };
    return {
      kind: "trip",
      trip,
      next: { ...state, version: state.version + 1, entries: kept, trip, held: holdOne(emptyHeld(), arrival), rollupPending: true, trips: state.trips + 1 },
    };
  }
  return { kind: "take", next: { ...state, version: state.version + 1, entries: bounded([...kept, entry]) } };
}

function bounded(entries: FleetEntry[]): FleetEntry[] {
  return entries.length > MAX_FLEET_ENTRIES ? entries.slice(entries.length - MAX_FLEET_ENTRIES) : entries;
}

/** The held counts after one more alarm; the ledger applies the same change atomically (ADD). */
export function holdOne(held: HeldCounts, arrival: Pick<FleetArrival, "instanceId" | "processName" | "signal">): HeldCounts {
  const noData = isNoDataSignal(arrival.signal);
  return {
    total: held.total + 1,
    zeroCount: held.zeroCount + (noData ? 0 : 1),
    noData: held.noData + (noData ? 1 : 0),
    hosts: addBounded(held.hosts, arrival.instanceId),
    processes: addBounded(held.processes, arrival.processName),
  };
}

function addBounded(names: readonly string[], name: string): string[] {
  return names.includes(name) || names.length >= MAX_HELD_NAMES ? [...names] : [...names, name];
}

/** An operator opens the breaker on purpose ("stop all restarts now"). */
export function operatorTrip(state: FleetBreakerState, now: number, tripId: string, requestedBy: string | undefined): FleetBreakerState {
  const trip: BreakerTrip = { tripId, trippedAt: now, reason: "operator", seen: [], ...(requestedBy !== undefined ? { requestedBy } : {}) };
  return { ...state, version: state.version + 1, trip, held: emptyHeld(), rollupPending: true, trips: state.trips + 1 };
}

/** Counts per value, most frequent first: "nginx ×212, sshd ×3". */
export function tally(values: readonly string[]): { value: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.entries()].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
}
