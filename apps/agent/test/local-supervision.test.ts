import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GUEST_DAEMONS_DIR as DAEMONS,
  GUEST_DROP_IN_FILE as DROP_IN,
  guestSession,
  GUEST_SPEC_PATH as SPEC_PATH,
  waitUntil,
} from "./systemd-rig/guest-session.ts";
import { type BootedRig, bootRig, type CommandResult, ensureRigImage, machineGone, RIG_DIR } from "./systemd-rig/rig.ts";

/**
 * Local supervision (`detection=local`) against a real systemd (252, Debian bookworm) booted with
 * systemd-nspawn (test/systemd-rig). The built single binary is copied in and run as a host runs
 * it. What a test expects of a unit comes from systemd itself (`systemctl show`, its journal), read
 * in the machine; procwatch's spool is checked against it.
 */
const AGENT_BINARY = join(import.meta.dirname, "..", "dist", "procwatch-agent-linux-x64");

const UNITS: Record<string, string> = {
  // Plain simple services (Restart=no): only procwatch's drop-in makes systemd restart them.
  "lweb.service": `[Service]\nExecStart=${DAEMONS}/lweb-daemon infinity\n`,
  "lmasked.service": `[Service]\nExecStart=${DAEMONS}/lmasked-daemon infinity\n`,
  // Runs a second, then exits 3: a crash loop.
  "lcrash.service": `[Service]\nExecStart=${DAEMONS}/lcrash-daemon\n`,
  // Watched, but on the standard profile: procwatch must leave it alone.
  "lplain.service": `[Service]\nExecStart=${DAEMONS}/lplain-daemon infinity\n`,
  // A long-running oneshot (it happens: "activating" for as long as it runs): systemd refuses Restart=always on it.
  "lone.service": `[Service]\nType=oneshot\nExecStart=${DAEMONS}/lone-daemon infinity\n`,
};

function specWith(detections: Record<string, string>) {
  return {
    version: 1,
    processes: ["lweb", "lmasked", "lcrash", "lplain"].map((name) => ({
      name,
      pattern: `${DAEMONS}/${name}-daemon`,
      ...(detections[name] === undefined ? {} : { detection: detections[name] }),
    })),
  };
}
const LOCAL_SPEC = specWith({ lweb: "local", lmasked: "local", lcrash: "local" });

let rig: BootedRig | undefined;

const { machine, agent, sh, show, spool, journalCount } = guestSession(() => rig);

async function apply(spec: unknown, extra: readonly string[] = []): Promise<{ run: CommandResult; json: Record<string, unknown> }> {
  machine().writeFile(SPEC_PATH, `${JSON.stringify(spec, null, 2)}\n`);
  const run = await agent(["apply", "--spec", SPEC_PATH, "--mode", "onPremise", "--json", ...extra]);
  expect(run.exitCode, run.stderr).toBe(0);
  return { run, json: JSON.parse(run.stdout) as Record<string, unknown> };
}

/** systemd's own count of daemon reloads in this boot: PID 1 logs "Reloading." for each. */
async function reloads(): Promise<number> {
  const journal = await machine().exec(["journalctl", "--no-pager", "-o", "cat", "_PID=1"], { timeoutMs: 10_000 });
  return journal.stdout.split("\n").filter((line) => line === "Reloading.").length;
}

/** journald writes what PID 1 logged a moment later: wait for the count, or (for "none") give it a second. */
async function expectReloads(before: number, expected: number): Promise<void> {
  if (expected === 0) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await reloads()).toBe(before);
    return;
  }
  await waitUntil(`${expected} daemon-reload(s) in the journal`, async () => ((await reloads()) >= before + expected ? true : undefined), 5000);
  expect(await reloads()).toBe(before + expected);
}

async function health(extra: readonly string[] = []): Promise<Record<string, unknown> & { localSupervision?: Record<string, unknown> }> {
  const run = await agent(["health", "--spec", SPEC_PATH, "--json", ...extra]);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  const image = await ensureRigImage(12 * 60_000);
  rig = await bootRig(image.root, { timeoutMs: 90_000 });
  rig.copyIn(AGENT_BINARY, "/usr/local/bin/procwatch-agent", 0o755);
  rig.copyIn(join(RIG_DIR, "fake-cwagent-ctl.sh"), "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", 0o755);
  rig.writeFile("/opt/aws/amazon-cloudwatch-agent/logs/ctl-calls.log", "");
  for (const [unit, text] of Object.entries(UNITS)) rig.writeFile(`/usr/lib/systemd/system/${unit}`, text);
  rig.writeFile(`${DAEMONS}/lcrash-daemon`, "#!/bin/sh\nsleep 1\nexit 3\n", 0o755);
  const setup = await rig.exec(
    [
      "/bin/bash",
      "-euc",
      `for daemon in lweb lmasked lplain lone; do cp /usr/bin/sleep ${DAEMONS}/$daemon-daemon; done
       systemctl daemon-reload
       systemctl start lweb.service lmasked.service lplain.service`,
    ],
    { timeoutMs: 30_000 },
  );
  if (setup.exitCode !== 0) throw new Error(`setting up the rig's units failed: ${setup.stderr}`);
}, 15 * 60_000);

