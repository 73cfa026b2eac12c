import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { Scratch, uniqueName, writeJson } from "./helpers.ts";

/** The built single binaries (turbo runs `build` before `test`). */
const DIST = join(import.meta.dirname, "..", "dist");
const X64 = join(DIST, "procwatch-agent-linux-x64");
const ARM64 = join(DIST, "procwatch-agent-linux-arm64");
const QEMU = "/usr/bin/qemu-aarch64-static";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const run = promisify(execFile);

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function exec(file: string, args: string[], env: Record<string, string> = {}) {
  return run(file, args, { env: { PATH: process.env.PATH ?? "", AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1", ...env }, timeout: 30_000 }).catch(
    (error: { code: number; stdout: string; stderr: string }) => ({ ...error, exitCode: error.code }),
  );
}

describe("the x64 single binary", () => {
  it("exists with a matching .sha256 file", () => {
    expect(existsSync(X64), "run pnpm --filter @procwatch/agent build first").toBe(true);
    const digest = createHash("sha256").update(readFileSync(X64)).digest("hex");
    expect(readFileSync(`${X64}.sha256`, "utf8")).toBe(`${digest}  procwatch-agent-linux-x64\n`);
  });

  it("version reports Node 24.21.0 inside a single binary", async () => {
    const { stdout } = await exec(X64, ["version", "--json"]);
    expect(JSON.parse(stdout)).toMatchObject({ node: "v24.21.0", arch: "x64", sea: true, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it("render --spec prints the fragment", async () => {
    const dir = scratch.dir();
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name: "nginx" }] });
    const { stdout } = await exec(X64, ["render", "--spec", spec]);
    // An exe spec reaches the CloudWatch agent as its command-line pattern on argv[0], never as exe.
    const [entry] = JSON.parse(stdout).metrics.metrics_collected.procstat;
    expect(entry.pattern).toBe("^([^ ]*/)?nginx:?( |$)");
    expect(entry).not.toHaveProperty("exe");
  });

  it("health --json counts a real process and loads the lazily embedded host-facts chunk", async () => {
    const dir = scratch.dir();
    const name = uniqueName("pwbin");
    scratch.start(scratch.copySleep(dir, name), ["300"]);
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name }] });
    const result = (await exec(X64, ["health", "--json", "--host-facts", "--spec", spec], { PROCWATCH_STATE_DIR: dir, PROCWATCH_CWAGENT_DIR: dir })) as {
      stdout: string;
      exitCode?: number;
    };
    const report = JSON.parse(result.stdout);
    expect(report.processes[0]).toMatchObject({ name, pidCount: 1, status: "up" });
    expect(report.status).toBe("degraded"); // no CloudWatch agent and no fragment in the scratch dir
    expect(result.exitCode).toBe(1);
    expect(report.host.os.platform).toBe("linux");
  });
});

describe("the x64 single binary's --json errors", () => {
  const errorOf = (stdout: string) => (JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as { error: { type: string; hint: string } }).error;

  it("name the documented error class, not a minified one", async () => {
    const dir = scratch.dir();
    const env = { PROCWATCH_STATE_DIR: dir, PROCWATCH_CWAGENT_DIR: dir };
    const invalid = (await exec(X64, ["render", "--json", "--spec", join(dir, "missing.json")], env)) as { stdout: string };
    expect(errorOf(invalid.stdout).type).toBe("SpecInvalidError");
    const usage = (await exec(X64, ["render", "--json", "--processes", "nginx"], { ...env, PROCWATCH_DEFAULT_DETECTION: "bogus" })) as { stdout: string };
    expect(errorOf(usage.stdout).type).toBe("UsageError");
    const untrusted = (await exec(X64, ["restart", "--json", "--process", "nginx"], env)) as { stdout: string };
    expect(errorOf(untrusted.stdout).type).toBe("UntrustedFileError");
    const offEc2 = (await exec(X64, ["render", "--json"], env)) as { stdout: string };
    expect(errorOf(offEc2.stdout).type).toBe("NotOnEc2Error");
  });
});

const qemuMissing = !existsSync(QEMU) || !existsSync(ARM64_SYSROOT);
describe.skipIf(qemuMissing)("the arm64 single binary under qemu-user-static (skipped when qemu-user-static or libc6-arm64-cross is missing)", () => {
  it("version reports arm64 and Node 24.21.0", async () => {
    const { stdout } = await exec(QEMU, ["-L", ARM64_SYSROOT, ARM64, "version", "--json"]);
    expect(JSON.parse(stdout)).toMatchObject({ node: "v24.21.0", arch: "arm64", sea: true });
  });

  it("render --spec prints the same fragment as x64", async () => {
    const dir = scratch.dir();
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, detection: "fast", processes: [{ name: "nginx" }, { name: "orders", pattern: "orders.jar" }] });
    const arm = await exec(QEMU, ["-L", ARM64_SYSROOT, ARM64, "render", "--spec", spec]);
    const x64 = await exec(X64, ["render", "--spec", spec]);
    expect(arm.stdout).toBe(x64.stdout);
    expect(JSON.parse(arm.stdout).metrics.force_flush_interval).toBe(10);
  });
});
