import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { type CloudWatchAgentObservation, parseCloudWatchAgentStatus } from "../core/health.ts";
import type { ProcessRecord } from "../core/process-matching.ts";
import { CloudWatchAgentCtlError } from "../errors.ts";
import { scanProcesses } from "./procfs.ts";

export const CTL_NAME = "amazon-cloudwatch-agent-ctl";
export type AgentMode = "ec2" | "onPremise";

/** The configured path wins; else the agent's install dir; else PATH (where tests put a fake ctl). */
export function locateCtl(explicit: string | undefined, cwagentDir: string, pathVariable: string | undefined): string | null {
  if (explicit !== undefined) return explicit;
  const candidates = [
    join(cwagentDir, "bin", CTL_NAME),
    ...(pathVariable ?? "")
      .split(delimiter)
      .filter((dir) => dir.startsWith("/"))
      .map((dir) => join(dir, CTL_NAME)),
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string; error?: Error }> {
  // Loaded on first use: node:child_process pulls in net, dgram and streams (~4 ms at startup),
  // and `health` without a ctl (or `--help`) never spawns anything.
  const { execFile } = process.getBuiltinModule("node:child_process");
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, maxBuffer: 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? ((error as { code: number }).code as number) : -1;
      resolve({ code, stdout, stderr, ...(error === null ? {} : { error }) });
    });
  });
}

function requireCtl(ctl: string | null): string {
  if (ctl === null) {
    throw new CloudWatchAgentCtlError(`${CTL_NAME} not found`, "install the CloudWatch agent (procwatch-install document) or pass --cwagent-ctl PATH");
  }
  return ctl;
}

/** Runs one ctl action; a non-zero exit becomes a CloudWatchAgentCtlError naming the action and the ctl's last output line. */
async function runCtlAction(ctl: string, args: readonly string[], hint: string): Promise<void> {
  const result = await run(ctl, args, 120_000);
  if (result.code !== 0) {
    const action = args[args.indexOf("-a") + 1] ?? "";
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-1)[0] ?? "";
    throw new CloudWatchAgentCtlError(`${CTL_NAME} ${action} exited with ${result.code}${detail ? `: ${detail}` : ""}`, hint, result.error);
  }
}

/** `-a append-config -m <mode> -c file:<path> -s`: merges the fragment and restarts the agent. Arguments are an argv array, never shell text. */
export async function appendConfig(ctl: string | null, mode: AgentMode, fragmentPath: string): Promise<readonly string[]> {
  const args = ["-a", "append-config", "-m", mode, "-c", `file:${fragmentPath}`, "-s"];
  await runCtlAction(requireCtl(ctl), args, "the fragment is written; run the ctl command by hand to see the translator's message, then apply again");
  return args;
}

/** Runs the ctl calls of a removal plan in order, stopping at the first failure. */
export async function runCtlCalls(ctl: string | null, calls: readonly (readonly string[])[], hint: string): Promise<void> {
  if (calls.length === 0) return;
  const path = requireCtl(ctl);
  for (const args of calls) await runCtlAction(path, args, hint);
}

const AGENT_EXE = /\/amazon-cloudwatch-agent( \(deleted\))?$/;

/**
 * Asks the ctl for status; without a ctl, falls back to looking for the agent's process. A scan
 * that already read every exe link can be handed in, so health reads /proc only once.
 */
export async function cloudWatchAgentStatus(ctl: string | null, scanned?: readonly ProcessRecord[]): Promise<CloudWatchAgentObservation> {
  if (ctl !== null) {
    const result = await run(ctl, ["-a", "status"], 10_000);
    if (result.code === 0) return parseCloudWatchAgentStatus(result.stdout);
  }
  const records = scanned ?? scanProcesses({ exePath: true, cmdline: false });
  const running = records.some((record) => record.exePath !== null && AGENT_EXE.test(record.exePath));
  if (running) return { state: "running", via: "process" };
  return ctl === null
    ? { state: "not-installed", via: "none", detail: `${CTL_NAME} not found` }
    : { state: "unknown", via: "none", detail: "ctl status failed and no agent process found" };
}
