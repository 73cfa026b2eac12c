import { describe, expect, it } from "vitest";
import {
  alarmDimensionsFor,
  exeRegexForName,
  exeRegexForPath,
  fragmentDimensionPlan,
  procstatEntryFor,
  renderProcstatFragment,
  serializeFragment,
} from "../src/index.ts";
import { aProcess } from "./builders.ts";

/** The CloudWatch agent matches `exe` unanchored against readlink(/proc/<pid>/exe); JS and RE2 agree on these constructs. */
function agentExeMatches(regex: string, exePath: string): boolean {
  return new RegExp(regex).test(exePath);
}

describe("generated exe regexes follow the agent's full-path semantics", () => {
  it.each([
    ["httpd", "/usr/sbin/httpd", true],
    ["httpd", "/usr/sbin/httpd (deleted)", true],
    ["httpd", "/usr/sbin/httpd-helper", false],
    ["httpd", "/opt/myhttpd", false],
    ["httpd", "/usr/sbin/httpd2", false],
    ["httpd", "/usr/sbin/httpd (deleted) x", false],
    ["php-fpm8.2", "/usr/sbin/php-fpm8.2", true],
    ["php-fpm8.2", "/usr/sbin/php-fpm8x2", false],
  ])("name %s against %s → %s", (name, exePath, expected) => {
    expect(agentExeMatches(exeRegexForName(name), exePath)).toBe(expected);
  });

  it.each([
    ["/usr/sbin/nginx", "/usr/sbin/nginx", true],
    ["/usr/sbin/nginx", "/usr/sbin/nginx (deleted)", true],
    ["/usr/sbin/nginx", "/usr/local/usr/sbin/nginx", false],
    ["/usr/sbin/nginx", "/usr/sbin/nginx-debug", false],
  ])("path %s against %s → %s", (path, exePath, expected) => {
    expect(agentExeMatches(exeRegexForPath(path), exePath)).toBe(expected);
  });
});

describe("procstat entries and alarm dimensions", () => {
  it("uses pid_file in config and pidfile as the dimension", () => {
    const process = aProcess({ name: "worker", match: { mode: "pidfile", pidFile: "/run/worker.pid" } });
    expect(procstatEntryFor(process)).toEqual({
      pid_file: "/run/worker.pid",
      measurement: ["pid_count"],
      metrics_collection_interval: 60,
    });
    expect(alarmDimensionsFor(process, "i-0123456789abcdef0")).toEqual([
      { Name: "InstanceId", Value: "i-0123456789abcdef0" },
      { Name: "pid_finder", Value: "native" },
      { Name: "pidfile", Value: "/run/worker.pid" },
    ]);
  });

  it("renders only procwatch-owned keys, sorted, with a fast flush only when needed", () => {
    const standardOnly = renderProcstatFragment({ processes: [aProcess({ name: "sshd" }), aProcess({ name: "cron" })] });
    expect(Object.keys(standardOnly.metrics).sort()).toEqual(["append_dimensions", "metrics_collected"]);
    expect(standardOnly.metrics.metrics_collected.procstat.map((entry) => entry.exe)).toEqual([exeRegexForName("cron"), exeRegexForName("sshd")]);

    const withFast = renderProcstatFragment({ processes: [aProcess({ name: "sshd", detection: "fast" })] });
    expect(withFast.metrics.force_flush_interval).toBe(10);
    expect(withFast.metrics.metrics_collected.procstat[0]?.metrics_collection_interval).toBe(10);
  });

  it("serializes equal specs to equal bytes regardless of order", () => {
    const a = serializeFragment(renderProcstatFragment({ processes: [aProcess({ name: "a" }), aProcess({ name: "b" })] }));
    const b = serializeFragment(renderProcstatFragment({ processes: [aProcess({ name: "b" }), aProcess({ name: "a" })] }));
    expect(a).toBe(b);
  });
});

