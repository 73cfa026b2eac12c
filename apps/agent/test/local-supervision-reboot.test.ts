import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GUEST_DAEMONS_DIR as DAEMONS,
  GUEST_DROP_IN_FILE as DROP_IN,
  guestSession,
  GUEST_SPEC_PATH as SPEC_PATH,
  waitUntil,
} from "./systemd-rig/guest-session.ts";
import { type BootedRig, bootRig, ensureRigImage, machineGone, RIG_DIR } from "./systemd-rig/rig.ts";

/**
 * Local supervision (`detection=local`) across a reboot of the guest, on a real systemd (252,
 * Debian bookworm) booted with systemd-nspawn (test/systemd-rig, keepDisk: the guest's disk outlives
 * systemd-nspawn). The reboot is the guest's own `systemctl reboot`: systemd stops every unit and
 * asks nspawn to reboot (exit 133), and the rig boots the same disk again, as systemd-nspawn@.service
 * does. No procwatch command runs between the two boots: whatever works afterwards, works because
 * it was on the disk. Expectations about units come from systemd (`systemctl show`, the journal).
 */
const AGENT_BINARY = join(import.meta.dirname, "..", "dist", "procwatch-agent-linux-x64");
const CURSOR = "/var/lib/procwatch/local-events.reported";

const UNITS: Record<string, string> = {
  // Enabled: the admin wants it at boot. Restart=no of its own: only procwatch's drop-in restarts it.
  "rweb.service": `[Service]\nExecStart=${DAEMONS}/rweb-daemon infinity\n\n[Install]\nWantedBy=multi-user.target\n`,
  // Local too, but never enabled: started by hand before the reboot, so it must not come back at boot.
  "rmanual.service": `[Service]\nExecStart=${DAEMONS}/rmanual-daemon infinity\n\n[Install]\nWantedBy=multi-user.target\n`,
};

const SPEC = {
  version: 1,
  processes: ["rweb", "rmanual"].map((name) => ({ name, pattern: `${DAEMONS}/${name}-daemon`, detection: "local" })),
};

interface LocalReport {
  readonly restartsSinceLastReport: number;
  readonly escalationsSinceLastReport: number;
  readonly gaveUp: readonly string[];
}

let rig: BootedRig | undefined;
const timings: { bootMs?: number; shutdownMs?: number; rebootBootMs?: number } = {};

const { machine, agent, sh, show, spoolText, spool, journalCount } = guestSession(() => rig);

async function localReport(extra: readonly string[] = []): Promise<LocalReport> {
  const run = await agent(["health", "--spec", SPEC_PATH, "--json", ...extra]);
  return (JSON.parse(run.stdout) as { localSupervision: LocalReport }).localSupervision;
}

async function bootId(): Promise<string> {
  return (await sh("cat /proc/sys/kernel/random/boot_id")).stdout.trim();
}

/**
 * kill -9 of the unit's main process, then systemd's restart: the new pid and systemd's own
 * measure of the downtime (from the exit it noticed to the new main process).
 */
async function killAndRestart(unit: string, nRestarts: number): Promise<{ old: number; now: number; downMs: number; wallMs: number }> {
  const old = Number((await show(unit, ["MainPID"])).MainPID);
  expect(old, `${unit} has no main process`).toBeGreaterThan(0);
  const killedAtNs = BigInt((await sh(`kill -9 ${old}; date +%s%N`)).stdout.trim());
  const now = await waitUntil(
    `${unit} to run a new main pid`,
    async () => {
      const state = await show(unit, ["MainPID", "SubState", "NRestarts"]);
      const pid = Number(state.MainPID);
      return pid > 0 && pid !== old && state.SubState === "running" && state.NRestarts === String(nRestarts) ? pid : undefined;
    },
    10_000,
    20,
  );
  const startedAtNs = BigInt((await sh("date +%s%N")).stdout.trim());
  const timing = await show(unit, ["ExecMainStartTimestampMonotonic", "ActiveExitTimestampMonotonic"]);
  const downMs = (Number(timing.ExecMainStartTimestampMonotonic) - Number(timing.ActiveExitTimestampMonotonic)) / 1000;
  return { old, now, downMs, wallMs: Number(startedAtNs - killedAtNs) / 1e6 };
}

