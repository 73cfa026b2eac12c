import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type AlarmStateValue,
  aggregate,
  type EvaluatedAlarmConfig,
  evaluateAlarmState,
  evaluationCadenceMs,
  evaluationRangePeriods,
  type PeriodDatapoint,
} from "../src/index.ts";

const MINUTE = 60_000;
const QUERY = Date.parse("2026-07-12T03:56:04.123Z");
/** Newest period of the range ends at the evaluation tick, 03:56:00. */
const NEWEST_START = Date.parse("2026-07-12T03:55:00Z");

/**
 * The tables of https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
 * write a range as "0 - X - X": oldest first, 0 non-breaching, X breaching, - missing.
 * GreaterThanThreshold 1: 0 → value 0, X → value 5.
 */
function range(pattern: string, period = 60): PeriodDatapoint[] {
  const cells = pattern.trim().split(/\s+/);
  return cells.map((cell, index) => ({
    start: NEWEST_START - (cells.length - 1 - index) * period * 1000,
    value: cell === "-" ? null : cell === "X" ? 5 : 0,
    sampleCount: cell === "-" ? 0 : 1,
  }));
}

const config = (m: number, n: number, treat: string): EvaluatedAlarmConfig => ({
  Period: 300,
  EvaluationPeriods: n,
  DatapointsToAlarm: m,
  Threshold: 1,
  ComparisonOperator: "GreaterThanThreshold",
  TreatMissingData: treat,
  Statistic: "Maximum",
});

type Expected = AlarmStateValue | "Retain current state";
const TREATMENTS = ["missing", "ignore", "breaching", "notBreaching"] as const;

function check(m: number, n: number, pattern: string, expected: readonly [Expected, Expected, Expected, Expected]) {
  TREATMENTS.forEach((treat, column) => {
    const want = expected[column];
    for (const current of ["OK", "ALARM", "INSUFFICIENT_DATA"] as const) {
      const got = evaluateAlarmState(config(m, n, treat), range(pattern), current, QUERY).state;
      expect(got, `${pattern} ${treat} from ${current}`).toBe(want === "Retain current state" ? current : want);
    }
  });
}