/**
 * Hosts whose other CloudWatch agent fragments set agent-level `metrics.append_dimensions` (the
 * wizard's default: ImageId, InstanceId, InstanceType, AutoScalingGroupName). The agent merges
 * fragments with `reflect.DeepEqual` for every metrics-level key except `metrics_collected`
 * (aws/amazon-cloudwatch-agent translator/jsonconfig/mergeJsonUtil/util.go `mergeMap`), so
 * procwatch's fragment may not set a different `append_dimensions` or `aggregation_dimensions`.
 */
describe("the fragment on hosts that append their own dimensions", () => {
  const wizardAppend = ["AutoScalingGroupName", "ImageId", "InstanceId", "InstanceType"];
  const web = { processes: [aProcess({ name: "nginx" }), aProcess({ name: "orders", match: { mode: "pattern", pattern: "orders\\.jar" } })] };

  it("without host settings, renders exactly what it always did (no reload on upgrade)", () => {
    expect(serializeFragment(renderProcstatFragment(web, { host: {} }))).toBe(serializeFragment(renderProcstatFragment(web)));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholder
    expect(renderProcstatFragment(web).metrics.append_dimensions).toEqual({ InstanceId: "${aws:InstanceId}" });
  });

  it("leaves append_dimensions to the host and asks for a rolled-up series with exactly the alarm's dimensions", () => {
    const fragment = renderProcstatFragment(web, { host: { appendDimensions: wizardAppend } });
    expect(fragment.metrics).not.toHaveProperty("append_dimensions");
    expect(fragment.metrics.aggregation_dimensions).toEqual([
      ["InstanceId", "exe", "pid_finder"],
      ["InstanceId", "pattern", "pid_finder"],
    ]);
    for (const process of web.processes) {
      const names = alarmDimensionsFor(process, "i-1").map((dimension) => dimension.Name);
      expect(fragment.metrics.aggregation_dimensions).toContainEqual([...names].sort());
    }
  });

  it("a host that appends only InstanceId already publishes the alarm's set: no aggregation", () => {
    const fragment = renderProcstatFragment(web, { host: { appendDimensions: ["InstanceId"] } });
    expect(fragment.metrics).not.toHaveProperty("append_dimensions");
    expect(fragment.metrics).not.toHaveProperty("aggregation_dimensions");
    expect(fragmentDimensionPlan(web, { appendDimensions: ["InstanceId"] }).problem).toBeNull();
  });

  it("a host aggregation list that already holds procwatch's sets is reused; one that lacks them cannot be merged and is a named problem", () => {
    const covering = [["InstanceId"], ["pid_finder", "exe", "InstanceId"], ["InstanceId", "pattern", "pid_finder"]];
    const reused = renderProcstatFragment(web, { host: { appendDimensions: wizardAppend, aggregationDimensions: covering } });
    expect(reused.metrics).not.toHaveProperty("aggregation_dimensions");
    expect(fragmentDimensionPlan(web, { appendDimensions: wizardAppend, aggregationDimensions: covering }).problem).toBeNull();

    const wizardAggregation = [["InstanceId"]];
    const blocked = fragmentDimensionPlan(web, { appendDimensions: wizardAppend, aggregationDimensions: wizardAggregation });
    expect(blocked.problem).toMatchObject({
      code: "host-aggregation-dimensions-lack-procwatch-sets",
      missing: [
        ["InstanceId", "exe", "pid_finder"],
        ["InstanceId", "pattern", "pid_finder"],
      ],
    });
    const rendered = renderProcstatFragment(web, { host: { appendDimensions: wizardAppend, aggregationDimensions: wizardAggregation } });
    expect(rendered.metrics).not.toHaveProperty("aggregation_dimensions");
    expect(rendered.metrics).not.toHaveProperty("append_dimensions");
  });

  it("a host that appends dimensions without InstanceId is a named problem (a roll-up can only keep dimensions the metric has)", () => {
    expect(fragmentDimensionPlan(web, { appendDimensions: ["ImageId"] }).problem).toMatchObject({ code: "host-append-dimensions-lack-instance-id" });
  });
});