afterAll(async () => {
  if (rig === undefined) return;
  const leader = rig.leader;
  await rig.shutdown();
  expect(machineGone(leader), "the rig's systemd is still running after shutdown").toBe(true);
}, 60_000);

describe("apply installs local supervision as systemd drop-ins", () => {
  it("writes a drop-in for each local unit and the escalation template, then reloads systemd once", async () => {
    const before = await reloads();
    const { json } = await apply(LOCAL_SPEC);
    expect(json.localSupervision).toMatchObject({
      installed: ["lcrash.service", "lmasked.service", "lweb.service"],
      removed: [],
      template: "written",
      daemonReloaded: true,
      budget: { restarts: 3, windowMinutes: 30 },
    });
    await expectReloads(before, 1);
    // systemd's view of the merged unit: the drop-in is loaded and its settings are in force.
    expect(await show("lweb.service", ["Restart", "RestartUSec", "StartLimitBurst", "StartLimitIntervalUSec", "OnFailure", "DropInPaths"])).toEqual({
      Restart: "always",
      RestartUSec: "100ms",
      StartLimitBurst: "4",
      StartLimitIntervalUSec: "30min",
      OnFailure: "procwatch-escalate@lweb.service",
      DropInPaths: `/etc/systemd/system/lweb.service.d/${DROP_IN}`,
    });
    expect(await show("procwatch-escalate@lweb.service", ["LoadState"])).toEqual({ LoadState: "loaded" });
    // The standard-profile unit is untouched.
    expect(await show("lplain.service", ["Restart", "DropInPaths"])).toEqual({ Restart: "no", DropInPaths: "" });
  });

  it("is idempotent: a second apply changes no file and does not reload systemd", async () => {
    const before = await reloads();
    const listing = (await sh("ls -l --time-style=full-iso /etc/systemd/system/*.d/ /etc/systemd/system/procwatch-escalate@.service")).stdout;
    const { json } = await apply(LOCAL_SPEC);
    expect(json.localSupervision).toMatchObject({ installed: [], removed: [], template: "unchanged", daemonReloaded: false });
    await expectReloads(before, 0);
    expect((await sh("ls -l --time-style=full-iso /etc/systemd/system/*.d/ /etc/systemd/system/procwatch-escalate@.service")).stdout).toBe(listing);
  });
});

