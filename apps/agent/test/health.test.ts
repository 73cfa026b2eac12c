import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exeRegexForName, selectorOf } from "@procwatch/contract";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport, ProcessHealth } from "../src/core/health.ts";
import { fakeCtl, killAndWait, runAgent, Scratch, uniqueName, waitFor, writeJson } from "./helpers.ts";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function env(dir: string) {
  return { PROCWATCH_STATE_DIR: join(dir, "state"), PROCWATCH_CWAGENT_DIR: join(dir, "cwagent") };
}

async function health(dir: string, spec: unknown): Promise<{ report: HealthReport; exitCode: number; byName: (name: string) => ProcessHealth }> {
  const specPath = join(dir, "spec.json");
  writeJson(specPath, spec);
  const run = await runAgent(["health", "--spec", specPath, "--json"], env(dir));
  const report = run.json<HealthReport>();
  return {
    report,
    exitCode: run.exitCode,
    byName: (name) => {
      const found = report.processes.find((process) => process.name === name);
      if (found === undefined) throw new Error(`no ${name} in report`);
      return found;
    },
  };
}

/** A running watched process, its spec file, and a fake ctl that installs fragments like the real one. */
function appliedHost(options: { detection?: "fast"; status?: Record<string, string> } = {}) {
  const dir = scratch.dir();
  const name = uniqueName("pwall");
  scratch.start(scratch.copySleep(dir, name), ["300"]);
  const ctl = fakeCtl(dir, { cwagentDir: join(dir, "cwagent"), ...(options.status === undefined ? {} : { status: options.status }) });
  const specPath = join(dir, "spec.json");
  writeJson(specPath, { version: 1, ...(options.detection === undefined ? {} : { detection: options.detection }), processes: [{ name }] });
  return { dir, name, specPath, ctl, withCtl: { ...env(dir), PROCWATCH_CWAGENT_CTL: ctl.path } };
}

