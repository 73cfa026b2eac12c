import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  EnableAlarmActionsCommand,
  ListTagsForResourceCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from "@aws-sdk/client-cloudwatch";
import { alarmDefinitionFor, exeRegexForName } from "@procwatch/contract";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { AlarmStore } from "../src/alarm-store.ts";
import { ThrottledError } from "../src/errors.ts";

const cloudwatch = new CloudWatchClient({ region: "eu-west-1", maxAttempts: 1 });
const cwMock = mockClient(cloudwatch);
const topic = "arn:aws:sns:eu-west-1:123456789012:procwatch-restart";
const instanceId = "i-0123456789abcdef0";
const definition = alarmDefinitionFor(
  { instanceId },
  { name: "nginx", unit: "nginx.service", detection: "standard", match: { mode: "exe", exe: exeRegexForName("nginx") } },
  { actions: { alarmActions: [topic], okActions: [topic] } },
);
const names = (count: number) => Array.from({ length: count }, (_, index) => `procwatch/i-${index.toString(16).padStart(17, "0")}/nginx`);

beforeEach(() => cwMock.reset());

describe("AlarmStore reads", () => {
  it("pages DescribeAlarms by prefix with MaxRecords 100 through every NextToken", async () => {
    // The SDK paginator reuses one input object, so copies are taken as each request goes out.
    const sent: unknown[] = [];
    const pages = [
      { MetricAlarms: [{ AlarmName: "procwatch/a" }], NextToken: "t1" },
      { MetricAlarms: [{ AlarmName: "procwatch/b" }], NextToken: "t2" },
      { MetricAlarms: [{ AlarmName: "procwatch/c" }] },
    ];
    cwMock.on(DescribeAlarmsCommand).callsFake((input) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });
    const alarms = await new AlarmStore(cloudwatch).listByPrefix("procwatch/");
    expect(alarms.map((alarm) => alarm.AlarmName)).toEqual(["procwatch/a", "procwatch/b", "procwatch/c"]);
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 3);
    expect(sent).toEqual([
      { AlarmNamePrefix: "procwatch/", AlarmTypes: ["MetricAlarm"], MaxRecords: 100 },
      { AlarmNamePrefix: "procwatch/", AlarmTypes: ["MetricAlarm"], MaxRecords: 100, NextToken: "t1" },
      { AlarmNamePrefix: "procwatch/", AlarmTypes: ["MetricAlarm"], MaxRecords: 100, NextToken: "t2" },
    ]);
  });
});