describe("systemd restarts a local unit on its own, and procwatch records it", () => {
  it("kill -9: back within about a second with a new pid, without procwatch's restart command; spooled with before/after pids", async () => {
    const old = Number((await show("lweb.service", ["MainPID"])).MainPID);
    expect(old).toBeGreaterThan(0);
    const killed = await sh(`kill -9 ${old}; date +%s%N`);
    const killedAtNs = BigInt(killed.stdout.trim());
    const now = await waitUntil(
      "lweb.service to run a new main pid",
      async () => {
        const state = await show("lweb.service", ["MainPID", "SubState"]);
        const pid = Number(state.MainPID);
        return pid > 0 && pid !== old && state.SubState === "running" ? pid : undefined;
      },
      10_000,
      20,
    );
    // systemd's timestamps, inside the machine: from the death it noticed to the new main process.
    const timing = await show("lweb.service", ["ExecMainStartTimestampMonotonic", "ActiveExitTimestampMonotonic", "NRestarts"]);
    const downMs = (Number(timing.ExecMainStartTimestampMonotonic) - Number(timing.ActiveExitTimestampMonotonic)) / 1000;
    expect(timing.NRestarts).toBe("1");
    expect(downMs).toBeGreaterThanOrEqual(100); // RestartSec=100ms
    expect(downMs).toBeLessThan(1500);
    const startedAtNs = BigInt((await sh(`stat -c %Y%N /proc/${now} >/dev/null; date +%s%N`)).stdout.trim());
    expect(Number(startedAtNs - killedAtNs) / 1e6).toBeLessThan(5000);
    // No procwatch restart ran: the journal has no systemctl restart job for it, only systemd's own scheduling.
    expect(await journalCount(["-u", "lweb.service"], "Scheduled restart job, restart counter is at 1")).toBe(1);

    const event = await waitUntil("the local restart in the spool", async () =>
      (await spool()).find((entry) => entry.process === "lweb" && entry.kind === "local-restart"),
    );
    expect(event).toMatchObject({ unit: "lweb.service", beforePid: old, afterPid: now, escalated: false, nRestarts: 1 });
    expect(event.downMs).toBe(Math.round(downMs));
  });

  it("health reports the local restarts since the last report, and --mark-reported moves the cursor", async () => {
    const first = await health(["--mark-reported"]);
    expect(first.localSupervision).toMatchObject({ restartsSinceLastReport: 1, escalationsSinceLastReport: 0, gaveUp: [] });
    expect(((first.localSupervision?.processes ?? []) as unknown[]).find((entry) => (entry as { process: string }).process === "lweb")).toEqual({
      process: "lweb",
      unit: "lweb.service",
      supervised: true,
      nRestarts: 1,
      gaveUp: false,
    });
    const second = await health();
    expect(second.localSupervision).toMatchObject({ restartsSinceLastReport: 0, sinceLastReport: [] });
  });

  it("a crash loop spends the local budget: systemd stops restarting, OnFailure records the escalation, health says local supervision gave up", async () => {
    await sh("systemctl start lcrash.service");
    await waitUntil(
      "lcrash.service to be failed",
      async () => ((await show("lcrash.service", ["ActiveState"])).ActiveState === "failed" ? true : undefined),
      30_000,
      200,
    );
    const settled = await show("lcrash.service", ["ActiveState", "Result", "NRestarts", "ExecMainStatus"]);
    expect(settled.ActiveState).toBe("failed");
    expect(settled.ExecMainStatus).toBe("3");
    expect(await journalCount(["-u", "lcrash.service"], "Start request repeated too quickly")).toBe(1);
    // systemd ran the process 4 times (StartLimitBurst=4: the start by hand and 3 restarts), then refused.
    expect(await journalCount(["-u", "lcrash.service"], "Main process exited, code=exited, status=3/NOTIMPLEMENTED")).toBe(4);
    expect(await journalCount(["-u", "lcrash.service"], "Triggering OnFailure= dependencies")).toBe(1);

    const events = await waitUntil("the escalation in the spool", async () => {
      const all = (await spool()).filter((entry) => entry.process === "lcrash");
      return all.some((entry) => entry.kind === "local-escalation") ? all : undefined;
    });
    expect(events.filter((entry) => entry.kind === "local-restart").map((entry) => entry.nRestarts)).toEqual([1, 2, 3]);
    const escalation = events.find((entry) => entry.kind === "local-escalation");
    expect(escalation).toMatchObject({ unit: "lcrash.service", escalated: true, afterPid: null });
    expect(escalation?.detail).toContain("systemd stopped restarting it");
    // It stays down: systemd starts nothing more.
    const pidBefore = (await show("lcrash.service", ["ExecMainPID"])).ExecMainPID;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await show("lcrash.service", ["ActiveState", "ExecMainPID"])).toEqual({ ActiveState: "failed", ExecMainPID: pidBefore });

    const report = await health();
    expect(report.localSupervision).toMatchObject({ gaveUp: ["lcrash"], restartsSinceLastReport: 3, escalationsSinceLastReport: 1 });
    expect(report.status).toBe("failing");
    expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ code: "local-supervision-gave-up" })]));
  });

  it("the central restart path takes over once: procwatch-agent restart clears the start limit systemd would refuse on", async () => {
    const refused = await sh("systemctl start lcrash.service || echo refused-$?");
    expect(refused.stdout).toContain("refused-1");
    const run = await agent(["restart", "--process", "lcrash", "--json", "--timeout", "10"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ outcome: "restarted", unit: "lcrash.service" });
    await sh("systemctl stop lcrash.service");
  });

  it("a masked unit: systemd cannot schedule the restart, the unit fails, the escalation says it is masked", async () => {
    const old = Number((await show("lmasked.service", ["MainPID"])).MainPID);
    await sh(`systemctl mask lmasked.service && kill -9 ${old}`);
    await waitUntil("lmasked.service to be failed", async () => ((await show("lmasked.service", ["ActiveState"])).ActiveState === "failed" ? true : undefined));
    expect(await journalCount(["-u", "lmasked.service"], "Failed to schedule restart job: Unit lmasked.service is masked.")).toBe(1);
    expect(await show("lmasked.service", ["LoadState", "MainPID", "NRestarts"])).toEqual({ LoadState: "masked", MainPID: "0", NRestarts: "0" });
    const escalation = await waitUntil("the masked escalation in the spool", async () =>
      (await spool()).find((entry) => entry.process === "lmasked" && entry.kind === "local-escalation"),
    );
    expect(escalation).toMatchObject({ unit: "lmasked.service", beforePid: old, escalated: true });
    expect(escalation.detail).toContain("the unit is masked");
    expect((await health()).localSupervision).toMatchObject({ gaveUp: expect.arrayContaining(["lmasked"]) });
  });
});

