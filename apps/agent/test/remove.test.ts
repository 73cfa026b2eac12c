import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { otherConfigEntries, planCloudWatchAgentRemoval } from "../src/core/removal.ts";
import { fakeCtl, runAgent, Scratch, writeJson } from "./helpers.ts";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const BUNDLE = join(import.meta.dirname, "..", "dist", "procwatch-agent.cjs");
const OTHER_FRAGMENT = '{"logs":{"logs_collected":{"files":{"collect_list":[{"file_path":"/var/log/app.log"}]}}}}\n';

/** A host where `apply` ran against the fake ctl: staged fragment, installed copy, allow-list and TOML all present. */
async function appliedHost(options: { exitCode?: number } = {}) {
  const dir = scratch.dir();
  const cwagentDir = join(dir, "cwagent");
  const ctl = fakeCtl(dir, { cwagentDir });
  const env = {
    PATH: `${ctl.binDir}:${process.env.PATH}`,
    PROCWATCH_STATE_DIR: join(dir, "state"),
    PROCWATCH_CWAGENT_DIR: cwagentDir,
    // Local supervision's places: this host's own /etc/systemd/system and /var/lib/procwatch stay out of it.
    PROCWATCH_SYSTEMD_UNIT_DIR: join(dir, "systemd"),
    PROCWATCH_SPOOL_DIR: join(dir, "spool"),
  };
  const specPath = join(dir, "spec.json");
  writeJson(specPath, { version: 1, processes: [{ name: "nginx" }, { name: "sshd" }] });
  expect((await runAgent(["apply", "--spec", specPath], env)).exitCode).toBe(0);
  const paths = {
    fragment: join(dir, "state", "procwatch.json"),
    allowList: join(dir, "state", "allow-list.json"),
    installed: join(ctl.configDir, "file_procwatch.json"),
    toml: join(cwagentDir, "etc", "amazon-cloudwatch-agent.toml"),
  };
  for (const path of Object.values(paths)) expect(existsSync(path), path).toBe(true);
  const failingCtl = options.exitCode === undefined ? undefined : fakeCtl(join(dir, "failing"), { cwagentDir, exitCode: options.exitCode });
  return { dir, env, ctl, failingCtl, paths };
}

