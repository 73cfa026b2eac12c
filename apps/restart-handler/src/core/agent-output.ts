import type { AgentRestartReport } from "./model.ts";

const MAX_PIDS = 20;
const MAX_TEXT = 200;

/**
 * Finds the agent's `restart --json` object in the command's stdout. The output is host-written
 * text, so this is lenient (last JSON object line wins, wrong types ignored) and the result is
 * only ever displayed, never acted on.
 */
export function parseAgentReport(stdout: string | undefined): AgentRestartReport | undefined {
  if (stdout === undefined || stdout === "") return undefined;
  const lines = stdout.slice(-24_000).split("\n").reverse();
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      continue;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) continue;
    const report = reportFrom(parsed as Record<string, unknown>);
    if (report !== undefined) return report;
  }
  return undefined;
}

function reportFrom(record: Record<string, unknown>): AgentRestartReport | undefined {
  if (!("ok" in record) && !("outcome" in record) && !("before" in record) && !("after" in record)) return undefined;
  const beforePids = pidsOf(record.before);
  const afterPids = pidsOf(record.after);
  const message = typeof record.message === "string" ? record.message : typeof record.error === "string" ? record.error : undefined;
  return {
    ...(typeof record.ok === "boolean" ? { ok: record.ok } : {}),
    ...(typeof record.outcome === "string" ? { outcome: record.outcome.slice(0, MAX_TEXT) } : {}),
    ...(beforePids !== undefined ? { beforePids } : {}),
    ...(afterPids !== undefined ? { afterPids } : {}),
    ...(message !== undefined ? { message: message.slice(0, MAX_TEXT) } : {}),
  };
}

function pidsOf(value: unknown): number[] | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const pids = (value as Record<string, unknown>).pids;
  if (!Array.isArray(pids)) return undefined;
  return pids.filter((pid): pid is number => Number.isInteger(pid) && pid > 0 && pid < 2 ** 32).slice(0, MAX_PIDS);
}
