import { chmodSync, copyFileSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDocument } from "../../../ssm-documents/index.ts";
import { runDocumentLocally } from "../../../ssm-documents/test/support/ssm-agent-stand-in.ts";
import { decodeGoAnswers, encodeGoRequests, type GoAnswer, goBinary } from "./go-regexp/go-binary.ts";
import { type BootedRig, BUILD_RIG_SCRIPT, bootRig, type CommandResult, ensureRigImage, HOST_PATH, machineGone, RIG_DIR, run } from "./systemd-rig/rig.ts";

/**
 * The agent's systemd backend against a real systemd (252, Debian bookworm) booted with
 * systemd-nspawn from a root cached outside the repo (test/systemd-rig/build-rig.sh). The built
 * single binary is copied in and run as a host runs it; nothing of the agent's source is imported.
 * Every expectation about a unit comes from systemd itself (`systemctl show`, its exit codes, its
 * journal), read in the machine, not from procwatch's code.
 *
 * No skip: when this machine cannot build or boot the rig, beforeAll fails with what is missing.
 */
const AGENT_BINARY = join(import.meta.dirname, "..", "dist", "procwatch-agent-linux-x64");
const DAEMONS = "/usr/local/lib/procwatch-rig";
const SPEC_PATH = "/etc/procwatch/spec.json";
const AGENT_ENV = { AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1" };
/** Long enough for a real start on a loaded 2-core machine, short enough that a timeout outcome costs little. */
const RESTART_TIMEOUT_S = 8;

const UNITS: Record<string, string> = {
  // A plain simple service (Restart=no, the default): killed, it stays down until someone starts it.
  "web.service": `[Service]\nExecStart=${DAEMONS}/web-daemon infinity\n`,
  // Two processes matching one pattern in one unit: what the CloudWatch agent counts is 2.
  "pool.service": `[Service]\nExecStart=/bin/sh -c '${DAEMONS}/pool-daemon infinity & exec ${DAEMONS}/pool-daemon infinity'\n`,
  // Fails to start, but Type=simple: systemd calls the start done once /bin/false is forked.
  "broken.service": "[Service]\nExecStart=/bin/false\n",
  // Fails to start where systemd waits for the start (forking, like nginx): systemctl itself fails.
  "broken-forking.service": "[Service]\nType=forking\nExecStart=/bin/false\n",
  // Fails repeatedly under Restart=on-failure until systemd's start limit stops it.
  "flappy.service": "[Unit]\nStartLimitIntervalSec=600\nStartLimitBurst=3\n[Service]\nExecStart=/bin/false\nRestart=on-failure\nRestartSec=100ms\n",
  // Installed like a package's unit, then masked by the admin (/etc/systemd/system/masked.service -> /dev/null).
  "masked.service": `[Service]\nExecStart=${DAEMONS}/masked-daemon infinity\n`,
  // A template: each instance runs with its own command line (exec -a), as worker pools do.
  "worker@.service": `[Service]\nExecStart=/bin/bash -c 'exec -a rig-worker-%i ${DAEMONS}/worker-daemon infinity'\n`,
};

/**
 * Pattern selectors: what restart and the units' states are about. Exe selectors, which reach the
 * CloudWatch agent (running as cwagent here) as a command-line pattern, are EXE_SPEC's, below.
 */
const SPEC = {
  version: 1,
  processes: [
    { name: "web", pattern: `${DAEMONS}/web-daemon` },
    { name: "pool", pattern: `${DAEMONS}/pool-daemon` },
    { name: "broken", pattern: `${DAEMONS}/broken-daemon` },
    { name: "broken-forking", pattern: `${DAEMONS}/broken-forking-daemon` },
    { name: "flappy", pattern: `${DAEMONS}/flappy-daemon` },
    { name: "masked", pattern: `${DAEMONS}/masked-daemon` },
    { name: "worker7", pattern: "rig-worker-7", unit: "worker@7.service" },
    { name: "worker8", pattern: "rig-worker-8", unit: "worker@8.service" },
  ],
};

/**
 * An exe spec (a plain process name) for web.service's program: the CloudWatch agent, running as
 * cwagent, is given its command-line pattern, and counts it with the Go lookup below.
 */
const EXE_SPEC_PATH = "/etc/procwatch/exe-spec.json";
const EXE_SPEC = { version: 1, processes: [{ name: "web-daemon", unit: "web.service" }] };
/** The differential tests' Go program (test/go-regexp/main.go, static): the CloudWatch agent's procstat lookup, listing /proc itself. */
const GUEST_GO_LOOKUP = "/usr/local/bin/procwatch-go-lookup";

interface RestartJson {
  readonly process: string;
  readonly ok: boolean;
  readonly outcome: string;
  readonly backend: string | null;
  readonly unit: string | null;
  readonly message: string;
  readonly before: { readonly pids: number[] };
  readonly after: { readonly pids: number[] };
  readonly timings: { readonly commandMs: number; readonly verifyMs: number; readonly totalMs: number };
}

interface HealthJson {
  readonly status: string;
  readonly exitCode: number;
  readonly processes: ReadonlyArray<{
    readonly name: string;
    readonly status: string;
    readonly pidCount: number;
    readonly pids: number[];
    readonly unit: string;
    readonly agentPidCount: number | null;
    readonly findings: string[];
  }>;
}

let rig: BootedRig | undefined;
/** The SSM Agent's state directory, /var/lib/amazon/ssm in the machine: a host directory bound in, so the stand-in can write scripts there. */
const SSM_MACHINE_DIR = "/var/lib/amazon/ssm";
const ssmHostDir = mkdtempSync(join(tmpdir(), "procwatch-rig-ssm-state-"));
const timings: Record<string, number> = {};

function machine(): BootedRig {
  if (rig === undefined) throw new Error("the rig did not boot (see the beforeAll error above)");
  return rig;
}

function agent(args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
  return machine().exec(["/usr/local/bin/procwatch-agent", ...args], { env: AGENT_ENV, timeoutMs });
}

async function restart(name: string): Promise<{ run: CommandResult; result: RestartJson }> {
  const run = await agent(["restart", "--process", name, "--json", "--timeout", String(RESTART_TIMEOUT_S)], (RESTART_TIMEOUT_S + 20) * 1000);
  expect(run.timedOut, `restart ${name} hung: ${run.stderr}`).toBe(false);
  return { run, result: JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "null") as RestartJson };
}

