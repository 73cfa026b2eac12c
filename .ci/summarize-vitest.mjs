// Sums the per-package Vitest JSON reports into the one line CI reads last.
// A package that has a test script but wrote no report counts as one failure: it crashed
// before Vitest could report, and silence must never read as success.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const roots = ["apps", "packages"];
const packageDirs = roots.flatMap((root) =>
  existsSync(root)
    ? readdirSync(root, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => join(root, entry.name))
    : [],
);
packageDirs.push("ssm-documents");

let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of packageDirs) {
  const manifestPath = join(dir, "package.json");
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (!manifest.scripts?.test) continue;
  const reportPath = join(dir, ".vitest-report.json");
  if (!existsSync(reportPath)) {
    console.log(`ci: ${dir} has a test script but wrote no Vitest report (counted as 1 failed)`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + (report.success === false && (report.numFailedTests ?? 0) === 0 ? 1 : 0);
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  console.log(`ci: ${dir}: ${report.numPassedTests ?? 0} passed, ${report.numFailedTests ?? 0} failed`);
}
// The test command also runs lint and typecheck; their failure has no Vitest report to count.
if (Number(process.env.PROCWATCH_TEST_STATUS ?? "0") !== 0 && failed === 0) {
  console.log("ci: the test command failed outside Vitest (lint, typecheck or a build; see its output above) (counted as 1 failed)");
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
