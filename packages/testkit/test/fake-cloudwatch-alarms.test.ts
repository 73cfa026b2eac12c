import { readFileSync } from "node:fs";
import {
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  EnableAlarmActionsCommand,
  GetMetricDataCommand,
  ListMetricsCommand,
  type MetricDatum,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  SetAlarmStateCommand,
} from "@aws-sdk/client-cloudwatch";
import { describe, expect, it } from "vitest";
import { FAKE_DEFAULT_QUOTAS, FakeAws, fakeClients, VirtualClock } from "../src/index.ts";

const T0 = Date.parse("2026-07-12T03:50:00Z");
const TOPIC = "arn:aws:sns:eu-west-1:123456789012:procwatch-restart";
const FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:procwatch-restart";
const DIMENSIONS = [
  { Name: "InstanceId", Value: "i-0123456789abcdef0" },
  { Name: "exe", Value: "nginx" },
];

function world(options: ConstructorParameters<typeof FakeAws>[0] = {}) {
  const clock = new VirtualClock(T0);
  const fake = new FakeAws({ clock, quotas: false, ...options });
  const { cloudwatch } = fakeClients(fake, { maxAttempts: 1 });
  const put = (value: number, extra: Partial<MetricDatum> = {}) =>
    cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: "CWAgent",
        MetricData: [{ MetricName: "procstat_lookup_pid_count", Dimensions: DIMENSIONS, Timestamp: new Date(clock.now()), Value: value, ...extra }],
      }),
    );
  /** One agent interval: publish, then let `seconds` pass and evaluate at every instant on the way. */
  const minute = async (value: number | null, seconds = 60) => {
    if (value !== null) await put(value);
    clock.advance(seconds * 1000);
    fake.evaluateAlarms();
  };
  const createAlarm = (extra: Record<string, unknown> = {}) =>
    cloudwatch.send(
      new PutMetricAlarmCommand({
        AlarmName: "procwatch/i-0123456789abcdef0/nginx",
        AlarmDescription: "procwatch: nginx on i-0123456789abcdef0",
        Namespace: "CWAgent",
        MetricName: "procstat_lookup_pid_count",
        Dimensions: DIMENSIONS,
        Statistic: "Maximum",
        Period: 60,
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        Threshold: 1,
        ComparisonOperator: "LessThanThreshold",
        TreatMissingData: "breaching",
        AlarmActions: [TOPIC],
        ...extra,
      }),
    );
  const describeAlarm = async () =>
    (await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ["procwatch/i-0123456789abcdef0/nginx"] }))).MetricAlarms?.[0];
  const snsStates = () =>
    fake.alarmNotifications.map((n) => JSON.parse((n.event as { Records: { Sns: { Message: string } }[] }).Records[0]?.Sns.Message ?? "{}").NewStateValue);
  return { clock, fake, cloudwatch, put, minute, createAlarm, describeAlarm, snsStates };
}

