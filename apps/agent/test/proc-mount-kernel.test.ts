import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { procMountRestrictionOf } from "../src/core/proc-mount.ts";
import { Scratch, waitFor } from "./helpers.ts";

const scratch = new Scratch();
const mounts: string[] = [];
afterEach(() => {
  for (const mountPoint of mounts.splice(0)) {
    spawnSync("umount", [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
  scratch.cleanup();
});

/** An unprivileged uid and a group that no account here uses, as the CloudWatch agent's cwagent would be. */
const AGENT_UID = 64_998;
const VIEW_GID = 64_997;

/** Reads a process's command line through `procRoot` as the agent's uid (primary gid `primaryGid`), with or without the view group. */
function readAsAgent(procRoot: string, pid: number, withViewGroup: boolean, primaryGid = AGENT_UID): boolean {
  const groups = withViewGroup ? ["--groups", String(VIEW_GID)] : ["--clear-groups"];
  const read = spawnSync("setpriv", [`--reuid=${AGENT_UID}`, `--regid=${primaryGid}`, ...groups, "cat", `${procRoot}/${pid}/cmdline`], { stdio: "ignore" });
  return read.status === 0;
}

function mountProc(options: string): string {
  const mountPoint = mkdtempSync(join(tmpdir(), "pwproc-"));
  execFileSync("mount", ["-t", "proc", "-o", options, "proc", mountPoint]);
  mounts.push(mountPoint);
  return mountPoint;
}

const mountinfo = () => readFileSync("/proc/self/mountinfo", "utf8");

/**
 * What core/proc-mount.ts assumes of the kernel (proc(5), fs/proc/base.c has_pid_permissions), on
 * this machine's kernel, through proc instances mounted with hidepid: how mountinfo reports them,
 * what another user reads, what the gid= group lifts. Needs root (mount, setpriv), as the systemd
 * rig does; it fails rather than skips without it.
 */
describe("hidepid on a real proc mount", () => {
  it("is parsed from this process's mountinfo, hides root's command lines from the agent's uid, and its gid= group lifts it", () => {
    const mountPoint = mountProc(`hidepid=2,gid=${VIEW_GID}`);
    expect(procMountRestrictionOf(mountinfo(), mountPoint)).toMatchObject({ hidepid: "invisible", gid: VIEW_GID });

    const root = scratch.start("/bin/sleep", ["300"]);
    expect(readAsAgent("/proc", root.pid!, false)).toBe(true);
    expect(readAsAgent(mountPoint, root.pid!, false)).toBe(false);
    expect(readAsAgent(mountPoint, root.pid!, true)).toBe(true);
  });

  it("without gid= the group is root's (and not printed); ptraceable ignores gid=; the agent's own uid with another gid is hidden", async () => {
    const root = scratch.start("/bin/sleep", ["300"]);
    const defaultGroup = mountProc("hidepid=2");
    expect(procMountRestrictionOf(mountinfo(), defaultGroup)).toMatchObject({ hidepid: "invisible", gid: 0 });
    expect(readAsAgent(defaultGroup, root.pid!, false)).toBe(false);
    expect(readAsAgent(defaultGroup, root.pid!, false, 0)).toBe(true);

    const ptraceable = mountProc(`hidepid=ptraceable,gid=${VIEW_GID}`);
    expect(procMountRestrictionOf(mountinfo(), ptraceable)?.hidepid).toBe("ptraceable");
    expect(readAsAgent(ptraceable, root.pid!, true)).toBe(false);
    expect(readAsAgent(ptraceable, root.pid!, false, VIEW_GID)).toBe(false);

    // The agent's uid, another gid (a setgid program its user started): hidden unless the gids match too.
    const otherGid = scratch.start("setpriv", [`--reuid=${AGENT_UID}`, `--regid=${VIEW_GID}`, "--clear-groups", "/bin/sleep", "300"]);
    await waitFor(() => readFileSync(`/proc/${otherGid.pid}/cmdline`, "utf8").startsWith("/bin/sleep"));
    expect(readAsAgent(defaultGroup, otherGid.pid!, false)).toBe(false);
    expect(readAsAgent(defaultGroup, otherGid.pid!, false, VIEW_GID)).toBe(true);
  });
});
