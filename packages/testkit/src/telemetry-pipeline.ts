import type { VirtualClock } from "./clock.ts";
import type { CloudWatchAgentPublisher, PublishedBatch, PublisherFaults } from "./cloudwatch-agent-publisher.ts";
import type { FakeAws } from "./fake-aws.ts";
import type { AlarmNotification } from "./fake-cloudwatch-alarms.ts";

/** One host's CloudWatch agent as the pipeline drives it: the publisher model plus its faults. */
export interface WatchedAgent {
  readonly publisher: CloudWatchAgentPublisher;
  readonly faults?: PublisherFaults;
}

/** An alarm action as the restart handler receives it, with the state it announces. */
export interface DeliveredNotification extends AlarmNotification {
  readonly newState: string;
  readonly oldState: string;
  readonly reason: string;
}

/**
 * The path a datapoint takes from the host to an alarm action, on a model clock: the agents'
 * publisher models decide what each flush sends and when it lands; the CloudWatch model ingests
 * each batch at its arrival instant and evaluates every alarm on its documented cadence in
 * between. Nothing here decides an alarm state: only the CloudWatch model does.
 *
 * Time moves only through `runUntil`, by `VirtualClock.advance`, so a test or the demo controls it
 * step by step. Code that sleeps on the same clock (a paced rate limiter) would move it behind the
 * pipeline's back; drive such code with pacing off.
 */
export class TelemetryPipeline {
  private readonly agents: WatchedAgent[] = [];
  /** Batches already sent whose arrival is still ahead. */
  private pending: PublishedBatch[] = [];
  private sentUpTo: number;
  private delivered = 0;

  constructor(
    private readonly fake: FakeAws,
    private readonly clock: VirtualClock,
  ) {
    this.sentUpTo = clock.now();
  }

  /** Starts publishing an agent's batches sent after the current instant. */
  watch(agent: WatchedAgent): void {
    this.agents.push(agent);
  }

  /** Stops publishing an agent (its host is gone, or its agent was removed). Batches in flight still land. */
  unwatch(publisher: CloudWatchAgentPublisher): void {
    const index = this.agents.findIndex((agent) => agent.publisher === publisher);
    if (index >= 0) this.agents.splice(index, 1);
  }

  /**
   * Moves model time to `until`: every batch the agents send in (last call, until] is ingested at
   * its arrival instant, and alarms are evaluated at each of their cadence instants up to `until`.
   * Returns the alarm actions that ran meanwhile, oldest first.
   */
  runUntil(until: number): DeliveredNotification[] {
    if (until < this.clock.now()) throw new RangeError(`runUntil(${until}) is before the model clock (${this.clock.now()})`);
    for (const agent of this.agents) this.pending.push(...agent.publisher.batchesBetween(this.sentUpTo, until, agent.faults ?? {}));
    this.sentUpTo = until;
    this.pending.sort((a, b) => a.arrivesAt - b.arrivesAt);
    const landing = this.pending.filter((batch) => batch.arrivesAt <= until);
    this.pending = this.pending.filter((batch) => batch.arrivesAt > until);
    for (const batch of landing) {
      this.moveClockTo(batch.arrivesAt);
      // Evaluations due before this arrival see the world without it.
      this.fake.evaluateAlarms(this.clock.now());
      this.fake.ingestMetricData(batch.input as unknown as { Namespace: string; MetricData: Record<string, unknown>[] });
    }
    this.moveClockTo(until);
    this.fake.evaluateAlarms(until);
    return this.takeNotifications();
  }

  /** Alarm actions that ran since the last call (including ones run by SetAlarmState or a reconcile). */
  takeNotifications(): DeliveredNotification[] {
    const fresh = this.fake.alarmNotifications.slice(this.delivered).map(describeNotification);
    this.delivered = this.fake.alarmNotifications.length;
    return fresh;
  }

  private moveClockTo(instant: number): void {
    const now = this.clock.now();
    if (instant > now) this.clock.advance(instant - now);
  }
}

/** Reads the announced state out of an alarm action's payload (SNS message or Lambda alarm-action payload). */
export function describeNotification(notification: AlarmNotification): DeliveredNotification {
  const records = (notification.event as { Records?: { Sns?: { Message?: string } }[] }).Records;
  if (records !== undefined) {
    const message = JSON.parse(records[0]?.Sns?.Message ?? "{}") as { NewStateValue?: string; OldStateValue?: string; NewStateReason?: string };
    return { ...notification, newState: message.NewStateValue ?? "", oldState: message.OldStateValue ?? "", reason: message.NewStateReason ?? "" };
  }
  const alarmData = (notification.event as { alarmData?: { state?: { value?: string; reason?: string }; previousState?: { value?: string } } }).alarmData;
  return { ...notification, newState: alarmData?.state?.value ?? "", oldState: alarmData?.previousState?.value ?? "", reason: alarmData?.state?.reason ?? "" };
}