describe("remove", () => {
  it("with other fragments present: remove-config -s reloads the agent on them, deletes procwatch's files only, then restart refuses", async () => {
    const { env, ctl, paths } = await appliedHost();
    writeFileSync(join(ctl.configDir, "file_app-logs.json"), OTHER_FRAGMENT);
    writeFileSync(join(ctl.configDir, "ssm_AmazonCloudWatch-linux"), OTHER_FRAGMENT);

    const run = await runAgent(["remove", "--json"], env);
    expect(run.exitCode).toBe(0);
    expect(run.json()).toEqual({
      ok: true,
      changed: true,
      allowList: { path: paths.allowList, removed: true },
      fragment: { path: paths.fragment, removed: true },
      installedFragment: { path: paths.installed, removed: true },
      cloudwatchAgent: "reloaded",
      ctlCalls: [["-a", "remove-config", "-m", "onPremise", "-c", `file:${paths.fragment}`, "-s"]],
      otherFragments: ["file_app-logs.json", "ssm_AmazonCloudWatch-linux"],
      // No local process, no systemd here: nothing of local supervision to remove.
      localSupervision: { installed: [], removed: [], template: "unchanged", daemonReloaded: false },
      supervisorsStopped: [],
      hostReports: { path: join(dirname(paths.allowList), "host-reports.json"), removed: false },
    });
    expect(ctl.calls().slice(1)).toEqual([`-a remove-config -m onPremise -c file:${paths.fragment} -s`]);
    expect(readdirSync(ctl.configDir).sort()).toEqual(["file_app-logs.json", "ssm_AmazonCloudWatch-linux"]);
    expect(readFileSync(join(ctl.configDir, "file_app-logs.json"), "utf8")).toBe(OTHER_FRAGMENT);
    expect(existsSync(paths.fragment)).toBe(false);
    expect(existsSync(paths.allowList)).toBe(false);
    expect(existsSync(paths.toml)).toBe(true);

    const restart = await runAgent(["restart", "--process", "nginx", "--json"], env);
    expect(restart.exitCode).toBe(1);
    expect(restart.stderr).toMatch(/allow-list\.json: does not exist, so no process may be restarted/);
  });

  it("with procwatch's fragment as the only config: removes it without a restart, then stops the agent (a start would load the default config)", async () => {
    const { env, ctl, paths } = await appliedHost();
    const run = await runAgent(["remove"], env);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^removed .*file_procwatch\.json, .*procwatch\.json, .*allow-list\.json; CloudWatch agent stopped: /);
    expect(ctl.calls().slice(1)).toEqual([`-a remove-config -m onPremise -c file:${paths.fragment}`, "-a stop"]);
    expect(readdirSync(ctl.configDir)).toEqual([]);
    expect(existsSync(paths.toml)).toBe(false);
  });

  it("is idempotent: a second run changes nothing, never calls the ctl and exits 0 saying so", async () => {
    const { env, ctl } = await appliedHost();
    expect((await runAgent(["remove"], env)).exitCode).toBe(0);
    const callsAfterFirst = ctl.calls().length;
    const again = await runAgent(["remove"], env);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe("nothing to remove: procwatch has no fragment or allow-list on this host\n");
    const json = await runAgent(["remove", "--json"], env);
    expect(json.json()).toMatchObject({ ok: true, changed: false, cloudwatchAgent: "untouched", ctlCalls: [] });
    expect(ctl.calls()).toHaveLength(callsAfterFirst);
  });

  it("on a host procwatch never configured (no ctl at all) exits 0 with nothing to remove", async () => {
    const dir = scratch.dir();
    const run = await runAgent(["remove", "--json", "--state-dir", join(dir, "state"), "--cwagent-dir", join(dir, "cwagent")], { PATH: "/usr/bin:/bin" });
    expect(run.exitCode).toBe(0);
    expect(run.json()).toMatchObject({ changed: false, cloudwatchAgent: "untouched" });
  });

  it("without an installed copy (fetch-config wiped it) deletes the staged files and does not call remove-config, which would fail", async () => {
    const { env, ctl, paths } = await appliedHost();
    writeFileSync(join(ctl.configDir, "file_app-logs.json"), OTHER_FRAGMENT);
    rmSync(paths.installed);
    const run = await runAgent(["remove", "--json"], env);
    expect(run.exitCode).toBe(0);
    expect(run.json()).toMatchObject({ changed: true, cloudwatchAgent: "untouched", fragment: { removed: true }, allowList: { removed: true } });
    expect(ctl.calls()).toHaveLength(1);
    expect(readdirSync(ctl.configDir)).toEqual(["file_app-logs.json"]);
  });

  it("a failing ctl exits 1 with the allow-list already gone and the staged fragment kept; the rerun finishes", async () => {
    const { env, ctl, failingCtl, paths } = await appliedHost({ exitCode: 4 });
    const failing = await runAgent(["remove", "--json"], { ...env, PROCWATCH_CWAGENT_CTL: failingCtl?.path });
    expect(failing.exitCode).toBe(1);
    expect(failing.json()).toMatchObject({ ok: false, error: { type: "CloudWatchAgentCtlError", retryable: true } });
    expect(failing.stderr).toMatch(/^error: amazon-cloudwatch-agent-ctl remove-config exited with 4/m);
    expect(failing.stderr).toMatch(/^hint: the allow-list is removed \(restart refuses everything\)/m);
    expect(existsSync(paths.allowList)).toBe(false);
    expect(existsSync(paths.fragment)).toBe(true);
    expect(existsSync(paths.installed)).toBe(true);

    const rerun = await runAgent(["remove", "--json"], env);
    expect(rerun.exitCode).toBe(0);
    expect(rerun.json()).toMatchObject({ changed: true, allowList: { removed: false }, fragment: { removed: true }, installedFragment: { removed: true } });
    expect(ctl.calls().slice(1)).toEqual([`-a remove-config -m onPremise -c file:${paths.fragment}`, "-a stop"]);
  });

  it("an installed copy but no ctl is an error with a hint; nothing but the allow-list is removed", async () => {
    const { env, paths } = await appliedHost();
    const run = await runAgent(["remove"], { ...env, PATH: "/usr/bin:/bin" });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^error: amazon-cloudwatch-agent-ctl not found\nhint: install the CloudWatch agent/m);
    expect(existsSync(paths.installed)).toBe(true);
    expect(existsSync(paths.fragment)).toBe(true);
  });

  it("warns when the ctl succeeds but the copy where --cwagent-dir points stays", async () => {
    const { env, paths } = await appliedHost();
    const run = await runAgent(["remove", "--json"], { ...env, PROCWATCH_CWAGENT_CTL: "/bin/true" });
    expect(run.exitCode).toBe(0);
    expect(run.json()).toMatchObject({ installedFragment: { removed: false }, cloudwatchAgent: "stopped" });
    expect(run.stderr).toMatch(/^warning: after remove-config, .*file_procwatch\.json is still there/m);
    expect(existsSync(paths.installed)).toBe(true);
  });

  it("runs from the built bundle (exit 0, JSON on stdout)", async () => {
    const { env, ctl, paths } = await appliedHost();
    mkdirSync(ctl.configDir, { recursive: true });
    const { stdout } = await promisify(execFile)(process.execPath, [BUNDLE, "remove", "--json"], {
      env: { ...process.env, ...env, AWS_EC2_METADATA_DISABLED: "true" },
    });
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, changed: true, cloudwatchAgent: "stopped" });
    expect(existsSync(paths.installed)).toBe(false);
  });
});

describe("the removal plan (pure)", () => {
  const base = { mode: "ec2" as const, stagedFragmentPath: "/etc/procwatch/procwatch.json" };

  it("never uses fetch-config or a bare start, and leaves the agent alone without an installed copy", () => {
    const plans = [
      planCloudWatchAgentRemoval({ ...base, installedCopyPresent: true, otherEntries: ["file_x.json"] }),
      planCloudWatchAgentRemoval({ ...base, installedCopyPresent: true, otherEntries: [] }),
      planCloudWatchAgentRemoval({ ...base, installedCopyPresent: false, otherEntries: ["file_x.json"] }),
    ];
    expect(plans.map((plan) => plan.change)).toEqual(["reloaded", "stopped", "untouched"]);
    expect(plans[0]?.ctlCalls).toEqual([["-a", "remove-config", "-m", "ec2", "-c", "file:/etc/procwatch/procwatch.json", "-s"]]);
    expect(plans[1]?.ctlCalls).toEqual([
      ["-a", "remove-config", "-m", "ec2", "-c", "file:/etc/procwatch/procwatch.json"],
      ["-a", "stop"],
    ]);
    for (const plan of plans) for (const call of plan.ctlCalls) expect(call).not.toContain("fetch-config");
  });

  it("counts other entries the way the ctl's emptiness check does (pending .tmp downloads are dropped first)", () => {
    expect(otherConfigEntries(["file_procwatch.json", "file_b.json", "file_a.json.tmp", "default"], "file_procwatch.json")).toEqual(["default", "file_b.json"]);
  });
});
