import { exeRegexForName, type ProcessSpec, selectorOf } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import { lookupGroup, lookupUser, resolveStartCommandAccounts } from "../src/core/accounts.ts";
import { buildAllowList, parseAllowList, serializeAllowList } from "../src/core/allow-list.ts";
import {
  type ExpectedAgentSettings,
  expectedAgentSettings,
  hostAgentConfigOf,
  installedFragmentFileName,
  otherFragmentFindings,
} from "../src/core/cwagent-config.ts";
import { compareFragment, fragmentDigest, reloadReasonFor, renderFragmentText } from "../src/core/fragment.ts";
import { evaluateHealth, evaluateProcess, type HostFinding, type ProcessObservation, parseCloudWatchAgentStatus } from "../src/core/health.ts";
import { parseLocalConfig, type StartCommand } from "../src/core/local-config.ts";
import {
  exactSelectorTag,
  fieldsNeededFor,
  fieldsRunningNeeds,
  findRunning,
  joinCmdline,
  matchProcesses,
  type ProcessRecord,
  parsePidFileContent,
  patternCandidates,
  patternSuggestion,
} from "../src/core/process-matching.ts";
import { cpuPercentSinceStart, parseProcStat, parseRssBytes } from "../src/core/process-usage.ts";
import { checkProcessNameArgument, chooseBackend, exitCodeForRestart, shouldRestart } from "../src/core/restart-decision.ts";
import { planSpecSource, resolveSpecStage, specFromDocument, specFromTags, specWithProfile } from "../src/core/spec-sources.ts";
import { ABANDONED_TEMP_AGE_MS, isAbandonedTemp, tempNameFor, tempWriterPid } from "../src/core/temp-files.ts";

/** Pure-core tests: plain data in, plain data out, no mocks and no I/O. */
const aProcess = (overrides: Partial<ProcessSpec> = {}): ProcessSpec => {
  const name = overrides.name ?? "nginx";
  return { name, match: { mode: "exe", exe: exeRegexForName(name) }, unit: `${name}.service`, detection: "standard", ...overrides };
};
const record = (pid: number, exePath: string | null, cmdline: string | null = null): ProcessRecord => ({ pid, exePath, cmdline });

describe("matchProcesses (CloudWatch agent semantics)", () => {
  const records = [
    record(10, "/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx"),
    record(11, "/usr/sbin/nginx (deleted)", "nginx: worker process"),
    record(12, "/usr/sbin/nginx-helper", "nginx-helper"),
    record(13, "/opt/mynginx", "/opt/mynginx"),
    record(14, null, null),
    record(15, "/usr/bin/java", "/usr/bin/java -jar /opt/orders/orders.jar --port 8080"),
  ];

  it("exe: unanchored regex over the full path, including ' (deleted)', not prefixes or suffixes of other names", () => {
    expect(matchProcesses({ mode: "exe", exe: exeRegexForName("nginx") }, records)).toEqual({ pids: [10, 11], agentPidCount: 2 });
    // `^nginx$` never matches a full path: the reason the contract generates path-anchored regexes.
    expect(matchProcesses({ mode: "exe", exe: "^nginx$" }, records).pids).toEqual([]);
    expect(matchProcesses({ mode: "exe", exe: "nginx" }, records).pids).toEqual([10, 11, 12, 13]);
  });

  it("pattern: regex over the joined command line", () => {
    expect(matchProcesses({ mode: "pattern", pattern: "orders\\.jar --port" }, records)).toEqual({ pids: [15], agentPidCount: 1 });
  });

  it("a regex that does not compile is a lookup error (the agent then emits no selector dimension)", () => {
    expect(matchProcesses({ mode: "exe", exe: "(" }, records)).toMatchObject({ pids: [], agentPidCount: null, lookupError: expect.stringContaining("regex") });
  });

  it("pidfile: live pid counts; dead pid counts for the agent but not as running; junk or missing is a lookup error", () => {
    const match = { mode: "pidfile", pidFile: "/run/x.pid" } as const;
    expect(matchProcesses(match, records, { path: "/run/x.pid", content: " 15\n" })).toEqual({ pids: [15], agentPidCount: 1 });
    expect(matchProcesses(match, records, { path: "/run/x.pid", content: "999" })).toEqual({ pids: [], agentPidCount: 1 });
    expect(matchProcesses(match, records, { path: "/run/x.pid", content: "abc" })).toMatchObject({ agentPidCount: null });
    expect(matchProcesses(match, records, { path: "/run/x.pid", content: null })).toMatchObject({ agentPidCount: null });
  });

  it("joins cmdline like gopsutil: NUL-separated, empty arguments dropped", () => {
    expect(joinCmdline("/usr/bin/java\0-jar\0\0/opt/a b.jar\0")).toBe("/usr/bin/java -jar /opt/a b.jar");
    expect(joinCmdline("")).toBe("");
  });

  it("parses pid files like strconv.ParseInt(TrimSpace(...), 10, 32)", () => {
    expect(parsePidFileContent("42\n")).toBe(42);
    expect(parsePidFileContent("+42")).toBe(42);
    expect(parsePidFileContent("4 2")).toBeNull();
    // Go's ParseInt takes a sign: the agent reads 0 and -1 as pids (and counts 1).
    expect(parsePidFileContent("-1")).toBe(-1);
    expect(parsePidFileContent("0\n")).toBe(0);
    expect(parsePidFileContent("-2147483648")).toBe(-2147483648);
    expect(parsePidFileContent("-2147483649")).toBeNull();
    expect(parsePidFileContent("2147483648")).toBeNull();
    expect(parsePidFileContent("99999999999")).toBeNull();
    expect(parsePidFileContent("\u008542\u00a0")).toBe(42);
    expect(parsePidFileContent("\ufeff42")).toBeNull();
    expect(parsePidFileContent("0x10")).toBeNull();
    expect(parsePidFileContent("")).toBeNull();
  });
});

