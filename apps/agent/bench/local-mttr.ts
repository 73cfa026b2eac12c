/**
 * Local MTTR of `detection=local` on a real systemd: the rig of test/systemd-rig (systemd 252 in
 * systemd-nspawn), the built single binary applied with a local unit, then KILLS kills of its main
 * process. Timed inside the machine with its own clock (bash's $EPOCHREALTIME, no fork): from just
 * before `kill -9` to the first look at which systemd reports a new main pid that exists in /proc.
 * Each look is one `systemctl show`, so the figure includes up to one look's latency (a few ms).
 * The next kill waits until the unit is `running` again (its ExecStartPost hook has recorded the
 * restart), so every kill is a fresh one and not a kill during the previous restart.
 */
import { join } from "node:path";
import { bootRig, ensureRigImage, RIG_DIR } from "../test/systemd-rig/rig.ts";

export interface LocalMttr {
  readonly kills: number;
  readonly mttrMs: readonly number[];
  /** systemd's own view: ActiveExitTimestamp (it saw the death) → ExecMainStartTimestamp (new main process). */
  readonly systemdDownMs: readonly number[];
  readonly spooled: number;
}

const DAEMONS = "/usr/local/lib/procwatch-rig";

export async function measureLocalMttr(binary: string, kills: number): Promise<LocalMttr> {
  const image = await ensureRigImage(12 * 60_000);
  const rig = await bootRig(image.root, { timeoutMs: 90_000 });
  try {
    rig.copyIn(binary, "/usr/local/bin/procwatch-agent", 0o755);
    rig.copyIn(join(RIG_DIR, "fake-cwagent-ctl.sh"), "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", 0o755);
    rig.writeFile("/opt/aws/amazon-cloudwatch-agent/logs/ctl-calls.log", "");
    rig.writeFile("/usr/lib/systemd/system/lbench.service", `[Service]\nExecStart=${DAEMONS}/lbench-daemon infinity\n`);
    rig.writeFile(
      "/etc/procwatch/spec.json",
      JSON.stringify({ version: 1, processes: [{ name: "lbench", pattern: `${DAEMONS}/lbench-daemon`, detection: "local" }] }),
    );
    const env = { AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1" };
    const setup = await rig.exec(
      ["/bin/bash", "-euc", `mkdir -p ${DAEMONS}; cp /usr/bin/sleep ${DAEMONS}/lbench-daemon; systemctl daemon-reload; systemctl start lbench.service`],
      { timeoutMs: 30_000 },
    );
    if (setup.exitCode !== 0) throw new Error(`bench setup failed: ${setup.stderr}`);
    // A budget the bench cannot spend: it measures restarts, not the give-up.
    const applied = await rig.exec(
      [
        "/usr/local/bin/procwatch-agent",
        "apply",
        "--spec",
        "/etc/procwatch/spec.json",
        "--mode",
        "onPremise",
        "--local-restarts",
        String(kills + 10),
        "--local-window-minutes",
        "60",
      ],
      { env, timeoutMs: 60_000 },
    );
    if (applied.exitCode !== 0) throw new Error(`apply failed: ${applied.stderr}`);
    const script = `
      show() { systemctl show -p "$1" --value lbench.service; }
      for i in $(seq 1 ${kills}); do
        until [ "$(show SubState)" = running ]; do sleep 0.02; done
        sleep 0.2
        old=$(show MainPID)
        t0=$EPOCHREALTIME
        kill -9 "$old"
        while :; do
          pid=$(show MainPID)
          if [ "$pid" != 0 ] && [ "$pid" != "$old" ] && [ -e /proc/$pid ]; then t1=$EPOCHREALTIME; break; fi
        done
        until [ "$(show SubState)" = running ]; do sleep 0.02; done
        exit_us=$(show ActiveExitTimestampMonotonic); start_us=$(show ExecMainStartTimestampMonotonic)
        echo "kill $t0 $t1 $exit_us $start_us"
      done`;
    const run = await rig.exec(["/bin/bash", "-euc", script], { timeoutMs: kills * 20_000 });
    if (run.exitCode !== 0) throw new Error(`kill loop failed (exit ${run.exitCode}): ${run.stderr}`);
    const mttrMs: number[] = [];
    const systemdDownMs: number[] = [];
    for (const line of run.stdout.split("\n")) {
      const [tag, t0, t1, exitUs, startUs] = line.trim().split(" ");
      if (tag !== "kill") continue;
      mttrMs.push((Number(t1) - Number(t0)) * 1000);
      systemdDownMs.push((Number(startUs) - Number(exitUs)) / 1000);
    }
    const spool = await rig.exec(["cat", "/var/lib/procwatch/local-events.jsonl"]);
    const spooled = spool.stdout.split("\n").filter((line) => line.includes('"kind":"local-restart"')).length;
    return { kills: mttrMs.length, mttrMs, systemdDownMs, spooled };
  } finally {
    await rig.shutdown();
  }
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * The same for a start-command process under procwatch's own supervisor, on this machine (no
 * systemd as init, as on the hosts that need it): apply starts the supervisor, then KILLS kills of
 * its child, each timed from just before kill(2) to the first look at /proc that shows a new, live
 * child of the supervisor (looks 1 ms apart).
 */
export async function measureSupervisorMttr(binary: string, kills: number): Promise<{ readonly kills: number; readonly mttrMs: readonly number[] }> {
  const { execFileSync } = await import("node:child_process");
  const { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, existsSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "pwbench-sup-")));
  const name = `pwbenchsup${process.pid}`;
  const env = {
    PATH: "/usr/bin:/bin",
    AWS_EC2_METADATA_DISABLED: "true",
    PROCWATCH_STATE_DIR: join(dir, "state"),
    PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
    PROCWATCH_LOG_DIR: join(dir, "logs"),
    PROCWATCH_SPOOL_DIR: join(dir, "spool"),
    PROCWATCH_CWAGENT_CTL: "/bin/true",
  };
  const children = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let last = 0;
  try {
    copyFileSync(realpathSync("/bin/sleep"), join(dir, name));
    mkdirSync(env.PROCWATCH_STATE_DIR, { recursive: true });
    writeFileSync(join(env.PROCWATCH_STATE_DIR, "agent.json"), JSON.stringify({ version: 1, startCommands: { [name]: { argv: [join(dir, name), "600"] } } }));
    writeFileSync(join(dir, "spec.json"), JSON.stringify({ version: 1, processes: [{ name, detection: "local" }] }));
    execFileSync(binary, ["apply", "--spec", join(dir, "spec.json"), "--local-restarts", String(kills + 10), "--local-window-minutes", "60"], {
      env,
      stdio: "pipe",
    });
    const supervisor = (JSON.parse(readFileSync(join(env.PROCWATCH_SPOOL_DIR, "supervisors", `${name}.json`), "utf8")) as { pid: number }).pid;
    const mttrMs: number[] = [];
    for (let kill = 0; kill < kills; kill += 1) {
      let current = children(supervisor).find(alive);
      while (current === undefined) {
        await sleep(5);
        current = children(supervisor).find(alive);
      }
      await sleep(100);
      const t0 = performance.now();
      process.kill(current, "SIGKILL");
      let next: number | undefined;
      while (next === undefined) {
        await sleep(1);
        next = children(supervisor).find((pid) => pid !== current && alive(pid));
      }
      mttrMs.push(performance.now() - t0);
      last = next;
    }
    execFileSync(binary, ["remove"], { env, stdio: "pipe" });
    return { kills: mttrMs.length, mttrMs };
  } finally {
    if (last !== 0) {
      try {
        process.kill(last, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