async function systemctl(...args: string[]): Promise<CommandResult> {
  const result = await machine().exec(["systemctl", ...args], { timeoutMs: 20_000 });
  expect(result.timedOut, `systemctl ${args.join(" ")} hung`).toBe(false);
  return result;
}

async function mainPid(unit: string): Promise<number> {
  return Number((await machine().show(unit, ["MainPID"])).MainPID);
}

/** The pids in a unit's cgroup, as systemd tracks them (cgroup v2 layout in the machine, or the v1 name=systemd one). */
async function unitCgroupPids(unit: string): Promise<number[]> {
  const { ControlGroup: group } = await machine().show(unit, ["ControlGroup"]);
  for (const base of ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]) {
    const read = await machine().exec(["cat", `${base}${group}/cgroup.procs`], { timeoutMs: 5000 });
    if (read.exitCode === 0) return read.stdout.trim().split("\n").filter(Boolean).map(Number).sort();
  }
  throw new Error(`cannot read the cgroup of ${unit} (${group})`);
}

async function journalCount(unit: string, text: string): Promise<number> {
  const journal = await machine().exec(["journalctl", "--no-pager", "-o", "cat", "-u", unit], { timeoutMs: 10_000 });
  return journal.stdout.split("\n").filter((line) => line.includes(text)).length;
}

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  const image = await ensureRigImage(12 * 60_000);
  timings.imageMs = image.buildMs;
  rig = await bootRig(image.root, { timeoutMs: 90_000, binds: [{ hostDir: ssmHostDir, machineDir: SSM_MACHINE_DIR }] });
  timings.bootMs = rig.bootMs;

  rig.copyIn(AGENT_BINARY, "/usr/local/bin/procwatch-agent", 0o755);
  rig.copyIn(join(RIG_DIR, "fake-cwagent-ctl.sh"), "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", 0o755);
  rig.writeFile("/opt/aws/amazon-cloudwatch-agent/logs/ctl-calls.log", "");
  // The CloudWatch agent's own config as its wizard writes it: the agent runs as cwagent.
  rig.writeFile(
    "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/file_amazon-cloudwatch-agent.json",
    `${JSON.stringify({ agent: { metrics_collection_interval: 60, run_as_user: "cwagent" } }, null, 2)}\n`,
  );
  for (const [unit, text] of Object.entries(UNITS)) rig.writeFile(`/usr/lib/systemd/system/${unit}`, text);
  const setup = await rig.exec(
    [
      "/bin/bash",
      "-euc",
      `mkdir -p ${DAEMONS}
       for daemon in web pool masked worker; do cp /usr/bin/sleep ${DAEMONS}/$daemon-daemon; done
       systemctl daemon-reload
       systemctl mask masked.service
       systemctl start web.service pool.service worker@7.service worker@8.service`,
    ],
    { timeoutMs: 30_000 },
  );
  if (setup.exitCode !== 0) throw new Error(`setting up the rig's units failed: ${setup.stderr}`);
  rig.writeFile(SPEC_PATH, `${JSON.stringify(SPEC, null, 2)}\n`);
  rig.writeFile(EXE_SPEC_PATH, `${JSON.stringify(EXE_SPEC, null, 2)}\n`);
  rig.copyIn(goBinary(), GUEST_GO_LOOKUP, 0o755);
}, 15 * 60_000);

