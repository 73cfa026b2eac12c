import { describe, expect, it } from "vitest";
import { parseFigureLines, renderReport } from "../src/figures.mjs";

describe("bench report", () => {
  it("keeps only well-formed figure lines and tags them with the package", () => {
    const output = [
      "warming up…",
      '{"figure":"cold start --help","value":24.1,"unit":"ms","goal":"<= 1.5x node -e 0","pass":true,"baseline":20,"baselineLabel":"node -e 0","ratio":1.2}',
      '{"figure":"broken", "value": }',
      '{"not":"a figure"}',
      '{"figure":"binary size x64","value":118,"unit":"MB"}',
    ].join("\n");
    expect(parseFigureLines(output, "@procwatch/agent")).toEqual([
      {
        figure: "cold start --help",
        value: 24.1,
        unit: "ms",
        goal: "<= 1.5x node -e 0",
        pass: true,
        baseline: 20,
        baselineLabel: "node -e 0",
        ratio: 1.2,
        package: "@procwatch/agent",
      },
      { figure: "binary size x64", value: 118, unit: "MB", package: "@procwatch/agent" },
    ]);
  });

  it("renders machine facts, pass/fail and ratios in one table", () => {
    const report = renderReport(
      [
        { figure: "plan CPU no-op", value: 0.42, unit: "s", goal: "<= 1 s", pass: true, package: "@procwatch/fleet-manager" },
        { figure: "bundle size", value: 1.4, unit: "MB", goal: "<= 1 MB", pass: false, package: "@procwatch/restart-handler" },
        { figure: "cold start", value: 30, unit: "ms", ratio: 1.5, baseline: 20, baselineLabel: "node -e 0", package: "@procwatch/agent" },
        { figure: "wall time here", value: 997, unit: "ms", pass: null, package: "@procwatch/fleet-manager" },
      ],
      { cores: 2, cpuModel: "Test CPU", node: "20.20.2", platform: "linux-x64" },
      [{ package: "@procwatch/infra", error: "exit 1" }],
    );
    expect(report).toContain("machine: 2 cores, Test CPU, Node 20.20.2, linux-x64");
    expect(report).toMatch(/plan CPU no-op\s+0\.420 s\s+<= 1 s\s+pass/);
    expect(report).toMatch(/bundle size\s+1\.40 MB\s+<= 1 MB\s+FAIL/);
    expect(report).toContain("1.50x node -e 0 (20 ms)");
    expect(report).toContain("@procwatch/infra: benchmark did not finish: exit 1");
    expect(report).toMatch(/wall time here\s+997 ms\s+info/);
    expect(report).toContain("4 figures, 1 pass, 1 fail, 1 benchmarks errored");
  });
});
