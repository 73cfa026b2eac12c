/**
 * What an ALARM says about the process: its count fell to 0, or the host stopped sending the
 * count at all. CloudWatch writes it in the state reason, and in the structured `reasonData` the
 * EventBridge and Lambda alarm-action payloads carry (the SNS message has the reason text only):
 *   "Threshold Crossed: 2 out of the last 2 datapoints [0.0 (07/12/26 03:55:00), …] were less than the threshold (1.0) …"
 *   "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching]."
 *   "Threshold Crossed: 1 datapoint was received for 2 periods and 1 missing datapoint was treated as [Breaching]."
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html; the
 * texts are CloudWatch's, as recorded in shared/fixtures and in testkit's CloudWatch model.)
 *
 * - `zero-count`: every datapoint the alarm evaluated was real, and under the threshold: the agent
 *   looked and found no process. procwatch restarts.
 * - `no-data`: no datapoint at all: the host, its CloudWatch agent or its network is down, or the
 *   lookup failed (a pid file that is gone drops the selector dimension). The process may well be
 *   running. procwatch still sends the restart command, because `procwatch-agent restart` checks
 *   first and starts the process only if it is down, so the answer in the thread is definite; the
 *   messages say it was a no-data alarm, and a result of "already running" points at the agent.
 * - `partly-missing`: some datapoints were real (and breaching), the rest missing: treated as
 *   `zero-count` for the decision, reported with its missing share.
 * - `unknown`: a reason procwatch cannot read (a hand-made alarm, a future wording): treated as
 *   `zero-count`, as before procwatch told them apart.
 */
export const ALARM_SIGNAL_KINDS = ["zero-count", "no-data", "partly-missing", "unknown"] as const;
export type AlarmSignalKind = (typeof ALARM_SIGNAL_KINDS)[number];

export interface AlarmSignal {
  readonly kind: AlarmSignalKind;
  /** Periods the alarm evaluated, when the reason says. */
  readonly periods?: number;
  /** Of those, how many had no datapoint. */
  readonly missing?: number;
  /** The real datapoint values the reason lists, newest first as CloudWatch lists them. */
  readonly values?: readonly number[];
}

const NO_DATA = /no datapoints were received for (\d+) periods? and (\d+) missing datapoints? (?:was|were) treated as \[Breaching\]/;
const PARTLY_MISSING = /(\d+) datapoints? (?:was|were) received for (\d+) periods? and (\d+) missing datapoints? (?:was|were) treated as \[Breaching\]/;
const THRESHOLD_CROSSED = /Threshold Crossed: (\d+) out of the last (\d+) datapoints? \[([^\]]*)\]/;

/** Reads the signal from `reasonData` when the payload has it, else from the reason text. Pure; never throws. */
export function alarmSignalOf(reason: string, reasonData?: string): AlarmSignal {
  const structured = reasonData !== undefined ? signalFromReasonData(reasonData) : undefined;
  if (structured !== undefined) return structured;
  const noData = NO_DATA.exec(reason);
  if (noData !== null) return { kind: "no-data", periods: Number(noData[1]), missing: Number(noData[2]) };
  const partly = PARTLY_MISSING.exec(reason);
  if (partly !== null) return { kind: "partly-missing", periods: Number(partly[2]), missing: Number(partly[3]) };
  const crossed = THRESHOLD_CROSSED.exec(reason);
  if (crossed !== null) {
    const values = (crossed[3] ?? "")
      .split(/,\s*/)
      .map((entry) => Number.parseFloat(entry))
      .filter((value) => Number.isFinite(value));
    return { kind: "zero-count", periods: Number(crossed[2]), missing: 0, values };
  }
  return { kind: "unknown" };
}

/**
 * `reasonData` lists `evaluatedDatapoints`; a missing one carries a timestamp and no `value`
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).
 */
function signalFromReasonData(reasonData: string): AlarmSignal | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reasonData);
  } catch {
    return undefined;
  }
  const evaluated = (parsed as { evaluatedDatapoints?: unknown }).evaluatedDatapoints;
  if (!Array.isArray(evaluated) || evaluated.length === 0) return undefined;
  const values = evaluated
    .map((entry) => (entry as { value?: unknown }).value)
    .filter((value): value is number => typeof value === "number" && Number.isFinite(value));
  const missing = evaluated.length - values.length;
  const kind: AlarmSignalKind = values.length === 0 ? "no-data" : missing > 0 ? "partly-missing" : "zero-count";
  return { kind, periods: evaluated.length, missing, values };
}

/** One line for logs and the Slack thread. */
export function describeAlarmSignal(signal: AlarmSignal): string {
  switch (signal.kind) {
    case "zero-count":
      return `the pid count fell to 0${signal.periods !== undefined ? ` (${signal.periods} of ${signal.periods} datapoints under 1)` : ""}: the agent looked and found no process`;
    case "no-data":
      return `no datapoints${signal.periods !== undefined ? ` for ${signal.periods} periods` : ""}: the host stopped sending the pid count (host, CloudWatch agent or network down, or a pid file gone)`;
    case "partly-missing":
      return `the pid count fell to 0, and ${signal.missing ?? "some"} of ${signal.periods ?? "the"} periods had no datapoint`;
    case "unknown":
      return "the alarm's reason does not say whether the count fell to 0 or stopped arriving";
  }
}