describe("alarm lifecycle through the SDK", () => {
  it("a new alarm starts INSUFFICIENT_DATA and is evaluated at its creation instant by the next evaluateAlarms", async () => {
    const { fake, createAlarm, describeAlarm, snsStates } = world();
    await createAlarm();
    expect(await describeAlarm()).toMatchObject({
      StateValue: "INSUFFICIENT_DATA",
      StateReason: "Unchecked: Initial alarm creation",
      StateUpdatedTimestamp: new Date(T0),
      StateTransitionedTimestamp: new Date(T0),
      AlarmConfigurationUpdatedTimestamp: new Date(T0),
    });
    fake.evaluateAlarms();
    const alarm = await describeAlarm();
    expect(alarm?.StateValue).toBe("ALARM");
    expect(alarm?.StateReason).toBe("Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching].");
    expect(JSON.parse(alarm?.StateReasonData ?? "{}")).toMatchObject({ version: "1.0", statistic: "Maximum", period: 60, recentDatapoints: [] });
    expect(snsStates()).toEqual(["ALARM"]);
    expect(fake.alarmHistory("procwatch/i-0123456789abcdef0/nginx").map((item) => item.HistorySummary)).toEqual([
      "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]);
  });

  it("updating an alarm keeps its state", async () => {
    const { fake, createAlarm, describeAlarm } = world();
    await createAlarm();
    fake.evaluateAlarms();
    await createAlarm({ Threshold: 2 });
    expect(await describeAlarm()).toMatchObject({ StateValue: "ALARM", Threshold: 2 });
  });

  it("runs actions only on transitions, and emits an EventBridge event for every transition", async () => {
    const { fake, minute, createAlarm, describeAlarm, snsStates } = world();
    for (let i = 0; i < 3; i += 1) await minute(1);
    await createAlarm({ OKActions: [TOPIC] });
    fake.evaluateAlarms();
    expect((await describeAlarm())?.StateValue).toBe("OK");
    for (let i = 0; i < 5; i += 1) await minute(1);
    expect(snsStates()).toEqual(["OK"]);
    for (let i = 0; i < 2; i += 1) await minute(0);
    expect((await describeAlarm())?.StateValue).toBe("ALARM");
    expect((await describeAlarm())?.StateReason).toMatch(
      /^Threshold Crossed: 2 out of the last 2 datapoints \[0\.0 \(12\/07\/26 03:59:00\), 0\.0 \(12\/07\/26 03:58:00\)\] were less than the threshold \(1\.0\)/,
    );
    for (let i = 0; i < 5; i += 1) await minute(0);
    for (let i = 0; i < 2; i += 1) await minute(1);
    expect(snsStates()).toEqual(["OK", "ALARM", "OK"]);
    expect(fake.alarmStateChangeEvents.map((event) => [event.detail.previousState, event.detail.state].map((s) => (s as { value: string }).value))).toEqual([
      ["INSUFFICIENT_DATA", "OK"],
      ["OK", "ALARM"],
      ["ALARM", "OK"],
    ]);
  });

  it("disabled actions: EventBridge events but no SNS; enabling on an alarm already in ALARM sends nothing until it transitions again", async () => {
    const { fake, cloudwatch, minute, createAlarm, describeAlarm, snsStates } = world();
    for (let i = 0; i < 3; i += 1) await minute(1);
    await createAlarm({ ActionsEnabled: false });
    fake.evaluateAlarms();
    for (let i = 0; i < 3; i += 1) await minute(0);
    expect((await describeAlarm())?.StateValue).toBe("ALARM");
    expect(fake.alarmStateChangeEvents).toHaveLength(2);
    expect(fake.alarmNotifications).toHaveLength(0);
    await cloudwatch.send(new EnableAlarmActionsCommand({ AlarmNames: ["procwatch/i-0123456789abcdef0/nginx"] }));
    for (let i = 0; i < 10; i += 1) await minute(0);
    expect(fake.alarmNotifications).toHaveLength(0);
    for (let i = 0; i < 2; i += 1) await minute(1);
    for (let i = 0; i < 2; i += 1) await minute(0);
    expect(snsStates()).toEqual(["ALARM"]);
    await cloudwatch.send(new DisableAlarmActionsCommand({ AlarmNames: ["procwatch/i-0123456789abcdef0/nginx"] }));
    for (let i = 0; i < 2; i += 1) await minute(1);
    expect(snsStates()).toEqual(["ALARM"]);
    expect(fake.alarmStateChangeEvents.at(-1)?.detail.state).toMatchObject({ value: "OK" });
  });

  it("SetAlarmState(INSUFFICIENT_DATA) on an ALARM alarm: the next evaluation goes back to ALARM and notifies", async () => {
    const { fake, cloudwatch, minute, createAlarm, describeAlarm, snsStates } = world();
    await createAlarm();
    fake.evaluateAlarms();
    expect(snsStates()).toEqual(["ALARM"]);
    await cloudwatch.send(
      new SetAlarmStateCommand({ AlarmName: "procwatch/i-0123456789abcdef0/nginx", StateValue: "INSUFFICIENT_DATA", StateReason: "re-arm" }),
    );
    expect(await describeAlarm()).toMatchObject({ StateValue: "INSUFFICIENT_DATA", StateReason: "re-arm" });
    expect((await describeAlarm())?.StateReasonData).toBeUndefined();
    expect(snsStates()).toEqual(["ALARM"]);
    await minute(null);
    expect((await describeAlarm())?.StateValue).toBe("ALARM");
    expect(snsStates()).toEqual(["ALARM", "ALARM"]);
    await expect(cloudwatch.send(new SetAlarmStateCommand({ AlarmName: "nope", StateValue: "OK", StateReason: "x" }))).rejects.toMatchObject({
      name: "ResourceNotFound",
    });
  });

  it("SetAlarmState to the state the alarm is in runs no action", async () => {
    const { fake, cloudwatch, createAlarm, snsStates } = world();
    await createAlarm();
    fake.evaluateAlarms();
    await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: "procwatch/i-0123456789abcdef0/nginx", StateValue: "ALARM", StateReason: "again" }));
    expect(snsStates()).toEqual(["ALARM"]);
  });

  it("a Lambda function action receives the documented alarm-action payload", async () => {
    const { fake, createAlarm } = world();
    await createAlarm({ AlarmActions: [FUNCTION] });
    fake.evaluateAlarms();
    expect(fake.alarmNotifications).toHaveLength(1);
    const [notification] = fake.alarmNotifications;
    expect(notification?.functionArn).toBe(FUNCTION);
    expect(notification?.event).toMatchObject({
      source: "aws.cloudwatch",
      alarmArn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:procwatch/i-0123456789abcdef0/nginx",
      accountId: "123456789012",
      region: "eu-west-1",
      alarmData: {
        alarmName: "procwatch/i-0123456789abcdef0/nginx",
        state: { value: "ALARM" },
        previousState: { value: "INSUFFICIENT_DATA", reason: "Unchecked: Initial alarm creation" },
        configuration: {
          metrics: [
            {
              metricStat: {
                metric: { namespace: "CWAgent", name: "procstat_lookup_pid_count", dimensions: { InstanceId: "i-0123456789abcdef0", exe: "nginx" } },
              },
            },
          ],
        },
      },
    });
  });

  it("listeners see notifications and state changes as they happen, and can unsubscribe", async () => {
    const { fake, createAlarm } = world();
    const seen: string[] = [];
    const stop = fake.onAlarmNotification((n) => seen.push(`sns ${n.topicArn}`));
    fake.onAlarmStateChange((event) => seen.push(`eb ${(event.detail.state as { value: string }).value}`));
    await createAlarm();
    fake.evaluateAlarms();
    stop();
    expect(seen).toEqual(["eb ALARM", `sns ${TOPIC}`]);
  });
});

