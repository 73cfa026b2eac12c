import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { RestartResult } from "../src/core/restart-decision.ts";
import { runAgent, Scratch, uniqueName, waitFor, writeJson } from "./helpers.ts";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** Hostile values from the shared hostile-input table: every one must be refused before anything runs. */
const HOSTILE_NAMES = [
  "httpd; rm -rf /",
  "$(reboot)",
  "`reboot`",
  "nginx\nreboot",
  "nginx\u0435", // Cyrillic е: looks like "nginxe"
  "ngіnx", // Cyrillic і
  "-h",
  "--force",
  "../etc/passwd",
  "nginx reboot",
  "",
  "a".repeat(300),
];

/**
 * A host without systemd: apply writes the allow-list, agent.json names a start command for one
 * process, and a marker script proves whether anything was started.
 */
async function host() {
  const dir = scratch.dir();
  const name = uniqueName("pwsvc");
  const binary = scratch.copySleep(dir, name);
  const marker = join(dir, "started.marker");
  const starter = join(dir, "start-service");
  // The start command itself is an argv array; this tiny script stands in for a service's launcher.
  writeFileSync(starter, `#!/bin/sh\necho started >> '${marker}'\nexec '${binary}' 300\n`, { mode: 0o755 });
  const stateDir = join(dir, "state");
  const env = {
    PROCWATCH_STATE_DIR: stateDir,
    PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
    PROCWATCH_LOG_DIR: join(dir, "logs"),
    PROCWATCH_CWAGENT_CTL: "/bin/true",
  };
  const specPath = join(dir, "spec.json");
  writeJson(specPath, { version: 1, processes: [{ name }, { name: "nostart" }] });
  const applied = await runAgent(["apply", "--spec", specPath], env);
  expect(applied.exitCode).toBe(0);
  writeJson(join(stateDir, "agent.json"), { version: 1, startCommands: { [name]: { argv: [starter], cwd: dir } } });
  const restart = async (processName: string, ...extra: string[]) => {
    const run = await runAgent(["restart", "--process", processName, "--json", "--backend", "start-command", "--timeout", "10", ...extra], env);
    return { run, result: run.json<RestartResult>() };
  };
  const pidsOf = () => (existsSync(marker) ? readFileSync(marker, "utf8").trim().split("\n").length : 0);
  return { dir, name, binary, marker, env, restart, starts: pidsOf };
}

