import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { killAndWait, runAgentProcess, Scratch, writeJson } from "./helpers.ts";

/**
 * `apply` holds an exclusive lock (an O_EXCL lock file naming its pid and start time) from reading
 * the current state to writing the allow-list, so two applies (an association run and an operator,
 * two SSM commands) never interleave their writes and ctl calls; a lock left by a dead apply is
 * taken over, and a live one is waited for, then reported as a retryable error.
 */
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** A ctl that takes 400 ms per call and logs when each call starts and ends. */
function slowCtl(dir: string): { path: string; log: string } {
  const log = join(dir, "ctl.log");
  const path = join(dir, "amazon-cloudwatch-agent-ctl");
  const configDir = join(dir, "cwagent", "etc", "amazon-cloudwatch-agent.d");
  writeFileSync(
    path,
    [
      "#!/bin/sh",
      `echo "start $$" >> '${log}'`,
      "sleep 0.4",
      'config=""; while [ $# -gt 0 ]; do case "$1" in -c) config="$2"; shift 2;; *) shift;; esac; done',
      `if [ -n "$config" ]; then src="\${config#file:}"; mkdir -p '${configDir}' && cp "$src" '${configDir}'/"file_$(basename "$src")"; fi`,
      `echo "end $$" >> '${log}'`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return { path, log };
}

function setup() {
  const dir = scratch.dir();
  const ctl = slowCtl(dir);
  const spec = join(dir, "spec.json");
  writeJson(spec, { version: 1, processes: [{ name: "nginx" }, { name: "sshd" }] });
  const env = { PROCWATCH_STATE_DIR: join(dir, "state"), PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"), PROCWATCH_CWAGENT_CTL: ctl.path };
  return { dir, ctl, spec, env, lockPath: join(dir, "state", ".apply.lock") };
}

describe("apply takes a lock", () => {
  it("two concurrent applies never interleave their ctl calls, and both succeed", async () => {
    const { ctl, spec, env, lockPath } = setup();
    const [first, second] = await Promise.all([
      runAgentProcess(["apply", "--spec", spec, "--mode", "ec2", "--json"], env),
      runAgentProcess(["apply", "--spec", spec, "--mode", "ec2", "--json"], env),
    ]);
    expect(first.stderr).toBe("");
    expect(second.stderr).toBe("");
    expect([first.exitCode, second.exitCode]).toEqual([0, 0]);
    const lines = readFileSync(ctl.log, "utf8").trim().split("\n");
    // Every call ends before the next starts.
    for (let index = 0; index < lines.length; index += 2) {
      const pid = lines[index]?.split(" ")[1];
      expect([lines[index], lines[index + 1]]).toEqual([`start ${pid}`, `end ${pid}`]);
    }
    // The second apply saw the first one's result: nothing left to reload.
    expect(lines).toHaveLength(2);
    expect(existsSync(lockPath)).toBe(false);
  }, 60_000);

  it("takes over a lock whose holder is dead", async () => {
    const { spec, env, lockPath, dir } = setup();
    const dead = scratch.start("/bin/sleep", ["300"]);
    await killAndWait(dead);
    mkdirSync(join(dir, "state"), { recursive: true });
    writeFileSync(lockPath, `${JSON.stringify({ pid: dead.pid, startTime: 1, acquiredAt: new Date().toISOString() })}\n`);
    const run = await runAgentProcess(["apply", "--spec", spec, "--mode", "ec2"], env);
    expect(run.exitCode).toBe(0);
    expect(existsSync(lockPath)).toBe(false);
  }, 60_000);

  it("waits for a live holder, then fails with a retryable ApplyLockedError naming it", async () => {
    const { spec, env, lockPath, dir } = setup();
    const holder = scratch.start("/bin/sleep", ["300"]);
    const stat = readFileSync(`/proc/${holder.pid}/stat`, "utf8");
    const startTime = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    mkdirSync(join(dir, "state"), { recursive: true });
    writeFileSync(lockPath, `${JSON.stringify({ pid: holder.pid, startTime, acquiredAt: new Date().toISOString() })}\n`);
    const started = Date.now();
    const run = await runAgentProcess(["apply", "--spec", spec, "--mode", "ec2", "--json", "--lock-wait", "1"], env);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(run.exitCode).toBe(1);
    const error = (JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "") as { error: { type: string; message: string; retryable: boolean } }).error;
    expect(error).toMatchObject({ type: "ApplyLockedError", retryable: true });
    expect(error.message).toContain(`pid ${holder.pid}`);
    expect(existsSync(join(dir, "state", "procwatch.json"))).toBe(false);
    expect(readFileSync(lockPath, "utf8")).toContain(`"pid":${holder.pid}`);
  }, 60_000);
});