/** kill -9 with the budget spent: systemd refuses the restart ("Start request repeated too quickly"), the unit fails, OnFailure= escalates. */
async function killIntoStartLimit(unit: string): Promise<{ old: number; nRestarts: number }> {
  const old = Number((await show(unit, ["MainPID"])).MainPID);
  await sh(`kill -9 ${old}`);
  await waitUntil(`${unit} to be failed`, async () => ((await show(unit, ["ActiveState"])).ActiveState === "failed" ? true : undefined), 20_000, 100);
  // systemd 252 keeps Result= of the last exit (signal), and counts the refused restart in NRestarts
  // (3 restarts, then a 4th it refused); the journal says why it did not restart.
  const failed = await show(unit, ["ActiveState", "Result", "MainPID", "NRestarts"]);
  expect(failed).toEqual({ ActiveState: "failed", Result: "signal", MainPID: "0", NRestarts: "4" });
  return { old, nRestarts: Number(failed.NRestarts) };
}

const SUPERVISED = {
  Restart: "always",
  RestartUSec: "100ms",
  StartLimitBurst: "4",
  StartLimitIntervalUSec: "30min",
  OnFailure: "procwatch-escalate@rweb.service",
  DropInPaths: `/etc/systemd/system/rweb.service.d/${DROP_IN}`,
};
const SUPERVISED_PROPERTIES = Object.keys(SUPERVISED);

beforeAll(async () => {
  const image = await ensureRigImage(12 * 60_000);
  rig = await bootRig(image.root, { timeoutMs: 90_000, keepDisk: true });
  timings.bootMs = rig.bootMs;
  rig.copyIn(AGENT_BINARY, "/usr/local/bin/procwatch-agent", 0o755);
  rig.copyIn(join(RIG_DIR, "fake-cwagent-ctl.sh"), "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", 0o755);
  rig.writeFile("/opt/aws/amazon-cloudwatch-agent/logs/ctl-calls.log", "");
  for (const [unit, text] of Object.entries(UNITS)) rig.writeFile(`/usr/lib/systemd/system/${unit}`, text);
  const setup = await rig.exec(
    [
      "/bin/bash",
      "-euc",
      `mkdir -p ${DAEMONS}
       for daemon in rweb rmanual; do cp /usr/bin/sleep ${DAEMONS}/$daemon-daemon; done
       systemctl daemon-reload
       systemctl enable --now rweb.service
       systemctl start rmanual.service`,
    ],
    { timeoutMs: 30_000 },
  );
  if (setup.exitCode !== 0) throw new Error(`setting up the rig's units failed: ${setup.stderr}`);
}, 15 * 60_000);

afterAll(async () => {
  if (rig === undefined) return;
  const leader = rig.leader;
  const down = await rig.shutdown();
  console.log(
    `systemd rig (keepDisk): first boot ${timings.bootMs} ms; reboot: shutdown ${timings.shutdownMs} ms (systemctl reboot → nspawn exit 133), boot ${timings.rebootBootMs} ms; poweroff ${down.ms} ms (${down.cleanly ? "clean" : "killed"})`,
  );
  expect(machineGone(leader), "the rig's systemd is still running after shutdown").toBe(true);
  // The rig's overlay disk is unmounted from this host.
  expect(
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((line) => line.includes("/procwatch-rig-")),
  ).toEqual([]);
}, 60_000);