describe("alarms-and-missing-data, first table (Datapoints to Alarm = Evaluation Periods = 3, evaluation range 5)", () => {
  it("evaluation range defaults to the documented 5 for 3 evaluation periods", () => {
    expect(evaluationRangePeriods({ EvaluationPeriods: 3 })).toBe(5);
    expect(range("0 - X - X")).toHaveLength(evaluationRangePeriods({ EvaluationPeriods: 3 }));
  });
  it.each([
    ["0 - X - X", ["OK", "OK", "OK", "OK"]],
    ["0 - - - -", ["OK", "OK", "OK", "OK"]],
    ["- - - - -", ["INSUFFICIENT_DATA", "Retain current state", "ALARM", "OK"]],
    ["0 X X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]],
    ["- - X - -", ["ALARM", "Retain current state", "ALARM", "OK"]],
  ] as const)("%s → MISSING/IGNORE/BREACHING/NOT BREACHING = %j", (pattern, expected) => {
    check(3, 3, pattern, expected);
  });
  // Rows of the earlier revision of the same table (awsdocs/amazon-cloudwatch-user-guide, AlarmThatSendsEmail.md).
  it.each([
    ["- - - - X", ["INSUFFICIENT_DATA", "Retain current state", "ALARM", "OK"]],
    ["X - - - -", ["ALARM", "Retain current state", "ALARM", "OK"]],
  ] as const)("earlier revision: %s → %j", (pattern, expected) => {
    check(3, 3, pattern, expected);
  });
  it("row 2 note: the next evaluation, with the non-breaching point out of the range, goes to ALARM when missing is breaching", () => {
    expect(evaluateAlarmState(config(3, 3, "breaching"), range("- - - - -"), "OK", QUERY).state).toBe("ALARM");
  });
});

describe("alarms-and-missing-data, second table (2 out of 3, evaluation range 5)", () => {
  it.each([
    ["0 - X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]],
    ["0 0 X 0 X", ["ALARM", "ALARM", "ALARM", "ALARM"]],
    ["0 - X - -", ["OK", "OK", "ALARM", "OK"]],
    ["- - - - 0", ["OK", "OK", "ALARM", "OK"]],
    ["- - - X -", ["ALARM", "Retain current state", "ALARM", "OK"]],
  ] as const)("%s → MISSING/IGNORE/BREACHING/NOT BREACHING = %j", (pattern, expected) => {
    check(2, 3, pattern, expected);
  });
});

describe("M out of N (alarm-evaluation)", () => {
  it("ALARM needs M breaching among the N most recent datapoints, not necessarily consecutive", () => {
    expect(evaluateAlarmState(config(2, 3, "missing"), range("0 0 X 0 X"), "OK", QUERY).state).toBe("ALARM");
    expect(evaluateAlarmState(config(3, 3, "missing"), range("0 0 X 0 X"), "OK", QUERY).state).toBe("OK");
    expect(evaluateAlarmState(config(4, 5, "missing"), range("X X 0 X X 0 0", 60).slice(0), "OK", QUERY).state).toBe("OK");
    expect(evaluateAlarmState(config(4, 5, "missing"), range("0 0 X X 0 X X"), "OK", QUERY).state).toBe("ALARM");
  });
  it("the documented graph: 3 of 3 above the threshold → ALARM, one dip → OK, a single breach → stays OK", () => {
    expect(evaluateAlarmState(config(3, 3, "missing"), range("0 0 X X X"), "OK", QUERY).state).toBe("ALARM");
    expect(evaluateAlarmState(config(3, 3, "missing"), range("0 X X X 0"), "ALARM", QUERY).state).toBe("OK");
    expect(evaluateAlarmState(config(3, 3, "missing"), range("0 0 0 0 X"), "OK", QUERY).state).toBe("OK");
  });
  it("DatapointsToAlarm defaults to EvaluationPeriods", () => {
    const { DatapointsToAlarm: _m, ...withoutM } = config(3, 3, "missing");
    expect(evaluateAlarmState(withoutM, range("0 0 0 X X"), "OK", QUERY).state).toBe("OK");
  });
});

describe("evaluation cadence (AlarmThatSendsEmail / alarm-evaluation)", () => {
  it("10, 20 and 30 second alarms every 10 s, one minute and longer every minute", () => {
    expect(evaluationCadenceMs(10)).toBe(10_000);
    expect(evaluationCadenceMs(20)).toBe(10_000);
    expect(evaluationCadenceMs(30)).toBe(10_000);
    expect(evaluationCadenceMs(60)).toBe(60_000);
    expect(evaluationCadenceMs(300)).toBe(60_000);
  });
});

describe("aggregate", () => {
  it("computes the five basic statistics", () => {
    expect(aggregate("Maximum", [1, 3, 2])).toBe(3);
    expect(aggregate("Minimum", [1, 3, 2])).toBe(1);
    expect(aggregate("Sum", [1, 3, 2])).toBe(6);
    expect(aggregate("Average", [1, 3, 2])).toBe(2);
    expect(aggregate("SampleCount", [1, 3, 2])).toBe(3);
  });
});

const procwatch: EvaluatedAlarmConfig = {
  Period: 60,
  EvaluationPeriods: 2,
  DatapointsToAlarm: 2,
  Threshold: 1,
  ComparisonOperator: "LessThanThreshold",
  TreatMissingData: "breaching",
  Statistic: "Maximum",
};
const procwatchRange = (values: (number | null)[]): PeriodDatapoint[] =>
  values.map((value, index) => ({ start: NEWEST_START - (values.length - 1 - index) * MINUTE, value, sampleCount: value === null ? 0 : 1 }));

describe("reason texts and reason data", () => {
  it("threshold crossed, in the real wording", () => {
    const result = evaluateAlarmState(procwatch, procwatchRange([1, 1, 0, 0]), "OK", Date.parse("2026-07-12T03:56:04.123Z"));
    expect(result.state).toBe("ALARM");
    expect(result.reason).toBe(
      "Threshold Crossed: 2 out of the last 2 datapoints [0.0 (12/07/26 03:55:00), 0.0 (12/07/26 03:54:00)] were less than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition).",
    );
    expect(JSON.parse(result.reasonData)).toEqual({
      version: "1.0",
      queryDate: "2026-07-12T03:56:04.123+0000",
      startDate: "2026-07-12T03:54:00.000+0000",
      statistic: "Maximum",
      period: 60,
      recentDatapoints: [0, 0],
      threshold: 1,
      evaluatedDatapoints: [
        { timestamp: "2026-07-12T03:55:00.000+0000", sampleCount: 1, value: 0 },
        { timestamp: "2026-07-12T03:54:00.000+0000", sampleCount: 1, value: 0 },
      ],
    });
    expect(result.reasonData).toContain('"threshold":1.0,');
    expect(result.reasonData).toContain('"sampleCount":1.0,"value":0.0}');
  });
  it("the fixture's single-datapoint text, byte for byte", () => {
    const fixture = JSON.parse(readFileSync(new URL("./fixtures/eventbridge-alarm-state-change.json", import.meta.url), "utf8"));
    const result = evaluateAlarmState(
      {
        Period: 60,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        Threshold: 0,
        ComparisonOperator: "LessThanOrEqualToThreshold",
        TreatMissingData: "missing",
        Statistic: "Sum",
      },
      [
        { start: Date.parse("2022-06-28T01:54:00Z"), value: null, sampleCount: 0 },
        { start: Date.parse("2022-06-28T01:55:00Z"), value: 0, sampleCount: 1 },
        { start: Date.parse("2022-06-28T01:56:00Z"), value: null, sampleCount: 0 },
      ],
      "OK",
      Date.parse("2022-06-28T01:57:35.603Z"),
    );
    expect(result.state).toBe("ALARM");
    expect(result.reason).toBe(fixture.detail.state.reason);
    expect(result.reasonData).toBe(fixture.detail.state.reasonData);
  });
  it("ALARM -> OK names the non-breaching datapoints and N - M + 1", () => {
    const result = evaluateAlarmState(procwatch, procwatchRange([0, 0, 0, 1]), "ALARM", QUERY);
    expect(result.state).toBe("OK");
    expect(result.reason).toBe(
      "Threshold Crossed: 1 out of the last 2 datapoints [1.0 (12/07/26 03:55:00)] was not less than the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition).",
    );
  });
  it("no data at all, treated as breaching", () => {
    const result = evaluateAlarmState(procwatch, procwatchRange([null, null, null, null]), "INSUFFICIENT_DATA", QUERY);
    expect(result.state).toBe("ALARM");
    expect(result.reason).toBe("Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching].");
    const data = JSON.parse(result.reasonData);
    expect(data.recentDatapoints).toEqual([]);
    expect(data.startDate).toBeUndefined();
    expect(data.evaluatedDatapoints).toEqual([{ timestamp: "2026-07-12T03:55:00.000+0000" }, { timestamp: "2026-07-12T03:54:00.000+0000" }]);
    const single = evaluateAlarmState(
      { ...procwatch, EvaluationPeriods: 1, DatapointsToAlarm: 1, TreatMissingData: "notBreaching" },
      procwatchRange([null, null, null]),
      "ALARM",
      QUERY,
    );
    expect(single.reason).toBe("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].");
  });
  it("insufficient data", () => {
    const result = evaluateAlarmState({ ...procwatch, TreatMissingData: "missing" }, procwatchRange([null, null, null, null]), "OK", QUERY);
    expect(result.state).toBe("INSUFFICIENT_DATA");
    expect(result.reason).toBe("Insufficient Data: 4 datapoints were unknown.");
    expect(JSON.parse(result.reasonData).evaluatedDatapoints).toHaveLength(4);
  });
});
