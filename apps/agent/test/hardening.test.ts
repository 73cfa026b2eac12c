import { chmodSync, existsSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport } from "../src/core/health.ts";
import { systemctlIsActive, systemctlPath } from "../src/io/restart-backends.ts";
import { runAgent, Scratch, uniqueName, writeJson } from "./helpers.ts";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe("spec files", () => {
  it("a huge spec file is refused by its size before it is read", async () => {
    const dir = scratch.dir();
    const spec = join(dir, "spec.json");
    writeFileSync(spec, "");
    truncateSync(spec, 100 * 1024 * 1024);
    const started = Date.now();
    const run = await runAgent(["render", "--json", "--spec", spec], {});
    expect(Date.now() - started).toBeLessThan(1000);
    expect(run.exitCode).toBe(1);
    const issues = run.json<{ error: { issues: { code: string; message: string }[] } }>().error.issues;
    expect(issues[0]?.message).toContain("104857600 bytes");
    expect(issues[0]?.message).toContain("at most 1048576");
  });
});

describe("systemctl", () => {
  it("is run by absolute path, never looked up through PATH", async () => {
    const dir = scratch.dir();
    const marker = join(dir, "fake-systemctl-ran");
    writeFileSync(join(dir, "systemctl"), `#!/bin/sh\ntouch '${marker}'\nexit 0\n`);
    chmodSync(join(dir, "systemctl"), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      await systemctlIsActive("procwatch-test-nonexistent.service");
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(marker)).toBe(false);
    expect(systemctlPath(() => true)).toBe("/usr/bin/systemctl");
    expect(systemctlPath((candidate) => candidate === "/bin/systemctl")).toBe("/bin/systemctl");
    expect(systemctlPath(() => false)).toBeNull();
  });
});

describe("exe selectors naming a symlink", () => {
  it("health says the path is a symlink and names its target, since /proc/<pid>/exe shows the target", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwlink");
    const binary = scratch.copySleep(dir, name);
    const link = join(dir, `${name}-current`);
    symlinkSync(binary, link);
    scratch.start(link, ["300"]);
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name, exe: link }] });
    const run = await runAgent(["health", "--json", "--spec", spec], { PROCWATCH_STATE_DIR: join(dir, "state"), PROCWATCH_CWAGENT_DIR: join(dir, "cw") });
    const svc = run.json<HealthReport>().processes[0];
    expect(svc).toMatchObject({ status: "down", pidCount: 0 });
    expect(svc?.findings.join(" ")).toContain(`${link} is a symbolic link to ${binary}`);
    expect(svc?.findings.join(" ")).toContain(`exe=${binary}`);
  });
});
