/**
 * Detection time on a model clock: process killed → alarm in ALARM → restart command sent, for
 * each detection profile and for the seed's hand-made setup, over random phases. Nothing here is
 * timed on the machine: the CloudWatch agent publisher model (from the agent's source) and the
 * CloudWatch alarm model (from the CloudWatch documentation) decide every instant.
 *
 * Random per sample: where the agent's collection ticks fall, where its publish loop falls, how
 * long before a publish the batch was cut, and when in the minute the process dies. Fixed: the
 * CloudWatch model's documented cadences and its named assumptions (3 s ingestion, evaluation
 * range N + 2, evaluation at the tick). The restart command follows ALARM by the SNS → Lambda
 * delivery and the handler's own work: an assumption of 1 s here (the restart-handler bench
 * measures the handler itself).
 */
import { alarmDefinitionFor, type DetectionProfileName, exeRegexForName } from "@procwatch/contract";
import {
  type AgentPublisherOptions,
  CloudWatchAgentPublisher,
  FakeAws,
  publisherOptionsFor,
  SEED_SETUP_PUBLISHER_OPTIONS,
  seededRandom,
  TelemetryPipeline,
  VirtualClock,
} from "@procwatch/testkit";

const SAMPLES = Number(process.env.DETECTION_SAMPLES ?? 400);
const ALARM_TO_COMMAND_MS = 1_000;
const START = Date.UTC(2026, 11, 7, 0, 0, 0);
const TOPIC = "arn:aws:sns:eu-west-1:123456789012:procwatch-restart";
const INSTANCE = "i-0123456789abcdef0";

interface Setup {
  readonly name: string;
  readonly goal?: { readonly p50: number; readonly worst: number };
  readonly publisher: (random: () => number) => AgentPublisherOptions;
  /** The alarm as PutMetricAlarm would store it. */
  readonly alarm: Record<string, unknown>;
}

function procwatchSetup(profile: DetectionProfileName, goal: { p50: number; worst: number }): Setup {
  const definition = alarmDefinitionFor(
    { instanceId: INSTANCE },
    { name: "nginx", unit: "nginx.service", detection: profile, match: { mode: "exe", exe: exeRegexForName("nginx") } },
    { actions: { alarmActions: [TOPIC], okActions: [TOPIC] } },
  );
  return {
    name: `${profile} profile (${definition.DatapointsToAlarm} of ${definition.EvaluationPeriods} × ${definition.Period} s)`,
    goal,
    publisher: (random) => {
      const base = publisherOptionsFor(profile, 0);
      return withRandomPhases(base, random);
    },
    alarm: { ...definition, Dimensions: [...definition.Dimensions], AlarmActions: [TOPIC], OKActions: [TOPIC], InsufficientDataActions: [] },
  };
}

/** The original hand-made alarm, as shared/fixtures records it: Sum ≤ 0 over 60 s, 1 of 1, missing data = missing. */
const seedSetup: Setup = {
  name: "seed setup (1 of 1 × 60 s, Sum ≤ 0, missing = missing)",
  publisher: (random) => withRandomPhases(SEED_SETUP_PUBLISHER_OPTIONS, random),
  alarm: {
    AlarmName: "seed/httpd",
    Namespace: "CWAgent",
    MetricName: "procstat_lookup_pid_count",
    Dimensions: alarmDefinitionFor(
      { instanceId: INSTANCE },
      { name: "nginx", unit: "nginx.service", detection: "standard", match: { mode: "exe", exe: exeRegexForName("nginx") } },
      { actions: { alarmActions: [], okActions: [] } },
    ).Dimensions.map((dimension) => ({ ...dimension })),
    Statistic: "Sum",
    Period: 60,
    EvaluationPeriods: 1,
    DatapointsToAlarm: 1,
    Threshold: 0,
    ComparisonOperator: "LessThanOrEqualToThreshold",
    TreatMissingData: "missing",
    ActionsEnabled: true,
    AlarmActions: [TOPIC],
    OKActions: [],
    InsufficientDataActions: [],
  },
};

