import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * A real systemd for the agent's tests: a Debian root (built once per machine by build-rig.sh and
 * cached under /var/cache/procwatch-systemd-rig/) booted with `systemd-nspawn --boot`, which runs
 * systemd as PID 1 of its own PID, mount, UTS, IPC and network namespaces. Commands run inside it
 * through `nsenter --target <its PID 1> --all`, files go in through /proc/<its PID 1>/root.
 *
 * The root is booted with --volatile=overlay: every write lands in a tmpfs that goes away with the
 * machine, so the cached image is never changed and each boot starts clean. --private-network: the
 * machine has only a loopback interface. Nothing here registers with machined or needs systemd on
 * the host (PID 1 on these machines is not systemd; --register=no --keep-unit).
 *
 * A test that reboots the guest boots with keepDisk: the overlay's upper directory is then on the
 * host's disk and outlives systemd-nspawn, which exits (133) when the guest reboots; reboot() boots
 * the same disk again.
 */
export const RIG_DIR = import.meta.dirname;
export const BUILD_RIG_SCRIPT = join(RIG_DIR, "build-rig.sh");

/** The PATH the SSM Agent and systemd give the processes they start on Debian. */
export const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export class RigUnavailableError extends Error {
  override readonly name = "RigUnavailableError";
}

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

function which(tool: string): string | null {
  for (const dir of HOST_PATH.split(":")) {
    const path = join(dir, tool);
    if (existsSync(path)) return path;
  }
  return null;
}

/**
 * What this machine lacks to run the rig, as one message naming the packages and the fix; null
 * when it has everything. Never a reason to skip: the caller throws it.
 */
export function missingPrerequisites(): string | null {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push(`the tests run as uid ${process.getuid?.()}, and systemd-nspawn --boot needs root`);
  const tools: Array<[string, string]> = [
    ["systemd-nspawn", "systemd-container"],
    ["debootstrap", "debootstrap"],
    ["nsenter", "util-linux"],
    ["flock", "util-linux"],
  ];
  for (const [tool, debianPackage] of tools) {
    if (which(tool) === null) problems.push(`${tool} is missing (Debian package ${debianPackage})`);
  }
  if (problems.length === 0) return null;
  return `the real-systemd tests cannot run on this machine: ${problems.join("; ")}. Run scripts/bootstrap as root (it installs the packages and builds the rig), then rerun the tests.`;
}

/** Runs build-rig.sh (a no-op when the cached root exists) and returns the root's path. */
export async function ensureRigImage(timeoutMs: number): Promise<{ root: string; buildMs: number; log: string }> {
  const missing = missingPrerequisites();
  if (missing !== null) throw new RigUnavailableError(missing);
  const started = performance.now();
  const result = await run("bash", [BUILD_RIG_SCRIPT], { timeoutMs, env: { PATH: HOST_PATH } });
  const root = result.stdout.trim().split("\n").at(-1) ?? "";
  if (result.exitCode !== 0 || !existsSync(join(root, "usr/lib/systemd/systemd"))) {
    throw new RigUnavailableError(
      `the real-systemd tests cannot run: ${BUILD_RIG_SCRIPT} ${result.timedOut ? `did not finish within ${timeoutMs / 1000} s` : `failed (exit ${result.exitCode})`}:\n${result.stderr.trim()}\nRun scripts/bootstrap as root to install what it needs and build the rig.`,
    );
  }
  return { root, buildMs: Math.round(performance.now() - started), log: result.stderr };
}

export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { env: { ...options.env }, timeout: options.timeoutMs ?? 30_000, killSignal: "SIGKILL", encoding: "utf8", maxBuffer: 16 * 1024 * 1024, cwd: options.cwd },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : -1;
        resolve({ exitCode: code, stdout, stderr, timedOut: error !== null && (error as { killed?: boolean }).killed === true });
      },
    );
  });
}

