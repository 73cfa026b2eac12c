/**
 * Detection profiles trade cost for time-to-alarm. The figures come from how the CloudWatch
 * agent batches (it publishes every `force_flush_interval`, default 60 s) and how often
 * CloudWatch evaluates alarms (every minute, or every 10 s for 10/20/30 s periods).
 */
export const DETECTION_PROFILE_NAMES = ["standard", "fast"] as const;
/**
 * `local`: the standard alarm as the backstop, plus supervision on the host itself (the agent's
 * systemd drop-in with Restart=, or its own supervisor), which restarts within about a second and
 * gives up to the alarm once its local budget is spent. A per-process or per-host choice
 * (`detection=local`, `procwatch:detection`); not a deployment default (DETECTION_PROFILE_NAMES).
 */
export const LOCAL_DETECTION_PROFILE = "local" as const;
export const ALL_DETECTION_PROFILE_NAMES = [...DETECTION_PROFILE_NAMES, LOCAL_DETECTION_PROFILE] as const;
export type DetectionProfileName = (typeof ALL_DETECTION_PROFILE_NAMES)[number];

export interface DetectionProfile {
  readonly name: DetectionProfileName;
  /** procstat `metrics_collection_interval`, seconds. Under 60 makes the metric high-resolution. */
  readonly collectionIntervalSeconds: number;
  /** agent-level `metrics.force_flush_interval` the profile needs, seconds. */
  readonly forceFlushIntervalSeconds: number;
  readonly alarmPeriodSeconds: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  /** USD per alarm-month, us-east-1 list price (standard $0.10, high-resolution $0.30). */
  readonly alarmCostPerMonthUsd: number;
  /**
   * Seconds from process death to ALARM: typical = p10–p90, worst = the maximum, over 400 kills at
   * random agent and flush phases, measured on testkit's CloudWatch agent and CloudWatch alarm
   * models (`pnpm bench`, apps/fleet-manager/bench/detection.bench.ts).
   */
  readonly expectedDetectionSeconds: { readonly typical: readonly [number, number]; readonly worst: number };
  /** True when the host agent also supervises the process locally (restart on the host, alarm as backstop). */
  readonly localSupervision: boolean;
}

const STANDARD_PROFILE: DetectionProfile = {
  name: "standard",
  collectionIntervalSeconds: 60,
  forceFlushIntervalSeconds: 60,
  alarmPeriodSeconds: 60,
  // Two datapoints, as in the fast profile: with 1 of 1, an evaluation whose latest minute has
  // not landed yet (a late or missed flush) can see only a missing, breaching datapoint.
  evaluationPeriods: 2,
  datapointsToAlarm: 2,
  alarmCostPerMonthUsd: 0.1,
  expectedDetectionSeconds: { typical: [135, 235], worst: 290 },
  localSupervision: false,
};

export const DETECTION_PROFILES: Readonly<Record<DetectionProfileName, DetectionProfile>> = {
  standard: STANDARD_PROFILE,
  fast: {
    name: "fast",
    collectionIntervalSeconds: 10,
    forceFlushIntervalSeconds: 10,
    alarmPeriodSeconds: 10,
    // Two datapoints: one late flush must not restart a healthy process.
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    alarmCostPerMonthUsd: 0.3,
    expectedDetectionSeconds: { typical: [25, 41], worst: 48 },
    localSupervision: false,
  },
  // The alarm keeps the standard cadence (and cost): it only has to catch what local supervision
  // cannot (it gave up, the host's agent is gone, the process never came back).
  local: { ...STANDARD_PROFILE, name: "local", localSupervision: true },
};

export const DEFAULT_DETECTION_PROFILE: DetectionProfileName = "standard";

export function isDetectionProfileName(value: string): value is DetectionProfileName {
  return (ALL_DETECTION_PROFILE_NAMES as readonly string[]).includes(value);
}

/**
 * What a detection profile costs per watched process and month, and what it adds per host. List
 * prices, us-east-1 (https://aws.amazon.com/cloudwatch/pricing/): a standard-resolution alarm
 * $0.10, a high-resolution one $0.30; PutMetricData $0.01 per 1,000 requests. The custom metric
 * itself (one procstat series per process, $0.30) is the same for every profile, so it is not in
 * the comparison. A host whose agent flushes every `forceFlushIntervalSeconds` sends that many
 * PutMetricData requests whatever else it publishes; only a flush faster than the agent's 60 s
 * default is an extra the profile causes.
 */
export const PUT_METRIC_DATA_USD_PER_1000_REQUESTS = 0.01;
const SECONDS_PER_MONTH = 30 * 24 * 60 * 60;

export interface DetectionCost {
  readonly profile: DetectionProfileName;
  /** Alarm cost per watched process and month. */
  readonly alarmPerProcessUsd: number;
  /** Extra PutMetricData requests per host and month the profile's flush causes (0 at the default 60 s). */
  readonly extraFlushRequestsPerHost: number;
  readonly extraFlushPerHostUsd: number;
  /** Restarts on the host itself (systemd drop-in or procwatch's supervisor), the alarm as backstop. */
  readonly localSupervision: boolean;
}

export function detectionCostOf(profileName: DetectionProfileName): DetectionCost {
  const profile = DETECTION_PROFILES[profileName];
  const defaultFlushRequests = SECONDS_PER_MONTH / 60;
  const extraFlushRequestsPerHost = Math.max(0, SECONDS_PER_MONTH / profile.forceFlushIntervalSeconds - defaultFlushRequests);
  return {
    profile: profileName,
    alarmPerProcessUsd: profile.alarmCostPerMonthUsd,
    extraFlushRequestsPerHost,
    extraFlushPerHostUsd: Math.round((extraFlushRequestsPerHost / 1000) * PUT_METRIC_DATA_USD_PER_1000_REQUESTS * 100) / 100,
    localSupervision: profile.localSupervision,
  };
}

/** The detection profile an alarm description written by `alarmDescriptionFor` names, if any. */
export function detectionOfAlarmDescription(description: string | undefined): DetectionProfileName | undefined {
  const match = /\(unit [^,]*, (\w+) detection\)/.exec(description ?? "");
  return match?.[1] !== undefined && isDetectionProfileName(match[1]) ? match[1] : undefined;
}
