import type { HealthReport } from "./health.ts";
import type { RestartResult } from "./restart-decision.ts";

/** Compact human renderings. Colour only marks status words and is off under NO_COLOR or a non-TTY. */
export interface Palette {
  readonly good: (text: string) => string;
  readonly warn: (text: string) => string;
  readonly bad: (text: string) => string;
}

export const PLAIN_PALETTE: Palette = { good: (text) => text, warn: (text) => text, bad: (text) => text };

export const ANSI_PALETTE: Palette = {
  good: (text) => `\u001b[32m${text}\u001b[39m`,
  warn: (text) => `\u001b[33m${text}\u001b[39m`,
  bad: (text) => `\u001b[31m${text}\u001b[39m`,
};

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], visibleLength: (text: string) => number): string {
  const widths = header.map((title, column) => Math.max(visibleLength(title), ...rows.map((row) => visibleLength(row[column] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell + " ".repeat(Math.max(0, (widths[column] ?? 0) - visibleLength(cell))))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes this module adds.
const ANSI_CODES = /\u001b\[[0-9;]*m/g;

export function visibleLength(text: string): number {
  return text.replace(ANSI_CODES, "").length;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024 / 1024).toFixed(1)}G`;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)}M`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)}K`;
  return `${bytes}B`;
}

export function formatHealth(report: HealthReport, palette: Palette): string {
  const statusWord = (status: string) =>
    status === "healthy" || status === "up" || status === "running" || status === "matches"
      ? palette.good(status)
      : status === "degraded" || status === "unknown"
        ? palette.warn(status)
        : palette.bad(status);
  const rows = report.processes.map((process) => [
    process.name,
    statusWord(process.status),
    String(process.pidCount),
    process.pids.slice(0, 5).join(",") + (process.pids.length > 5 ? ",…" : ""),
    `${process.cpuPercent.toFixed(1)}%`,
    formatBytes(process.rssBytes),
    // What the alarm counts: an exe spec shows its command-line pattern (the exe regex is in --json).
    `${process.match.dimension}=${process.match.selector}`,
  ]);
  const lines = [
    `procwatch-agent ${report.agent.version}: ${statusWord(report.status)}`,
    "",
    report.processes.length > 0 ? formatTable(["PROCESS", "STATUS", "PIDS", "PID LIST", "CPU", "RSS", "MATCH"], rows, visibleLength) : "(no watched processes)",
    "",
    `cloudwatch agent  ${statusWord(report.cloudwatchAgent.state)} (via ${report.cloudwatchAgent.via}${report.cloudwatchAgent.version ? `, ${report.cloudwatchAgent.version}` : ""})`,
    `fragment          ${statusWord(report.fragment.comparison)} ${report.fragment.path}`,
    ...(report.fragment.installed === undefined
      ? []
      : [`agent's copy      ${statusWord(report.fragment.installed.comparison)} ${report.fragment.installed.path}`]),
    `spec source       ${report.spec.source}`,
  ];
  // A finding's hint goes right under its reason; a message is a reason exactly once.
  const hints = new Map(report.findings.map((finding) => [finding.message, finding.hint]));
  if (report.reasons.length > 0) {
    lines.push("");
    for (const reason of report.reasons) {
      lines.push(`- ${reason}`);
      const hint = hints.get(reason);
      if (hint !== undefined) lines.push(`  hint: ${hint}`);
    }
  }
  return lines.join("\n");
}

export function formatRestart(result: RestartResult, palette: Palette): string {
  const word = result.ok ? palette.good(result.outcome) : palette.bad(result.outcome);
  return [
    `${result.process}: ${word} — ${result.message}`,
    `backend ${result.backend ?? "-"}${result.unit ? ` (${result.unit})` : ""}; pids before [${result.before.pids.join(", ")}] after [${result.after.pids.join(", ")}]; ${result.timings.totalMs} ms`,
  ].join("\n");
}
