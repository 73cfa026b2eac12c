import type { AlarmDefinition } from "@procwatch/contract";

/**
 * Stands in for CloudWatch's alarm evaluation on this machine: M-of-N datapoints over the
 * alarm's own threshold, comparison and missing-data rule. The demo feeds it one datapoint per
 * sampled `health --json`, i.e. the value the agent would publish as procstat_lookup_pid_count.
 */
export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** `null` is a period in which the agent published nothing (missing data). */
export type Datapoint = number | null;

export function evaluateAlarm(
  definition: Pick<AlarmDefinition, "EvaluationPeriods" | "DatapointsToAlarm" | "Threshold" | "TreatMissingData">,
  recent: readonly Datapoint[],
): AlarmState {
  const window = recent.slice(-definition.EvaluationPeriods);
  if (window.length < definition.EvaluationPeriods) return "INSUFFICIENT_DATA";
  const breaching = window.filter((value) => (value === null ? definition.TreatMissingData === "breaching" : value < definition.Threshold)).length;
  return breaching >= definition.DatapointsToAlarm ? "ALARM" : "OK";
}

export function describeBreach(
  definition: Pick<AlarmDefinition, "EvaluationPeriods" | "DatapointsToAlarm" | "Threshold">,
  recent: readonly Datapoint[],
  state: AlarmState,
): string {
  const window = recent.slice(-definition.EvaluationPeriods);
  const shown = window.map((value) => (value === null ? "missing" : value.toFixed(1)));
  if (state === "ALARM") {
    const breaching = window.filter((value) => value === null || value < definition.Threshold).length;
    return `Threshold Crossed: ${breaching} out of the last ${definition.EvaluationPeriods} datapoints [${shown.join(", ")}] was less than the threshold (${definition.Threshold.toFixed(1)}) (minimum ${definition.DatapointsToAlarm} datapoint for OK -> ALARM transition).`;
  }
  const healthy = window.filter((value) => value !== null && value >= definition.Threshold).length;
  return `Threshold Crossed: ${healthy} out of the last ${definition.EvaluationPeriods} datapoints [${shown.join(", ")}] was not less than the threshold (${definition.Threshold.toFixed(1)}) (minimum 1 datapoint for ALARM -> OK transition).`;
}
