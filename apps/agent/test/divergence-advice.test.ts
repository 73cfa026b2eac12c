import { existsSync, readlinkSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport } from "../src/core/health.ts";
import { runAgent, Scratch, uniqueName, waitFor, writeJson } from "./helpers.ts";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/**
 * A daemon started through a symlink to a multi-call binary (busybox applets such as crond,
 * syslogd, ntpd on Alpine) or retitled by an interpreter (`puma 6.4.0 (tcp://…)` under ruby) runs
 * with argv[0] = its name and /proc/<pid>/exe = another file. The CloudWatch agent's argv[0]
 * pattern counts it (so the alarm is quiet, which is right: the daemon runs), health's exe regex
 * does not. Health reports the divergence; its advice used to be to tag a selector "that does not
 * match" the running daemon, and following it made the alarm fire while the daemon ran. The finding
 * names a working tag instead (the argv[0] literal counts exactly this process), checked by health.
 */
describe("health's advice when the agent counts a process by argv[0] that the exe link does not name", () => {
  it("a busybox-style applet started through a symlink: the finding offers a tag that counts it, not one that stops counting it", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwapplet");
    const multiCall = scratch.copySleep(dir, uniqueName("pwbusybox"));
    const applet = join(dir, name);
    symlinkSync(multiCall, applet);
    const child = scratch.start(applet, ["300"]);
    await waitFor(() => existsSync(`/proc/${child.pid}/exe`) && readlinkSync(`/proc/${child.pid}/exe`) === multiCall);

    const specPath = join(dir, "spec.json");
    writeJson(specPath, { version: 1, processes: [{ name }] });
    const run = await runAgent(["health", "--spec", specPath, "--json"], {
      PROCWATCH_STATE_DIR: join(dir, "state"),
      PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
    });
    const process = run.json<HealthReport>().processes[0]!;
    // What the agent publishes: 1 (the alarm stays OK while the applet runs).
    expect(process.agentPidCount).toBe(1);
    // The advice before the fix: "... tag procwatch:process:<name> with a selector that does not match pid N".
    expect(process.findings.join("\n")).not.toContain("with a selector that does not match");
    expect(process.findings.join("\n")).toMatch(new RegExp(`tag procwatch:process:${name} = match=pattern pattern=\\S+ counts exactly`));
  });
});
