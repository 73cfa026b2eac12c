import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../src/cli.ts";
import { PLAIN_PALETTE } from "../src/core/human-output.ts";

/** Test scaffolding: real temp dirs, real processes, and the CLI run in-process with a recorded output. */
export const SLEEP_BINARY = realpathSync("/bin/sleep");

export function uniqueName(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`;
}

export class Scratch {
  readonly dirs: string[] = [];
  readonly children: ChildProcess[] = [];

  dir(): string {
    // realpath: /tmp may be a symlink, and /proc/<pid>/exe shows the resolved path.
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "pwagent-")));
    this.dirs.push(dir);
    return dir;
  }

  /**
   * A directory under /run, where the contract lets pid files live (tests run as root, as the agent
   * does on a host; a non-root run fails here loudly rather than skipping).
   */
  runDir(): string {
    const dir = mkdtempSync("/run/pwagent-");
    this.dirs.push(dir);
    return dir;
  }

  /** A copy of `sleep` under a chosen name, so /proc/<pid>/exe ends in that name. */
  copySleep(dir: string, name: string): string {
    const path = join(dir, name);
    copyFileSync(SLEEP_BINARY, path);
    chmodSync(path, 0o755);
    return path;
  }

  start(file: string, args: readonly string[]): ChildProcess {
    const child = spawn(file, [...args], { stdio: "ignore" });
    this.children.push(child);
    return child;
  }

  trackPid(pid: number): void {
    this.children.push({ pid, kill: (signal?: NodeJS.Signals) => process.kill(pid, signal) } as unknown as ChildProcess);
  }

  cleanup(): void {
    for (const child of this.children.splice(0)) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      } catch {}
    }
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

export interface AgentRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs the CLI in-process; the environment is explicit so tests never touch /etc or /opt. */
export async function runAgent(args: readonly string[], env: Record<string, string | undefined>): Promise<AgentRun> {
  let stdout = "";
  let stderr = "";
  const exitCode = await runCli({
    argv: args,
    env: { PATH: process.env.PATH, AWS_EC2_METADATA_DISABLED: "true", ...env },
    stdoutIsTty: false,
    output: {
      stdout: (text) => {
        stdout += text.endsWith("\n") ? text : `${text}\n`;
      },
      stderr: (text) => {
        stderr += text.endsWith("\n") ? text : `${text}\n`;
      },
      palette: PLAIN_PALETTE,
    },
  });
  return {
    exitCode,
    stdout,
    stderr,
    json: <T>() => JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as T,
  };
}

export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface FakeCtl {
  /** Directory holding `amazon-cloudwatch-agent-ctl`, to put first on PATH. */
  readonly binDir: string;
  readonly path: string;
  /** The CloudWatch agent's config directory the fake installs fragments into. */
  readonly configDir: string;
  /** Every call's arguments, one string per call. */
  calls(): string[];
}

/**
 * A stand-in for amazon-cloudwatch-agent-ctl that behaves like the real one where procwatch
 * depends on it: `-a append-config -c file:<path>` copies <path> byte for byte to
 * `<cwagentDir>/etc/amazon-cloudwatch-agent.d/file_<name>` (what the config downloader does),
 * `-a remove-config -c file:<path>` deletes `file_<name>` (failing when it is not there, as the
 * real downloader does) and, when the directory is left empty, the translated TOML; a restart (`-s`)
 * or `-a start` without a TOML installs the agent's default config as `default` (the real ctl's
 * behaviour, which `remove` must avoid), `-a status` prints the status JSON, and a non-zero
 * `exitCode` fails every call without effect.
 */
export function fakeCtl(dir: string, options: { cwagentDir: string; exitCode?: number; status?: Record<string, string> }): FakeCtl {
  const binDir = join(dir, "fake-ctl-bin");
  const log = join(dir, "ctl-calls.log");
  const configDir = join(options.cwagentDir, "etc", "amazon-cloudwatch-agent.d");
  const toml = join(options.cwagentDir, "etc", "amazon-cloudwatch-agent.toml");
  const status = JSON.stringify(options.status ?? { status: "running", configstatus: "configured", version: "1.300064.0" });
  mkdirSync(binDir, { recursive: true });
  const path = join(binDir, "amazon-cloudwatch-agent-ctl");
  writeFileSync(
    path,
    [
      "#!/bin/sh",
      `echo "$*" >> '${log}'`,
      `[ ${options.exitCode ?? 0} -eq 0 ] || exit ${options.exitCode ?? 0}`,
      'action=""; config=""; restart=""',
      'while [ $# -gt 0 ]; do case "$1" in -a) action="$2"; shift 2;; -c) config="$2"; shift 2;; -s) restart=1; shift;; *) shift;; esac; done',
      `toml='${toml}'`,
      `start_agent() { [ -f "$toml" ] || { mkdir -p '${configDir}' && echo '{}' > '${configDir}/default' && touch "$toml"; }; }`,
      'case "$action" in',
      `  status) echo '${status}';;`,
      `  append-config) src="\${config#file:}"; mkdir -p '${configDir}' && cp "$src" '${configDir}'/"file_$(basename "$src")" && touch "$toml";;`,
      `  remove-config) src="\${config#file:}"; rm '${configDir}'/"file_$(basename "$src")" || exit 1; [ -n "$(ls -A '${configDir}')" ] || rm -f "$toml";;`,
      "  start) start_agent;;",
      "esac",
      '[ -z "$restart" ] || start_agent',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return { binDir, path, configDir, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []) };
}

export const AGENT_MAIN = join(import.meta.dirname, "..", "src", "main.ts");

/**
 * Runs the agent from source as its own process (for what only separate processes show: locks,
 * own-pid exclusion, reads that could block). Past `timeoutMs` the process is killed and
 * `timedOut` is true, so a blocking read fails a test instead of hanging the runner.
 */
export function runAgentProcess(
  args: readonly string[],
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", AGENT_MAIN, ...args], {
      cwd: join(import.meta.dirname, ".."),
      env: { PATH: process.env.PATH ?? "", AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 60_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? -1, stdout, stderr, timedOut });
    });
  });
}
