import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadDocument } from "../index.ts";
import {
  BUILT_AGENT_X64,
  createHostSandbox,
  FAKE_CLOUDWATCH_AGENT_CTL,
  fakeAgentScript,
  fakeUnameScript,
  type HostSandbox,
  realAgentBuilt,
  sha256OfFile,
  writeExecutable,
} from "./support/host-sandbox.ts";
import { type PluginHandler, runDocumentLocally, type StandInRun } from "./support/ssm-agent-stand-in.ts";

/**
 * Runs each document's Linux script with bash in a temp dir, through a stand-in for the SSM API and
 * agent (parameter validation first, SSM_* variables, `sh -c _script.sh`). Production paths are
 * swapped for sandbox paths through PROCWATCH_BIN_DIR and PATH only; the scripts are the real ones.
 */
const install = loadDocument("install").content;
const configure = loadDocument("configure").content;
const restart = loadDocument("restart").content;
const uninstall = loadDocument("uninstall").content;

const HOSTILE_VALUES = ["nginx; rm -rf /", "$(reboot)", "`id`", "nginx\nreboot", "-rf", "../../etc/passwd", "nginx && curl evil", ""];

let sandbox: HostSandbox;
beforeEach(() => {
  sandbox = createHostSandbox();
});
afterEach(() => {
  rmSync(sandbox.root, { recursive: true, force: true });
});

function expectRun(result: ReturnType<typeof runDocumentLocally>): StandInRun {
  if (result.refused) throw new Error(`unexpectedly refused: ${result.reason}`);
  return result;
}

function stepOutput(run: StandInRun, name: string) {
  const step = run.steps.find((candidate) => candidate.name === name);
  if (step === undefined) throw new Error(`step ${name} did not run`);
  return step;
}

