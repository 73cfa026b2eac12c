/**
 * Which processes are procwatch itself. `restart --process puma` and `health --spec puma.json`
 * carry the watched name in their own command line, and so does the shell (or sudo, timeout, cron's
 * `sh -c`) that runs them: a `pattern` selector would count them, report "already running" and
 * leave the real process down. So procwatch never counts:
 *   - its own pid;
 *   - any ancestor whose command line contains procwatch's own arguments (`sh -c "procwatch-agent
 *     restart --process puma"`, `sudo procwatch-agent …`, `timeout 60 procwatch-agent …`);
 *   - its parent when that parent is a shell (SSM runs documents as `sh …/_script.sh`).
 * Other ancestors stay countable on purpose: a monitoring daemon that runs `procwatch-agent health`
 * as a check (NRPE, a Consul check) may itself be a watched process.
 */
export interface AncestorRecord {
  readonly pid: number;
  /** Process name from /proc/<pid>/stat (the kernel's comm, at most 15 characters). */
  readonly comm: string;
  /** Joined command line, or null when unreadable. */
  readonly cmdline: string | null;
}

const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish", "tcsh", "csh"]);

/** `ownArguments` is procwatch's command line without argv[0], joined by spaces; ancestors are parent first. */
export function ownProcessPids(selfPid: number, ownArguments: string, ancestors: readonly AncestorRecord[]): Set<number> {
  const own = new Set([selfPid]);
  ancestors.forEach((ancestor, index) => {
    if (ancestor.pid <= 1) return;
    const carriesOurArguments = ownArguments !== "" && ancestor.cmdline !== null && ancestor.cmdline.includes(ownArguments);
    const isParentShell = index === 0 && SHELLS.has(ancestor.comm);
    if (carriesOurArguments || isParentShell) own.add(ancestor.pid);
  });
  return own;
}
