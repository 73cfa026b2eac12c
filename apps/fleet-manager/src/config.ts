import {
  ALARM_PREFIX_PATTERN,
  alarmPrefixRegex,
  DEFAULT_ALARM_PREFIX,
  DEFAULT_DETECTION_PROFILE,
  DEFAULT_METRIC_NAMESPACE,
  DEFAULT_TAG_PREFIX,
  DETECTION_PROFILE_NAMES,
  type DetectionProfileName,
  isDetectionProfileName,
} from "@procwatch/contract";
import { UsageError } from "./errors.ts";

export interface FleetConfig {
  readonly alarmPrefix: string;
  readonly tagPrefix: string;
  readonly namespace: string;
  /** ALARM and OK actions: the restart topic (or the restart Lambda). Empty = alarms without actions (plan/status only). */
  readonly restartActionArns: readonly string[];
  /**
   * Detection profile for hosts whose tags and profile set none: the stack's `detectionProfile`,
   * which the configure association also hands to every agent, so periods match collection.
   */
  readonly defaultDetection: DetectionProfileName;
  /**
   * The longest an alarm stays arming (actions off) while its exact series has not published yet:
   * after it is created, after its metric changes and after its host starts. 0 = arm at once.
   */
  readonly armingGraceMinutes: number;
  /**
   * An armed alarm in ALARM this long is re-evaluated so it acts again (a process still down after
   * its restart, a spent budget, an alarm the restart handler's breaker held back). 0 = never.
   */
  readonly realarmAfterMinutes: number;
}

/** The restart handler's default budget window: after it, a restart is allowed again, so the alarm should act again. */
export const DEFAULT_REALARM_AFTER_MINUTES = 30;

/**
 * 45 min: the configure association runs every 30 minutes, so a host opted in just after a run
 * publishes its first procstat datapoint up to ~30 min + install time later. Past this, a host
 * that still publishes nothing is reported (the alarm acts on its missing data).
 */
export const DEFAULT_ARMING_GRACE_MINUTES = 45;
const MAX_ARMING_GRACE_MINUTES = 1440;

/** SNS topic or Lambda function ARNs (the two alarm actions procwatch supports). */
const ACTION_ARN =
  /^arn:aws[a-z-]*:(sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}|lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?)$/;
