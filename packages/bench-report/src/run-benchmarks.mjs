#!/usr/bin/env node
// `pnpm bench`: runs each workspace package's `bench` script one after another (never in
// parallel: they time things, and the machines have 2 cores), collects the figure lines and
// prints one table. Nothing is written to the repository.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFigureLines, renderReport } from "./figures.mjs";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const packageDirs = ["apps", "packages"].flatMap((group) =>
  readdirSync(join(root, group), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(root, group, entry.name)),
);
packageDirs.push(join(root, "ssm-documents"));

const figures = [];
const failures = [];
for (const dir of packageDirs) {
  const manifestPath = join(dir, "package.json");
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (!manifest.scripts?.bench) continue;
  process.stderr.write(`bench: running ${manifest.name} …\n`);
  const run = spawnSync("pnpm", ["run", "--silent", "bench"], { cwd: dir, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60 * 1000 });
  const found = parseFigureLines(run.stdout ?? "", manifest.name);
  figures.push(...found);
  if (run.status !== 0 || found.length === 0) {
    const reason = run.error?.message ?? (run.stderr ?? "").trim().split("\n").slice(-1)[0] ?? `exit ${run.status}`;
    failures.push({ package: manifest.name, error: found.length === 0 ? `no figures printed (${reason})` : reason });
  }
}

const machine = {
  cores: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown CPU",
  node: process.versions.node,
  platform: `${process.platform}-${process.arch}`,
};
console.log(renderReport(figures, machine, failures));
process.exit(failures.length > 0 || figures.some((figure) => figure.pass === false) ? 1 : 0);