afterAll(async () => {
  if (rig === undefined) return rmSync(ssmHostDir, { recursive: true, force: true });
  const leader = rig.leader;
  const down = await rig.shutdown();
  rmSync(ssmHostDir, { recursive: true, force: true });
  timings.shutdownMs = down.ms;
  console.info(
    `systemd rig: image ready in ${timings.imageMs} ms (build-rig.sh; ~50 ms when cached), boot ${timings.bootMs} ms, shutdown ${down.ms} ms (${down.cleanly ? "clean" : "killed"})`,
  );
  expect(machineGone(leader), "the rig's systemd is still running after shutdown").toBe(true);
}, 60_000);

describe("the rig is a real systemd", () => {
  it("build-rig.sh refuses loudly, naming the fix, where it cannot work (here: not root)", async () => {
    // A copy nobody can read: the checkout may sit under a directory only root can enter (mktemp -d
    // makes 0700 ones), where bash would fail with 126 before the script's own check could speak.
    const readable = mkdtempSync(join(tmpdir(), "procwatch-build-rig-"));
    chmodSync(readable, 0o755);
    const script = join(readable, "build-rig.sh");
    copyFileSync(BUILD_RIG_SCRIPT, script);
    chmodSync(script, 0o644);
    const asNobody = await run("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "bash", script], { env: { PATH: HOST_PATH } }).finally(() =>
      rmSync(readable, { recursive: true, force: true }),
    );
    expect(asNobody.exitCode).toBe(1);
    expect(asNobody.stderr).toContain("build-rig: error: the systemd rig needs root");
    expect(asNobody.stderr).toContain("hint:");
  });

  it("runs systemd as PID 1 of its own PID namespace, with cwagent as the CloudWatch agent's user", async () => {
    const pid1 = await machine().exec(["cat", "/proc/1/comm"]);
    expect(pid1.stdout.trim()).toBe("systemd");
    const version = await systemctl("--version");
    expect(version.stdout).toMatch(/^systemd 2\d\d/);
    expect((await machine().exec(["id", "-u", "cwagent"])).exitCode).toBe(0);
  });
});