describe("procfs parsing", () => {
  it("parses stat with spaces and parentheses in comm, and computes CPU since start", () => {
    const stat = parseProcStat("1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 300 100 0 0 20 0 1 0 5000 1000 200");
    expect(stat).toMatchObject({ pid: 1234, comm: "my (odd) proc", state: "S", utimeTicks: 300, stimeTicks: 100, startTimeTicks: 5000 });
    // alive 100 s (uptime 150 s, started at 50 s), busy 4 s → 4 %.
    expect(cpuPercentSinceStart(stat!, 150)).toBe(4);
    expect(parseRssBytes("Name:\tx\nVmRSS:\t    2048 kB\n")).toBe(2 * 1024 * 1024);
    expect(parseRssBytes("Name:\tkthreadd\n")).toBeNull();
  });
});

describe("spec source ordering", () => {
  it("uses --spec, then flags, then instance tags (IMDS before DescribeTags)", () => {
    expect(planSpecSource({ specFile: "/s.json", tagPrefix: "procwatch" })).toEqual({ plan: { kind: "spec-file", path: "/s.json" } });
    expect(planSpecSource({ processes: "nginx", tagPrefix: "procwatch" })).toEqual({
      plan: { kind: "flags", tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx" } },
    });
    expect(planSpecSource({ tagPrefix: "procwatch" })).toEqual({ plan: { kind: "instance-tags", order: ["imds-tags", "describe-tags"] } });
    expect(planSpecSource({ specFile: "/s.json", profile: "web", tagPrefix: "procwatch" })).toHaveProperty("usageProblem");
    expect(planSpecSource({ detection: "fast", tagPrefix: "procwatch" })).toHaveProperty("usageProblem");
  });

  it("tags without opt-in mean nothing to watch; a profile is fetched only when named", () => {
    expect(specFromTags({ Name: "web-1" }, "imds-tags", "procwatch")).toEqual({ kind: "not-opted-in", source: "imds-tags" });
    const stage = specFromTags({ "procwatch:enabled": "true", "procwatch:profile": "web", "procwatch:processes": "sshd" }, "imds-tags", "procwatch");
    expect(stage).toMatchObject({ kind: "needs-profile", profile: "web" });
    if (stage.kind !== "needs-profile") throw new Error("unreachable");
    const gathered = specWithProfile(stage, { found: true, document: { version: 1, processes: [{ name: "nginx" }] } }, "procwatch");
    expect(gathered).toMatchObject({ kind: "ready", source: "imds-tags+profile:web" });
    if (gathered.kind === "needs-profile") throw new Error("unreachable");
    const resolved = resolveSpecStage(gathered, {});
    expect(resolved).toMatchObject({ kind: "resolved", source: "imds-tags+profile:web" });
    expect(resolved.kind === "resolved" && resolved.spec.processes.map((process) => process.name)).toEqual(["nginx", "sshd"]);
    const missing = specWithProfile(stage, { found: false }, "procwatch");
    if (missing.kind === "needs-profile") throw new Error("unreachable");
    expect(resolveSpecStage(missing, {})).toMatchObject({
      kind: "invalid",
      issues: [expect.objectContaining({ code: "profile-missing" })],
    });
  });

  it("a spec document is validated by the contract, every problem reported", () => {
    const stage = specFromDocument({ version: 1, processes: [{ name: "a b" }, { name: "x", unit: "bad" }] }, "/s.json", "procwatch");
    expect(stage.kind).toBe("invalid");
    expect(stage.kind === "invalid" && stage.issues.map((found) => found.code)).toEqual(["bad-process-name", "bad-unit"]);
  });
});

describe("fragment digest and comparison", () => {
  it("equal specs render equal bytes; any byte change is a difference", () => {
    const text = renderFragmentText({ processes: [aProcess()] });
    expect(fragmentDigest(text)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(compareFragment(text, text)).toBe("matches");
    expect(compareFragment(text, text.replace("60", "61"))).toBe("differs");
    expect(compareFragment(text, null)).toBe("missing");
  });
});

describe("health evaluation", () => {
  const up = (name: string): ProcessObservation => ({
    spec: aProcess({ name }),
    outcome: { pids: [1], agentPidCount: 1 },
    usage: { cpuPercent: 1, rssBytes: 10 },
  });
  const base = {
    cloudwatchAgent: { state: "running", via: "ctl" } as const,
    fragment: { path: "/f", comparison: "matches" } as const,
    spec: { source: "spec-file:/s", problems: [] },
    agent: { version: "1", node: "v24", arch: "x64" },
    checkedAt: "2026-01-01T00:00:00.000Z",
  };

  it("healthy → 0, degraded → 1, failing → 2", () => {
    expect(evaluateHealth({ ...base, processes: [up("a")] })).toMatchObject({ status: "healthy", exitCode: 0, reasons: [] });
    expect(evaluateHealth({ ...base, processes: [up("a")], cloudwatchAgent: { state: "stopped", via: "ctl" } })).toMatchObject({
      status: "degraded",
      exitCode: 1,
    });
    expect(evaluateHealth({ ...base, processes: [up("a")], fragment: { path: "/f", comparison: "differs" } })).toMatchObject({ status: "degraded" });
    const down = { ...up("b"), outcome: { pids: [], agentPidCount: 0 } };
    expect(evaluateHealth({ ...base, processes: [up("a"), down] })).toMatchObject({ status: "failing", exitCode: 2, reasons: ["b is not running"] });
  });

  it("flags a stale pid file, which keeps the alarm from ever seeing 0", () => {
    const stale = { ...up("svc"), outcome: { pids: [], agentPidCount: 1 } };
    const report = evaluateHealth({ ...base, processes: [stale] });
    expect(report.processes[0]!.findings[0]).toContain("stale pid file");
  });

  it("reads `amazon-cloudwatch-agent-ctl -a status` JSON", () => {
    expect(parseCloudWatchAgentStatus('{"status":"running","starttime":"x","configstatus":"configured","version":"1.3"}')).toEqual({
      state: "running",
      via: "ctl",
      version: "1.3",
      configStatus: "configured",
    });
    expect(parseCloudWatchAgentStatus("not json").state).toBe("unknown");
  });
});

describe("allow-list and local config validation", () => {
  it("round-trips an allow-list and rejects hostile hand edits", () => {
    const allowList = buildAllowList(
      { processes: [aProcess(), aProcess({ name: "svc", match: { mode: "pidfile", pidFile: "/run/svc.pid" } })] },
      {
        source: "flags",
        fragmentDigest: "sha256:x",
        generatedAt: "t",
      },
    );
    expect(parseAllowList(JSON.parse(serializeAllowList(allowList)))).toEqual({ allowList });
    const hostile = JSON.parse(serializeAllowList(allowList));
    hostile.processes[0].unit = "nginx.service; reboot";
    hostile.processes[1].match = { mode: "exe", exe: "(?=x)" };
    const parsed = parseAllowList(hostile);
    expect("problems" in parsed && parsed.problems).toEqual([expect.stringContaining("processes[0].unit"), expect.stringContaining("processes[1].match.exe")]);
  });

  it("accepts argv arrays with an absolute argv[0] only", () => {
    expect(parseLocalConfig({ version: 1, startCommands: { orders: { argv: ["/opt/orders/run", "--port", "8080"], env: { A: "1" } } } })).toHaveProperty(
      "config",
    );
    const bad = parseLocalConfig({ version: 1, startCommands: { orders: { argv: ["orders"] }, "x;y": { argv: ["/bin/x"] }, w: { argv: "/bin/sh -c x" } } });
    expect("problems" in bad && bad.problems).toEqual([
      expect.stringContaining("startCommands.orders.argv[0]"),
      expect.stringContaining("startCommands.x;y"),
      expect.stringContaining("startCommands.w.argv"),
    ]);
  });
});

describe("restart decisions", () => {
  it("validates names with the contract pattern", () => {
    expect(checkProcessNameArgument("nginx")).toEqual({ ok: true });
    for (const hostile of ["httpd; rm -rf /", "$(reboot)", "`id`", "a\nb", "ngіnx", "-rf", "a".repeat(65)]) {
      expect(checkProcessNameArgument(hostile).ok).toBe(false);
    }
  });

  it("restarts only what is down unless forced, and picks systemd where it runs", () => {
    expect(shouldRestart([], false)).toBe(true);
    expect(shouldRestart([5], false)).toBe(false);
    expect(shouldRestart([5], true)).toBe(true);
    const localConfig = { version: 1 as const, startCommands: { nginx: { argv: ["/usr/sbin/nginx"] } } };
    expect(chooseBackend({ process: aProcess(), systemdRunning: true, requested: "auto", localConfig })).toEqual({ kind: "systemd", unit: "nginx.service" });
    expect(chooseBackend({ process: aProcess(), systemdRunning: false, requested: "auto", localConfig })).toMatchObject({ kind: "start-command" });
    expect(chooseBackend({ process: aProcess({ name: "x" }), systemdRunning: false, requested: "auto", localConfig })).toMatchObject({ kind: "unavailable" });
    expect(exitCodeForRestart("already-running")).toBe(0);
    expect(exitCodeForRestart("invalid-name")).toBe(2);
    expect(exitCodeForRestart("timeout")).toBe(1);
  });
});

describe("atomic-write temp names and clean-up rule", () => {
  it("reads the writer pid back from a temp name, and only from this target's temps", () => {
    const name = tempNameFor("procwatch.json", 4242, 1_700_000_000_000);
    expect(name).toMatch(/^\.procwatch\.json\.4242-[0-9a-z]+\.tmp$/);
    expect(tempWriterPid(name, "procwatch.json")).toBe(4242);
    expect(tempWriterPid(name, "allow-list.json")).toBeUndefined();
    expect(tempWriterPid("procwatch.json", "procwatch.json")).toBeUndefined();
    expect(tempWriterPid(".procwatch.json.junk.tmp", "procwatch.json")).toBeNull();
    expect(tempWriterPid(".procwatch.json.0-abc.tmp", "procwatch.json")).toBeNull();
  });

  it("removes a temp whose writer is gone or which is older than a minute, never a young temp of a live writer", () => {
    expect(isAbandonedTemp({ writerAlive: true, ageMs: 5 })).toBe(false);
    expect(isAbandonedTemp({ writerAlive: true, ageMs: ABANDONED_TEMP_AGE_MS + 1 })).toBe(true);
    expect(isAbandonedTemp({ writerAlive: false, ageMs: 5 })).toBe(true);
    expect(isAbandonedTemp({ writerAlive: null, ageMs: 5 })).toBe(false);
    expect(isAbandonedTemp({ writerAlive: null, ageMs: ABANDONED_TEMP_AGE_MS + 1 })).toBe(true);
  });
});

describe("start command accounts (user/group)", () => {
  const passwd = [
    "# local accounts",
    "root:x:0:0:root:/root:/bin/bash",
    "+nisuser::::::",
    "broken:x:notanumber:1::/:/bin/sh",
    "short:x:5",
    "orders:x:1001:1002:Orders:/opt/orders:/usr/sbin/nologin",
    "orders:x:9999:9999:shadowed duplicate:/:/bin/sh",
    "",
  ].join("\n");
  const group = ["root:x:0:", "daemon:x:1:", "orders:x:1002:", "ops:x:2000:orders,alice", ""].join("\n");
  const files = { passwd, group, passwdPath: "/etc/passwd", groupPath: "/etc/group" };
  const configWith = (commands: Record<string, Partial<StartCommand>>) => ({
    version: 1 as const,
    startCommands: Object.fromEntries(Object.entries(commands).map(([name, extra]) => [name, { argv: ["/opt/x/run"], ...extra }])),
  });

  it("looks names up like getpwnam/getgrnam on the files backend: first well-formed entry, no NIS lines", () => {
    expect(lookupUser(passwd, "orders")).toEqual({ uid: 1001, gid: 1002 });
    expect(lookupUser(passwd, "root")).toEqual({ uid: 0, gid: 0 });
    for (const missing of ["nisuser", "+nisuser", "broken", "short", "alice", ""]) expect(lookupUser(passwd, missing)).toBeUndefined();
    expect(lookupGroup(group, "ops")).toBe(2000);
    expect(lookupGroup(group, "wheel")).toBeUndefined();
  });

  it("user gives its uid and primary gid; group overrides the gid; group alone keeps root's uid", () => {
    const resolved = resolveStartCommandAccounts(
      configWith({ a: { user: "orders" }, b: { user: "orders", group: "ops" }, c: { group: "daemon" }, d: {} }),
      files,
    );
    expect("config" in resolved && resolved.config.startCommands).toEqual({
      a: { argv: ["/opt/x/run"], user: "orders", uid: 1001, gid: 1002 },
      b: { argv: ["/opt/x/run"], user: "orders", group: "ops", uid: 1001, gid: 2000 },
      c: { argv: ["/opt/x/run"], group: "daemon", gid: 1 },
      d: { argv: ["/opt/x/run"] },
    });
  });

  it("an unknown user or group, or an unreadable account file, is a problem naming the entry", () => {
    const resolved = resolveStartCommandAccounts(configWith({ a: { user: "ghost" }, b: { user: "orders", group: "nogroup-here" } }), files);
    expect("problems" in resolved && resolved.problems).toEqual([
      'startCommands.a.user: no user "ghost" in /etc/passwd',
      'startCommands.b.group: no group "nogroup-here" in /etc/group',
    ]);
    expect(resolveStartCommandAccounts(configWith({ a: { user: "root" } }), { ...files, passwd: null })).toEqual({
      problems: ['startCommands.a.user: no user "root" in /etc/passwd'],
    });
  });

  it("agent.json accepts plain account names only", () => {
    expect(parseLocalConfig({ version: 1, startCommands: { orders: { argv: ["/opt/orders/run"], user: "orders", group: "svc-orders" } } })).toEqual({
      config: { version: 1, startCommands: { orders: { argv: ["/opt/orders/run"], user: "orders", group: "svc-orders" } } },
    });
    for (const hostile of ["root; reboot", "../etc", "-o", "1000", "a:b", "", "a b", "x".repeat(33)]) {
      const parsed = parseLocalConfig({ version: 1, startCommands: { orders: { argv: ["/opt/orders/run"], user: hostile } } });
      expect("problems" in parsed && parsed.problems).toEqual([expect.stringContaining("startCommands.orders.user: must be a user name")]);
    }
    const numeric = parseLocalConfig({ version: 1, startCommands: { orders: { argv: ["/opt/orders/run"], group: 0, uid: 0 } } });
    expect("problems" in numeric && numeric.problems).toEqual([
      expect.stringContaining("startCommands.orders.uid: unknown key"),
      expect.stringContaining("startCommands.orders.group: must be a string"),
    ]);
  });
});

describe("what the CloudWatch agent loads", () => {
  const expected = (overrides: Partial<ExpectedAgentSettings> = {}): ExpectedAgentSettings => ({
    forceFlushInterval: null,
    namespace: "CWAgent",
    watchesProcesses: true,
    ...overrides,
  });
  const other = (name: string, metrics: Record<string, unknown>) => ({ name, json: { metrics } });
  const codes = (findings: readonly HostFinding[]) => findings.map((finding) => finding.code);

  it("names the installed copy as the config downloader does for file:<path>", () => {
    expect(installedFragmentFileName("/etc/procwatch/procwatch.json")).toBe("file_procwatch.json");
    expect(installedFragmentFileName("/srv/pw/my fragment:1.json")).toBe("file_my_fragment_1.json");
  });

  it("reloads for a changed staged file, a missing or different installed copy, or an unconfirmed last reload — in that order", () => {
    const base = { staged: "matches", installed: "matches", digest: "sha256:a", recordedDigest: "sha256:a" } as const;
    expect(reloadReasonFor(base)).toBeNull();
    expect(reloadReasonFor({ ...base, staged: "differs", installed: "missing" })).toBe("fragment-changed");
    expect(reloadReasonFor({ ...base, staged: "missing" })).toBe("fragment-changed");
    expect(reloadReasonFor({ ...base, installed: "missing", recordedDigest: null })).toBe("installed-copy-missing");
    expect(reloadReasonFor({ ...base, installed: "differs" })).toBe("installed-copy-differs");
    expect(reloadReasonFor({ ...base, recordedDigest: null })).toBe("last-reload-unconfirmed");
  });

  it("derives the agent settings procwatch relies on from the spec", () => {
    expect(expectedAgentSettings({ processes: [aProcess()] }, undefined)).toEqual(expected());
    expect(expectedAgentSettings({ processes: [aProcess({ detection: "fast" })] }, "Ops")).toEqual(expected({ forceFlushInterval: 10, namespace: "Ops" }));
    expect(expectedAgentSettings({ processes: [] }, undefined)).toEqual(expected({ watchesProcesses: false }));
  });

  it("reads agent.run_as_user as the agent merges the files; appended and aggregated dimensions of other fragments are no finding", () => {
    const others = [
      other("asg", { append_dimensions: { AutoScalingGroupName: "x", InstanceId: "y" } }),
      other("img", { append_dimensions: { ImageId: "y" } }),
      other("wizard", { aggregation_dimensions: [["InstanceId"]] }),
      other("plugin", { metrics_collected: { cpu: { append_dimensions: { Team: "a" } } } }),
      { name: "runas", json: { agent: { run_as_user: "cwagent" } } },
      { name: "runas2", json: { agent: { run_as_user: "other" } } },
      { name: "scalar", json: 3 },
      { name: "array", json: { metrics: [] } },
    ];
    // The first file that sets metrics.append_dimensions (a plugin's own append_dimensions is not that key).
    expect(hostAgentConfigOf("/d", others)).toEqual({ runAsUser: { user: "cwagent", path: "/d/runas" }, appendDimensions: { path: "/d/asg" } });
    expect(hostAgentConfigOf("/d", others.slice(2, 4))).toEqual({});
    // procwatch's entries pin their own host dimensions: whatever the host appends or aggregates, nothing to report.
    expect(otherFragmentFindings("/d", others, expected())).toEqual([]);
    const report = evaluateHealth({
      processes: [{ spec: aProcess(), outcome: { pids: [1], agentPidCount: 1 }, usage: { cpuPercent: 0, rssBytes: 0 } }],
      cloudwatchAgent: { state: "running", via: "ctl", configStatus: "configured" },
      fragment: { path: "/s", comparison: "matches", installed: { path: "/c", comparison: "matches" } },
      spec: { source: "spec-file:/s", problems: [] },
      agent: { version: "1", node: "v24", arch: "x64" },
      checkedAt: "2026-01-01T00:00:00.000Z",
      cwagentConfig: { directory: "/d", others },
    });
    expect(report).toMatchObject({ status: "healthy", findings: [] });
  });

  it("flags a flush interval that cannot merge with the fast profile's, or that is slower than the standard alarm period", () => {
    expect(codes(otherFragmentFindings("/d", [other("a", { force_flush_interval: 30 })], expected({ forceFlushInterval: 10 })))).toEqual([
      "force-flush-interval-conflict",
    ]);
    expect(codes(otherFragmentFindings("/d", [other("a", { force_flush_interval: 10 })], expected({ forceFlushInterval: 10 })))).toEqual([]);
    expect(codes(otherFragmentFindings("/d", [other("a", { force_flush_interval: 30 })], expected()))).toEqual([]);
    expect(codes(otherFragmentFindings("/d", [other("a", { force_flush_interval: 300 })], expected()))).toEqual(["force-flush-interval-too-long"]);
    expect(codes(otherFragmentFindings("/d", [other("a", { force_flush_interval: 300 })], expected({ watchesProcesses: false })))).toEqual([]);
  });

  it("flags a namespace other than the one procwatch's alarms read", () => {
    expect(codes(otherFragmentFindings("/d", [other("a", { namespace: "MyApp" })], expected()))).toEqual(["foreign-namespace"]);
    expect(codes(otherFragmentFindings("/d", [other("a", { namespace: "CWAgent" })], expected()))).toEqual([]);
    expect(codes(otherFragmentFindings("/d", [other("a", { namespace: "Ops" })], expected({ namespace: "Ops" })))).toEqual([]);
  });
});

describe("health findings", () => {
  const base = {
    processes: [{ spec: aProcess(), outcome: { pids: [1], agentPidCount: 1 }, usage: { cpuPercent: 1, rssBytes: 10 } }],
    cloudwatchAgent: { state: "running", via: "ctl", configStatus: "configured" } as const,
    fragment: { path: "/s/procwatch.json", comparison: "matches", installed: { path: "/c/file_procwatch.json", comparison: "matches" } } as const,
    spec: { source: "spec-file:/s", problems: [] },
    agent: { version: "1", node: "v24", arch: "x64" },
    checkedAt: "2026-01-01T00:00:00.000Z",
  };

  it("is healthy only when the agent's copy matches too", () => {
    expect(evaluateHealth(base)).toMatchObject({ status: "healthy", findings: [] });
    for (const comparison of ["missing", "differs"] as const) {
      const report = evaluateHealth({ ...base, fragment: { ...base.fragment, installed: { path: "/c/file_procwatch.json", comparison } } });
      expect(report).toMatchObject({
        status: "degraded",
        exitCode: 1,
        findings: [{ code: `installed-fragment-${comparison}`, hint: "run procwatch-agent apply" }],
      });
      expect(report.reasons).toEqual([expect.stringMatching(/^the CloudWatch agent is not loading procwatch's fragment: \/c\/file_procwatch\.json /)]);
    }
    const unknown = evaluateHealth({ ...base, fragment: { path: "/s", comparison: "unknown", installed: { path: "/c", comparison: "unknown" } } });
    expect(unknown.findings).toEqual([]);
  });

  it("treats a config status other than configured as degraded; no status (found by /proc) is not a finding", () => {
    expect(evaluateHealth({ ...base, cloudwatchAgent: { state: "running", via: "ctl", configStatus: "not configured" } })).toMatchObject({
      status: "degraded",
      findings: [{ code: "cloudwatch-agent-not-configured" }],
    });
    expect(evaluateHealth({ ...base, cloudwatchAgent: { state: "running", via: "process" } })).toMatchObject({ status: "healthy" });
  });

  it("checks other fragments against this spec, and reports each test-only switch", () => {
    const report = evaluateHealth({
      ...base,
      processes: [{ ...base.processes[0]!, spec: aProcess({ detection: "fast" }) }],
      cwagentConfig: { directory: "/c", others: [{ name: "x", json: { metrics: { force_flush_interval: 60 } } }] },
      testSwitches: ["PROCWATCH_TEST_FAULT"],
    });
    expect(report.findings.map((finding) => finding.code)).toEqual(["force-flush-interval-conflict", "test-switch-set"]);
    expect(report.findings[1]?.message).toBe(
      "PROCWATCH_TEST_FAULT is set in the environment: a test-only switch (apply then kills itself between writing and renaming the fragment)",
    );
    expect(report.status).toBe("degraded");
  });
});

describe("what the CloudWatch agent counts for an exe spec: the command-line pattern it is given (selectorOf), whatever user it runs as", () => {
  const nginx = { mode: "exe", exe: exeRegexForName("nginx") } as const;
  const agentPattern = selectorOf(nginx).value;
  const cwagent = { user: "cwagent", uid: 998, path: "/d/file_config.json" };
  const root = (pid: number, exePath: string, cmdline: string) => ({ pid, exePath, cmdline, ownerUid: 0 });
  const master = root(10, "/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;");
  const worker = { pid: 11, exePath: "/usr/sbin/nginx", cmdline: "nginx: worker process", ownerUid: 33 };

  it("an agent running as cwagent counts root's nginx: it reads command lines, which every user can read", () => {
    expect(agentPattern).toBe("^([^ ]*/)?nginx:?( |$)");
    // Before, an exe entry made a cwagent agent skip root's exe links: agentPidCount 1, hiddenFromAgent [10].
    expect(matchProcesses(nginx, [master, worker], undefined, cwagent)).toEqual({ pids: [10, 11], agentPidCount: 2 });
    expect(matchProcesses(nginx, [master, worker], undefined, { user: "ghost", uid: null, path: "/d/f" })).toEqual({ pids: [10, 11], agentPidCount: 2 });
    // Health reads command lines for exe specs too; restart reads only the exe links.
    expect(fieldsNeededFor([nginx], cwagent)).toEqual({ exePath: true, cmdline: true, ownerUid: false });
    expect(fieldsRunningNeeds(nginx)).toEqual({ exePath: true, cmdline: false });
    expect(fieldsNeededFor([{ mode: "pidfile", pidFile: "/run/x.pid" }])).toEqual({ exePath: false, cmdline: false, ownerUid: false });
  });

  it("the running pids stay the exe links' (as root); where the pattern counts others, health names both sides", () => {
    const renamed = root(12, "/usr/sbin/nginx", "other 300"); // started with exec -a other
    const impostor = root(13, "/usr/bin/sleep", "nginx 300"); // exec -a nginx sleep 300
    const outcome = matchProcesses(nginx, [master, worker, renamed, impostor], undefined, cwagent);
    expect(outcome).toEqual({
      pids: [10, 11, 12],
      agentPidCount: 3,
      agentDivergence: { selector: { configKey: "pattern", value: agentPattern }, agentPids: [10, 11, 13], uncounted: [12], extra: [13] },
    });
    // restart's truth never looks at a command line.
    expect(findRunning(nginx, [impostor, { ...renamed, cmdline: null }])).toEqual({ pids: [12] });
    const finding = evaluateProcess({ spec: aProcess(), outcome, usage: { cpuPercent: 0, rssBytes: 0 }, exactTag: null }).findings;
    expect(finding).toEqual([
      `the CloudWatch agent counts nginx by command line (pattern ${agentPattern}, the alarm's selector), procwatch by executable (/proc/<pid>/exe); ` +
        'the agent does not count pid 12, which runs nginx under another argv[0] (started with exec -a, retitled without "<name>:", or run by an interpreter); ' +
        "it counts pid 13, whose argv[0] names nginx but which runs another executable; it publishes pid_count 3 while 3 run: " +
        `no exe= or pattern= literal counts exactly pids 10, 11, 12 here: give nginx a regex that does (a spec document or profile's "regex")`,
    ]);
  });

  it("says the alarm fires when the agent counts none of the running processes, and names the tag that counts them exactly", () => {
    const spec = aProcess({ name: "pwreal" });
    const records = [root(20, "/opt/app/pwreal", "pwrenamed 300"), root(21, "/usr/bin/sleep", "sleep 300")];
    const outcome = matchProcesses(spec.match, records);
    expect(outcome).toMatchObject({ pids: [20], agentPidCount: 0, agentDivergence: { uncounted: [20], extra: [] } });
    // exe=/opt/app/pwreal would still look for pwreal on argv[0]; the argv[0] it was started with counts exactly.
    const tag = exactSelectorTag("pwreal", outcome.pids, records);
    expect(tag).toBe("match=pattern pattern=pwrenamed");
    const [finding] = evaluateProcess({ spec, outcome, usage: { cpuPercent: 0, rssBytes: 0 }, exactTag: tag }).findings;
    expect(finding).toContain(
      "it publishes pid_count 0 while 1 run, so the alarm fires while it runs: tag procwatch:process:pwreal = match=pattern pattern=pwrenamed counts exactly the running pid",
    );
  });

  it("suggests exe=<path> when the program's path on argv[0] leaves an impostor out, and a pattern literal only when it counts exactly the running pids", () => {
    const real = [root(10, "/usr/sbin/nginx", "/usr/sbin/nginx -g daemon off;"), { ...worker }];
    const impostor = root(13, "/usr/bin/sleep", "nginx 300");
    expect(matchProcesses(nginx, [...real, impostor]).agentDivergence).toMatchObject({ extra: [13], uncounted: [] });
    expect(exactSelectorTag("nginx", [10, 11], [...real, impostor])).toBe("exe=/usr/sbin/nginx");
    // Nothing distinguishes them: no tag rather than a wrong one.
    expect(exactSelectorTag("nginx", [10, 11, 12], [master, worker, root(12, "/usr/sbin/nginx", "other 300"), impostor])).toBeNull();
    expect(exactSelectorTag("nginx", [], [master])).toBeNull();
  });

  it("names at most 10 pids of a side", () => {
    const many = Array.from({ length: 12 }, (_, index) => root(100 + index, "/usr/sbin/nginx", "other 300"));
    const outcome = matchProcesses(nginx, many);
    const [finding] = evaluateProcess({ spec: aProcess(), outcome, usage: { cpuPercent: 0, rssBytes: 0 }, exactTag: null }).findings;
    expect(finding).toContain("the agent does not count pids 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, … (12 in all), which run nginx");
  });

  it("a hand-edited exe regex still reaches the agent as exe: a non-root agent skips exe links of other users", () => {
    const handEdited = { mode: "exe", exe: "nginx$" } as const;
    expect(selectorOf(handEdited).configKey).toBe("exe");
    expect(fieldsNeededFor([handEdited], cwagent)).toEqual({ exePath: true, cmdline: true, ownerUid: true });
    expect(matchProcesses(handEdited, [master, worker])).toEqual({ pids: [10, 11], agentPidCount: 2 });
    const outcome = matchProcesses(handEdited, [master, worker], undefined, { ...cwagent, uid: 33 });
    expect(outcome).toEqual({
      pids: [10, 11],
      agentPidCount: 1,
      agentDivergence: { selector: { configKey: "exe", value: "nginx$" }, agentPids: [11], uncounted: [10], extra: [] },
    });
    const [finding] = evaluateProcess({
      spec: aProcess({ match: handEdited }),
      outcome,
      usage: { cpuPercent: 0, rssBytes: 0 },
      agentUser: { ...cwagent, uid: 33 },
      exactTag: "exe=/usr/sbin/nginx",
    }).findings;
    expect(finding).toMatch(
      /^this hand-edited exe regex reaches the CloudWatch agent as exe nginx\$; the CloudWatch agent runs as cwagent \(agent\.run_as_user in \/d\/file_config\.json\) and cannot read \/proc\/<pid>\/exe of pid 10/,
    );
    expect(finding).toMatch(
      /tag procwatch:process:nginx = exe=\/usr\/sbin\/nginx counts exactly the running pids \(or run the CloudWatch agent as root: remove agent\.run_as_user\)$/,
    );
  });

  it("suggests literals found in the command lines (the executable's path or name, argv[0]), those in every one first, longest first", () => {
    expect(patternSuggestion(["/usr/sbin/nginx"], ["nginx: master process /usr/sbin/nginx", "nginx: worker process"])).toBe("nginx:");
    expect(patternSuggestion(["/usr/sbin/sshd (deleted)"], ["/usr/sbin/sshd -D"])).toBe("/usr/sbin/sshd");
    expect(patternSuggestion(["/opt/x/bin/java"], ["orders --port 80"])).toBe("orders");
    expect(patternCandidates(["/opt/x/bin/java"], ["orders: worker", "java -jar x"])).toEqual(["orders:", "orders", "java"]);
    expect(patternCandidates(["/srv/app/run"], ["/srv/app/run-current 300"])).toEqual(["/srv/app/run-current", "/srv/app/run", "run"]);
    expect(patternSuggestion(["/opt/x/bin/java"], [])).toBeNull();
  });
});
