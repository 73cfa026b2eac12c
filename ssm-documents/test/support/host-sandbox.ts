import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The agent binary `pnpm --filter @procwatch/agent build` produces for this machine. */
export const BUILT_AGENT_X64 = join(dirname(fileURLToPath(import.meta.url)), "../../../apps/agent/dist/procwatch-agent-linux-x64");

/**
 * A throw-away stand-in for a host's filesystem: a bin dir for procwatch-agent (the documents'
 * PROCWATCH_BIN_DIR), a directory of fake tools put first on PATH, and an S3 stand-in. Every fake
 * appends its argv to calls.log, so tests can assert what ran and, above all, what never ran.
 */
export interface HostSandbox {
  readonly root: string;
  readonly binDir: string;
  readonly toolsDir: string;
  readonly s3Root: string;
  readonly callsLog: string;
  readonly env: NodeJS.ProcessEnv;
  calls(): string[];
  putObject(bucket: string, key: string, body: Buffer | string): string;
  /** Serves an existing file (the real agent binary) without copying it into the sandbox. */
  linkObject(bucket: string, key: string, path: string): void;
  installTool(name: string, script: string): void;
}

export function createHostSandbox(): HostSandbox {
  const root = mkdtempSync(join(tmpdir(), "procwatch-ssm-"));
  const binDir = join(root, "usr/local/bin");
  const toolsDir = join(root, "tools");
  const s3Root = join(root, "s3");
  const callsLog = join(root, "calls.log");
  for (const dir of [binDir, toolsDir, s3Root]) mkdirSync(dir, { recursive: true });
  writeFileSync(callsLog, "");

  const sandbox: HostSandbox = {
    root,
    binDir,
    toolsDir,
    s3Root,
    callsLog,
    env: {
      PATH: `${toolsDir}:/usr/bin:/bin`,
      HOME: root,
      PROCWATCH_BIN_DIR: binDir,
      FAKE_CALLS_LOG: callsLog,
      FAKE_S3_ROOT: s3Root,
    },
    calls: () =>
      readFileSync(callsLog, "utf8")
        .split("\n")
        .filter((line) => line !== ""),
    putObject(bucket, key, body) {
      const path = join(s3Root, bucket, key);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, body);
      return sha256Of(body);
    },
    linkObject(bucket, key, path) {
      const target = join(s3Root, bucket, key);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(path, target);
    },
    installTool(name, script) {
      const path = join(toolsDir, name);
      writeFileSync(path, script);
      chmodSync(path, 0o755);
    },
  };
  sandbox.installTool("aws", FAKE_AWS_CLI);
  return sandbox;
}

export function sha256Of(body: Buffer | string): string {
  return createHash("sha256").update(body).digest("hex");
}

export function sha256OfFile(path: string): string {
  return sha256Of(readFileSync(path));
}

/** Records its argv, then serves `aws s3 cp s3://bucket/key dest` from the sandbox's S3 directory. */
const FAKE_AWS_CLI = `#!/bin/bash
printf 'aws %s\\n' "$*" >> "$FAKE_CALLS_LOG"
[ "$1 $2" = "s3 cp" ] || { echo "fake aws: only 's3 cp' is supported" >&2; exit 2; }
shift 2
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --only-show-errors) shift ;;
    --region) shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
source="\${args[0]#s3://}"
if [ ! -f "$FAKE_S3_ROOT/$source" ]; then
  echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key \\"\${source#*/}\\" does not exist" >&2
  exit 1
fi
cp "$FAKE_S3_ROOT/$source" "\${args[1]}"
`;

/** Makes `uname -m` report another machine, so both architectures' branches run here. */
export function fakeUnameScript(machine: string): string {
  return `#!/bin/bash
if [ "$1" = "-m" ]; then echo ${machine}; else /bin/uname "$@"; fi
`;
}

/**
 * Records `amazon-cloudwatch-agent-ctl` argv (what procwatch-agent apply and remove run). Like the
 * real ctl, `-a remove-config -c file:<path>` deletes `file_<basename>` from
 * $PROCWATCH_CWAGENT_DIR/etc/amazon-cloudwatch-agent.d and fails when it is not there.
 */
export const FAKE_CLOUDWATCH_AGENT_CTL = `#!/bin/bash
printf 'amazon-cloudwatch-agent-ctl %s\\n' "$*" >> "$FAKE_CALLS_LOG"
if [ "$2" = "status" ]; then echo '{"status":"running","configstatus":"configured","version":"1.300000.0"}'; fi
if [ "$2" = "remove-config" ]; then
  source="\${6#file:}"
  rm "\${PROCWATCH_CWAGENT_DIR:?}/etc/amazon-cloudwatch-agent.d/file_$(basename "$source")" || exit 1
fi
`;

/**
 * A recording procwatch-agent used only when the real binary has not been built. It implements the
 * CLI surface the documents call (version, apply, health, remove --json, restart --process <name> --json); exit
 * codes are steered by FAKE_AGENT_<COMMAND>_EXIT.
 */
export function fakeAgentScript(label: string): string {
  return `#!/bin/bash
printf 'procwatch-agent %s\\n' "$*" >> "$FAKE_CALLS_LOG"
case "$1" in
  version) echo "procwatch-agent ${label}" ;;
  apply) echo "applied"; exit "\${FAKE_AGENT_APPLY_EXIT:-0}" ;;
  health) echo "healthy"; exit "\${FAKE_AGENT_HEALTH_EXIT:-0}" ;;
  remove)
    [ "$2" = "--json" ] || { echo "usage" >&2; exit 2; }
    echo '{"ok":true,"changed":true,"cloudwatchAgent":"reloaded"}'
    exit "\${FAKE_AGENT_REMOVE_EXIT:-0}"
    ;;
  restart)
    [ "$2" = "--process" ] && [ "$4" = "--json" ] || { echo "usage" >&2; exit 2; }
    printf '{"process":"%s","ok":true,"outcome":"restarted","before":{"pids":[]},"after":{"pids":[4242]}}\\n' "$3"
    ;;
  *) echo "unknown command $1" >&2; exit 2 ;;
esac
`;
}

export function writeExecutable(path: string, body: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
  chmodSync(path, 0o755);
}

export function copyExecutable(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, 0o755);
}

export const realAgentBuilt = (): boolean => existsSync(BUILT_AGENT_X64);