export interface BootedRig {
  readonly name: string;
  /** PID (on this host) of the machine's systemd (of the current boot). */
  readonly leader: number;
  /** The first boot's time. */
  readonly bootMs: number;
  /** Host path of a file inside the machine. */
  hostPath(path: string): string;
  writeFile(path: string, content: string | Buffer, mode?: number): void;
  copyIn(hostFile: string, path: string, mode: number): void;
  /** Runs argv inside the machine (all its namespaces) with a clean environment: HOST_PATH plus `env`. */
  exec(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** `systemctl show -p ... unit` as a record. */
  show(unit: string, properties: readonly string[]): Promise<Record<string, string>>;
  /**
   * `systemctl reboot` in the guest: systemd stops everything and asks systemd-nspawn to reboot, which
   * exits 133; the rig then boots the same disk again, as systemd-nspawn@.service does. Needs keepDisk.
   * `leader`, exec() and hostPath() follow the new boot.
   */
  reboot(options?: { readonly shutdownTimeoutMs?: number }): Promise<{ shutdownMs: number; bootMs: number; nspawnExit: number }>;
  /** Powers the machine off (SIGKILL to its PID 1 if that does not end it in time); never throws. */
  shutdown(): Promise<{ cleanly: boolean; ms: number }>;
  readonly bootLog: string;
}

const liveMachines = new Set<number>();
/** Overlay mounts of keepDisk machines still mounted on this host (unmounted at exit as a last resort). */
const liveDisks = new Set<Disk>();
process.once("exit", () => {
  // Last resort if a worker dies without afterAll: SIGKILL to a PID namespace's init kills all of it.
  for (const leader of liveMachines) {
    try {
      process.kill(leader, "SIGKILL");
    } catch {}
  }
  for (const disk of liveDisks) spawnSync("umount", ["--lazy", disk.merged], { env: { PATH: HOST_PATH }, timeout: 5000 });
});

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export interface BootOptions {
  readonly timeoutMs: number;
  readonly binds?: ReadonlyArray<{ readonly hostDir: string; readonly machineDir: string }>;
  /**
   * Keep the machine's disk across reboots: instead of --volatile=overlay (a tmpfs that dies with
   * systemd-nspawn), the rig mounts an overlay here on the host (lower: the cached root, read-only;
   * upper: a directory under the host's tmpdir) and boots that, so `reboot()` can boot the same disk
   * again. shutdown() unmounts and deletes it. Off by default: the existing tests are unchanged.
   */
  readonly keepDisk?: boolean;
}

/** What systemd-nspawn exits with when the guest asked for a reboot (systemd-nspawn@.service restarts on it). */
export const NSPAWN_REBOOT_EXIT = 133;

/** Boots the cached root and waits until systemd says the system is up (`running` or `degraded`). */
export async function bootRig(root: string, options: BootOptions): Promise<BootedRig> {
  const name = `pwrig-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const logDir = mkdtempSync(join(tmpdir(), "procwatch-rig-"));
  const bootLogPath = join(logDir, "nspawn.log");
  const readLog = () => (existsSync(bootLogPath) ? readFileSync(bootLogPath, "utf8") : "");
  const disk = options.keepDisk === true ? mountDisk(root, logDir) : null;

  const cleanupHost = () => {
    // nspawn's per-machine mount-propagation directory; it is left behind when the machine was killed (and on a reboot). rmdir: only if empty.
    try {
      rmdirSync(`/run/systemd/nspawn/propagate/${name}`);
    } catch {}
  };
  const releaseDisk = (): boolean => {
    if (disk === null) return true;
    const unmounted = unmountDisk(disk);
    if (unmounted) liveDisks.delete(disk);
    return unmounted;
  };
  const removeLogDir = (unmounted: boolean) => {
    // Never delete through a still-mounted overlay: what cannot be unmounted is left for an admin to see.
    if (unmounted) rmSync(logDir, { recursive: true, force: true });
  };

  interface Running {
    readonly nspawn: ChildProcess;
    readonly pid1: number;
    readonly bootMs: number;
  }

  const start = async (): Promise<Running> => {
    const logFd = openSync(bootLogPath, "a");
    const started = performance.now();
    const nspawn = spawn(
      "systemd-nspawn",
      [
        "--quiet",
        `--directory=${disk === null ? root : disk.merged}`,
        `--machine=${name}`,
        "--boot",
        "--register=no",
        "--keep-unit",
        ...(disk === null ? ["--volatile=overlay"] : []),
        "--private-network",
        "--console=read-only",
        ...(options.binds ?? []).map((bind) => `--bind=${bind.hostDir}:${bind.machineDir}`),
      ],
      { stdio: ["ignore", logFd, logFd], env: { PATH: HOST_PATH } },
    );
    closeSync(logFd);
    const fail = async (why: string): Promise<never> => {
      const leader = nspawn.pid === undefined ? [] : childrenOf(nspawn.pid);
      for (const pid of leader) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      nspawn.kill("SIGKILL");
      await exited(nspawn, 5000);
      const log = readLog();
      cleanupHost();
      removeLogDir(releaseDisk());
      throw new RigUnavailableError(
        `systemd-nspawn could not boot the rig (${root}): ${why}\n--- nspawn output (last 30 lines) ---\n${log.split("\n").slice(-30).join("\n")}\nRun scripts/bootstrap as root; if nspawn cannot work on this machine (cgroups, namespaces), see apps/agent/README.md "A real systemd in the tests".`,
      );
    };

    const deadline = started + options.timeoutMs;
    let leader: number | undefined;
    while (leader === undefined) {
      if (nspawn.exitCode !== null || nspawn.signalCode !== null)
        return fail(`systemd-nspawn exited (${nspawn.exitCode ?? nspawn.signalCode}) before systemd started`);
      if (performance.now() > deadline) return fail("no container init appeared in time");
      // nspawn's first child is an intermediate that forks the container's init and exits: wait for systemd itself.
      leader = nspawn.pid === undefined ? undefined : childrenOf(nspawn.pid).find((pid) => commOf(pid) === "systemd");
      if (leader === undefined) await sleep(20);
    }
    liveMachines.add(leader);
    const pid1 = leader;

    let state = "";
    for (;;) {
      const probe = await execIn(pid1, ["systemctl", "is-system-running"], { timeoutMs: 5000 });
      state = probe.stdout.trim();
      if (state === "running" || state === "degraded") break;
      if (nspawn.exitCode !== null) return fail(`systemd-nspawn exited (${nspawn.exitCode}) during boot`);
      if (performance.now() > deadline)
        return fail(`systemd did not finish booting within ${options.timeoutMs / 1000} s (state "${state}" ${probe.stderr.trim()})`);
      await sleep(50);
    }
    return { nspawn, pid1, bootMs: Math.round(performance.now() - started) };
  };

  let current = await start();
  const bootMs = current.bootMs;
  const exec = (argv: readonly string[], runOptions: RunOptions = {}) => execIn(current.pid1, argv, runOptions);
  const hostPath = (path: string) => `/proc/${current.pid1}/root${path}`;

  /** Ends the running nspawn for good (SIGKILL to its PID 1, then to nspawn, if it does not end in time). */
  const forceDown = async (running: Running): Promise<void> => {
    try {
      process.kill(running.pid1, "SIGKILL");
    } catch {}
    if (!(await exited(running.nspawn, 5000))) running.nspawn.kill("SIGKILL");
    await exited(running.nspawn, 5000);
  };

  const rig: BootedRig = {
    name,
    get leader() {
      return current.pid1;
    },
    bootMs,
    hostPath,
    get bootLog() {
      return readLog();
    },
    writeFile(path, content, mode = 0o644) {
      mkdirSync(dirname(hostPath(path)), { recursive: true });
      writeFileSync(hostPath(path), content);
      chmodSync(hostPath(path), mode);
    },
    copyIn(hostFile, path, mode) {
      mkdirSync(dirname(hostPath(path)), { recursive: true });
      copyFileSync(hostFile, hostPath(path));
      chmodSync(hostPath(path), mode);
    },
    exec,
    async show(unit, properties) {
      const shown = await exec(["systemctl", "show", unit, ...properties.map((property) => `--property=${property}`)], { timeoutMs: 10_000 });
      return Object.fromEntries(
        shown.stdout
          .trim()
          .split("\n")
          .filter((line) => line.includes("="))
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      );
    },
    async reboot(rebootOptions = {}) {
      if (disk === null) throw new Error("reboot() needs a rig booted with keepDisk: true (--volatile=overlay loses the disk when nspawn exits)");
      const previous = current;
      const t0 = performance.now();
      const asked = await exec(["systemctl", "reboot", "--no-block"], { timeoutMs: 5000 });
      if (asked.exitCode !== 0) throw new Error(`systemctl reboot failed in the rig: ${asked.stderr.trim()}`);
      const down = await exited(previous.nspawn, rebootOptions.shutdownTimeoutMs ?? 30_000);
      liveMachines.delete(previous.pid1);
      if (!down) {
        await forceDown(previous);
        throw new Error(
          `the rig did not go down within ${(rebootOptions.shutdownTimeoutMs ?? 30_000) / 1000} s of systemctl reboot (killed)\n${readLog().split("\n").slice(-30).join("\n")}`,
        );
      }
      const nspawnExit = previous.nspawn.exitCode;
      if (nspawnExit !== NSPAWN_REBOOT_EXIT)
        throw new Error(
          `systemd-nspawn exited ${nspawnExit ?? previous.nspawn.signalCode} after systemctl reboot, not ${NSPAWN_REBOOT_EXIT} (reboot requested)`,
        );
      const shutdownMs = Math.round(performance.now() - t0);
      cleanupHost();
      // What systemd-nspawn@.service does on exit 133 (RestartForceExitStatus=133): start the same machine again.
      current = await start();
      return { shutdownMs, bootMs: current.bootMs, nspawnExit };
    },
    async shutdown() {
      const t0 = performance.now();
      const running = current;
      await exec(["systemctl", "poweroff", "--no-block"], { timeoutMs: 5000 });
      let cleanly = await exited(running.nspawn, 20_000);
      if (!cleanly) {
        await forceDown(running);
        cleanly = false;
      }
      liveMachines.delete(running.pid1);
      cleanupHost();
      removeLogDir(releaseDisk());
      return { cleanly, ms: Math.round(performance.now() - t0) };
    },
  };
  return rig;
}

function execIn(pid1: number, argv: readonly string[], runOptions: RunOptions = {}): Promise<CommandResult> {
  return run("nsenter", [`--target=${pid1}`, "--all", ...(runOptions.cwd === undefined ? [] : [`--wd=/proc/${pid1}/root${runOptions.cwd}`]), "--", ...argv], {
    timeoutMs: runOptions.timeoutMs ?? 30_000,
    env: { PATH: HOST_PATH, LANG: "C.UTF-8", ...runOptions.env },
  });
}

interface Disk {
  readonly merged: string;
}

function mountDisk(root: string, underDir: string): Disk {
  const disk = { merged: join(underDir, "merged") };
  for (const sub of ["upper", "work", "merged"]) mkdirSync(join(underDir, sub));
  const mounted = spawnSync(
    "mount",
    ["-t", "overlay", "overlay", "-o", `lowerdir=${root},upperdir=${join(underDir, "upper")},workdir=${join(underDir, "work")}`, disk.merged],
    { encoding: "utf8", env: { PATH: HOST_PATH }, timeout: 10_000 },
  );
  if (mounted.status !== 0) {
    rmSync(underDir, { recursive: true, force: true });
    throw new RigUnavailableError(`could not mount the rig's overlay disk on ${disk.merged}: ${(mounted.stderr ?? "").trim() || mounted.error?.message}`);
  }
  liveDisks.add(disk);
  return disk;
}

function unmountDisk(disk: Disk): boolean {
  const unmounted = spawnSync("umount", [disk.merged], { encoding: "utf8", env: { PATH: HOST_PATH }, timeout: 10_000 });
  return unmounted.status === 0;
}

/** True when no process on this host still runs in the machine's PID namespace. */
export function machineGone(leader: number): boolean {
  return !existsSync(`/proc/${leader}`);
}
