import { CloudWatchClient, ListMetricsCommand } from "@aws-sdk/client-cloudwatch";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { MetricCatalog } from "../src/metric-catalog.ts";

const cloudwatch = new CloudWatchClient({ region: "eu-west-1", maxAttempts: 1 });
const cwMock = mockClient(cloudwatch);
beforeEach(() => cwMock.reset());

describe("MetricCatalog", () => {
  it("lists procstat_lookup_pid_count in the namespace across every page", async () => {
    const sent: unknown[] = [];
    const pages = [
      {
        Metrics: [{ Namespace: "CWAgent", MetricName: "procstat_lookup_pid_count", Dimensions: [{ Name: "InstanceId", Value: "i-0123456789abcdef0" }] }],
        NextToken: "n1",
      },
      { Metrics: [{ Namespace: "CWAgent", MetricName: "procstat_lookup_pid_count", Dimensions: [] }] },
    ];
    cwMock.on(ListMetricsCommand).callsFake((input) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });
    const metrics = await new MetricCatalog(cloudwatch).listProcstatMetrics({ recentlyActive: true, dimensions: [{ Name: "pid_finder" }] });
    expect(metrics).toEqual([
      { namespace: "CWAgent", metricName: "procstat_lookup_pid_count", dimensions: [{ Name: "InstanceId", Value: "i-0123456789abcdef0" }] },
      { namespace: "CWAgent", metricName: "procstat_lookup_pid_count", dimensions: [] },
    ]);
    const first = { Namespace: "CWAgent", MetricName: "procstat_lookup_pid_count", Dimensions: [{ Name: "pid_finder" }], RecentlyActive: "PT3H" };
    expect(cwMock).toHaveReceivedCommandTimes(ListMetricsCommand, 2);
    expect(sent).toEqual([first, { ...first, NextToken: "n1" }]);
  });
});