function withRandomPhases(options: Readonly<AgentPublisherOptions>, random: () => number): AgentPublisherOptions {
  return {
    ...options,
    phaseOffsetMs: Math.floor(random() * options.collectionIntervalMs),
    flushPhaseOffsetMs: Math.floor(random() * options.flushIntervalMs),
    batchCutoffLagMs: Math.floor(random() * options.flushIntervalMs),
  };
}

/** One kill: model ms from the kill to the ALARM action, or null if none within 15 minutes. */
function killToAlarm(setup: Setup, random: () => number): number | null {
  const clock = new VirtualClock(START);
  const fake = new FakeAws({ clock, quotas: false });
  const killAt = START + 10 * 60_000 + Math.floor(random() * 60_000);
  const dimensions = (setup.alarm.Dimensions as { Name: string; Value: string }[]).map((dimension) => ({ ...dimension }));
  const publisher = new CloudWatchAgentPublisher({ namespace: "CWAgent", dimensions }, setup.publisher(random), (t) => (t < killAt ? 1 : 0));
  const pipeline = new TelemetryPipeline(fake, clock);
  pipeline.watch({ publisher });
  pipeline.runUntil(START + 5 * 60_000);
  fake.seedAlarm(setup.alarm as Parameters<FakeAws["seedAlarm"]>[0]);
  pipeline.runUntil(killAt);
  for (let t = killAt; t <= killAt + 15 * 60_000; t += 5_000) {
    const alarm = pipeline.runUntil(t).find((notification) => notification.newState === "ALARM" && notification.at >= killAt);
    if (alarm !== undefined) return alarm.at - killAt;
  }
  return null;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? Number.NaN;
}

function emit(figure: string, value: number, unit: string, goal = "", pass: boolean | null = null): void {
  console.log(JSON.stringify({ figure, value: Math.round(value * 10) / 10, unit, goal, pass }));
}

const setups: Setup[] = [procwatchSetup("fast", { p50: 40, worst: 60 }), procwatchSetup("standard", { p50: 210, worst: 300 }), seedSetup];
for (const setup of setups) {
  const random = seededRandom(0xdecade);
  const detections: number[] = [];
  let missed = 0;
  for (let sample = 0; sample < SAMPLES; sample += 1) {
    const detected = killToAlarm(setup, random);
    if (detected === null) missed += 1;
    else detections.push(detected / 1000);
  }
  detections.sort((a, b) => a - b);
  const p50 = percentile(detections, 0.5);
  const worst = detections.at(-1) ?? Number.NaN;
  const label = `${setup.name}, ${SAMPLES} kills at random phases`;
  emit(
    `detection: kill → ALARM p50, ${label}`,
    p50,
    "s",
    setup.goal !== undefined ? `≤ ${setup.goal.p50}` : "",
    setup.goal !== undefined ? p50 <= setup.goal.p50 : null,
  );
  emit(`detection: kill → ALARM p10–p90 spread (p10), ${label}`, percentile(detections, 0.1), "s");
  emit(`detection: kill → ALARM p10–p90 spread (p90), ${label}`, percentile(detections, 0.9), "s");
  emit(
    `detection: kill → ALARM worst, ${label}`,
    worst,
    "s",
    setup.goal !== undefined ? `≤ ${setup.goal.worst}` : "",
    setup.goal !== undefined ? worst <= setup.goal.worst : null,
  );
  emit(`detection: kill → restart command p50 (ALARM + ${ALARM_TO_COMMAND_MS / 1000} s assumed), ${setup.name}`, p50 + ALARM_TO_COMMAND_MS / 1000, "s");
  emit(`detection: kill → restart command worst (ALARM + ${ALARM_TO_COMMAND_MS / 1000} s assumed), ${setup.name}`, worst + ALARM_TO_COMMAND_MS / 1000, "s");
  emit(
    `detection: kills never detected within 15 min, ${setup.name}`,
    missed,
    "kills",
    setup.goal !== undefined ? "0" : "",
    setup.goal !== undefined ? missed === 0 : null,
  );
}