describe("evaluation cadence", () => {
  it("a 10-second alarm on a high-resolution metric is evaluated every 10 seconds", async () => {
    const { fake, clock, put, createAlarm } = world();
    await createAlarm({ Period: 10, EvaluationPeriods: 1, DatapointsToAlarm: 1 });
    fake.evaluateAlarms(); // creation: no data → ALARM
    for (let second = 0; second < 35; second += 1) {
      await put(1, { StorageResolution: 1 });
      clock.advance(1000);
      fake.evaluateAlarms();
    }
    clock.advance(120_000);
    fake.evaluateAlarms();
    const transitions = fake.alarmHistory("procwatch/i-0123456789abcdef0/nginx").map((item) => item.Timestamp.getTime() - T0);
    // OK at the first 10 s tick whose newest period [0 s, 10 s) has data; ALARM once the whole
    // evaluation range (3 periods) is empty, i.e. at 70 s: after the last datapoint (34 s) the
    // periods [40,50), [50,60), [60,70) are empty.
    expect(transitions).toEqual([0, 10_000, 70_000]);
  });

  it("a standard-resolution datapoint feeds only the first 10 s period of its minute (documented INSUFFICIENT_DATA lapses)", async () => {
    const { fake, clock, put, createAlarm, describeAlarm } = world();
    await createAlarm({ Period: 10, EvaluationPeriods: 1, DatapointsToAlarm: 1, TreatMissingData: "missing" });
    clock.advance(15_000);
    await put(1); // stored at 03:50:00 (minute granularity), not at 03:50:15
    clock.advance(15_000);
    fake.evaluateAlarms();
    expect((await describeAlarm())?.StateValue).toBe("OK");
    const data = JSON.parse((await describeAlarm())?.StateReasonData ?? "{}");
    expect(data.evaluatedDatapoints[0].timestamp).toBe("2026-07-12T03:50:00.000+0000");
  });

  it("a 60-second alarm is evaluated only on minute ticks", async () => {
    const { fake, clock, createAlarm } = world();
    clock.advance(7_000);
    await createAlarm({ TreatMissingData: "notBreaching" });
    clock.advance(300_000);
    fake.evaluateAlarms();
    // Creation-time evaluation at 7 s, then ticks at 60, 120, … s: notBreaching → OK at creation, no further change.
    expect(fake.alarmHistory("procwatch/i-0123456789abcdef0/nginx").map((item) => item.Timestamp.getTime() - T0)).toEqual([7_000]);
  });
});