describe("health counts real processes with the CloudWatch agent's semantics", () => {
  it("exe: counts every process of a copied binary exactly, with CPU and RSS, and 0 after kill", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwsleep");
    const binary = scratch.copySleep(dir, name);
    const children = [scratch.start(binary, ["300"]), scratch.start(binary, ["300"])];
    const spec = { version: 1, processes: [{ name }] };

    const up = await health(dir, spec);
    expect(up.byName(name)).toMatchObject({ status: "up", pidCount: 2, agentPidCount: 2 });
    expect([...up.byName(name).pids].sort()).toEqual(children.map((child) => child.pid).sort());
    expect(up.byName(name).rssBytes).toBeGreaterThan(0);

    for (const child of children) await killAndWait(child);
    const down = await health(dir, spec);
    expect(down.byName(name)).toMatchObject({ status: "down", pidCount: 0, agentPidCount: 0 });
    expect(down.report.status).toBe("failing");
    expect(down.exitCode).toBe(2);
  });

  it("exe: a name that is a prefix of another binary does not count that binary (httpd vs httpd-helper, myhttpd)", async () => {
    const dir = scratch.dir();
    const name = uniqueName("httpd");
    scratch.start(scratch.copySleep(dir, name), ["300"]);
    scratch.start(scratch.copySleep(dir, `${name}-helper`), ["300"]);
    scratch.start(scratch.copySleep(dir, `my${name}`), ["300"]);
    const { byName } = await health(dir, { version: 1, processes: [{ name }] });
    expect(byName(name).pidCount).toBe(1);
  });

  it("exe: a binary deleted after start still counts, because the link reads '<path> (deleted)'", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwdel");
    const binary = scratch.copySleep(dir, name);
    const child = scratch.start(binary, ["300"]);
    await waitFor(() => existsSync(`/proc/${child.pid}/exe`));
    unlinkSync(binary);
    const { byName } = await health(dir, {
      version: 1,
      processes: [
        { name, exe: binary },
        { name: `${name}-byname`, exe: name },
      ],
    });
    expect(byName(name)).toMatchObject({ pidCount: 1, pids: [child.pid] });
    expect(byName(`${name}-byname`)).toMatchObject({ pidCount: 1 });
  });

  it("pattern: matches the space-joined command line and nothing else", async () => {
    const dir = scratch.dir();
    const marker = uniqueName("orders-");
    const child = scratch.start(process.execPath, ["-e", "setInterval(() => {}, 1e6)", "--", `--orders-id=${marker}`, "/opt/orders/orders.jar"]);
    scratch.start(process.execPath, ["-e", "setInterval(() => {}, 1e6)", "--", `--orders-id=${marker}x`]);
    await waitFor(() => existsSync(`/proc/${child.pid}/cmdline`));
    const { byName } = await health(dir, {
      version: 1,
      processes: [
        { name: "orders", pattern: `--orders-id=${marker} /opt/orders/orders.jar` },
        { name: "orders-regex", regex: `orders-id=${marker}x?( |$)` },
      ],
    });
    expect(byName("orders")).toMatchObject({ pidCount: 1, pids: [child.pid] });
    expect(byName("orders-regex").pidCount).toBe(2);
  });

  it("pidfile: counts the live pid; a stale file is 0 running and flagged; a missing file is a lookup error", async () => {
    const dir = scratch.dir();
    const pidFile = join(scratch.runDir(), "svc.pid");
    const child = scratch.start(scratch.copySleep(dir, uniqueName("pwpid")), ["300"]);
    writeFileSync(pidFile, `${child.pid}\n`);
    const spec = { version: 1, processes: [{ name: "svc", pidfile: pidFile }] };

    expect((await health(dir, spec)).byName("svc")).toMatchObject({ status: "up", pidCount: 1, pids: [child.pid], agentPidCount: 1, findings: [] });

    await killAndWait(child);
    const stale = (await health(dir, spec)).byName("svc");
    expect(stale).toMatchObject({ status: "down", pidCount: 0, agentPidCount: 1 });
    expect(stale.findings[0]).toContain("stale pid file");

    rmSync(pidFile);
    const missing = (await health(dir, spec)).byName("svc");
    expect(missing).toMatchObject({ pidCount: 0, agentPidCount: null });
    expect(missing.findings[0]).toContain("missing data");
  });

  it("reports degraded (exit 1) when processes run but the fragment is missing and the CloudWatch agent is absent", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwok");
    scratch.start(scratch.copySleep(dir, name), ["300"]);
    const { report, exitCode } = await health(dir, { version: 1, processes: [{ name }] });
    expect(report.status).toBe("degraded");
    expect(exitCode).toBe(1);
    expect(report.fragment.comparison).toBe("missing");
    expect(report.cloudwatchAgent.state).toBe("not-installed");
    expect(report.reasons).toEqual(expect.arrayContaining([expect.stringContaining("fragment"), expect.stringContaining("CloudWatch agent is not-installed")]));
  });

  it("an invalid spec: the human report names every problem, not only how many there are", async () => {
    const dir = scratch.dir();
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name: "web", exe: "" }, { name: "bad name!" }] });
    const run = await runAgent(["health", "--spec", specPath], env(dir));
    expect(run.exitCode).toBe(2);
    const line = run.stdout.split("\n").find((text) => text.includes("is invalid"));
    expect(line).toBeDefined();
    // The same words the --json issues carry, each in the one line.
    const issues = (await runAgent(["health", "--spec", specPath, "--json"], env(dir))).json<{ spec: { issues: { message: string }[] } }>().spec.issues;
    expect(issues.length).toBeGreaterThanOrEqual(2);
    for (const issue of issues) expect(line).toContain(issue.message);
  });

  it("is healthy (exit 0) after apply, with a CloudWatch agent whose ctl reports running", async () => {
    const { dir, name, specPath, withCtl } = appliedHost();
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const run = await runAgent(["health", "--spec", specPath, "--json"], withCtl);
    const report = run.json<HealthReport>();
    expect(report).toMatchObject({
      status: "healthy",
      exitCode: 0,
      reasons: [],
      findings: [],
      fragment: {
        comparison: "matches",
        installed: { path: join(dir, "cwagent", "etc", "amazon-cloudwatch-agent.d", "file_procwatch.json"), comparison: "matches" },
      },
      cloudwatchAgent: { state: "running", version: "1.300064.0", configStatus: "configured" },
    });
    expect(run.exitCode).toBe(0);

    // Off EC2 and without --spec, health falls back to what the last apply recorded.
    const fallback = await runAgent(["health", "--json"], withCtl);
    expect(fallback.json<HealthReport>()).toMatchObject({
      spec: { source: "last-applied" },
      fragment: { comparison: "matches", installed: { comparison: "matches" } },
      status: "degraded",
    });
    expect(fallback.json<HealthReport>().processes[0]).toMatchObject({ name, pidCount: 1 });
  });

  it("is degraded when the CloudWatch agent's copy of the fragment was wiped (fetch-config), until apply restores it", async () => {
    const { specPath, withCtl, ctl } = appliedHost();
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const installed = join(ctl.configDir, "file_procwatch.json");
    rmSync(installed);

    const run = await runAgent(["health", "--spec", specPath, "--json"], withCtl);
    const report = run.json<HealthReport>();
    expect(run.exitCode).toBe(1);
    expect(report).toMatchObject({ status: "degraded", fragment: { comparison: "matches", installed: { comparison: "missing" } } });
    expect(report.findings).toEqual([
      {
        code: "installed-fragment-missing",
        path: installed,
        message: `the CloudWatch agent is not loading procwatch's fragment: ${installed} is missing (never applied, or removed by fetch-config)`,
        hint: "run procwatch-agent apply",
      },
    ]);
    const table = await runAgent(["health", "--spec", specPath], withCtl);
    expect(table.stdout).toContain(`agent's copy      missing ${installed}`);
    expect(table.stdout).toContain("\n  hint: run procwatch-agent apply");

    writeFileSync(installed, "{}\n");
    expect((await runAgent(["health", "--spec", specPath, "--json"], withCtl)).json<HealthReport>().findings).toEqual([
      expect.objectContaining({ code: "installed-fragment-differs", message: expect.stringContaining("differs from the spec") }),
    ]);

    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    expect((await runAgent(["health", "--spec", specPath, "--json"], withCtl)).json<HealthReport>()).toMatchObject({ status: "healthy", findings: [] });
  });

  it("reports other fragments that set a conflicting flush interval, skipping unreadable ones", async () => {
    const { specPath, withCtl, ctl } = appliedHost({ detection: "fast" });
    mkdirSync(ctl.configDir, { recursive: true });
    const ssmFragment = join(ctl.configDir, "ssm_AmazonCloudWatch-linux");
    writeJson(ssmFragment, { metrics: { force_flush_interval: 60, metrics_collected: { mem: { measurement: ["mem_used_percent"] } } } });
    // Compatible with procwatch: same flush interval, a logs-only file.
    writeJson(join(ctl.configDir, "file_compatible.json"), { metrics: { force_flush_interval: 10 } });
    writeJson(join(ctl.configDir, "file_logs.json"), { logs: { logs_collected: {} } });
    writeFileSync(join(ctl.configDir, "file_broken.json"), "{ not json");
    mkdirSync(join(ctl.configDir, "a-directory"));
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);

    const report = (await runAgent(["health", "--spec", specPath, "--json"], withCtl)).json<HealthReport>();
    expect(report.status).toBe("degraded");
    expect(report.findings).toEqual([
      {
        code: "force-flush-interval-conflict",
        path: ssmFragment,
        message: expect.stringContaining("sets metrics.force_flush_interval 60 but procwatch's fast profile needs 10"),
        hint: expect.stringContaining("remove force_flush_interval"),
      },
    ]);
    expect(report.reasons).toEqual(report.findings.map((finding) => finding.message));
  });

  it("on a host whose own config appends the wizard's dimensions and aggregates by InstanceId, the fragment leaves append_dimensions to it: pattern entries with their own host dimensions, nothing the agent's merge could refuse", async () => {
    const { specPath, withCtl, ctl, name, dir } = appliedHost();
    const alone = await runAgent(["render", "--spec", specPath], withCtl);
    mkdirSync(ctl.configDir, { recursive: true });
    const wizard = join(ctl.configDir, "file_config.json");
    writeJson(wizard, {
      agent: { metrics_collection_interval: 60, run_as_user: "cwagent" },
      metrics: {
        append_dimensions: { ...WIZARD_APPEND_DIMENSIONS },
        aggregation_dimensions: [["InstanceId"]],
        metrics_collected: { mem: { measurement: ["mem_used_percent"] } },
      },
    });
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const installedText = readFileSync(join(ctl.configDir, "file_procwatch.json"), "utf8");
    // What render prints on this host, and what it prints alone but for metrics.append_dimensions,
    // which the wizard's file sets (and so turns the ec2tagger on).
    expect(installedText).toBe((await runAgent(["render", "--spec", specPath], withCtl)).stdout);
    const { append_dimensions: ownAppend, ...aloneMetrics } = JSON.parse(alone.stdout).metrics;
    expect(ownAppend).toEqual({ InstanceId: HOST_DIMENSIONS.InstanceId });
    const installed = JSON.parse(installedText);
    expect(installed.metrics).toEqual(aloneMetrics);
    expect(Object.keys(installed.metrics)).toEqual(["metrics_collected"]);
    expect(installed.metrics.metrics_collected.procstat).toEqual([
      {
        pattern: selectorOf({ mode: "exe", exe: exeRegexForName(name) }).value,
        measurement: ["pid_count"],
        metrics_collection_interval: 60,
        append_dimensions: HOST_DIMENSIONS,
      },
    ]);
    // What append-config does next: every metrics-level key but metrics_collected must be equal in every file that sets it.
    expect(mergeConflicts([JSON.parse(readFileSync(wizard, "utf8")), installed])).toEqual([]);
    expect(mergeConflicts([JSON.parse(readFileSync(wizard, "utf8")), JSON.parse(alone.stdout)])).toEqual(["metrics.append_dimensions"]);

    const passwd = join(dir, "passwd");
    writeFileSync(passwd, "root:x:0:0:root:/root:/bin/sh\ncwagent:x:64999:64999::/home/cwagent:/sbin/nologin\n");
    const healthy = (await runAgent(["health", "--spec", specPath, "--json"], { ...withCtl, PROCWATCH_PASSWD_PATH: passwd })).json<HealthReport>();
    expect(healthy).toMatchObject({ status: "healthy", findings: [], reasons: [] });
    expect(healthy.processes).toEqual([
      expect.objectContaining({
        name,
        pidCount: 1,
        agentPidCount: 1,
        findings: [],
        match: { mode: "exe", exe: exeRegexForName(name), selector: selectorOf({ mode: "exe", exe: exeRegexForName(name) }).value, dimension: "pattern" },
      }),
    ]);
  });

  it("is degraded when the CloudWatch agent's config status is not 'configured'", async () => {
    const { specPath, withCtl } = appliedHost({ status: { status: "running", configstatus: "not configured", version: "1.300064.0" } });
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const report = (await runAgent(["health", "--spec", specPath, "--json"], withCtl)).json<HealthReport>();
    expect(report).toMatchObject({ status: "degraded", cloudwatchAgent: { state: "running", configStatus: "not configured" } });
    expect(report.findings).toEqual([
      expect.objectContaining({ code: "cloudwatch-agent-not-configured", message: expect.stringContaining('"not configured"') }),
    ]);
  });

  it("is degraded while a test-only switch is set in its environment", async () => {
    const { specPath, withCtl } = appliedHost();
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const run = await runAgent(["health", "--spec", specPath, "--json"], { ...withCtl, PROCWATCH_INSECURE_TEST_CONFIG: "1", PROCWATCH_TEST_FAULT: "" });
    expect(run.exitCode).toBe(1);
    expect(run.json<HealthReport>().findings).toEqual([
      expect.objectContaining({
        code: "test-switch-set",
        message: expect.stringMatching(/^PROCWATCH_INSECURE_TEST_CONFIG is set in the environment: a test-only switch/),
      }),
      expect.objectContaining({ code: "test-switch-set", hint: "unset PROCWATCH_TEST_FAULT; test-only switches must never be set on a host" }),
    ]);
  });

  it("prints a compact table without --json", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwtab");
    scratch.start(scratch.copySleep(dir, name), ["300"]);
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const run = await runAgent(["health", "--spec", specPath], env(dir));
    expect(run.stdout).toMatch(/PROCESS\s+STATUS\s+PIDS/);
    expect(run.stdout).toMatch(new RegExp(`${name}\\s+up\\s+1`));
    expect(run.stdout).not.toContain("\u001b[");
  });
});

