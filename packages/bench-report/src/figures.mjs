// Pure part of the bench report: parse figure lines, render the table. Kept free of I/O so it is
// tested from plain strings.

/**
 * @typedef {{ figure: string, value: number, unit: string, goal?: string, pass?: boolean | null,
 *   baseline?: number, baselineLabel?: string, ratio?: number, package?: string }} Figure
 * `pass` absent or null: an informational figure without a goal.
 */

/**
 * Each benchmark prints one JSON object per line for every figure it measured; anything else it
 * prints (progress, its own table) is ignored here.
 * @param {string} output
 * @param {string} packageName
 * @returns {Figure[]}
 */
export function parseFigureLines(output, packageName) {
  /** @type {Figure[]} */
  const figures = [];
  for (const line of output.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) continue;
    let parsed;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      continue;
    }
    if (typeof parsed?.figure !== "string" || typeof parsed?.value !== "number") continue;
    figures.push({ ...parsed, package: packageName });
  }
  return figures;
}

/** @param {number} value */
function formatNumber(value) {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
}

/**
 * @param {Figure[]} figures
 * @param {{ cores: number, cpuModel: string, node: string, platform: string }} machine
 * @param {Array<{ package: string, error: string }>} failures
 */
export function renderReport(figures, machine, failures) {
  const header = ["package", "figure", "value", "goal", "result", "ratio to baseline"];
  const rows = figures.map((figure) => [
    figure.package ?? "",
    figure.figure,
    `${formatNumber(figure.value)} ${figure.unit}`,
    figure.goal ?? "",
    typeof figure.pass !== "boolean" ? "info" : figure.pass ? "pass" : "FAIL",
    figure.ratio !== undefined
      ? `${formatNumber(figure.ratio)}x ${figure.baselineLabel ?? "baseline"}${figure.baseline !== undefined ? ` (${formatNumber(figure.baseline)} ${figure.unit})` : ""}`
      : "",
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => String(row[column]).length)));
  const line = (/** @type {string[]} */ cells) =>
    cells
      .map((cell, column) => String(cell).padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  const out = [
    `machine: ${machine.cores} cores, ${machine.cpuModel}, Node ${machine.node}, ${machine.platform}`,
    "",
    line(header),
    line(widths.map((width) => "-".repeat(width))),
    ...rows.map(line),
  ];
  const failed = figures.filter((figure) => figure.pass === false).length;
  for (const failure of failures) out.push(`${failure.package}: benchmark did not finish: ${failure.error}`);
  out.push(
    "",
    `${figures.length} figures, ${figures.filter((figure) => figure.pass === true).length} pass, ${failed} fail, ${failures.length} benchmarks errored`,
  );
  return out.join("\n");
}