describe("install", () => {
  const BUCKET = "cdk-hnb659fds-assets-123456789012-eu-west-1";
  const KEY_X64 = "0f3c1e6d2b9a.bin";
  const KEY_ARM64 = "7a1b2c3d4e5f.bin";
  const packagesInstalled: Record<string, unknown>[] = [];
  // aws:configurePackage stand-in: "installs" the CloudWatch agent by placing a recording ctl.
  const configurePackage: PluginHandler = (inputs) => {
    packagesInstalled.push({ ...inputs });
    writeExecutable(join(sandbox.root, "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"), FAKE_CLOUDWATCH_AGENT_CTL);
    return { exitCode: 0, stdout: `Successfully installed ${String(inputs.name)}`, stderr: "" };
  };

  // The x64 payload is the real built agent when present, so the script's `version` smoke test runs it.
  // The arm64 payload is always a script: an arm64 binary cannot run on this x64 machine without qemu.
  let sha256X64: string;
  let sha256Arm64: string;
  const realAgentSha256 = realAgentBuilt() ? sha256OfFile(BUILT_AGENT_X64) : undefined;
  beforeEach(() => {
    packagesInstalled.length = 0;
    if (realAgentSha256 !== undefined) {
      sandbox.linkObject(BUCKET, KEY_X64, BUILT_AGENT_X64);
      sha256X64 = realAgentSha256;
    } else {
      sha256X64 = sandbox.putObject(BUCKET, KEY_X64, fakeAgentScript("new-x64"));
    }
    sha256Arm64 = sandbox.putObject(BUCKET, KEY_ARM64, fakeAgentScript("new-arm64"));
  });

  function parameters(overrides: Record<string, string> = {}): Record<string, string> {
    return {
      ArtifactBucket: BUCKET,
      ArtifactRegion: "eu-west-1",
      ArtifactKeyX64: KEY_X64,
      ArtifactKeyArm64: KEY_ARM64,
      Sha256X64: sha256X64,
      Sha256Arm64: sha256Arm64,
      ...overrides,
    };
  }

  const run = (overrides: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}) =>
    runDocumentLocally(install, parameters(overrides), {
      workDir: sandbox.root,
      env: { ...sandbox.env, ...env },
      plugins: { "aws:configurePackage": configurePackage },
    });

  it("installs the CloudWatch agent package and the verified x64 binary", () => {
    const result = expectRun(run());
    expect(result.status).toBe("Success");
    expect(packagesInstalled).toEqual([{ name: "AmazonCloudWatchAgent", action: "Install", version: "" }]);
    const target = join(sandbox.binDir, "procwatch-agent");
    expect(sha256OfFile(target)).toBe(sha256X64);
    expect(sandbox.calls()[0]).toMatch(
      new RegExp(`^aws s3 cp --only-show-errors --region eu-west-1 s3://${BUCKET}/${KEY_X64.replace(".", "[.]")} ${sandbox.binDir}/[.]procwatch-agent[.]`),
    );
    expect(stepOutput(result, "installProcwatchAgent").stdout).toContain("installed");
    // No staged download is left behind next to the binary.
    expect(readdirSync(sandbox.binDir)).toEqual(["procwatch-agent"]);
  });

  it("passes a pinned CloudWatch agent version to aws:configurePackage", () => {
    expectRun(run({ CloudWatchAgentVersion: "1.300057.0b1161" }));
    expect(packagesInstalled[0]).toMatchObject({ version: "1.300057.0b1161" });
  });

  it("is idempotent: a host with the expected binary downloads nothing", () => {
    expect(expectRun(run()).status).toBe("Success");
    const downloadsAfterFirstRun = sandbox.calls().filter((call) => call.startsWith("aws ")).length;
    const second = expectRun(run());
    expect(second.status).toBe("Success");
    expect(stepOutput(second, "installProcwatchAgent").stdout).toContain("already installed");
    expect(sandbox.calls().filter((call) => call.startsWith("aws ")).length).toBe(downloadsAfterFirstRun);
  });

  it("picks the arm64 artifact on aarch64", () => {
    sandbox.installTool("uname", fakeUnameScript("aarch64"));
    const result = expectRun(run());
    expect(result.status).toBe("Success");
    expect(sha256OfFile(join(sandbox.binDir, "procwatch-agent"))).toBe(sha256Arm64);
    expect(sandbox.calls().some((call) => call.includes(`s3://${BUCKET}/${KEY_ARM64}`))).toBe(true);
  });

  it("refuses an unsupported architecture without downloading", () => {
    sandbox.installTool("uname", fakeUnameScript("riscv64"));
    const result = expectRun(run());
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "installProcwatchAgent").stderr).toMatch(/unsupported architecture riscv64/);
    expect(sandbox.calls()).toEqual([]);
  });

  it("keeps the old binary and fails when the download does not match its sha256", () => {
    const target = join(sandbox.binDir, "procwatch-agent");
    writeExecutable(target, fakeAgentScript("old"));
    const oldDigest = sha256OfFile(target);
    const result = expectRun(run({ Sha256X64: "0".repeat(64) }));
    expect(result.status).toBe("Failed");
    const step = stepOutput(result, "installProcwatchAgent");
    expect(step.exitCode).not.toBe(0);
    expect(step.stderr).toContain(`sha256 mismatch for s3://${BUCKET}/${KEY_X64}: expected ${"0".repeat(64)}, got ${sha256X64}; kept the installed binary`);
    expect(step.stderr).toMatch(/hint: /);
    expect(sha256OfFile(target)).toBe(oldDigest);
    expect(readdirSync(sandbox.binDir)).toEqual(["procwatch-agent"]);
  });

  it("keeps the old binary when the download fails", () => {
    const target = join(sandbox.binDir, "procwatch-agent");
    writeExecutable(target, fakeAgentScript("old"));
    const oldDigest = sha256OfFile(target);
    const result = expectRun(run({ ArtifactKeyX64: "missing.bin" }));
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "installProcwatchAgent").stderr).toMatch(/download of s3:\/\/.*missing\.bin failed; kept the installed binary/);
    expect(sha256OfFile(target)).toBe(oldDigest);
  });

  it("keeps the old binary when the verified download does not run", () => {
    const target = join(sandbox.binDir, "procwatch-agent");
    writeExecutable(target, fakeAgentScript("old"));
    const oldDigest = sha256OfFile(target);
    const broken = sandbox.putObject(BUCKET, "broken.bin", "#!/bin/bash\nexit 3\n");
    const result = expectRun(run({ ArtifactKeyX64: "broken.bin", Sha256X64: broken }));
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "installProcwatchAgent").stderr).toContain("does not run on this host");
    expect(sha256OfFile(target)).toBe(oldDigest);
  });

  it("explains what to install when the AWS CLI is missing", () => {
    rmSync(join(sandbox.toolsDir, "aws"));
    const result = expectRun(run());
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "installProcwatchAgent").stderr).toMatch(/AWS CLI \(aws\) is not on PATH[\s\S]*hint: install AWS CLI v2/);
  });

  it.each([
    ["ArtifactBucket", "bucket; rm -rf /"],
    ["ArtifactBucket", "$(reboot)"],
    ["ArtifactKeyX64", "-o /etc/passwd"],
    ["ArtifactKeyX64", "key`reboot`"],
    ["Sha256X64", "$(reboot)"],
    ["ArtifactRegion", "eu-west-1 --endpoint-url http://evil"],
  ])("refuses %s=%j before anything runs", (name, value) => {
    const result = run({ [name]: value });
    expect(result.refused).toBe(true);
    expect(packagesInstalled).toEqual([]);
    expect(sandbox.calls()).toEqual([]);
    expect(existsSync(join(sandbox.root, "orchestration"))).toBe(false);
  });

  it("refuses to run on an SSM Agent that does not export SSM_* variables", () => {
    const result = expectRun(
      runDocumentLocally(install, parameters(), {
        workDir: sandbox.root,
        env: sandbox.env,
        plugins: { "aws:configurePackage": configurePackage },
        legacyAgent: true,
      }),
    );
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "installProcwatchAgent").stderr).toMatch(/did not arrive as \$SSM_ArtifactBucket[\s\S]*3\.3\.2746\.0/);
    expect(sandbox.calls()).toEqual([]);
  });
});