describe("health counts what the CloudWatch agent counts: an exe spec by its command-line pattern, whatever user the agent runs as", () => {
  /** A host whose CloudWatch agent runs as cwagent (the wizard's and the default config's run_as_user). */
  function cwagentHost(dir: string) {
    const configDir = join(dir, "cwagent", "etc", "amazon-cloudwatch-agent.d");
    mkdirSync(configDir, { recursive: true });
    const wizard = join(configDir, "file_config.json");
    writeJson(wizard, { agent: { run_as_user: "cwagent" }, metrics: { metrics_collected: { mem: { measurement: ["mem_used_percent"] } } } });
    const passwd = join(dir, "passwd");
    writeFileSync(passwd, "root:x:0:0:root:/root:/bin/sh\ncwagent:x:64999:64999::/home/cwagent:/sbin/nologin\n");
    return { wizard, env: { ...env(dir), PROCWATCH_PASSWD_PATH: passwd } };
  }

  it("an agent running as cwagent counts root's processes of an exe spec (two, like nginx's master and worker): no finding", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwroot");
    const binary = scratch.copySleep(dir, name);
    const children = [scratch.start(binary, ["300"]), scratch.start("/bin/bash", ["-c", `exec -a '${name}: worker process' '${binary}' 300`])];
    await waitFor(() => children.every((child) => existsSync(`/proc/${child.pid}/exe`) && readlinkSync(`/proc/${child.pid}/exe`) === binary));
    const { env: hostEnv } = cwagentHost(dir);
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const report = (await runAgent(["health", "--spec", specPath, "--json"], hostEnv)).json<HealthReport>();
    // Before, the agent was given exe and a cwagent agent could not read root's exe links: agentPidCount 0 and a degraded finding.
    expect(report.processes[0]).toMatchObject({ status: "up", pidCount: 2, agentPidCount: 2, findings: [], match: { dimension: "pattern" } });
    expect([...(report.processes[0]?.pids ?? [])].sort()).toEqual(children.map((child) => child.pid).sort());
    expect(report.reasons.filter((reason) => reason.startsWith(name))).toEqual([]);
  });

  it("a process started with exec -a runs the program but the agent's pattern misses it: degraded, with both sides' pids and the tag that counts it exactly", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwexeca");
    const alias = uniqueName("pwalias-");
    const binary = scratch.copySleep(dir, name);
    const child = scratch.start("/bin/bash", ["-c", `exec -a ${alias} '${binary}' 300`]);
    await waitFor(() => existsSync(`/proc/${child.pid}/exe`) && readlinkSync(`/proc/${child.pid}/exe`) === binary);
    const { env: hostEnv } = cwagentHost(dir);
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const run = await runAgent(["health", "--spec", specPath, "--json"], hostEnv);
    const report = run.json<HealthReport>();
    const process = report.processes[0]!;
    expect(process).toMatchObject({ status: "up", pidCount: 1, pids: [child.pid], agentPidCount: 0 });
    expect(report.status).toBe("degraded");
    expect(run.exitCode).toBe(1);
    expect(process.findings).toEqual([
      `the CloudWatch agent counts ${name} by command line (pattern ${process.match.selector}, the alarm's selector), procwatch by executable (/proc/<pid>/exe); ` +
        `the agent does not count pid ${child.pid}, which runs ${name} under another argv[0] (started with exec -a, retitled without "<name>:", or run by an interpreter); ` +
        `it publishes pid_count 0 while 1 run, so the alarm fires while it runs: tag procwatch:process:${name} = match=pattern pattern=${alias} counts exactly the running pid`,
    ]);
    expect(report.reasons).toContain(`${name}: ${process.findings[0]}`);

    // The suggested tag does what it says.
    writeJson(specPath, { version: 1, processes: [{ name, match: "pattern", pattern: alias }] });
    const fixed = (await runAgent(["health", "--spec", specPath, "--json"], hostEnv)).json<HealthReport>();
    expect(fixed.processes[0]).toMatchObject({ pidCount: 1, pids: [child.pid], agentPidCount: 1, findings: [] });
  });

  it("/proc mounted with hidepid hides root's processes from cwagent: the agent counts 0 for exe and pattern specs alike, said once for the host with the fix; its gid= group lifts it", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwhidden");
    const binary = scratch.copySleep(dir, name);
    const child = scratch.start(binary, ["300"]);
    await waitFor(() => existsSync(`/proc/${child.pid}/exe`) && readlinkSync(`/proc/${child.pid}/exe`) === binary);
    const { env: hostEnv } = cwagentHost(dir);
    // A hardened host's /proc line, as proc(5) documents mountinfo (Linux 5.8+ prints the names).
    const mountinfo = join(dir, "mountinfo");
    const group = join(dir, "group");
    writeFileSync(group, "root:x:0:\nprocview:x:1500:cwagent\n");
    const procLine = (options: string) =>
      `22 1 0:5 / /dev rw,nosuid - devtmpfs udev rw\n24 1 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc ${options}\n`;
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }, { name: `${name}-by-pattern`, match: "pattern", pattern: binary }] });
    const hidden = { ...hostEnv, PROCWATCH_MOUNTINFO_PATH: mountinfo, PROCWATCH_GROUP_PATH: group };

    writeFileSync(mountinfo, procLine("rw,hidepid=invisible"));
    const run = await runAgent(["health", "--spec", specPath, "--json"], hidden);
    const report = run.json<HealthReport>();
    expect(report.processes.map((process) => [process.status, process.pidCount, process.agentPidCount])).toEqual([
      ["up", 1, 0],
      ["up", 1, 0],
    ]);
    expect(report.status).toBe("degraded");
    const finding = report.findings.find((candidate) => candidate.code === "proc-hides-processes-from-cloudwatch-agent");
    expect(finding?.message).toMatch(
      new RegExp(
        `^/proc is mounted with hidepid=invisible and cwagent is not in its group \\(gid=0\\): the CloudWatch agent runs as cwagent .* counts only its own; it publishes fewer than run for ${name} \\(0 of 1\\), ${name}-by-pattern \\(0 of 1\\), and an alarm fires`,
      ),
    );
    expect(finding?.hint).toContain("remount /proc with gid=<a group cwagent is in>");
    // Per process: why the agent's count is short, and no tag offered (none can help).
    expect(report.processes[0]?.findings[0]).toContain(`the agent does not count pid ${child.pid}, which /proc (hidepid=invisible) hides from cwagent`);
    expect(report.processes[0]?.findings[0]).toContain("no selector makes the agent count what /proc hides from it");
    expect(report.processes[1]?.findings).toEqual([
      `the CloudWatch agent publishes pid_count 0 while 1 run: /proc (hidepid=invisible) hides pid ${child.pid} from cwagent, so the alarm fires while it runs (see proc-hides-processes-from-cloudwatch-agent)`,
    ]);

    // The same mount with gid= of a group cwagent is listed in: it sees every process again.
    writeFileSync(mountinfo, procLine("rw,hidepid=2,gid=1500"));
    const lifted = (await runAgent(["health", "--spec", specPath, "--json"], hidden)).json<HealthReport>();
    expect(lifted.processes.map((process) => process.agentPidCount)).toEqual([1, 1]);
    expect(lifted.findings.map((candidate) => candidate.code)).not.toContain("proc-hides-processes-from-cloudwatch-agent");

    // ptraceable ignores gid=: still hidden, and the hint says so.
    writeFileSync(mountinfo, procLine("rw,hidepid=ptraceable,gid=1500"));
    const ptraceable = (await runAgent(["health", "--spec", specPath, "--json"], hidden)).json<HealthReport>();
    expect(ptraceable.processes.map((process) => process.agentPidCount)).toEqual([0, 0]);
    expect(ptraceable.findings.find((candidate) => candidate.code === "proc-hides-processes-from-cloudwatch-agent")?.hint).toMatch(
      /^hidepid=ptraceable ignores gid=: remount \/proc with hidepid=2,gid=<a group cwagent is in>/,
    );

    // hidepid=0 (or none) is no restriction.
    writeFileSync(mountinfo, procLine("rw,hidepid=off"));
    expect((await runAgent(["health", "--spec", specPath, "--json"], hidden)).json<HealthReport>().processes[0]?.agentPidCount).toBe(1);
  });

  it("a process whose argv[0] names the program but runs another executable is counted by the agent only: the alarm would not fire while the program is down", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwimpostor");
    const impostor = scratch.start("/bin/bash", ["-c", `exec -a ${name} /bin/sleep 300`]);
    await waitFor(() => existsSync(`/proc/${impostor.pid}/cmdline`) && readFileSync(`/proc/${impostor.pid}/cmdline`, "utf8").startsWith(`${name}\0`));
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const report = (await runAgent(["health", "--spec", specPath, "--json"], env(dir))).json<HealthReport>();
    expect(report.processes[0]).toMatchObject({ status: "down", pidCount: 0, agentPidCount: 1 });
    expect(report.processes[0]?.findings[0]).toContain(
      `it counts pid ${impostor.pid}, whose argv[0] names ${name} but which runs another executable; it publishes pid_count 1 while 0 run, so the alarm does not fire while it is down`,
    );
    expect(report.status).toBe("failing");
  });
});