describe("metric store", () => {
  it("datapoints are visible to GetMetricData only after the ingestion delay; statistics and order as AWS", async () => {
    const { clock, cloudwatch } = world({ metricIngestionDelayMs: 5_000 });
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: "CWAgent",
        MetricData: [
          { MetricName: "m", Dimensions: DIMENSIONS, Timestamp: new Date(T0 - 120_000), Values: [1, 5], Counts: [1, 1] },
          { MetricName: "m", Dimensions: DIMENSIONS, Timestamp: new Date(T0 - 119_000), Value: 3 },
          { MetricName: "m", Dimensions: DIMENSIONS, Timestamp: new Date(T0 - 1_000), Value: 7 },
          { MetricName: "m", Dimensions: [...DIMENSIONS, { Name: "pid_finder", Value: "native" }], Timestamp: new Date(T0 - 1_000), Value: 100 },
        ],
      }),
    );
    const query = (stat: string, scanBy?: "TimestampAscending") =>
      cloudwatch.send(
        new GetMetricDataCommand({
          StartTime: new Date(T0 - 10 * 60_000),
          EndTime: new Date(T0 + 60_000),
          ...(scanBy !== undefined ? { ScanBy: scanBy } : {}),
          MetricDataQueries: [{ Id: "q", MetricStat: { Metric: { Namespace: "CWAgent", MetricName: "m", Dimensions: DIMENSIONS }, Period: 60, Stat: stat } }],
        }),
      );
    clock.advance(4_999);
    expect((await query("Maximum")).MetricDataResults?.[0]?.Values).toEqual([]);
    clock.advance(1);
    const max = (await query("Maximum")).MetricDataResults?.[0];
    expect(max).toMatchObject({ Id: "q", Label: "m", StatusCode: "Complete", Values: [7, 5] });
    expect(max?.Timestamps).toEqual([new Date(T0 - 60_000), new Date(T0 - 120_000)]);
    expect((await query("Minimum")).MetricDataResults?.[0]?.Values).toEqual([7, 1]);
    expect((await query("Sum")).MetricDataResults?.[0]?.Values).toEqual([7, 9]);
    expect((await query("Average")).MetricDataResults?.[0]?.Values).toEqual([7, 3]);
    expect((await query("SampleCount")).MetricDataResults?.[0]?.Values).toEqual([1, 3]);
    expect((await query("Maximum", "TimestampAscending")).MetricDataResults?.[0]?.Values).toEqual([5, 7]);
  });

  it("a new series appears in ListMetrics only 15 minutes after its first datapoint; publishMetric series are listed at once", async () => {
    const { fake, clock, cloudwatch, put } = world();
    fake.publishMetric({ Namespace: "CWAgent", MetricName: "procstat_lookup_pid_count", Dimensions: [{ Name: "InstanceId", Value: "i-old" }] });
    await put(1);
    const listed = async () =>
      (await cloudwatch.send(new ListMetricsCommand({ Namespace: "CWAgent" }))).Metrics?.map((metric) => metric.Dimensions?.[0]?.Value);
    clock.advance(15 * 60_000 - 1);
    expect(await listed()).toEqual(["i-old"]);
    clock.advance(1);
    expect(await listed()).toEqual(["i-old", "i-0123456789abcdef0"]);
    await put(1);
    expect(await listed()).toHaveLength(2);
  });

  it("alarm series matching is exact: a datapoint with an extra dimension is another series", async () => {
    const { fake, clock, cloudwatch, createAlarm, describeAlarm } = world();
    await createAlarm({ TreatMissingData: "missing" });
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: "CWAgent",
        MetricData: [{ MetricName: "procstat_lookup_pid_count", Dimensions: [...DIMENSIONS, { Name: "pid_finder", Value: "native" }], Value: 0 }],
      }),
    );
    clock.advance(120_000);
    fake.evaluateAlarms();
    expect((await describeAlarm())?.StateValue).toBe("INSUFFICIENT_DATA");
  });

  it("PutMetricData validates like AWS: at most 1000 items, no AWS/ namespace, exactly one value form", async () => {
    const { cloudwatch } = world();
    const datum = { MetricName: "m", Value: 1 };
    await expect(
      cloudwatch.send(new PutMetricDataCommand({ Namespace: "CWAgent", MetricData: Array.from({ length: 1001 }, () => datum) })),
    ).rejects.toMatchObject({
      name: "InvalidParameterValue",
    });
    await expect(cloudwatch.send(new PutMetricDataCommand({ Namespace: "AWS/EC2", MetricData: [datum] }))).rejects.toMatchObject({
      name: "InvalidParameterValue",
    });
    await expect(cloudwatch.send(new PutMetricDataCommand({ Namespace: "CWAgent", MetricData: [{ MetricName: "m" }] }))).rejects.toMatchObject({
      name: "InvalidParameterValue",
    });
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: "CWAgent", MetricData: Array.from({ length: 1000 }, () => datum) }));
  });

  it("GetMetricData takes at most 500 queries", async () => {
    const { cloudwatch } = world();
    const q = (i: number) => ({ Id: `q${i}`, MetricStat: { Metric: { Namespace: "CWAgent", MetricName: "m" }, Period: 60, Stat: "Maximum" } });
    await expect(
      cloudwatch.send(
        new GetMetricDataCommand({ StartTime: new Date(T0 - 60_000), EndTime: new Date(T0), MetricDataQueries: Array.from({ length: 501 }, (_, i) => q(i)) }),
      ),
    ).rejects.toMatchObject({ name: "InvalidParameterValue" });
  });

  it("quotas for the new operations come from the CloudWatch service quotas page", () => {
    expect(FAKE_DEFAULT_QUOTAS).toMatchObject({ PutMetricData: 500, GetMetricData: 50, SetAlarmState: 3 });
  });
});

