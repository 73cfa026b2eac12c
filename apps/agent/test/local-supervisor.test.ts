import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Scratch, uniqueName, writeJson } from "./helpers.ts";

/**
 * detection=local on a host without systemd (this machine: PID 1 is not systemd): `apply` starts
 * procwatch's own supervisor, the built single binary, for real start-command processes. What a
 * test expects comes from the kernel (/proc: who is whose parent, which pids live), not from the
 * supervisor's own state.
 */
const AGENT_BINARY = join(import.meta.dirname, "..", "dist", "procwatch-agent-linux-x64");
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

function agent(args: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      AGENT_BINARY,
      [...args],
      { env: { PATH: "/usr/bin:/bin", AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1", ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : -1;
        resolve({ exitCode: code, stdout, stderr });
      },
    );
  });
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
}

async function waitUntil<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function host() {
  const dir = scratch.dir();
  const name = uniqueName("pwloc");
  const binary = scratch.copySleep(dir, name);
  const crash = uniqueName("pwcrash");
  const crashScript = join(dir, `${crash}-daemon`);
  writeFileSync(crashScript, "#!/bin/sh\nsleep 0.3\nexit 3\n", { mode: 0o755 });
  const env = {
    PROCWATCH_STATE_DIR: join(dir, "state"),
    PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
    PROCWATCH_LOG_DIR: join(dir, "logs"),
    PROCWATCH_SPOOL_DIR: join(dir, "spool"),
    PROCWATCH_CWAGENT_CTL: "/bin/true",
  };
  mkdirSync(env.PROCWATCH_STATE_DIR, { recursive: true, mode: 0o755 });
  writeJson(join(env.PROCWATCH_STATE_DIR, "agent.json"), {
    version: 1,
    startCommands: { [name]: { argv: [binary, "300"], cwd: dir }, [crash]: { argv: [crashScript], cwd: dir } },
  });
  const specPath = join(dir, "spec.json");
  const spec = (processes: unknown[]) => writeJson(specPath, { version: 1, processes });
  const supervisorOf = (process: string) => {
    const path = join(env.PROCWATCH_SPOOL_DIR, "supervisors", `${process}.json`);
    return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as { pid: number; gaveUp: boolean; childPid: number | null }) : null;
  };
  const spool = () => {
    const path = join(env.PROCWATCH_SPOOL_DIR, "local-events.jsonl");
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };
  return { dir, name, binary, crash, crashScript, env, specPath, spec, supervisorOf, spool };
}

describe("local supervision without systemd: procwatch's supervisor", () => {
  it("apply starts a supervisor that is the process's parent; kill -9 brings it back within a second as its child, spooled with before/after pids; apply is idempotent; remove stops the supervisor and leaves the process running", async () => {
    const { name, env, specPath, spec, supervisorOf, spool } = host();
    spec([{ name, detection: "local" }]);
    const applied = await agent(["apply", "--spec", specPath, "--json"], env);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout).localSupervision).toMatchObject({ backend: "supervisor", installed: [name], units: [name] });
    const supervisor = supervisorOf(name)?.pid ?? 0;
    scratch.trackPid(supervisor);
    expect(alive(supervisor)).toBe(true);
    const first = await waitUntil("the supervisor's first child", () => childrenOf(supervisor)[0]);
    scratch.trackPid(first);
    expect(parentOf(first)).toBe(supervisor);
    expect(readFileSync(`/proc/${first}/cmdline`, "utf8").split("\0")[1]).toBe("300");

    const killedAt = performance.now();
    process.kill(first, "SIGKILL");
    const second = await waitUntil("a new child", () => childrenOf(supervisor).find((pid) => pid !== first && alive(pid)), 5000);
    const mttrMs = performance.now() - killedAt;
    scratch.trackPid(second);
    expect(mttrMs).toBeLessThan(1500);
    expect(parentOf(second)).toBe(supervisor);
    const restart = await waitUntil("the spooled restart", () => spool().find((event) => event.kind === "local-restart"));
    expect(restart).toMatchObject({ process: name, beforePid: first, afterPid: second, escalated: false, nRestarts: 1 });
    expect(restart.downMs as number).toBeGreaterThanOrEqual(100);

    const health = JSON.parse((await agent(["health", "--spec", specPath, "--json"], env)).stdout);
    expect(health.localSupervision).toMatchObject({ restartsSinceLastReport: 1, gaveUp: [] });
    expect(health.processes[0]).toMatchObject({ status: "up", pids: [second] });

    const again = await agent(["apply", "--spec", specPath, "--json"], env);
    expect(JSON.parse(again.stdout).localSupervision).toMatchObject({ installed: [], removed: [] });
    expect(supervisorOf(name)?.pid).toBe(supervisor);

    const removed = await agent(["remove", "--json"], env);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ supervisorsStopped: [name] });
    await waitUntil("the supervisor to exit", () => (alive(supervisor) ? undefined : true), 5000);
    // Taking procwatch off the host does not stop the service.
    expect(alive(second)).toBe(true);
    expect(existsSync(env.PROCWATCH_SPOOL_DIR)).toBe(false);
  }, 60_000);

  it("a crash loop spends the local budget: the supervisor restarts it N times, spools the escalation and stops; health says it gave up", async () => {
    const { crash, crashScript, env, specPath, spec, supervisorOf, spool } = host();
    spec([{ name: crash, detection: "local", match: "pattern", pattern: crashScript }]);
    const applied = await agent(["apply", "--spec", specPath, "--json", "--local-restarts", "2"], env);
    expect(applied.exitCode, applied.stderr).toBe(0);
    const supervisor = supervisorOf(crash)?.pid ?? 0;
    scratch.trackPid(supervisor);
    await waitUntil("the supervisor to give up", () => (alive(supervisor) ? undefined : true), 10_000);
    const events = spool();
    expect(events.filter((event) => event.kind === "local-restart").map((event) => event.nRestarts)).toEqual([1, 2]);
    expect(events.at(-1)).toMatchObject({ kind: "local-escalation", process: crash, escalated: true, afterPid: null });
    expect(supervisorOf(crash)).toMatchObject({ gaveUp: true });
    const health = JSON.parse((await agent(["health", "--spec", specPath, "--json"], env)).stdout);
    expect(health.localSupervision).toMatchObject({ gaveUp: [crash], escalationsSinceLastReport: 1 });
    expect(health.status).toBe("failing");
  }, 60_000);
});