describe("AlarmStore writes", () => {
  it("creates with one PutMetricAlarm carrying every managed field and the deployment's tags, nothing else", async () => {
    cwMock.on(PutMetricAlarmCommand).resolves({});
    const store = new AlarmStore(cloudwatch);
    await store.put(definition, { instanceId, processName: "nginx" });

    const tags = [
      { Key: "procwatch:managed-by", Value: "procwatch" },
      { Key: "procwatch:instance-id", Value: instanceId },
      { Key: "procwatch:process", Value: "nginx" },
    ];
    expect(cwMock.calls()).toHaveLength(1);
    expect(cwMock).toHaveReceivedCommandExactlyOnceWith(PutMetricAlarmCommand, {
      AlarmName: `procwatch/${instanceId}/nginx`,
      AlarmDescription: definition.AlarmDescription,
      Namespace: "CWAgent",
      MetricName: "procstat_lookup_pid_count",
      Dimensions: [
        { Name: "InstanceId", Value: instanceId },
        { Name: "pattern", Value: "^([^ ]*/)?nginx:?( |$)" },
        { Name: "pid_finder", Value: "native" },
      ],
      Statistic: "Maximum",
      Period: 60,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
      ActionsEnabled: true,
      AlarmActions: [topic],
      OKActions: [topic],
      InsufficientDataActions: [],
      Tags: tags,
    });
  });

  it("sends no tags on update", async () => {
    cwMock.on(PutMetricAlarmCommand).resolves({});
    await new AlarmStore(cloudwatch).put(definition, null);
    expect(cwMock.commandCalls(PutMetricAlarmCommand)[0]?.args[0].input.Tags).toBeUndefined();
  });

  it("reads the managed-by tag of alarms about to be deleted: this deployment's, another's, none, and one already gone", async () => {
    const [ours, staging, untagged, gone] = names(4);
    cwMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: ours, AlarmArn: `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${ours}` }] });
    const tagsByArn: Record<string, { Key: string; Value: string }[]> = {
      [`arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${ours}`]: [{ Key: "procwatch:managed-by", Value: "procwatch" }],
      [`arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${staging}`]: [{ Key: "procwatch:managed-by", Value: "staging" }],
      [`arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${untagged}`]: [],
    };
    cwMock.on(ListTagsForResourceCommand).callsFake((input: { ResourceARN: string }) => {
      const tags = tagsByArn[input.ResourceARN];
      if (tags === undefined) throw Object.assign(new Error("not found"), { name: "ResourceNotFoundException", $metadata: { httpStatusCode: 404 } });
      return { Tags: tags };
    });
    const store = new AlarmStore(cloudwatch);
    await store.listByPrefix("procwatch/");
    const result = await store.managedByDeployment([ours!, staging!, untagged!, gone!], "procwatch");
    expect(result).toEqual({
      managed: [ours],
      notManaged: [
        { alarmName: staging, owner: "staging" },
        { alarmName: untagged, owner: undefined },
      ],
    });
  });

  it("batches delete, disable and enable by at most 100 names", async () => {
    cwMock.on(DeleteAlarmsCommand).resolves({});
    cwMock.on(DisableAlarmActionsCommand).resolves({});
    cwMock.on(EnableAlarmActionsCommand).resolves({});
    const store = new AlarmStore(cloudwatch);
    const all = names(250);
    expect((await store.delete(all)).succeeded).toHaveLength(250);
    expect(cwMock).toHaveReceivedCommandTimes(DeleteAlarmsCommand, 3);
    expect(cwMock).toHaveReceivedNthCommandWith(DeleteAlarmsCommand, 1, { AlarmNames: all.slice(0, 100) });
    expect(cwMock).toHaveReceivedNthCommandWith(DeleteAlarmsCommand, 2, { AlarmNames: all.slice(100, 200) });
    expect(cwMock).toHaveReceivedNthCommandWith(DeleteAlarmsCommand, 3, { AlarmNames: all.slice(200) });
    await store.disableActions(all.slice(0, 101));
    expect(cwMock).toHaveReceivedNthCommandWith(DisableAlarmActionsCommand, 2, { AlarmNames: all.slice(100, 101) });
    await store.enableActions(all.slice(0, 100));
    expect(cwMock).toHaveReceivedCommandExactlyOnceWith(EnableAlarmActionsCommand, { AlarmNames: all.slice(0, 100) });
  });

  it("records a failed batch per name and goes on with the next batch", async () => {
    const all = names(150);
    cwMock
      .on(DisableAlarmActionsCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "Throttling", $metadata: { httpStatusCode: 400 } }))
      .resolvesOnce({});
    const outcome = await new AlarmStore(cloudwatch).disableActions(all);
    expect(outcome.succeeded).toEqual(all.slice(100));
    expect(outcome.failed).toHaveLength(100);
    expect(outcome.failed[0]?.error).toBeInstanceOf(ThrottledError);
    expect(outcome.failed[0]?.error.retryable).toBe(true);
  });

  it("narrows a DeleteAlarms batch to the alarms that still exist when one is already gone", async () => {
    const all = names(3);
    cwMock
      .on(DeleteAlarmsCommand)
      .rejectsOnce(Object.assign(new Error("not found"), { name: "ResourceNotFound", $metadata: { httpStatusCode: 404 } }))
      .resolvesOnce({});
    cwMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: all[0] }, { AlarmName: all[2] }] });
    const outcome = await new AlarmStore(cloudwatch).delete(all);
    expect(outcome).toEqual({ succeeded: all, failed: [] });
    expect(cwMock).toHaveReceivedNthCommandWith(DeleteAlarmsCommand, 2, { AlarmNames: [all[0]!, all[2]!] });
  });

  it("sets an alarm's state with SetAlarmState, the reason cut to CloudWatch's 1023 characters", async () => {
    cwMock.on(SetAlarmStateCommand).resolves({});
    await new AlarmStore(cloudwatch).setState(definition.AlarmName, "INSUFFICIENT_DATA", "r".repeat(2000));
    expect(cwMock).toHaveReceivedCommandWith(SetAlarmStateCommand, {
      AlarmName: definition.AlarmName,
      StateValue: "INSUFFICIENT_DATA",
      StateReason: "r".repeat(1023),
    });
  });
});
