import { existsSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport, ProcessHealth } from "../src/core/health.ts";
import { killAndWait, runAgent, Scratch, uniqueName, waitFor, writeJson } from "./helpers.ts";

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
    const pidFile = join(dir, "svc.pid");
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

  it("is healthy (exit 0) after apply, with a CloudWatch agent whose ctl reports running", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwall");
    scratch.start(scratch.copySleep(dir, name), ["300"]);
    const ctl = join(dir, "amazon-cloudwatch-agent-ctl");
    writeFileSync(ctl, `#!/bin/sh\nif [ "$2" = status ]; then echo '{"status":"running","configstatus":"configured","version":"1.300064.0"}'; fi\nexit 0\n`, {
      mode: 0o755,
    });
    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const withCtl = { ...env(dir), PROCWATCH_CWAGENT_CTL: ctl };
    expect((await runAgent(["apply", "--spec", specPath], withCtl)).exitCode).toBe(0);
    const run = await runAgent(["health", "--spec", specPath, "--json"], withCtl);
    const report = run.json<HealthReport>();
    expect(report).toMatchObject({
      status: "healthy",
      exitCode: 0,
      fragment: { comparison: "matches" },
      cloudwatchAgent: { state: "running", version: "1.300064.0" },
    });
    expect(run.exitCode).toBe(0);

    // Off EC2 and without --spec, health falls back to what the last apply recorded.
    const fallback = await runAgent(["health", "--json"], withCtl);
    expect(fallback.json<HealthReport>()).toMatchObject({ spec: { source: "last-applied" }, fragment: { comparison: "matches" }, status: "degraded" });
    expect(fallback.json<HealthReport>().processes[0]).toMatchObject({ name, pidCount: 1 });
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
