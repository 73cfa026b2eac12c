import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

  it("on a host that appends the wizard's dimensions, apply leaves append_dimensions to the host and asks for the alarms' roll-up; health is healthy", async () => {
    const { specPath, withCtl, ctl, name } = appliedHost();
    mkdirSync(ctl.configDir, { recursive: true });
    const wizard = join(ctl.configDir, "file_config.json");
    const appendDimensions = {
      // biome-ignore-start lint/suspicious/noTemplateCurlyInString: CloudWatch agent placeholders
      AutoScalingGroupName: "${aws:AutoScalingGroupName}",
      ImageId: "${aws:ImageId}",
      InstanceId: "${aws:InstanceId}",
      InstanceType: "${aws:InstanceType}",
      // biome-ignore-end lint/suspicious/noTemplateCurlyInString: CloudWatch agent placeholders
    };
    writeJson(wizard, { metrics: { append_dimensions: appendDimensions, metrics_collected: { mem: { measurement: ["mem_used_percent"] } } } });
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const installed = JSON.parse(readFileSync(join(ctl.configDir, "file_procwatch.json"), "utf8"));
    // A second, different append_dimensions would fail the agent's merge ("Different values are specified").
    expect(installed.metrics).not.toHaveProperty("append_dimensions");
    expect(installed.metrics.aggregation_dimensions).toEqual([["InstanceId", "exe", "pid_finder"]]);
    const healthy = (await runAgent(["health", "--spec", specPath, "--json"], withCtl)).json<HealthReport>();
    expect(healthy).toMatchObject({ status: "healthy", findings: [] });
    expect(healthy.processes.map((process) => process.name)).toEqual([name]);

    // The wizard's "aggregate ec2 dimensions (InstanceId)" answer: a list procwatch cannot add to.
    writeJson(wizard, { metrics: { append_dimensions: appendDimensions, aggregation_dimensions: [["InstanceId"]] } });
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(ctl.configDir, "file_procwatch.json"), "utf8")).metrics).not.toHaveProperty("aggregation_dimensions");
    const blocked = (await runAgent(["health", "--spec", specPath, "--json"], withCtl)).json<HealthReport>();
    expect(blocked.status).toBe("degraded");
    expect(blocked.findings).toEqual([
      {
        code: "foreign-aggregation-dimensions",
        path: wizard,
        message: expect.stringMatching(
          /appends AutoScalingGroupName, ImageId, InstanceType to every metric, .* without procwatch's roll-up \["InstanceId","exe","pid_finder"\]/,
        ),
        hint: expect.stringContaining(`add ["InstanceId","exe","pid_finder"] to metrics.aggregation_dimensions in the source of ${wizard}`),
      },
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

describe("health counts what the CloudWatch agent counts with its effective user (agent.run_as_user)", () => {
  it("an agent running as cwagent cannot read /proc/<pid>/exe of root's processes: exe counts 0 for it, health is degraded and names the tag that works", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwroot");
    scratch.start(scratch.copySleep(dir, name), ["300"]);
    const configDir = join(dir, "cwagent", "etc", "amazon-cloudwatch-agent.d");
    mkdirSync(configDir, { recursive: true });
    const wizard = join(configDir, "file_config.json");
    writeJson(wizard, { agent: { run_as_user: "cwagent" }, metrics: { metrics_collected: { mem: { measurement: ["mem_used_percent"] } } } });
    const passwd = join(dir, "passwd");
    writeFileSync(passwd, "root:x:0:0:root:/root:/bin/sh\ncwagent:x:64999:64999::/home/cwagent:/sbin/nologin\n");
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const run = async () => (await runAgent(["health", "--spec", specPath, "--json"], { ...env(dir), PROCWATCH_PASSWD_PATH: passwd })).json<HealthReport>();

    const report = await run();
    const process = report.processes[0]!;
    expect(process).toMatchObject({ status: "up", pidCount: 1, agentPidCount: 0 });
    expect(report.status).not.toBe("healthy");
    expect(process.findings).toEqual([
      expect.stringMatching(new RegExp(`^the CloudWatch agent runs as cwagent \\(agent\\.run_as_user in ${wizard}\\) and cannot read /proc/<pid>/exe of`)),
    ]);
    // The executable's path as it appears on the command line, which every user can read.
    expect(process.findings[0]).toMatch(new RegExp(`tag procwatch:process:${name} = match=pattern pattern=/\\S*/${name} `));

    // The same host with the agent running as root counts the process.
    writeJson(wizard, { agent: { run_as_user: "root" } });
    expect((await run()).processes[0]).toMatchObject({ pidCount: 1, agentPidCount: 1, findings: [] });
  });
});
