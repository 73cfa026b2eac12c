import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput } from "@aws-sdk/client-cloudwatch";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { AdapterError } from "../src/errors.ts";
import { MetricDatapointReader, type SeriesQuery } from "../src/metric-datapoints.ts";

const cloudwatch = new CloudWatchClient({ region: "eu-west-1", maxAttempts: 1 });
const cwMock = mockClient(cloudwatch);
beforeEach(() => cwMock.reset());

const NOW = Date.UTC(2026, 11, 7, 4, 0, 0);
const query = (key: string, overrides: Partial<SeriesQuery> = {}): SeriesQuery => ({
  key,
  namespace: "CWAgent",
  metricName: "procstat_lookup_pid_count",
  dimensions: [
    { Name: "InstanceId", Value: "i-0123456789abcdef0" },
    { Name: "exe", Value: key },
    { Name: "pid_finder", Value: "native" },
  ],
  period: 60,
  since: NOW - 10 * 60_000,
  ...overrides,
});

describe("MetricDatapointReader", () => {
  it("asks for each exact series at its period, pages with NextToken, and keeps only datapoints whose period ends after `since`", async () => {
    const sent: GetMetricDataCommandInput[] = [];
    const pages = [
      {
        MetricDataResults: [{ Id: "q0", Timestamps: [new Date(NOW - 60_000)], Values: [1] }],
        NextToken: "page-2",
      },
      {
        MetricDataResults: [
          // q1's since is 2 min ago: the datapoint of the period that ended 3 min ago belongs to an earlier boot.
          { Id: "q1", Timestamps: [new Date(NOW - 30_000), new Date(NOW - 4 * 60_000)], Values: [0, 1] },
        ],
      },
    ];
    cwMock.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });
    const result = await new MetricDatapointReader(cloudwatch).datapointTimestamps(
      [query("nginx"), query("sshd", { period: 10, since: NOW - 2 * 60_000 }), query("cron")],
      NOW,
    );
    expect(Object.fromEntries(result)).toEqual({ nginx: [NOW - 60_000], sshd: [NOW - 30_000], cron: [] });
    expect(sent).toHaveLength(2);
    expect(sent[0]?.StartTime).toEqual(new Date(NOW - 10 * 60_000));
    expect(sent[0]?.EndTime).toEqual(new Date(NOW));
    expect(sent[1]?.NextToken).toBe("page-2");
    expect(sent[0]?.MetricDataQueries?.[1]).toEqual({
      Id: "q1",
      MetricStat: {
        Metric: { Namespace: "CWAgent", MetricName: "procstat_lookup_pid_count", Dimensions: query("sshd").dimensions },
        Period: 10,
        Stat: "SampleCount",
      },
      ReturnData: true,
    });
  });

  it("splits more than 500 series into several calls (GetMetricData's limit)", async () => {
    const sizes: number[] = [];
    cwMock.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => {
      sizes.push(input.MetricDataQueries?.length ?? 0);
      return { MetricDataResults: [] };
    });
    await new MetricDatapointReader(cloudwatch).datapointTimestamps(
      Array.from({ length: 1201 }, (_, index) => query(`p${index}`)),
      NOW,
    );
    expect(sizes).toEqual([500, 500, 201]);
  });

  it("asks nothing about a series whose arming began this instant (StartTime must precede EndTime)", async () => {
    cwMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    const result = await new MetricDatapointReader(cloudwatch).datapointTimestamps([query("nginx", { since: NOW })], NOW);
    expect(Object.fromEntries(result)).toEqual({ nginx: [] });
    expect(cwMock).toHaveReceivedCommandTimes(GetMetricDataCommand, 0);
  });

  it("an AWS error becomes an AdapterError naming GetMetricData", async () => {
    cwMock.on(GetMetricDataCommand).rejects(Object.assign(new Error("User is not authorized to perform: cloudwatch:GetMetricData"), { name: "AccessDenied" }));
    const failure = await new MetricDatapointReader(cloudwatch).datapointTimestamps([query("nginx")], NOW).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AdapterError);
    expect(failure).toMatchObject({ operation: "GetMetricData", retryable: false });
  });
});
