import { execFileSync } from "node:child_process";
import { symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport } from "../src/core/health.ts";
import type { RestartResult } from "../src/core/restart-decision.ts";
import { runAgent, runAgentProcess, Scratch, uniqueName, writeJson } from "./helpers.ts";

/**
 * Pid files are read bounded and non-blocking, only when they are regular files reached without
 * a symlink at the end, and the refusal says why. The CloudWatch agent would hang on a FIFO, follow
 * a symlink to a secret and log its content, or read a huge file whole.
 */
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function hostWith(pidFile: string) {
  const dir = scratch.dir();
  const spec = join(dir, "spec.json");
  writeJson(spec, { version: 1, processes: [{ name: "svc", pidfile: pidFile }] });
  return { dir, spec, env: { PROCWATCH_STATE_DIR: join(dir, "state"), PROCWATCH_CWAGENT_DIR: join(dir, "cwagent") } };
}

/** Health as its own process with a deadline, so a read that blocks fails the test instead of hanging the runner. */
async function healthWithin(pidFile: string, ms: number): Promise<HealthReport["processes"][number]> {
  const { spec, env } = hostWith(pidFile);
  const run = await runAgentProcess(["health", "--spec", spec, "--json"], env, { timeoutMs: ms });
  expect(run.timedOut, `health did not finish within ${ms} ms (blocked on ${pidFile}?)`).toBe(false);
  const report = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "") as HealthReport;
  const svc = report.processes[0];
  if (svc === undefined) throw new Error(run.stdout + run.stderr);
  return svc;
}

describe("pid file reads", () => {
  it("a FIFO is refused without blocking", async () => {
    const fifo = join(scratch.runDir(), "svc.pid");
    execFileSync("mkfifo", [fifo]);
    const svc = await healthWithin(fifo, 15_000);
    expect(svc).toMatchObject({ status: "down", pidCount: 0, agentPidCount: null });
    expect(svc.findings.join(" ")).toContain("not a regular file (a FIFO)");
  }, 30_000);

  it("a symlink at the end of the path is refused, so a secret's content is never read", async () => {
    const link = join(scratch.runDir(), "svc.pid");
    symlinkSync("/etc/shadow", link);
    const svc = await healthWithin(link, 15_000);
    expect(svc.findings.join(" ")).toContain("is a symbolic link");
    expect(svc.findings.join(" ")).not.toContain("root:");
  }, 30_000);

  it("a file larger than any pid file is refused by its size, not read", async () => {
    const big = join(scratch.runDir(), "svc.pid");
    writeFileSync(big, "");
    truncateSync(big, 100 * 1024 * 1024);
    const svc = await healthWithin(big, 15_000);
    expect(svc.findings.join(" ")).toContain("104857600 bytes");
  }, 30_000);

  it("a pid file holding 0 or a negative number counts 1 for the agent (Go's ParseInt accepts it) and 0 running", async () => {
    for (const content of ["0\n", "-1\n", " -2147483648 "]) {
      const pidFile = join(scratch.runDir(), "svc.pid");
      writeFileSync(pidFile, content);
      const { spec, env } = hostWith(pidFile);
      const report = (await runAgent(["health", "--spec", spec, "--json"], env)).json<HealthReport>();
      expect(report.processes[0], content).toMatchObject({ status: "down", pidCount: 0, agentPidCount: 1 });
      expect(report.processes[0]?.findings.join(" ")).toContain("reports pid_count 1 but 0 running");
    }
    const outOfRange = join(scratch.runDir(), "svc.pid");
    writeFileSync(outOfRange, "2147483648\n");
    const { spec, env } = hostWith(outOfRange);
    const report = (await runAgent(["health", "--spec", spec, "--json"], env)).json<HealthReport>();
    expect(report.processes[0]).toMatchObject({ agentPidCount: null });
  });

  it("restart refuses to act on a pid file it cannot trust, and starts nothing", async () => {
    const runDir = scratch.runDir();
    const fifo = join(runDir, "svc.pid");
    execFileSync("mkfifo", [fifo]);
    const dir = scratch.dir();
    const name = uniqueName("pwfifo");
    const marker = join(dir, "started");
    const env = { PROCWATCH_STATE_DIR: join(dir, "state"), PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"), PROCWATCH_CWAGENT_CTL: "/bin/true" };
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name, pidfile: fifo }] });
    expect((await runAgent(["apply", "--spec", spec], env)).exitCode).toBe(0);
    writeJson(join(env.PROCWATCH_STATE_DIR, "agent.json"), { version: 1, startCommands: { [name]: { argv: ["/usr/bin/touch", marker] } } });
    const run = await runAgentProcess(["restart", "--process", name, "--json", "--backend", "start-command", "--timeout", "2"], env, { timeoutMs: 15_000 });
    expect(run.timedOut, "restart blocked on the FIFO").toBe(false);
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "") as RestartResult;
    expect(result).toMatchObject({ ok: false, outcome: "failed", backend: null });
    expect(result.message).toContain("not a regular file (a FIFO)");
    expect(run.exitCode).toBe(1);
  }, 30_000);
});
