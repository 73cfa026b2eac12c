import { describe, expect, it } from "vitest";
import {
  alarmDimensionsFor,
  buildProcessSpec,
  compileGoRegexp,
  exeProgramOf,
  exeRegexForName,
  exeRegexForPath,
  hostDimensionPins,
  metricHostOf,
  procstatEntryFor,
  renderProcstatFragment,
  selectorOf,
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

/** The CloudWatch agent's `pattern` lookup: Go's regexp.MatchString on the joined command line (translated by the contract). */
function agentCommandLineMatches(pattern: string, cmdline: string): boolean {
  const compiled = compileGoRegexp(pattern);
  if (!("regex" in compiled)) throw new Error(`${pattern} does not compile: ${compiled.message}`);
  return compiled.regex.test(cmdline);
}

describe("an exe selector reaches the CloudWatch agent as a command-line pattern on argv[0]", () => {
  it.each([
    ["nginx", "/usr/sbin/nginx -g daemon on; master_process on;", true],
    ["nginx", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", true],
    ["nginx", "nginx: worker process", true],
    ["nginx", "nginx", true],
    ["nginx", "tail -f /var/log/nginx/access.log", false],
    ["nginx", "procwatch-agent restart --process nginx", false],
    ["nginx", "/usr/sbin/nginx-debug -g daemon off;", false],
    ["nginx", "vi nginx.conf", false],
    ["nginx", "/opt/mynginx", false],
    ["sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", true],
    ["postgres", "postgres: 15/main: checkpointer", true],
    ["php-fpm8.2", "php-fpm8.2 --nodaemonize", true],
    ["php-fpm8.2", "php-fpm8x2 --nodaemonize", false],
  ])("name %s against %j → %s", (name, cmdline, expected) => {
    const selector = selectorOf({ mode: "exe", exe: exeRegexForName(name) });
    expect(selector).toMatchObject({ configKey: "pattern", dimension: "pattern" });
    expect(agentCommandLineMatches(selector.value, cmdline)).toBe(expected);
  });

  it.each([
    ["/usr/sbin/nginx", "/usr/sbin/nginx -g daemon off;", true],
    ["/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx", true],
    ["/usr/sbin/nginx", "/usr/sbin/nginx", true],
    ["/usr/sbin/nginx", "nginx -g daemon off;", false],
    ["/usr/sbin/nginx", "/usr/local/usr/sbin/nginx", false],
    ["/usr/sbin/nginx", "/usr/sbin/nginx-debug", false],
    ["/opt/app (v2)/bin/server", "/opt/app (v2)/bin/server --port 80", true],
  ])("path %s against %j → %s", (path, cmdline, expected) => {
    const selector = selectorOf({ mode: "exe", exe: exeRegexForPath(path) });
    expect(agentCommandLineMatches(selector.value, cmdline)).toBe(expected);
  });

  it("recovers the name or path from the generated regex and refuses a hand-edited one", () => {
    expect(exeProgramOf({ mode: "exe", exe: exeRegexForName("php-fpm8.2") })).toEqual({ kind: "name", literal: "php-fpm8.2" });
    expect(exeProgramOf({ mode: "exe", exe: exeRegexForPath("/opt/a+b/run") })).toEqual({ kind: "path", literal: "/opt/a+b/run" });
    expect(exeProgramOf({ mode: "exe", exe: "nginx$" })).toBeNull();
    // Only hand-edited state lands here; the agent then gets the exe regex as it is.
    expect(selectorOf({ mode: "exe", exe: "nginx$" })).toEqual({ configKey: "exe", dimension: "exe", value: "nginx$" });
  });

  it("refuses an exe path whose command-line pattern would exceed procstat's selector length", () => {
    const path = `/opt/x/${"d".repeat(120)}`;
    const result = buildProcessSpec("server", { exe: path }, { source: "t", optionSource: (key) => `t ${key}=`, defaultDetection: "standard" });
    expect(result.spec).toBeNull();
    expect(result.issues[0]).toMatchObject({ code: "too-long" });
  });
});

const HOST = { instanceId: "i-0123456789abcdef0", imageId: "ami-0123456789abcdef0", instanceType: "m7g.large" };

describe("procstat entries and alarm dimensions", () => {
  it("uses pid_file in config and pidfile as the dimension, and pins the host dimensions on the entry", () => {
    const process = aProcess({ name: "worker", match: { mode: "pidfile", pidFile: "/run/worker.pid" } });
    expect(procstatEntryFor(process, hostDimensionPins(HOST))).toEqual({
      pid_file: "/run/worker.pid",
      measurement: ["pid_count"],
      metrics_collection_interval: 60,
      append_dimensions: { ImageId: "ami-0123456789abcdef0", InstanceId: "i-0123456789abcdef0", InstanceType: "m7g.large" },
    });
    expect(alarmDimensionsFor(process, HOST)).toEqual([
      { Name: "ImageId", Value: "ami-0123456789abcdef0" },
      { Name: "InstanceId", Value: "i-0123456789abcdef0" },
      { Name: "InstanceType", Value: "m7g.large" },
      { Name: "pid_finder", Value: "native" },
      { Name: "pidfile", Value: "/run/worker.pid" },
    ]);
  });

  it("without a known instance the pins are the agent's placeholders, never the Auto Scaling group's (it would make the translator call DescribeTags)", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholders.
    expect(hostDimensionPins()).toEqual({ ImageId: "${aws:ImageId}", InstanceId: "${aws:InstanceId}", InstanceType: "${aws:InstanceType}" });
    expect(hostDimensionPins({ ...HOST, autoScalingGroupName: "web-asg" })).toMatchObject({ AutoScalingGroupName: "web-asg" });
  });

  it("names the Auto Scaling group only for an instance in one (the agent's translator leaves the key out otherwise)", () => {
    const process = aProcess({ name: "worker" });
    const inGroup = metricHostOf({ ...HOST, tags: { "aws:autoscaling:groupName": "web-asg", Name: "web-1" } });
    expect(alarmDimensionsFor(process, inGroup).map((dimension) => dimension.Name)).toEqual([
      "AutoScalingGroupName",
      "ImageId",
      "InstanceId",
      "InstanceType",
      "pattern",
      "pid_finder",
    ]);
    expect(metricHostOf({ ...HOST, tags: {} })).toEqual(HOST);
  });

  it("sets the global InstanceId (it turns the ec2tagger on, which removes `host`) unless another file sets append_dimensions, sorted, with a fast flush only when needed", () => {
    const standardOnly = renderProcstatFragment({ processes: [aProcess({ name: "sshd" }), aProcess({ name: "cron" })] });
    expect(Object.keys(standardOnly.metrics).sort()).toEqual(["append_dimensions", "metrics_collected"]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholder.
    expect(standardOnly.metrics.append_dimensions).toEqual({ InstanceId: "${aws:InstanceId}" });
    const besideOthers = renderProcstatFragment({ processes: [aProcess({ name: "sshd" })] }, { otherFragmentsSetAppendDimensions: true });
    expect(Object.keys(besideOthers.metrics).sort()).toEqual(["metrics_collected"]);
    expect(standardOnly.metrics.metrics_collected.procstat.map((entry) => entry.pattern)).toEqual([
      selectorOf({ mode: "exe", exe: exeRegexForName("cron") }).value,
      selectorOf({ mode: "exe", exe: exeRegexForName("sshd") }).value,
    ]);
    expect(standardOnly.metrics.metrics_collected.procstat.every((entry) => entry.exe === undefined)).toBe(true);

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