/**
 * The CloudWatch agent's host dimension placeholders, as procwatch pins them on each procstat entry
 * when it knows no instance (a --spec file): never the Auto Scaling group's.
 */
const HOST_DIMENSIONS = {
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: CloudWatch agent placeholders
  ImageId: "${aws:ImageId}",
  InstanceId: "${aws:InstanceId}",
  InstanceType: "${aws:InstanceType}",
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: CloudWatch agent placeholders
};

/** What the CloudWatch agent's wizard appends to every metric. */
const WIZARD_APPEND_DIMENSIONS = {
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: CloudWatch agent placeholders
  AutoScalingGroupName: "${aws:AutoScalingGroupName}",
  ImageId: "${aws:ImageId}",
  InstanceId: "${aws:InstanceId}",
  InstanceType: "${aws:InstanceType}",
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: CloudWatch agent placeholders
};

/**
 * The CloudWatch agent's merge of its config files (aws/amazon-cloudwatch-agent
 * translator/jsonconfig/mergeJsonUtil/util.go `mergeMap`): a key set in two files must be deeply
 * equal, except `metrics.metrics_collected`, whose plugins merge by their own rules (procstat lists
 * concatenate). The keys that would make append-config fail with "Different values are specified".
 */
function mergeConflicts(files: readonly Record<string, unknown>[]): string[] {
  const seen = new Map<string, string>();
  const conflicts: string[] = [];
  for (const file of files) {
    for (const [section, value] of Object.entries(file)) {
      if (typeof value !== "object" || value === null) continue;
      for (const [key, setting] of Object.entries(value)) {
        if (section === "metrics" && key === "metrics_collected") continue;
        const path = `${section}.${key}`;
        const text = JSON.stringify(setting);
        if (seen.has(path) && seen.get(path) !== text) conflicts.push(path);
        seen.set(path, text);
      }
    }
  }
  return conflicts;
}