describe("local supervision survives a reboot of the guest", () => {
  let spoolBeforeReboot = "";
  let cursorBeforeReboot = "";
  let bootBefore = "";

  it("before the reboot: apply installs the drop-ins; a crash loop spends rweb's whole budget and escalates; the report is marked", async () => {
    machine().writeFile(SPEC_PATH, `${JSON.stringify(SPEC, null, 2)}\n`);
    const applied = await agent(["apply", "--spec", SPEC_PATH, "--mode", "onPremise", "--json"]);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(await show("rweb.service", SUPERVISED_PROPERTIES)).toEqual(SUPERVISED);
    // rweb was started before the drop-in existed; apply's daemon-reload gave systemd a new start
    // limit (and, as observed on 252, a fresh count). A start by hand opens the window, as an admin would.
    await sh("systemctl restart rweb.service");

    // Budget 3 restarts in 30 minutes (StartLimitBurst=4: the start and 3 restarts): the 4th kill is refused.
    for (const n of [1, 2, 3]) await killAndRestart("rweb.service", n);
    const refused = await killIntoStartLimit("rweb.service");
    expect(await journalCount(["-b", "0", "-u", "rweb.service"], "Start request repeated too quickly")).toBe(1);
    const events = await waitUntil("rweb's escalation in the spool", async () => {
      const all = await spool();
      return all.some((event) => event.kind === "local-escalation") ? all : undefined;
    });
    expect(events.map((event) => [event.process, event.kind, event.nRestarts])).toEqual([
      ["rweb", "local-restart", 1],
      ["rweb", "local-restart", 2],
      ["rweb", "local-restart", 3],
      ["rweb", "local-escalation", refused.nRestarts],
    ]);
    expect(await localReport(["--mark-reported"])).toMatchObject({ restartsSinceLastReport: 3, escalationsSinceLastReport: 1, gaveUp: ["rweb"] });
    expect(await localReport()).toMatchObject({ restartsSinceLastReport: 0, escalationsSinceLastReport: 0 });

    spoolBeforeReboot = await spoolText();
    cursorBeforeReboot = (await sh(`cat ${CURSOR}`)).stdout;
    bootBefore = await bootId();
    expect(await show("rmanual.service", ["ActiveState", "UnitFileState"])).toEqual({ ActiveState: "active", UnitFileState: "disabled" });
  }, 60_000);

  it("systemctl reboot: the guest shuts down and boots again on the same disk", async () => {
    const rebooted = await machine().reboot();
    timings.shutdownMs = rebooted.shutdownMs;
    timings.rebootBootMs = rebooted.bootMs;
    expect(rebooted.nspawnExit).toBe(133);
    expect(await bootId()).not.toBe(bootBefore);
    // The persistent journal has both boots; the first one ended with systemd's own reboot.
    const boots = (await sh("journalctl --list-boots --no-pager")).stdout.split("\n").filter((line) => /^\s*-?\d+ [0-9a-f]{32} /.test(line));
    expect(boots.map((line) => line.trim().split(/\s+/)[0])).toEqual(["-1", "0"]);
    expect(await journalCount(["-b", "-1", "_PID=1"], "Reached target reboot.target - System Reboot.")).toBe(1);
  }, 120_000);

  it("the enabled local unit came back at boot, started by systemd, with a fresh restart counter", async () => {
    expect(await show("rweb.service", ["ActiveState", "SubState", "UnitFileState", "NRestarts", "Result"])).toEqual({
      ActiveState: "active",
      SubState: "running",
      UnitFileState: "enabled",
      NRestarts: "0",
      Result: "success",
    });
    // Started by the boot transaction (multi-user.target wants it), not by anything procwatch ran.
    expect(await journalCount(["-b", "0", "_PID=1"], "Started rweb.service")).toBe(1);
    expect(await journalCount(["-b", "0", "-u", "rweb.service"], "Scheduled restart job")).toBe(0);
    // Neither the shutdown (systemd stopped rmanual, a stop and not a crash) nor the boot is a local restart or an escalation.
    expect(await journalCount(["-b", "-1", "_PID=1"], "Stopped rmanual.service")).toBe(1);
    expect(await spoolText()).toBe(spoolBeforeReboot);
    expect(await show("procwatch-escalate@rweb.service", ["ActiveState"])).toEqual({ ActiveState: "inactive" });
  });

  it("its procwatch drop-in and the escalation template are still in force", async () => {
    expect(await show("rweb.service", SUPERVISED_PROPERTIES)).toEqual(SUPERVISED);
    expect(await show("procwatch-escalate@rweb.service", ["LoadState", "FragmentPath"])).toEqual({
      LoadState: "loaded",
      FragmentPath: "/etc/systemd/system/procwatch-escalate@.service",
    });
    expect(await show("rmanual.service", ["Restart", "DropInPaths"])).toEqual({
      Restart: "always",
      DropInPaths: `/etc/systemd/system/rmanual.service.d/${DROP_IN}`,
    });
  });

  it("a local unit that was never enabled stays down after the reboot: Restart= does not start anything at boot", async () => {
    expect(await show("rmanual.service", ["ActiveState", "UnitFileState", "NRestarts", "MainPID"])).toEqual({
      ActiveState: "inactive",
      UnitFileState: "disabled",
      NRestarts: "0",
      MainPID: "0",
    });
    expect((await spool()).filter((event) => event.process === "rmanual")).toEqual([]);
  });

  it("the spool and its report cursor survived: nothing new to report, local supervision no longer says it gave up", async () => {
    expect((await sh(`cat ${CURSOR}`)).stdout).toBe(cursorBeforeReboot);
    expect(await localReport()).toMatchObject({ restartsSinceLastReport: 0, escalationsSinceLastReport: 0, gaveUp: [] });
  });

  it("kill -9 after the reboot: systemd restarts it within about a second; spooled with before/after pids and reported once", async () => {
    const restart = await killAndRestart("rweb.service", 1);
    expect(restart.downMs).toBeGreaterThanOrEqual(100); // RestartSec=100ms
    expect(restart.downMs).toBeLessThan(1500);
    expect(restart.wallMs).toBeLessThan(5000);
    expect(await journalCount(["-b", "0", "-u", "rweb.service"], "Scheduled restart job, restart counter is at 1")).toBe(1);
    const event = await waitUntil("the post-reboot restart in the spool", async () => {
      const all = await spool();
      return all.length > 4 ? all.at(-1) : undefined;
    });
    expect(event).toMatchObject({
      process: "rweb",
      kind: "local-restart",
      unit: "rweb.service",
      beforePid: restart.old,
      afterPid: restart.now,
      nRestarts: 1,
      escalated: false,
    });
    expect(event.downMs).toBe(Math.round(restart.downMs));
    expect((await spoolText()).startsWith(spoolBeforeReboot)).toBe(true);
    expect(await localReport()).toMatchObject({ restartsSinceLastReport: 1, escalationsSinceLastReport: 0, gaveUp: [] });
  }, 60_000);

  it("the budget started fresh at boot: 3 restarts again (the crash loop before the reboot does not count), then systemd gives up and escalates", async () => {
    for (const n of [2, 3]) {
      const restart = await killAndRestart("rweb.service", n);
      expect(restart.downMs).toBeLessThan(1500);
    }
    const refused = await killIntoStartLimit("rweb.service");
    expect(await journalCount(["-b", "0", "-u", "rweb.service"], "Start request repeated too quickly")).toBe(1);
    expect(await journalCount(["-b", "0", "-u", "rweb.service"], "Triggering OnFailure= dependencies")).toBe(1);
    const escalation = await waitUntil("the post-reboot escalation in the spool", async () => {
      const all = await spool();
      return all.length > 7 ? all.at(-1) : undefined;
    });
    expect(escalation).toMatchObject({
      process: "rweb",
      kind: "local-escalation",
      unit: "rweb.service",
      beforePid: refused.old,
      escalated: true,
      nRestarts: refused.nRestarts,
    });
    expect((await spool()).slice(4).map((event) => [event.kind, event.nRestarts])).toEqual([
      ["local-restart", 1],
      ["local-restart", 2],
      ["local-restart", 3],
      ["local-escalation", refused.nRestarts],
    ]);
    expect(await localReport()).toMatchObject({ restartsSinceLastReport: 3, escalationsSinceLastReport: 1, gaveUp: ["rweb"] });
  }, 60_000);
});
