import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport } from "../src/core/health.ts";
import { ownProcessPids } from "../src/core/own-processes.ts";
import type { RestartResult } from "../src/core/restart-decision.ts";
import { runAgent, Scratch, uniqueName, writeJson } from "./helpers.ts";

/**
 * The restart document runs `procwatch-agent restart --process NAME` from a shell. A `pattern`
 * selector that matches NAME then matches procwatch's own command line and its parent shell's:
 * neither may ever count as the watched process. These run the agent as a real child of `sh`, the
 * way SSM (or sudo, cron, an operator) runs it.
 */
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const MAIN = join(import.meta.dirname, "..", "src", "main.ts");
const run = promisify(execFile);

/** `sh -c` runs the agent as a child (not exec'd: a command follows it), so the shell's own command line holds every argument. */
async function agentUnderShell(args: readonly string[], env: Record<string, string>): Promise<{ exitCode: number; stdout: string }> {
  const script = '"$@"; status=$?; exit $status';
  try {
    const { stdout } = await run("sh", ["-c", script, "sh", process.execPath, "--import", "tsx", MAIN, ...args], {
      cwd: join(import.meta.dirname, ".."),
      env: { PATH: process.env.PATH ?? "", AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1", ...env },
      timeout: 60_000,
    });
    return { exitCode: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { exitCode: failed.code, stdout: failed.stdout ?? "" };
  }
}

function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as T;
}

describe("procwatch never counts its own process or the shell that runs it", () => {
  it("restart of a pattern-matched process that is down starts it, instead of reporting itself as already running", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwpuma");
    const binary = scratch.copySleep(dir, name);
    const env = {
      PROCWATCH_STATE_DIR: join(dir, "state"),
      PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
      PROCWATCH_LOG_DIR: join(dir, "logs"),
      PROCWATCH_CWAGENT_CTL: "/bin/true",
    };
    const spec = join(dir, "spec.json");
    // The natural tag for a Ruby app server: procwatch:process:puma=pattern=puma.
    writeJson(spec, { version: 1, processes: [{ name, match: "pattern", pattern: name }] });
    expect((await runAgent(["apply", "--spec", spec], env)).exitCode).toBe(0);
    writeJson(join(env.PROCWATCH_STATE_DIR, "agent.json"), { version: 1, startCommands: { [name]: { argv: [binary, "300"], cwd: dir } } });

    const restarted = await agentUnderShell(["restart", "--process", name, "--json", "--backend", "start-command", "--timeout", "10"], env);
    const result = lastJson<RestartResult>(restarted.stdout);
    for (const pid of result.after.pids) scratch.trackPid(pid);
    expect(result).toMatchObject({ outcome: "restarted", before: { pids: [] } });
    expect(restarted.exitCode).toBe(0);
    expect(result.after.pids).toHaveLength(1);
  }, 60_000);

  it("health reports a pattern-matched process as down although procwatch's command line and its shell's contain the pattern", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwself");
    // The spec file's name carries the pattern, so procwatch's own argv (and sh's) match it.
    const spec = join(dir, `${name}.json`);
    writeJson(spec, { version: 1, processes: [{ name, match: "pattern", pattern: name }] });
    const health = await agentUnderShell(["health", "--spec", spec, "--json"], {
      PROCWATCH_STATE_DIR: join(dir, "state"),
      PROCWATCH_CWAGENT_DIR: join(dir, "cw"),
    });
    const report = lastJson<HealthReport>(health.stdout);
    expect(report.processes[0]).toMatchObject({ name, status: "down", pidCount: 0, pids: [] });
    expect(health.exitCode).toBe(2);
  }, 60_000);
});

describe("the CloudWatch agent's count of an exe spec (its argv[0] pattern) never includes procwatch either", () => {
  it("health run with argv[0] set to the watched name counts neither itself as running nor for the agent", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwargv");
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name }] });
    const env = {
      PATH: process.env.PATH ?? "",
      AWS_EC2_METADATA_DISABLED: "true",
      NO_COLOR: "1",
      PROCWATCH_STATE_DIR: join(dir, "state"),
      PROCWATCH_CWAGENT_DIR: join(dir, "cw"),
    };
    // procwatch's own command line then starts with the name, which the rendered pattern matches.
    const asName = async () => {
      try {
        const { stdout } = await run(
          "bash",
          ["-c", `exec -a ${name} "$@"`, "bash", process.execPath, "--import", "tsx", MAIN, "health", "--spec", spec, "--json"],
          {
            cwd: join(import.meta.dirname, ".."),
            env,
            timeout: 60_000,
          },
        );
        return stdout;
      } catch (error) {
        return (error as { stdout?: string }).stdout ?? "";
      }
    };
    const down = lastJson<HealthReport>(await asName());
    expect(down.processes[0]).toMatchObject({ name, status: "down", pidCount: 0, agentPidCount: 0, findings: [] });

    const child = scratch.start(scratch.copySleep(dir, name), ["300"]);
    const up = lastJson<HealthReport>(await asName());
    expect(up.processes[0]).toMatchObject({ status: "up", pids: [child.pid], agentPidCount: 1, findings: [] });
  }, 60_000);
});

describe("ownProcessPids", () => {
  const args = "restart --process puma";
  it("excludes itself, ancestors carrying its arguments (sudo, sh -c) and a parent shell, but not a daemon that runs it as a check", () => {
    const own = ownProcessPids(500, args, [
      { pid: 400, comm: "sh", cmdline: "/bin/sh /var/lib/amazon/ssm/i-0/document/orchestration/c/awsrunShellScript/0.awsrunShellScript/_script.sh" },
      { pid: 300, comm: "sudo", cmdline: `sudo procwatch-agent ${args}` },
      { pid: 200, comm: "puma", cmdline: "puma 6.4.0 (tcp://0.0.0.0:9292) [app]" },
      { pid: 1, comm: "systemd", cmdline: `/sbin/init ${args}` },
    ]);
    expect([...own].sort()).toEqual([300, 400, 500]);
  });

  it("keeps a non-shell parent countable when it does not carry procwatch's arguments", () => {
    expect([...ownProcessPids(500, "health --json", [{ pid: 400, comm: "nrpe", cmdline: "/usr/sbin/nrpe -c /etc/nagios/nrpe.cfg -d" }])]).toEqual([500]);
  });
});