describe("restart with the start-command backend (no systemd)", () => {
  it("starts a stopped process detached, verifies it is back, reports before/after pids and timings", async () => {
    const { name, binary, restart, starts } = await host();
    const { run, result } = await restart(name);
    expect(run.exitCode).toBe(0);
    expect(result).toMatchObject({ process: name, ok: true, outcome: "restarted", backend: "start-command", unit: null, before: { pids: [] } });
    expect(result.after.pids).toHaveLength(1);
    const pid = result.after.pids[0]!;
    scratch.trackPid(pid);
    expect(readlinkSync(`/proc/${pid}/exe`)).toBe(binary);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.verifyMs);
    expect(starts()).toBe(1);
    // Detached: its own session, so it outlives the agent run.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    expect(Number(fields[3])).toBe(pid); // session id (field 6) equals its own pid after setsid
  });

  it("does nothing when the process already runs (a late alarm must not kill it), unless --force", async () => {
    const { name, binary, restart, starts } = await host();
    const running = scratch.start(binary, ["300"]);
    const { run, result } = await restart(name);
    expect(run.exitCode).toBe(0);
    expect(result).toMatchObject({ ok: true, outcome: "already-running", before: { pids: [running.pid] } });
    expect(starts()).toBe(0);
    expect(running.exitCode).toBeNull();

    const forced = await restart(name, "--force");
    expect(forced.result).toMatchObject({ ok: true, outcome: "restarted", before: { pids: [running.pid] } });
    for (const pid of forced.result.after.pids) scratch.trackPid(pid);
    expect(forced.result.after.pids).not.toContain(running.pid);
    await waitFor(() => running.exitCode !== null || running.signalCode !== null);
    expect(starts()).toBe(1);
  });

  it("decides 'already running' from the exe link, never from the command-line pattern the CloudWatch agent counts", async () => {
    const { name, binary, restart, starts } = await host();
    // Looks like the program on its command line (argv[0] is its name) but runs sleep: not running.
    const impostor = scratch.start("/bin/bash", ["-c", `exec -a ${name} /bin/sleep 300`]);
    await waitFor(() => existsSync(`/proc/${impostor.pid}/cmdline`) && readFileSync(`/proc/${impostor.pid}/cmdline`, "utf8").startsWith(`${name}\0`));
    const started = await restart(name);
    for (const pid of started.result.after.pids) scratch.trackPid(pid);
    expect(started.result).toMatchObject({ ok: true, outcome: "restarted", before: { pids: [] } });
    expect(started.result.after.pids).not.toContain(impostor.pid);
    expect(starts()).toBe(1);
    for (const pid of started.result.after.pids) process.kill(pid, "SIGKILL");
    await waitFor(() => started.result.after.pids.every((pid) => !existsSync(`/proc/${pid}/exe`)));

    // Runs the program under another argv[0] (the agent's pattern misses it): running, left alone.
    const renamed = scratch.start("/bin/bash", ["-c", `exec -a pwother-${name} '${binary}' 300`]);
    await waitFor(() => existsSync(`/proc/${renamed.pid}/exe`) && readlinkSync(`/proc/${renamed.pid}/exe`) === binary);
    const left = await restart(name);
    expect(left.result).toMatchObject({ ok: true, outcome: "already-running", before: { pids: [renamed.pid] } });
    expect(starts()).toBe(1);
  });

  it("reports a timeout when the started command does not stay up", async () => {
    const { dir, name, env } = await host();
    writeJson(join(env.PROCWATCH_STATE_DIR, "agent.json"), { version: 1, startCommands: { [name]: { argv: ["/bin/true"], cwd: dir } } });
    const run = await runAgent(["restart", "--process", name, "--json", "--backend", "start-command", "--timeout", "1"], env);
    expect(run.exitCode).toBe(1);
    expect(run.json<RestartResult>()).toMatchObject({ ok: false, outcome: "timeout", after: { pids: [] } });
  });

  it("refuses a name that is not on the allow-list, and one without a start command, running nothing", async () => {
    const { restart, starts } = await host();
    const refused = await restart("postgres");
    expect(refused.run.exitCode).toBe(1);
    expect(refused.result).toMatchObject({ ok: false, outcome: "refused", backend: null });
    expect(refused.run.stderr).toMatch(/^error: postgres is not on the allow-list/);
    const noStart = await restart("nostart");
    expect(noStart.result).toMatchObject({ ok: false, outcome: "no-backend" });
    expect(starts()).toBe(0);
  });

  it.each(HOSTILE_NAMES.map((name) => [JSON.stringify(name).slice(0, 40), name]))(
    "refuses hostile name %s before reading files or spawning",
    async (_label, hostile) => {
      const { env, starts } = await host();
      // Point at a state dir that does not exist: a name that got past validation would fail on the missing allow-list instead.
      const run = await runAgent(["restart", "--process", hostile, "--json"], { ...env, PROCWATCH_STATE_DIR: "/nonexistent/procwatch" });
      expect(run.exitCode).toBe(2);
      expect(run.json<RestartResult>()).toMatchObject({ ok: false, outcome: "invalid-name", backend: null, before: { pids: [] } });
      expect(run.stderr.split("\n")[0]).toMatch(/^error: refusing process name/);
      expect(run.stderr.split("\n")[0]).not.toContain("\n");
      expect(starts()).toBe(0);
    },
  );

  it("refuses to trust an allow-list or local config writable by others", async () => {
    const { name, env } = await host();
    chmodSync(join(env.PROCWATCH_STATE_DIR, "agent.json"), 0o666);
    const run = await runAgent(["restart", "--process", name, "--json", "--backend", "start-command"], env);
    expect(run.exitCode).toBe(1);
    expect(run.json()).toMatchObject({ ok: false, error: { type: "UntrustedFileError" } });
    expect(run.stderr).toMatch(/writable by group or others/);
    const insecure = await runAgent(["restart", "--process", name, "--json", "--backend", "start-command"], { ...env, PROCWATCH_INSECURE_TEST_CONFIG: "1" });
    const result = insecure.json<RestartResult>();
    for (const pid of result.after.pids) scratch.trackPid(pid);
    expect(result.outcome).toBe("restarted");
  });

  it("runs a start command as its configured user and group, with no other groups", async () => {
    const { dir, name, binary, env, restart } = await host();
    chmodSync(dir, 0o755); // mkdtemp made it 0700: the account must be able to reach the binary
    const expectedUid = execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim();
    const expectedGid = execFileSync("getent", ["group", "daemon"], { encoding: "utf8" }).split(":")[2];
    writeJson(join(env.PROCWATCH_STATE_DIR, "agent.json"), {
      version: 1,
      startCommands: { [name]: { argv: [binary, "300"], cwd: dir, user: "nobody", group: "daemon" } },
    });
    const { run, result } = await restart(name);
    for (const pid of result.after.pids) scratch.trackPid(pid);
    expect(run.exitCode).toBe(0);
    expect(result).toMatchObject({ outcome: "restarted", backend: "start-command" });
    const status = readFileSync(`/proc/${result.after.pids[0]}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\t${expectedUid}\\t${expectedUid}\\t${expectedUid}\\t${expectedUid}$`, "m"));
    expect(status).toMatch(new RegExp(`^Gid:\\t${expectedGid}\\t${expectedGid}\\t${expectedGid}\\t${expectedGid}$`, "m"));
    expect(status).toMatch(/^Groups:\s*$/m);
  });

  it("refuses to start anything when agent.json names an account this host does not have", async () => {
    const { dir, name, env, restart, starts } = await host();
    const ghost = uniqueName("pwghost");
    writeJson(join(env.PROCWATCH_STATE_DIR, "agent.json"), { version: 1, startCommands: { [name]: { argv: ["/bin/true"], cwd: dir, user: ghost } } });
    const { run } = await restart(name);
    expect(run.exitCode).toBe(1);
    expect(run.json()).toMatchObject({ ok: false, error: { type: "UntrustedFileError" } });
    expect(run.stderr).toContain(`startCommands.${name}.user: no user "${ghost}" in /etc/passwd`);
    expect(run.stderr).toMatch(/^hint: create the account, or fix user\/group in /m);
    expect(starts()).toBe(0);
  });

  it("asks for systemd when told to and systemd is not running here", async () => {
    const { name, env } = await host();
    const run = await runAgent(["restart", "--process", name, "--json", "--backend", "systemd"], env);
    expect(run.json<RestartResult>()).toMatchObject({ ok: false, outcome: "no-backend" });
    expect(run.json<RestartResult>().message).toContain("systemd is not running");
  });
});