const TAG_PREFIX = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const NAMESPACE = /^[A-Za-z0-9._/#:-]{1,255}$/;

export interface RawConfig {
  readonly alarmPrefix?: string | undefined;
  readonly tagPrefix?: string | undefined;
  readonly namespace?: string | undefined;
  readonly restartActionArn?: string | undefined;
  readonly defaultDetection?: string | undefined;
  readonly armingGraceMinutes?: string | undefined;
  readonly realarmAfterMinutes?: string | undefined;
}

interface UsageProblem {
  readonly message: string;
  readonly hint: string;
}

function problem(message: string, options: { hint: string }): UsageProblem {
  return { message, hint: options.hint };
}

/** One problem as it always read; several in one line each (message; message) with their hints in the same order. */
function usageErrorFor(problems: readonly UsageProblem[]): UsageError {
  const [only] = problems;
  if (problems.length === 1 && only !== undefined) return new UsageError(only.message, { hint: only.hint });
  return new UsageError(`${problems.length} invalid settings: ${problems.map((each) => each.message).join("; ")}`, {
    hint: problems.map((each) => each.hint).join("; "),
  });
}

/**
 * Validates operator input with the contract's patterns. Every bad value is reported at once, in
 * one UsageError naming each flag, its value and what would be valid.
 */
export function resolveConfig(
  raw: RawConfig,
  labels: { prefix: string; tagPrefix: string; namespace: string; action: string; defaultDetection: string; armingGrace: string; realarmAfter: string },
): FleetConfig {
  const problems: UsageProblem[] = [];
  const alarmPrefix = raw.alarmPrefix ?? DEFAULT_ALARM_PREFIX;
  if (!alarmPrefixRegex.test(alarmPrefix)) {
    problems.push(
      problem(`${labels.prefix} ${JSON.stringify(alarmPrefix)} is not a valid alarm prefix`, {
        hint: `use 1-32 letters, digits, '.', '_' or '-' (${ALARM_PREFIX_PATTERN})`,
      }),
    );
  }
  const tagPrefix = raw.tagPrefix ?? DEFAULT_TAG_PREFIX;
  if (!TAG_PREFIX.test(tagPrefix)) {
    problems.push(problem(`${labels.tagPrefix} ${JSON.stringify(tagPrefix)} is not a valid tag prefix`, { hint: "use 1-32 letters, digits, '.', '_' or '-'" }));
  }
  const namespace = raw.namespace ?? DEFAULT_METRIC_NAMESPACE;
  if (!NAMESPACE.test(namespace) || namespace.startsWith("AWS/")) {
    problems.push(
      problem(`${labels.namespace} ${JSON.stringify(namespace)} is not a valid custom metric namespace`, {
        hint: "the CloudWatch agent's namespace, CWAgent by default",
      }),
    );
  }
  const arns = (raw.restartActionArn ?? "")
    .split(",")
    .map((arn) => arn.trim())
    .filter((arn) => arn !== "");
  for (const arn of arns) {
    if (!ACTION_ARN.test(arn)) {
      problems.push(
        problem(`${labels.action} ${JSON.stringify(arn.slice(0, 120))} is not an SNS topic or Lambda function ARN`, {
          hint: "e.g. arn:aws:sns:eu-west-1:123456789012:procwatch-restart",
        }),
      );
    }
  }
  if (arns.length > 5)
    problems.push(problem(`${labels.action} lists ${arns.length} ARNs; an alarm takes at most 5 actions per state`, { hint: "pass at most 5" }));
  const defaultDetection = raw.defaultDetection ?? DEFAULT_DETECTION_PROFILE;
  if (!isDetectionProfileName(defaultDetection)) {
    problems.push(
      problem(`${labels.defaultDetection} ${JSON.stringify(defaultDetection.slice(0, 40))} is not a detection profile`, {
        hint: `use ${DETECTION_PROFILE_NAMES.join(" or ")}, the same value the agents get (the stack's detectionProfile)`,
      }),
    );
  }
  const graceText = raw.armingGraceMinutes ?? String(DEFAULT_ARMING_GRACE_MINUTES);
  const armingGraceMinutes = /^\d{1,4}$/.test(graceText) ? Number(graceText) : Number.NaN;
  if (!(armingGraceMinutes <= MAX_ARMING_GRACE_MINUTES)) {
    problems.push(
      problem(`${labels.armingGrace} ${JSON.stringify(graceText.slice(0, 40))} is not a whole number of minutes from 0 to ${MAX_ARMING_GRACE_MINUTES}`, {
        hint: `e.g. ${DEFAULT_ARMING_GRACE_MINUTES} (the default); 0 turns a new alarm's actions on at once, before its host reports`,
      }),
    );
  }
  const realarmText = raw.realarmAfterMinutes ?? String(DEFAULT_REALARM_AFTER_MINUTES);
  const realarmAfterMinutes = /^\d{1,4}$/.test(realarmText) ? Number(realarmText) : Number.NaN;
  if (!(realarmAfterMinutes <= MAX_ARMING_GRACE_MINUTES)) {
    problems.push(
      problem(`${labels.realarmAfter} ${JSON.stringify(realarmText.slice(0, 40))} is not a whole number of minutes from 0 to ${MAX_ARMING_GRACE_MINUTES}`, {
        hint: `e.g. ${DEFAULT_REALARM_AFTER_MINUTES} (the default, the restart handler's budget window); 0 never re-evaluates`,
      }),
    );
  }
  if (problems.length > 0) throw usageErrorFor(problems);
  return {
    alarmPrefix,
    tagPrefix,
    namespace,
    restartActionArns: arns,
    defaultDetection: defaultDetection as DetectionProfileName,
    armingGraceMinutes,
    realarmAfterMinutes,
  };
}
