import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { procMountRestrictionOf } from "../src/core/proc-mount.ts";
import { Scratch } from "./helpers.ts";

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

/** Reads a process's command line through `procRoot` as the agent's uid, with or without the view group. */
function readAsAgent(procRoot: string, pid: number, withViewGroup: boolean): boolean {
  const groups = withViewGroup ? ["--groups", String(VIEW_GID)] : ["--clear-groups"];
  return (
    spawnSync("setpriv", [`--reuid=${AGENT_UID}`, `--regid=${AGENT_UID}`, ...groups, "cat", `${procRoot}/${pid}/cmdline`], { stdio: "ignore" }).status === 0
  );
}

/**
 * What core/proc-mount.ts assumes of the kernel (proc(5), fs/proc/base.c has_pid_permissions), on
 * this machine's kernel: a proc instance mounted with hidepid=2,gid=G is reported in mountinfo as
 * procwatch parses it, hides root's processes from another user, and not from a member of G.
 * Needs root (mount, setpriv), as the systemd rig does; it fails rather than skips without it.
 */
describe("hidepid on a real proc mount", () => {
  it("is parsed from this process's mountinfo, hides root's command lines from the agent's uid, and its gid= group lifts it", () => {
    const mountPoint = mkdtempSync(join(tmpdir(), "pwproc-"));
    execFileSync("mount", ["-t", "proc", "-o", `hidepid=2,gid=${VIEW_GID}`, "proc", mountPoint]);
    mounts.push(mountPoint);
    const restriction = procMountRestrictionOf(readFileSync("/proc/self/mountinfo", "utf8"), mountPoint);
    expect(restriction).toMatchObject({ hidepid: "invisible", gid: VIEW_GID });

    const root = scratch.start("/bin/sleep", ["300"]);
    expect(readAsAgent("/proc", root.pid!, false)).toBe(true);
    expect(readAsAgent(mountPoint, root.pid!, false)).toBe(false);
    expect(readAsAgent(mountPoint, root.pid!, true)).toBe(true);
  });
});
