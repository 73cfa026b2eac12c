import { chmodSync, existsSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthReport } from "../src/core/health.ts";
import { systemctlIsActive, systemctlPath } from "../src/io/restart-backends.ts";
import { killAndWait, runAgent, Scratch, uniqueName, waitFor, writeJson } from "./helpers.ts";

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
  it("health says the path is a symlink, names its target and what runs it, since /proc/<pid>/exe shows the target; the tag it names counts exactly that", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwlink");
    const binary = scratch.copySleep(dir, name);
    const link = join(dir, `${name}-current`);
    symlinkSync(binary, link);
    const child = scratch.start(link, ["300"]);
    await waitFor(() => existsSync(`/proc/${child.pid}/exe`));
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name, exe: link }] });
    const env = { PROCWATCH_STATE_DIR: join(dir, "state"), PROCWATCH_CWAGENT_DIR: join(dir, "cw") };
    const svc = (await runAgent(["health", "--json", "--spec", spec], env)).json<HealthReport>().processes[0];
    // procwatch (exe link, as root) never finds it; the CloudWatch agent counts it: argv[0] is the link.
    expect(svc).toMatchObject({ status: "down", pidCount: 0, agentPidCount: 1 });
    expect(svc?.findings).toHaveLength(1);
    expect(svc?.findings[0]).toContain(`${link} is a symbolic link to ${binary}`);
    expect(svc?.findings[0]).toContain(`(pid ${child.pid} runs ${binary})`);
    // exe=<target> would look for the target on argv[0], which is the link here: the tag names what counts it exactly.
    const tag = /; use match=pattern pattern=(\S+)$/.exec(svc?.findings[0] ?? "")?.[1];
    expect(tag).toBeDefined();
    writeJson(spec, { version: 1, processes: [{ name, match: "pattern", pattern: tag }] });
    expect((await runAgent(["health", "--json", "--spec", spec], env)).json<HealthReport>().processes[0]).toMatchObject({
      pidCount: 1,
      pids: [child.pid],
      agentPidCount: 1,
      findings: [],
    });

    // Nothing runs it: the target is what to use.
    await killAndWait(child);
    writeJson(spec, { version: 1, processes: [{ name, exe: link }] });
    const down = (await runAgent(["health", "--json", "--spec", spec], env)).json<HealthReport>().processes[0];
    expect(down?.findings).toEqual([expect.stringMatching(new RegExp(`; use exe=${binary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`))]);
  });
});