describe("a unit systemd cannot supervise with Restart=always", () => {
  const withOneshot = { ...LOCAL_SPEC, processes: [...LOCAL_SPEC.processes, { name: "lone", pattern: `${DAEMONS}/lone-daemon`, detection: "local" }] };

  it("the premise, from systemd itself: procwatch's drop-in on a Type=oneshot unit makes it unloadable", async () => {
    // What an apply without the Type check wrote: lweb's drop-in, renamed for lone.
    await sh(
      `mkdir -p /etc/systemd/system/lone.service.d
       sed 's/lweb/lone/g' /etc/systemd/system/lweb.service.d/${DROP_IN} > /etc/systemd/system/lone.service.d/${DROP_IN}
       systemctl daemon-reload`,
    );
    expect(await show("lone.service", ["Type", "LoadState"])).toEqual({ Type: "oneshot", LoadState: "bad-setting" });
    expect((await sh("systemctl start lone.service 2>&1 || echo refused-$?")).stdout).toContain("refused-");
  });

  it("apply leaves it (and removes such a drop-in), warns, and keeps supervising the other local units", async () => {
    machine().writeFile(SPEC_PATH, `${JSON.stringify(withOneshot, null, 2)}\n`);
    const run = await agent(["apply", "--spec", SPEC_PATH, "--mode", "onPremise", "--json"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(json.localSupervision).toMatchObject({
      installed: [],
      removed: ["lone.service"],
      daemonReloaded: true,
      units: ["lcrash.service", "lmasked.service", "lweb.service"],
      refused: [{ process: "lone", unit: "lone.service", reason: expect.stringContaining("Type=oneshot") }],
    });
    expect(run.stderr).toContain("warning: lone is not supervised locally: lone.service is Type=oneshot");
    expect(await show("lone.service", ["LoadState", "Restart", "DropInPaths"])).toEqual({ LoadState: "loaded", Restart: "no", DropInPaths: "" });
    expect(await show("lweb.service", ["Restart"])).toEqual({ Restart: "always" });
    // The unit can be started again (a oneshot's start waits for its ExecStart: do not wait).
    await sh("systemctl start --no-block lone.service");
    await waitUntil("lone.service to run", async () => ((await show("lone.service", ["SubState"])).SubState === "start" ? true : undefined));
    await sh("systemctl stop lone.service");
  });

  it("health names it as unsupported, with a hint that fits, not 'run apply'", async () => {
    const report = await health();
    const finding = (report.findings as { code: string; message: string; hint: string }[]).find((entry) => entry.message.startsWith("lone "));
    expect(finding).toMatchObject({ code: "local-supervision-unsupported", hint: expect.stringContaining("Type=simple") });
    expect(finding?.message).toContain("Type=oneshot");
    machine().writeFile(SPEC_PATH, `${JSON.stringify(LOCAL_SPEC, null, 2)}\n`);
  });
});

describe("leaving local supervision", () => {
  it("a unit that stops being local loses its drop-in on the next apply (one reload); systemd no longer restarts it", async () => {
    const before = await reloads();
    const { json } = await apply(specWith({ lcrash: "local", lmasked: "local" }));
    expect(json.localSupervision).toMatchObject({ installed: [], removed: ["lweb.service"], template: "unchanged", daemonReloaded: true });
    await expectReloads(before, 1);
    expect(await show("lweb.service", ["Restart", "DropInPaths", "OnFailure"])).toEqual({ Restart: "no", DropInPaths: "", OnFailure: "" });
    expect((await sh("test -e /etc/systemd/system/lweb.service.d && echo present || echo gone")).stdout.trim()).toBe("gone");
  });

  it("procwatch-agent remove leaves no drop-in, no procwatch unit and no spool", async () => {
    const run = await agent(["remove", "--json", "--mode", "onPremise"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      changed: true,
      localSupervision: { removed: ["lcrash.service", "lmasked.service"], template: "removed", daemonReloaded: true },
    });
    expect((await sh(`find /etc/systemd/system /run/systemd -name '${DROP_IN}' -o -name 'procwatch*' | wc -l`)).stdout.trim()).toBe("0");
    expect((await sh("systemctl list-units --all --no-legend --plain 'procwatch*' | wc -l")).stdout.trim()).toBe("0");
    expect((await sh("systemctl list-unit-files --no-legend --plain 'procwatch*' | wc -l")).stdout.trim()).toBe("0");
    for (const unit of ["lcrash.service", "lmasked.service", "lweb.service"]) {
      expect(await show(unit, ["Restart", "DropInPaths", "OnFailure"]), unit).toEqual({ Restart: "no", DropInPaths: "", OnFailure: "" });
    }
    expect((await sh("test -e /var/lib/procwatch && echo present || echo gone")).stdout.trim()).toBe("gone");
    const again = await agent(["remove", "--json", "--mode", "onPremise"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, localSupervision: { removed: [], daemonReloaded: false } });
  });
});
