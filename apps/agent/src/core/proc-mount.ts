/**
 * Whether /proc hides other users' processes from the CloudWatch agent's user.
 *
 * proc(5), "Mount options": with `hidepid=1`/`noaccess` a user may not read the files inside other
 * users' /proc/<pid> directories (cmdline, status, exe among them); `hidepid=2`/`invisible` also
 * hides the directories; `hidepid=4`/`ptraceable` (Linux 5.8) shows only processes the caller may
 * ptrace. Members of the mount's `gid=` group see everything, as with `hidepid=0`. The kernel's
 * check is fs/proc/base.c `has_pid_permissions`: `in_group_p(gid)`, otherwise `ptrace_may_access`,
 * which a non-root user passes only for its own processes.
 *
 * So on such a host a CloudWatch agent that runs as `cwagent` (`agent.run_as_user`) counts only
 * cwagent's own processes, whatever the selector: an `exe` link and a command line alike. Every
 * alarm of a process owned by another user fires while it runs.
 */
export type HidePid = "noaccess" | "invisible" | "ptraceable";

export interface ProcMountRestriction {
  readonly hidepid: HidePid;
  /** The option as the mount shows it (`hidepid=2`, `hidepid=invisible`), for messages. */
  readonly option: string;
  /** The mount's `gid=`: its members see every process. */
  readonly gid: number | null;
}

const HIDEPID_VALUES: Readonly<Record<string, HidePid | null>> = {
  "0": null,
  off: null,
  "1": "noaccess",
  noaccess: "noaccess",
  "2": "invisible",
  invisible: "invisible",
  "4": "ptraceable",
  ptraceable: "ptraceable",
};

/**
 * The restriction of the /proc mount in /proc/self/mountinfo text (proc(5), /proc/pid/mountinfo:
 * ID, parent, major:minor, root, mount point, options, optional fields, `-`, type, source, super
 * options), or null when /proc shows every process. The last proc mount at /proc wins, as a later
 * mount hides an earlier one at the same point.
 */
export function procMountRestrictionOf(mountinfo: string, mountPoint = "/proc"): ProcMountRestriction | null {
  let restriction: ProcMountRestriction | null = null;
  let found = false;
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    if (separator < 0 || fields[4] !== mountPoint || fields[separator + 1] !== "proc") continue;
    found = true;
    const options = (fields[separator + 3] ?? "").split(",");
    const hidepidOption = options.find((option) => option.startsWith("hidepid="));
    const hidepid = hidepidOption === undefined ? null : (HIDEPID_VALUES[hidepidOption.slice("hidepid=".length)] ?? null);
    const gidOption = options.find((option) => option.startsWith("gid="))?.slice("gid=".length);
    const gid = gidOption !== undefined && /^[0-9]+$/.test(gidOption) ? Number(gidOption) : null;
    restriction = hidepid === null || hidepidOption === undefined ? null : { hidepid, option: hidepidOption, gid };
  }
  return found ? restriction : null;
}

/**
 * Whether a user sees only its own processes under this restriction: not when it is a member of
 * the mount's group, as its primary group or listed in /etc/group (`name:password:gid:members`).
 */
export function seesOnlyOwnProcesses(
  restriction: ProcMountRestriction | null,
  user: { readonly name: string; readonly primaryGid: number | null },
  groupText: string | null,
): boolean {
  if (restriction === null) return false;
  if (restriction.gid === null) return true;
  if (user.primaryGid === restriction.gid) return false;
  for (const line of (groupText ?? "").split("\n")) {
    const fields = line.split(":");
    if (fields.length < 4 || fields[2] !== String(restriction.gid)) continue;
    if ((fields[3] ?? "").split(",").includes(user.name)) return false;
  }
  return true;
}
