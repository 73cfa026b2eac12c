/**
 * Whether /proc hides other users' processes from the CloudWatch agent's user.
 *
 * proc(5), "Mount options": with `hidepid=1`/`noaccess` a user may not read the files inside other
 * users' /proc/<pid> directories (cmdline, status, exe among them); `hidepid=2`/`invisible` also
 * hides the directories; `hidepid=4`/`ptraceable` (Linux 5.8) shows only processes the caller may
 * ptrace. The kernel's check is fs/proc/base.c `has_pid_permissions`: for `ptraceable` only
 * `ptrace_may_access`; for 1 and 2, members of the mount's `gid=` group (0 when the option is
 * absent: the kernel then does not print it) pass, everyone else needs `ptrace_may_access`, which a
 * non-root user passes only for processes with its own uids and gids.
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
  /** The mount's `gid=` (0 when not shown): its members see every process, except under `ptraceable`. */
  readonly gid: number;
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
 * The restriction of the mount at `mountPoint` in /proc/self/mountinfo text (proc(5),
 * /proc/pid/mountinfo: ID, parent ID, major:minor, root, mount point, options, optional fields,
 * `-`, type, source, super options), or null when what is mounted there shows every process. Of
 * several mounts at one point the top one counts: the one no other mount there sits on (line order
 * is not stacking order once `mount --move` is involved); when it is not proc, nothing is hidden by it.
 */
export function procMountRestrictionOf(mountinfo: string, mountPoint = "/proc"): ProcMountRestriction | null {
  const mounts: { id: string; parent: string; type: string | undefined; superOptions: string }[] = [];
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    if (separator < 0 || fields[4] !== mountPoint) continue;
    mounts.push({ id: fields[0] ?? "", parent: fields[1] ?? "", type: fields[separator + 1], superOptions: fields[separator + 3] ?? "" });
  }
  const top = mounts.find((mount) => !mounts.some((other) => other.parent === mount.id));
  if (top === undefined || top.type !== "proc") return null;
  const options = top.superOptions.split(",");
  const hidepidOption = options.find((option) => option.startsWith("hidepid="));
  const hidepid = hidepidOption === undefined ? null : (HIDEPID_VALUES[hidepidOption.slice("hidepid=".length)] ?? null);
  if (hidepid === null || hidepidOption === undefined) return null;
  const gidOption = options.find((option) => option.startsWith("gid="))?.slice("gid=".length);
  return { hidepid, option: hidepidOption, gid: gidOption !== undefined && /^[0-9]+$/.test(gidOption) ? Number(gidOption) : 0 };
}

/**
 * Whether a user sees only its own processes under this restriction. Not when it is a member of the
 * mount's group (except under `ptraceable`, which ignores it): its primary group, or listed in
 * /etc/group as the CloudWatch agent reads it before it drops root (aws/amazon-cloudwatch-agent
 * internal/util/user/userutil_linux.go `getGroupIds`: each line trimmed, `#` lines skipped, split
 * into at most 4 fields, members split on `,`; `switchUser` then calls Setgroups, Setgid, Setuid).
 */
export function seesOnlyOwnProcesses(
  restriction: ProcMountRestriction | null,
  user: { readonly name: string; readonly primaryGid: number | null },
  groupText: string | null,
): boolean {
  if (restriction === null) return false;
  if (restriction.hidepid === "ptraceable") return true;
  if (user.primaryGid === restriction.gid) return false;
  for (const rawLine of (groupText ?? "").split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [, , gid, members] = splitFields(line, 4);
    if (gid !== String(restriction.gid) || members === undefined) continue;
    if (members.split(",").includes(user.name)) return false;
  }
  return true;
}

/** Go's strings.SplitN(text, ":", limit): the last field keeps the rest. */
function splitFields(text: string, limit: number): string[] {
  const fields = text.split(":");
  return fields.length <= limit ? fields : [...fields.slice(0, limit - 1), fields.slice(limit - 1).join(":")];
}