describe("configure", () => {
  beforeEach(() => {
    writeExecutable(join(sandbox.binDir, "procwatch-agent"), fakeAgentScript("test"));
  });

  const run = (env: NodeJS.ProcessEnv = {}, parameters: Record<string, string> = {}) =>
    runDocumentLocally(configure, parameters, { workDir: sandbox.root, env: { ...sandbox.env, ...env } });
  const ran = (env: NodeJS.ProcessEnv = {}, parameters: Record<string, string> = {}) => expectRun(run(env, parameters));

  it("applies, then reports health; success makes the association compliant", () => {
    const result = ran();
    expect(result.status).toBe("Success");
    expect(sandbox.calls()).toEqual([
      "procwatch-agent apply --tag-prefix procwatch --default-detection standard",
      "procwatch-agent health --tag-prefix procwatch --default-detection standard",
    ]);
  });

  it("still reports health after a failed apply, and fails", () => {
    const result = ran({ FAKE_AGENT_APPLY_EXIT: "1" });
    expect(result.status).toBe("Failed");
    expect(sandbox.calls()).toEqual([
      "procwatch-agent apply --tag-prefix procwatch --default-detection standard",
      "procwatch-agent health --tag-prefix procwatch --default-detection standard",
    ]);
    expect(stepOutput(result, "applyAndCheckHealth").stderr).toContain("procwatch-agent apply exited 1");
  });

  it("fails when health fails, so the host shows NON_COMPLIANT", () => {
    const result = ran({ FAKE_AGENT_HEALTH_EXIT: "1" });
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "applyAndCheckHealth").stderr).toContain("procwatch-agent health exited 1");
  });

  it("says how to get procwatch-agent when it is not installed", () => {
    rmSync(join(sandbox.binDir, "procwatch-agent"));
    const result = ran();
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "applyAndCheckHealth").stderr).toMatch(/is not installed[\s\S]*hint: the procwatch-install association/);
  });

  it("passes a deployment's tag prefix through", () => {
    expect(ran({}, { TagPrefix: "acme.watch" }).status).toBe("Success");
    expect(sandbox.calls()).toEqual([
      "procwatch-agent apply --tag-prefix acme.watch --default-detection standard",
      "procwatch-agent health --tag-prefix acme.watch --default-detection standard",
    ]);
  });

  it("passes the deployment's default detection profile to apply and health", () => {
    expect(ran({}, { TagPrefix: "acme.watch", DefaultDetection: "fast" }).status).toBe("Success");
    expect(sandbox.calls()).toEqual([
      "procwatch-agent apply --tag-prefix acme.watch --default-detection fast",
      "procwatch-agent health --tag-prefix acme.watch --default-detection fast",
    ]);
  });

  it.each(["turbo", "fast; reboot", "$(id)", "--spec=/tmp/x", "Fast", ""])("refuses DefaultDetection=%j at the API, before anything runs", (value) => {
    expect(run({}, { DefaultDetection: value }).refused).toBe(true);
    expect(sandbox.calls()).toEqual([]);
  });

  it.each(["turbo", "fast; reboot", "$(id)", "fast\nreboot", "--spec=/tmp/x"])("refuses DefaultDetection=%j on the host too (defence in depth)", (value) => {
    const result = expectRun(runDocumentLocally(configure, { DefaultDetection: value }, { workDir: sandbox.root, env: sandbox.env, skipApiValidation: true }));
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "applyAndCheckHealth").stderr).toMatch(/DefaultDetection does not match \^\(standard\|fast\)\$[\s\S]*hint: /);
    expect(sandbox.calls()).toEqual([]);
  });

  it("refuses when the SSM Agent is too old to export the parameters", () => {
    const result = expectRun(runDocumentLocally(configure, {}, { workDir: sandbox.root, env: sandbox.env, legacyAgent: true }));
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "applyAndCheckHealth").stderr).toMatch(/did not arrive as \$SSM_TagPrefix[\s\S]*3\.3\.2746\.0/);
    expect(sandbox.calls()).toEqual([]);
  });

  it.each(["procwatch; reboot", "$(id)", "-x", ""])("refuses TagPrefix=%j before anything runs", (value) => {
    expect(run({}, { TagPrefix: value }).refused).toBe(true);
    expect(sandbox.calls()).toEqual([]);
  });
});

