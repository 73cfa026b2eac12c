import { describe, expect, it } from "vitest";
import { alarmDimensionsFor, exeRegexForName, exeRegexForPath, procstatEntryFor, renderProcstatFragment, serializeFragment } from "../src/index.ts";
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
