import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
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

/** A local stand-in for the instance metadata service (IMDSv2 only: a GET without the session token gets 401). */
export interface FakeMetadataService {
  readonly endpoint: string;
  /** `METHOD path` of every request, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** The identity document of the stand-in instance (what a real one holds, among other fields). */
export const FAKE_IDENTITY = { instanceId: "i-0123456789abcdef0", region: "eu-west-1", imageId: "ami-0a1b2c3d4e5f60718", instanceType: "m6i.large" } as const;

/** `tags`: what metadata lists under tags/instance, or null when "tags in instance metadata" is off (404). */
export async function fakeMetadataService(options: {
  readonly tags: Readonly<Record<string, string>> | null;
  readonly identity?: Readonly<Record<string, unknown>>;
}): Promise<FakeMetadataService> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === "PUT" && req.url === "/latest/api/token") return void res.end("token-123");
    if (req.headers["x-aws-ec2-metadata-token"] !== "token-123") {
      res.statusCode = 401;
      return void res.end();
    }
    if (req.url === "/latest/dynamic/instance-identity/document") return void res.end(JSON.stringify(options.identity ?? FAKE_IDENTITY));
    const tags = options.tags;
    if (tags !== null && req.url === "/latest/meta-data/tags/instance") return void res.end(Object.keys(tags).join("\n"));
    const prefix = "/latest/meta-data/tags/instance/";
    const value = tags !== null && req.url?.startsWith(prefix) ? tags[decodeURIComponent(req.url.slice(prefix.length))] : undefined;
    if (value !== undefined) return void res.end(value);
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/**
 * A local stand-in for the EC2 API's DescribeTags (query protocol, XML answers), reached through the
 * SDK's AWS_ENDPOINT_URL_EC2. `answer` gets each request's parameters and returns the tags to list,
 * or an error code (answered 403, as UnauthorizedOperation is).
 */
export interface FakeEc2 {
  readonly endpoint: string;
  /** Each DescribeTags request's parameters (Filter.N.Name, Filter.N.Value.M, ...). */
  readonly requests: Record<string, string>[];
  close(): Promise<void>;
}

export async function fakeEc2(
  answer: (params: Record<string, string>) => { readonly tags: Readonly<Record<string, string>> } | { readonly errorCode: string },
): Promise<FakeEc2> {
  const requests: Record<string, string>[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      requests.push(params);
      const answered = answer(params);
      res.setHeader("content-type", "text/xml;charset=UTF-8");
      if ("errorCode" in answered) {
        res.statusCode = 403;
        return void res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${answered.errorCode}</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>req-1</RequestID></Response>`,
        );
      }
      const items = Object.entries(answered.tags)
        .map(
          ([key, value]) =>
            `<item><resourceId>${FAKE_IDENTITY.instanceId}</resourceId><resourceType>instance</resourceType><key>${key}</key><value>${value}</value></item>`,
        )
        .join("");
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><tagSet>${items}</tagSet></DescribeTagsResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Runs `body` with process.env changed (the AWS SDK reads only process.env, not the CLI's explicit environment), then restores it. */
export async function withProcessEnv<T>(changes: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(changes).map((key) => [key, process.env[key]]));
  Object.assign(process.env, changes);
  try {
    return await body();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