describe("apply and health against real units", () => {
  it("apply writes the allow-list with the units, and the ctl installs the fragment", async () => {
    const run = await agent(["apply", "--spec", SPEC_PATH, "--mode", "onPremise", "--json"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const applied = JSON.parse(run.stdout) as { ok: boolean; installedFragment: string; processes: string[] };
    expect(applied).toMatchObject({ ok: true, installedFragment: "matches" });
    expect(applied.processes).toEqual(SPEC.processes.map((process) => process.name).sort());
    const allowList = JSON.parse((await machine().exec(["cat", "/etc/procwatch/allow-list.json"])).stdout) as {
      processes: Array<{ name: string; unit: string }>;
    };
    expect(Object.fromEntries(allowList.processes.map((process) => [process.name, process.unit]))).toMatchObject({
      web: "web.service",
      worker7: "worker@7.service",
      masked: "masked.service",
    });
    const ctlCalls = (await machine().exec(["cat", "/opt/aws/amazon-cloudwatch-agent/logs/ctl-calls.log"])).stdout;
    expect(ctlCalls).toContain("-a append-config -m onPremise -c file:/etc/procwatch/procwatch.json -s");
  });

  it("health counts the processes systemd runs for each unit, and the units that are down", async () => {
    const run = await agent(["health", "--spec", SPEC_PATH, "--json"]);
    const health = JSON.parse(run.stdout) as HealthJson;
    const byName = Object.fromEntries(health.processes.map((process) => [process.name, process]));
    // systemd's view: MainPID of each running unit, every pid of pool.service's cgroup.
    expect(byName.web?.pids).toEqual([await mainPid("web.service")]);
    expect(byName.worker7?.pids).toEqual([await mainPid("worker@7.service")]);
    expect(byName.worker8?.pids).toEqual([await mainPid("worker@8.service")]);
    expect(await unitCgroupPids("pool.service")).toHaveLength(2);
    expect([...(byName.pool?.pids ?? [])].sort()).toEqual(await unitCgroupPids("pool.service"));
    for (const down of ["broken", "broken-forking", "flappy", "masked"]) expect(byName[down]).toMatchObject({ status: "down", pidCount: 0 });
    expect(health.status).toBe("failing");
    expect(run.exitCode).toBe(2);
  });

  it("as the CloudWatch agent's cwagent user, a root service's cmdline is readable and its exe link is not", async () => {
    const pid = await mainPid("web.service");
    const asCwagent = (argv: string[]) => machine().exec(["setpriv", "--reuid=cwagent", "--regid=cwagent", "--clear-groups", ...argv]);
    const cmdline = await asCwagent(["cat", `/proc/${pid}/cmdline`]);
    expect(cmdline.exitCode).toBe(0);
    expect(cmdline.stdout.split("\0")[0]).toBe(`${DAEMONS}/web-daemon`);
    const exe = await asCwagent(["readlink", `/proc/${pid}/exe`]);
    expect(exe.exitCode).not.toBe(0);
    // So the pattern selector's count is one cwagent can reproduce: health's pid is the one whose cmdline it read.
    const health = JSON.parse((await agent(["health", "--spec", SPEC_PATH, "--json"])).stdout) as HealthJson;
    expect(health.processes.find((process) => process.name === "web")?.pids).toEqual([pid]);
  });
});

/** Runs the Go lookup in the guest, as `user` (setpriv drops every capability with root) or as root. */
async function goLookupIn(requests: readonly Record<string, unknown>[], user: "cwagent" | "root"): Promise<GoAnswer[]> {
  const drop = user === "root" ? "" : `setpriv --reuid=${user} --regid=${user} --clear-groups `;
  const run = await machine().exec(["/bin/bash", "-euc", `printf '%s\\n' "$PW_GO_REQUESTS" | ${drop}${GUEST_GO_LOOKUP}`], {
    env: { PW_GO_REQUESTS: encodeGoRequests(requests) },
    timeoutMs: 20_000,
  });
  expect(run.exitCode, run.stderr).toBe(0);
  const answers = decodeGoAnswers(run.stdout);
  expect(answers).toHaveLength(requests.length);
  return answers;
}

describe("an exe spec on a host whose CloudWatch agent runs as cwagent, with the real kernel", () => {
  interface ProcstatEntryJson {
    readonly pattern?: string;
    readonly exe?: string;
    readonly append_dimensions?: Record<string, string>;
  }

  it("as cwagent the kernel refuses a root unit's exe link and gives its command line; the agent's lookup of the rendered selector, run as cwagent, counts the unit's process, and 0 once it is stopped", async () => {
    const pid = await mainPid("web.service");
    expect(pid).toBeGreaterThan(0);
    const asCwagent = (argv: string[]) => machine().exec(["setpriv", "--reuid=cwagent", "--regid=cwagent", "--clear-groups", ...argv]);
    expect((await asCwagent(["id", "-un"])).stdout.trim()).toBe("cwagent");
    expect((await machine().exec(["stat", "-c", "%u", `/proc/${pid}`])).stdout.trim()).toBe("0");
    const exeLink = await asCwagent(["readlink", "--verbose", `/proc/${pid}/exe`]);
    expect(exeLink.exitCode).not.toBe(0);
    expect(exeLink.stderr).toMatch(/Permission denied/);
    const cmdline = await asCwagent(["cat", `/proc/${pid}/cmdline`]);
    expect(cmdline.exitCode).toBe(0);
    expect(cmdline.stdout.split("\0")[0]).toBe(`${DAEMONS}/web-daemon`);

    // What the agent is given: the command-line pattern, never exe, with the host dimensions on the entry.
    const rendered = await agent(["render", "--spec", EXE_SPEC_PATH, "--json"]);
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    const fragment = JSON.parse(rendered.stdout) as {
      fragment: { metrics: Record<string, unknown> & { metrics_collected: { procstat: ProcstatEntryJson[] } } };
    };
    // The rig's own config sets no metrics.append_dimensions, so procwatch's turns the ec2tagger on.
    expect(Object.keys(fragment.fragment.metrics)).toEqual(["append_dimensions", "metrics_collected"]);
    const [entry] = fragment.fragment.metrics.metrics_collected.procstat;
    expect(entry?.exe).toBeUndefined();
    expect(Object.keys(entry?.append_dimensions ?? {}).sort()).toEqual(["ImageId", "InstanceId", "InstanceType"]);
    const pattern = entry?.pattern ?? "";
    const exeRegex = "(^|/)web-daemon( \\(deleted\\))?$";

    // The CloudWatch agent's lookup (Go, listing /proc itself) as cwagent: the pattern counts the root
    // unit; the exe lookup it used to get counts nothing as cwagent, though it does as root.
    const [byPattern, byExe] = await goLookupIn(
      [
        { op: "count", mode: "pattern", selector: pattern },
        { op: "count", mode: "exe", selector: exeRegex },
      ],
      "cwagent",
    );
    expect(byPattern).toEqual({ error: null, pids: [pid] });
    expect(byExe).toEqual({ error: null, pids: [] });
    expect((await goLookupIn([{ op: "count", mode: "exe", selector: exeRegex }], "root"))[0]?.pids).toEqual([pid]);

    // health (as root) reports the same count for the agent, and no finding.
    const up = JSON.parse((await agent(["health", "--spec", EXE_SPEC_PATH, "--json"])).stdout) as HealthJson;
    expect(up.processes).toEqual([
      expect.objectContaining({ name: "web-daemon", status: "up", pids: [pid], pidCount: 1, agentPidCount: byPattern?.pids.length, findings: [] }),
    ]);

    await systemctl("stop", "web.service");
    try {
      const [stopped] = await goLookupIn([{ op: "count", mode: "pattern", selector: pattern }], "cwagent");
      expect(stopped).toEqual({ error: null, pids: [] });
      const down = JSON.parse((await agent(["health", "--spec", EXE_SPEC_PATH, "--json"])).stdout) as HealthJson;
      expect(down.processes[0]).toMatchObject({ status: "down", pidCount: 0, agentPidCount: 0, findings: [] });
    } finally {
      await systemctl("start", "web.service");
    }
    expect((await machine().show("web.service", ["ActiveState"])).ActiveState).toBe("active");
  });
});

describe("restart through systemctl", () => {
  it("leaves a running unit alone (already-running, same pid in systemd)", async () => {
    const before = await mainPid("web.service");
    const { run, result } = await restart("web");
    expect(run.exitCode).toBe(0);
    expect(result).toMatchObject({ outcome: "already-running", before: { pids: [before] } });
    expect(await mainPid("web.service")).toBe(before);
  });

  it("brings back a killed simple service: new pid, the one systemd runs, unit active", async () => {
    const old = await mainPid("web.service");
    await systemctl("kill", "--signal=SIGKILL", "web.service");
    await waitUntil("web.service to fail", async () => (await machine().show("web.service", ["ActiveState"])).ActiveState === "failed");
    expect(await machine().show("web.service", ["Result", "MainPID"])).toEqual({ Result: "signal", MainPID: "0" });

    const { run, result } = await restart("web");
    expect(run.exitCode, run.stderr).toBe(0);
    const now = await mainPid("web.service");
    expect(now).not.toBe(old);
    expect(result).toMatchObject({ ok: true, outcome: "restarted", backend: "systemd", unit: "web.service", before: { pids: [] }, after: { pids: [now] } });
    expect(await machine().show("web.service", ["ActiveState", "SubState"])).toEqual({ ActiveState: "active", SubState: "running" });
  });

  it("brings back a stopped service", async () => {
    await systemctl("stop", "web.service");
    expect((await machine().show("web.service", ["ActiveState"])).ActiveState).toBe("inactive");
    const { run, result } = await restart("web");
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result.after.pids).toEqual([await mainPid("web.service")]);
  });

  it("a unit that fails right after starting, Type=simple: systemctl succeeds, systemd marks it failed, the agent says so at once with its state (exit 1)", async () => {
    const direct = await systemctl("restart", "broken.service");
    expect(direct.exitCode, "systemctl restart of a Type=simple unit succeeds once the process is forked").toBe(0);
    const { run, result } = await restart("broken");
    const state = await machine().show("broken.service", ["ActiveState", "SubState", "Result", "ExecMainStatus"]);
    expect(state).toEqual({ ActiveState: "failed", SubState: "failed", Result: "exit-code", ExecMainStatus: "1" });
    expect(run.exitCode).toBe(1);
    expect(result).toMatchObject({ ok: false, outcome: "failed", backend: "systemd", unit: "broken.service", after: { pids: [] } });
    // Stops as soon as systemd has marked the unit failed, not after --timeout.
    expect(result.timings.verifyMs).toBeLessThan(3000);
    expect(result.timings.totalMs).toBeLessThan(RESTART_TIMEOUT_S * 1000);
    expect(result.message).toContain("unit broken.service: failed/failed, result exit-code, main process exit status 1");
    expect(run.stderr).toContain("error: broken exited right after systemd started it (unit broken.service: failed/failed");
  });

  it("a unit that fails to start, Type=forking: reports systemctl's reason and the unit's state (exit 1)", async () => {
    const direct = await systemctl("restart", "broken-forking.service");
    expect(direct.exitCode).toBe(1);
    const { run, result } = await restart("broken-forking");
    expect(run.exitCode).toBe(1);
    expect(result).toMatchObject({ ok: false, outcome: "failed", backend: "systemd", unit: "broken-forking.service" });
    // systemd's own first line, not only its "See systemctl status" hint, and the state systemd reports.
    expect(result.message).toContain("Job for broken-forking.service failed because the control process exited with error code.");
    expect(result.message).toContain("failed/failed, result exit-code");
    expect(await machine().show("broken-forking.service", ["ActiveState", "Result"])).toEqual({ ActiveState: "failed", Result: "exit-code" });
  });

  it("a unit in start-limit-hit: one refused attempt per restart, nothing started, no loop (exit 1)", async () => {
    await systemctl("start", "flappy.service");
    await waitUntil("flappy.service to hit its start limit", async () => (await journalCount("flappy.service", "Start request repeated too quickly")) >= 1);
    const settled = await machine().show("flappy.service", ["ActiveState", "NRestarts", "ExecMainStartTimestampMonotonic"]);
    expect(settled).toMatchObject({ ActiveState: "failed", NRestarts: "3" });
    const refusalsBefore = await journalCount("flappy.service", "Start request repeated too quickly");

    for (const attempt of [1, 2]) {
      const { run, result } = await restart("flappy");
      expect(run.exitCode).toBe(1);
      expect(result).toMatchObject({ ok: false, outcome: "failed", backend: "systemd", unit: "flappy.service", after: { pids: [] } });
      expect(result.message).toContain("systemctl restart flappy.service failed");
      expect(result.message).toContain("failed/failed");
      // Fails at once: no waiting out --timeout, no retry.
      expect(result.timings.verifyMs).toBe(0);
      expect(result.timings.totalMs).toBeLessThan(RESTART_TIMEOUT_S * 1000);
      expect(await journalCount("flappy.service", "Start request repeated too quickly")).toBe(refusalsBefore + attempt);
    }
    // systemd never ran /bin/false again: the same main start time, the same restart counter.
    expect(await machine().show("flappy.service", ["ActiveState", "NRestarts", "ExecMainStartTimestampMonotonic"])).toEqual(settled);
  });

  it("a masked unit: refused by systemd, reported as such (exit 1)", async () => {
    const { run, result } = await restart("masked");
    expect(run.exitCode).toBe(1);
    expect(result).toMatchObject({ ok: false, outcome: "failed", backend: "systemd", unit: "masked.service" });
    expect(result.message).toContain("Unit masked.service is masked.");
    expect(run.stderr).toContain("Unit masked.service is masked.");
    expect(await machine().show("masked.service", ["LoadState", "ActiveState"])).toEqual({ LoadState: "masked", ActiveState: "inactive" });
  });

  it("a templated unit worker@7.service: only that instance is restarted", async () => {
    const other = await mainPid("worker@8.service");
    const old = await mainPid("worker@7.service");
    await systemctl("kill", "--signal=SIGKILL", "worker@7.service");
    await waitUntil("worker@7 to fail", async () => (await machine().show("worker@7.service", ["ActiveState"])).ActiveState === "failed");

    const { run, result } = await restart("worker7");
    expect(run.exitCode, run.stderr).toBe(0);
    const now = await mainPid("worker@7.service");
    expect(now).not.toBe(old);
    expect(result).toMatchObject({ outcome: "restarted", unit: "worker@7.service", after: { pids: [now] } });
    const cmdline = await machine().exec(["cat", `/proc/${now}/cmdline`]);
    expect(cmdline.stdout.split("\0")[0]).toBe("rig-worker-7");
    expect(await mainPid("worker@8.service")).toBe(other);
  });
});

describe("the restart SSM document, run as the SSM Agent runs it, in the machine", () => {
  const restartDocument = loadDocument("restart").content;
  let bridgeDir: string;
  beforeAll(() => {
    // `sh` for the stand-in: runs its `sh -c <_script.sh>` inside the machine (see ssm-shell-bridge.sh).
    bridgeDir = mkdtempSync(join(tmpdir(), "procwatch-rig-ssm-"));
    symlinkSync(join(RIG_DIR, "ssm-shell-bridge.sh"), join(bridgeDir, "sh"));
  });
  afterAll(() => rmSync(bridgeDir, { recursive: true, force: true }));

  function runRestartDocument(processName: string, commandId: string) {
    const run = runDocumentLocally(
      restartDocument,
      { ProcessName: processName },
      {
        // The stand-in adds orchestration/<step>/_script.sh under it.
        workDir: join(ssmHostDir, "mi-rig/document", commandId),
        env: {
          PATH: `${bridgeDir}:/usr/sbin:/usr/bin:/sbin:/bin`,
          PROCWATCH_RIG_LEADER: String(machine().leader),
          PROCWATCH_RIG_HOST_DIR: ssmHostDir,
          PROCWATCH_RIG_MACHINE_DIR: SSM_MACHINE_DIR,
        },
      },
    );
    if (run.refused) throw new Error(`the SSM API stand-in refused the command: ${run.reason}`);
    const step = run.steps[0];
    if (step === undefined) throw new Error("the restart document ran no step");
    return { run, step };
  }

  it("restarts a stopped unit end to end: _script.sh in the machine, bash from its shebang, SSM_ProcessName, the agent's JSON", async () => {
    await systemctl("stop", "web.service");
    const { run, step } = runRestartDocument("web", "cmd-restart-web");
    expect(step.exitCode, step.stderr).toBe(0);
    expect(step.stderr).toBe("");
    expect(run.status).toBe("Success");
    const result = JSON.parse(step.stdout.trim().split("\n").at(-1) ?? "null") as RestartJson;
    const now = await mainPid("web.service");
    expect(result).toMatchObject({ process: "web", outcome: "restarted", backend: "systemd", unit: "web.service", after: { pids: [now] } });
    // The script was written inside the machine, and ran under bash, its shebang: its [[ =~ ]] check fails under dash.
    const script = await machine().exec(["head", "-n", "1", "/var/lib/amazon/ssm/mi-rig/document/cmd-restart-web/orchestration/restartProcess/_script.sh"]);
    expect(script.stdout.trim()).toBe("#!/bin/bash");
  });

  it("a masked unit fails the command with systemd's reason", () => {
    const { run, step } = runRestartDocument("masked", "cmd-restart-masked");
    expect(run.status).toBe("Failed");
    expect(step.exitCode).toBe(1);
    expect(step.stderr).toContain("Unit masked.service is masked.");
  });

  it("a name not on the allow-list fails the command and starts nothing", async () => {
    const { step } = runRestartDocument("sshd", "cmd-restart-sshd");
    expect(step.exitCode).toBe(1);
    expect(JSON.parse(step.stdout.trim())).toMatchObject({ outcome: "refused" });
    expect((await systemctl("is-active", "sshd.service")).stdout.trim()).not.toBe("active");
  });
});