describe("restart", () => {
  beforeEach(() => {
    writeExecutable(join(sandbox.binDir, "procwatch-agent"), fakeAgentScript("test"));
  });

  const run = (processName: string, options: { legacyAgent?: boolean; skipApiValidation?: boolean } = {}) =>
    runDocumentLocally(restart, { ProcessName: processName }, { workDir: sandbox.root, env: sandbox.env, ...options });

  it("hands the validated name to procwatch-agent restart as one argument and passes its JSON through", () => {
    const result = expectRun(run("nginx"));
    expect(result.status).toBe("Success");
    expect(sandbox.calls()).toEqual(["procwatch-agent restart --process nginx --json"]);
    expect(JSON.parse(stepOutput(result, "restartProcess").stdout)).toMatchObject({ process: "nginx", ok: true });
  });

  it.each(HOSTILE_VALUES)("refuses ProcessName=%j at the API, before anything runs", (value) => {
    const result = run(value);
    expect(result.refused).toBe(true);
    expect(sandbox.calls()).toEqual([]);
    expect(existsSync(join(sandbox.root, "orchestration"))).toBe(false);
  });

  it.each(HOSTILE_VALUES.filter((value) => value !== ""))("refuses ProcessName=%j on the host too (defence in depth)", (value) => {
    const result = expectRun(run(value, { skipApiValidation: true }));
    expect(result.status).toBe("Failed");
    const step = stepOutput(result, "restartProcess");
    expect(step.exitCode).toBe(2);
    expect(step.stderr).toContain("nothing was restarted");
    expect(sandbox.calls()).toEqual([]);
  });

  it("refuses when the SSM Agent is too old to export SSM_ProcessName", () => {
    const result = expectRun(run("nginx", { legacyAgent: true }));
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "restartProcess").stderr).toMatch(/did not arrive as \$SSM_ProcessName[\s\S]*3\.3\.2746\.0/);
    expect(sandbox.calls()).toEqual([]);
  });

  it("fails clearly when procwatch-agent is missing", () => {
    rmSync(join(sandbox.binDir, "procwatch-agent"));
    const result = expectRun(run("nginx"));
    expect(result.status).toBe("Failed");
    expect(stepOutput(result, "restartProcess").stderr).toMatch(/not installed; nothing was restarted/);
  });
});