describe("payloads have exactly the fixtures' key sets", () => {
  const sns = JSON.parse(readFileSync(new URL("./fixtures/sns-alarm-event.json", import.meta.url), "utf8"));
  const eventBridge = JSON.parse(readFileSync(new URL("./fixtures/eventbridge-alarm-state-change.json", import.meta.url), "utf8"));
  const keys = (value: unknown) => Object.keys(value as object).sort();

  it("SNS → Lambda event", async () => {
    const { fake, createAlarm } = world();
    await createAlarm();
    fake.evaluateAlarms();
    const event = fake.alarmNotifications[0]?.event as typeof sns;
    expect(keys(event)).toEqual(keys(sns));
    expect(keys(event.Records[0])).toEqual(keys(sns.Records[0]));
    expect(keys(event.Records[0].Sns)).toEqual(keys(sns.Records[0].Sns));
    const message = JSON.parse(event.Records[0].Sns.Message);
    const fixtureMessage = JSON.parse(sns.Records[0].Sns.Message);
    expect(Object.keys(message)).toEqual(Object.keys(fixtureMessage));
    expect(Object.keys(message.Trigger)).toEqual(Object.keys(fixtureMessage.Trigger));
    expect(keys(message.Trigger.Dimensions[0])).toEqual(keys(fixtureMessage.Trigger.Dimensions[0]));
    expect(event.Records[0].Sns.Message).toContain('"Threshold":1.0,');
    expect(event.Records[0].Sns.Subject).toBe('ALARM: "procwatch/i-0123456789abcdef0/nginx" in EU (Ireland)');
    expect(message).toMatchObject({ NewStateValue: "ALARM", OldStateValue: "INSUFFICIENT_DATA", Region: "EU (Ireland)", AWSAccountId: "123456789012" });
    expect(message.StateChangeTime).toBe("2026-07-12T03:50:00.000+0000");
    expect(message.Trigger).toMatchObject({ Statistic: "MAXIMUM", StatisticType: "Statistic", DatapointsToAlarm: 2, TreatMissingData: "breaching" });
  });

  it("EventBridge CloudWatch Alarm State Change event", async () => {
    const { fake, minute, createAlarm } = world();
    await createAlarm();
    fake.evaluateAlarms();
    await minute(1);
    await minute(1);
    const event = fake.alarmStateChangeEvents.at(-1) as typeof eventBridge;
    expect(event.detail.state.value).toBe("OK");
    expect(keys(event)).toEqual(keys(eventBridge));
    expect(keys(event.detail)).toEqual(keys(eventBridge.detail));
    expect(keys(event.detail.state)).toEqual(keys(eventBridge.detail.state));
    expect(keys(event.detail.previousState)).toEqual(keys(eventBridge.detail.previousState));
    expect(keys(event.detail.configuration)).toEqual(keys(eventBridge.detail.configuration));
    const [metric] = event.detail.configuration.metrics;
    const [fixtureMetric] = eventBridge.detail.configuration.metrics;
    expect(keys(metric)).toEqual(keys(fixtureMetric));
    expect(keys(metric.metricStat)).toEqual(keys(fixtureMetric.metricStat));
    expect(keys(metric.metricStat.metric)).toEqual(keys(fixtureMetric.metricStat.metric));
    expect(keys(JSON.parse(event.detail.state.reasonData))).toEqual(keys(JSON.parse(eventBridge.detail.state.reasonData)));
    expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(event.detail.state.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  });
});