describe("uninstall", () => {
  const agentPath = () => join(sandbox.binDir, "procwatch-agent");
  const run = (parameters: Record<string, string> = {}, options: { env?: NodeJS.ProcessEnv; legacyAgent?: boolean; skipApiValidation?: boolean } = {}) =>
    runDocumentLocally(uninstall, parameters, {
      workDir: sandbox.root,
      env: { ...sandbox.env, ...options.env },
      ...(options.legacyAgent === undefined ? {} : { legacyAgent: options.legacyAgent }),
      ...(options.skipApiValidation === undefined ? {} : { skipApiValidation: options.skipApiValidation }),
    });

  describe("with a recording procwatch-agent", () => {
    beforeEach(() => {
      writeExecutable(agentPath(), fakeAgentScript("test"));
    });

    it("runs procwatch-agent remove --json and keeps the binary by default", () => {
      const result = expectRun(run());
      expect(result.status).toBe("Success");
      expect(sandbox.calls()).toEqual(["procwatch-agent remove --json"]);
      const { stdout } = stepOutput(result, "removeProcwatch");
      expect(stdout).toContain('{"ok":true,"changed":true,"cloudwatchAgent":"reloaded"}');
      expect(stdout).toContain(`kept ${agentPath()} (RemoveBinary=false)`);
      expect(existsSync(agentPath())).toBe(true);
    });

    it("deletes the binary after a successful removal with RemoveBinary=true", () => {
      const result = expectRun(run({ RemoveBinary: "true" }));
      expect(result.status).toBe("Success");
      expect(sandbox.calls()).toEqual(["procwatch-agent remove --json"]);
      expect(stepOutput(result, "removeProcwatch").stdout).toContain(`deleted ${agentPath()}`);
      expect(existsSync(agentPath())).toBe(false);
    });

    it("keeps the binary and fails when procwatch-agent remove fails, so the document can be run again", () => {
      const result = expectRun(run({ RemoveBinary: "true" }, { env: { FAKE_AGENT_REMOVE_EXIT: "1" } }));
      expect(result.status).toBe("Failed");
      expect(stepOutput(result, "removeProcwatch").stderr).toMatch(/procwatch-agent remove exited 1; .* was kept[\s\S]*hint: /);
      expect(existsSync(agentPath())).toBe(true);
    });

    it.each(["yes", "TRUE", "true; reboot", "$(id)", ""])("refuses RemoveBinary=%j at the API, before anything runs", (value) => {
      expect(run({ RemoveBinary: value }).refused).toBe(true);
      expect(sandbox.calls()).toEqual([]);
      expect(existsSync(agentPath())).toBe(true);
    });

    it.each(["yes", "true; reboot", "$(id)", "true\nrm"])("refuses RemoveBinary=%j on the host too (defence in depth)", (value) => {
      const result = expectRun(run({ RemoveBinary: value }, { skipApiValidation: true }));
      expect(result.status).toBe("Failed");
      expect(stepOutput(result, "removeProcwatch").stderr).toMatch(/RemoveBinary does not match \^\(true\|false\)\$; nothing was removed[\s\S]*hint: /);
      expect(sandbox.calls()).toEqual([]);
      expect(existsSync(agentPath())).toBe(true);
    });

    it("refuses when the SSM Agent is too old to export RemoveBinary", () => {
      const result = expectRun(run({ RemoveBinary: "true" }, { legacyAgent: true }));
      expect(result.status).toBe("Failed");
      expect(stepOutput(result, "removeProcwatch").stderr).toMatch(/did not arrive as \$SSM_RemoveBinary[\s\S]*3\.3\.2746\.0/);
      expect(sandbox.calls()).toEqual([]);
      expect(existsSync(agentPath())).toBe(true);
    });
  });

  it("succeeds on a host without procwatch-agent and says so", () => {
    const result = expectRun(run({ RemoveBinary: "true" }));
    expect(result.status).toBe("Success");
    const { stdout } = stepOutput(result, "removeProcwatch");
    expect(stdout).toContain("is not installed");
    expect(stdout).toContain("was already absent");
    expect(sandbox.calls()).toEqual([]);
  });

  it.runIf(realAgentBuilt())("with the real built agent: removes procwatch's files through the ctl, keeps other fragments, then the binary", () => {
    const stateDir = join(sandbox.root, "etc/procwatch");
    const cwagentDir = join(sandbox.root, "opt/aws/amazon-cloudwatch-agent");
    const configDir = join(cwagentDir, "etc/amazon-cloudwatch-agent.d");
    const ctl = join(cwagentDir, "bin/amazon-cloudwatch-agent-ctl");
    mkdirSync(stateDir, { recursive: true });
    mkdirSync(configDir, { recursive: true });
    writeExecutable(ctl, FAKE_CLOUDWATCH_AGENT_CTL);
    const fragment = '{"metrics":{"metrics_collected":{"procstat":[{"exe":"nginx","measurement":["pid_count"]}]}}}\n';
    writeFileSync(join(stateDir, "procwatch.json"), fragment);
    writeFileSync(join(configDir, "file_procwatch.json"), fragment);
    writeFileSync(join(configDir, "file_app-logs.json"), "{}\n");
    writeFileSync(join(stateDir, "allow-list.json"), "{}\n");
    symlinkSync(BUILT_AGENT_X64, agentPath());

    const env = { PROCWATCH_STATE_DIR: stateDir, PROCWATCH_CWAGENT_DIR: cwagentDir, AWS_EC2_METADATA_DISABLED: "true" };
    const result = expectRun(run({ RemoveBinary: "true" }, { env }));
    const step = stepOutput(result, "removeProcwatch");
    expect(result.status, step.stderr).toBe("Success");
    expect(sandbox.calls()).toEqual([`amazon-cloudwatch-agent-ctl -a remove-config -m onPremise -c file:${join(stateDir, "procwatch.json")} -s`]);
    const json = step.stdout.split("\n").find((line) => line.startsWith("{"));
    expect(JSON.parse(json ?? "")).toMatchObject({ ok: true, changed: true, cloudwatchAgent: "reloaded", otherFragments: ["file_app-logs.json"] });
    expect(readdirSync(configDir)).toEqual(["file_app-logs.json"]);
    expect(readdirSync(stateDir)).toEqual([]);
    expect(existsSync(agentPath())).toBe(false);
    expect(existsSync(BUILT_AGENT_X64)).toBe(true);

    const again = expectRun(run({ RemoveBinary: "true" }, { env }));
    expect(again.status).toBe("Success");
    expect(stepOutput(again, "removeProcwatch").stdout).toContain("is not installed");
  });
});
