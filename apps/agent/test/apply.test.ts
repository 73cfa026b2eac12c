import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { PROCSTAT_MEASUREMENTS } from "@procwatch/contract";
import { afterEach, describe, expect, it } from "vitest";
import { fakeCtl, runAgent, Scratch, writeJson } from "./helpers.ts";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const BUNDLE = join(import.meta.dirname, "..", "dist", "procwatch-agent.cjs");

function setup(exitCode = 0) {
  const dir = scratch.dir();
  const ctl = fakeCtl(dir, { cwagentDir: join(dir, "cwagent"), exitCode });
  const env = {
    PATH: `${ctl.binDir}:${process.env.PATH}`,
    PROCWATCH_STATE_DIR: join(dir, "state"),
    PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
  };
  const fragment = join(dir, "state", "procwatch.json");
  const allowList = join(dir, "state", "allow-list.json");
  const spec = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeJson(path, value);
    return path;
  };
  return { dir, env, ctl, fragment, allowList, spec };
}

describe("apply: where local restarts are reported (PROCWATCH_HOST_REPORT_QUEUE_URL from the configure document)", () => {
  const QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/procwatch-HostReportQueue-abc";

  async function imdsStandIn(): Promise<{ endpoint: string; close: () => void }> {
    const server = createServer((req, res) => {
      if (req.method === "PUT" && req.url === "/latest/api/token") return void res.end("token-1");
      if (req.url === "/latest/dynamic/instance-identity/document")
        return void res.end(JSON.stringify({ instanceId: "i-0123456789abcdef0", region: "eu-west-1", imageId: "ami-0abc", instanceType: "t3.micro" }));
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close() };
  }

  it("records the queue and this instance's id in host-reports.json, keeps it when the variable is unset, removes it when empty", async () => {
    const { env, dir, spec } = setup();
    const path = spec("a.json", { version: 1, processes: [{ name: "nginx" }] });
    const imds = await imdsStandIn();
    try {
      const withQueue = { ...env, AWS_EC2_METADATA_DISABLED: "", PROCWATCH_IMDS_ENDPOINT: imds.endpoint, PROCWATCH_HOST_REPORT_QUEUE_URL: QUEUE };
      const applied = await runAgent(["apply", "--spec", path, "--json"], withQueue);
      expect(applied.exitCode, applied.stderr).toBe(0);
      expect(applied.json()).toMatchObject({ hostReports: { config: "written", configured: true, sent: 0, pending: 0 } });
      const file = join(dir, "state", "host-reports.json");
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({
        queueUrl: QUEUE,
        instanceId: "i-0123456789abcdef0",
        budget: { restarts: 3, windowMinutes: 30 },
      });
      expect((await runAgent(["apply", "--spec", path, "--json"], env)).json()).toMatchObject({ hostReports: { config: "kept" } });
      expect(existsSync(file)).toBe(true);
      expect((await runAgent(["apply", "--spec", path, "--json"], { ...env, PROCWATCH_HOST_REPORT_QUEUE_URL: "" })).json()).toMatchObject({
        hostReports: { config: "removed" },
      });
      expect(existsSync(file)).toBe(false);
    } finally {
      imds.close();
    }
  });

  it("warns and writes nothing for a URL that is not an SQS queue, or without an instance id", async () => {
    const { env, dir, spec } = setup();
    const path = spec("a.json", { version: 1, processes: [{ name: "nginx" }] });
    const bad = await runAgent(["apply", "--spec", path], { ...env, PROCWATCH_HOST_REPORT_QUEUE_URL: "https://evil.example/q" });
    expect(bad.exitCode).toBe(0);
    expect(bad.stderr).toContain('PROCWATCH_HOST_REPORT_QUEUE_URL "https://evil.example/q" is not an SQS queue URL');
    const offEc2 = await runAgent(["apply", "--spec", path], { ...env, PROCWATCH_HOST_REPORT_QUEUE_URL: QUEUE });
    expect(offEc2.stderr).toContain("the instance id is unknown");
    expect(existsSync(join(dir, "state", "host-reports.json"))).toBe(false);
  });
});

describe("apply", () => {
  it("writes the fragment and allow-list, calls append-config once on change and not when unchanged", async () => {
    const { env, ctl, fragment, allowList, spec } = setup();
    const first = spec("a.json", { version: 1, processes: [{ name: "nginx" }, { name: "orders", pattern: "orders.jar" }] });

    const applied = await runAgent(["apply", "--spec", first, "--json"], env);
    expect(applied.exitCode).toBe(0);
    expect(applied.json()).toMatchObject({
      fragmentChanged: true,
      reloadReason: "fragment-changed",
      agentReloaded: true,
      installedFragment: "matches",
      installedFragmentPath: join(ctl.configDir, "file_procwatch.json"),
      previousDigest: null,
      processes: ["nginx", "orders"],
    });
    expect(ctl.calls()).toEqual([`-a append-config -m onPremise -c file:${fragment} -s`]);
    expect(readFileSync(join(ctl.configDir, "file_procwatch.json"), "utf8")).toBe(readFileSync(fragment, "utf8"));
    expect(JSON.parse(readFileSync(fragment, "utf8")).metrics.metrics_collected.procstat).toHaveLength(2);
    expect(JSON.parse(readFileSync(allowList, "utf8")).processes.map((process: { name: string }) => process.name)).toEqual(["nginx", "orders"]);

    const again = await runAgent(["apply", "--spec", first, "--json"], env);
    expect(again.json()).toMatchObject({ fragmentChanged: false, reloadReason: null, agentReloaded: false, ctlArgs: null, installedFragment: "matches" });
    expect(ctl.calls()).toHaveLength(1);

    const changed = spec("b.json", { version: 1, processes: [{ name: "nginx", detection: "fast" }] });
    const third = await runAgent(["apply", "--spec", changed, "--mode", "ec2", "--json"], env);
    expect(third.json()).toMatchObject({ fragmentChanged: true, agentReloaded: true });
    expect(ctl.calls()).toEqual([`-a append-config -m onPremise -c file:${fragment} -s`, `-a append-config -m ec2 -c file:${fragment} -s`]);
  });

  it("reloads when the CloudWatch agent's copy was wiped (fetch-config) or altered, though the staged fragment is unchanged", async () => {
    const { env, ctl, fragment, spec } = setup();
    const path = spec("s.json", { version: 1, processes: [{ name: "nginx" }] });
    expect((await runAgent(["apply", "--spec", path], env)).exitCode).toBe(0);
    const installed = join(ctl.configDir, "file_procwatch.json");

    rmSync(installed); // what `amazon-cloudwatch-agent-ctl -a fetch-config` does to other fragments
    const wiped = await runAgent(["apply", "--spec", path], env);
    expect(wiped.exitCode).toBe(0);
    expect(wiped.stdout).toMatch(/^fragment unchanged: .*CloudWatch agent reloaded \(append-config: installed-copy-missing\)/);
    expect(readFileSync(installed, "utf8")).toBe(readFileSync(fragment, "utf8"));

    writeFileSync(installed, '{"metrics":{"metrics_collected":{"procstat":[]}}}\n');
    const altered = await runAgent(["apply", "--spec", path, "--json"], env);
    expect(altered.json()).toMatchObject({ fragmentChanged: false, reloadReason: "installed-copy-differs", agentReloaded: true, installedFragment: "matches" });
    expect(readFileSync(installed, "utf8")).toBe(readFileSync(fragment, "utf8"));

    expect((await runAgent(["apply", "--spec", path, "--json"], env)).json()).toMatchObject({ reloadReason: null, agentReloaded: false });
    expect(ctl.calls()).toHaveLength(3);
  });

  it("warns (and retries next time) when the ctl succeeds but installs nothing where --cwagent-dir points", async () => {
    const { env, spec } = setup();
    const path = spec("s.json", { version: 1, processes: [{ name: "nginx" }] });
    const elsewhere = { ...env, PROCWATCH_CWAGENT_CTL: "/bin/true" };
    const first = await runAgent(["apply", "--spec", path, "--json"], elsewhere);
    expect(first.exitCode).toBe(0);
    expect(first.json()).toMatchObject({ agentReloaded: true, installedFragment: "missing" });
    expect(first.stderr).toMatch(/^warning: after append-config, .*file_procwatch\.json is missing: the CloudWatch agent will not load it$/m);
    expect(first.stderr).toMatch(/^hint: --cwagent-dir \(env PROCWATCH_CWAGENT_DIR, now .*\) must be the directory the ctl installs into$/m);
    expect((await runAgent(["apply", "--spec", path, "--json"], elsewhere)).json()).toMatchObject({
      reloadReason: "installed-copy-missing",
      agentReloaded: true,
    });
  });

  it("never calls the ctl and leaves the old fragment byte-identical on bad input, listing every reason", async () => {
    const { env, ctl, fragment, allowList, spec } = setup();
    await runAgent(["apply", "--spec", spec("good.json", { version: 1, processes: [{ name: "nginx" }] })], env);
    const before = readFileSync(fragment, "utf8");
    const beforeAllow = readFileSync(allowList, "utf8");

    const bad = spec("bad.json", {
      version: 1,
      processes: [{ name: "httpd; rm -rf /" }, { name: "ok", unit: "$(reboot).service" }, { name: "re", regex: "(?=x)" }],
    });
    const run = await runAgent(["apply", "--spec", bad], env);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^error: the process spec from spec-file:.* is invalid \(3 problems\)/);
    expect(run.stderr).toContain("processes[0].name");
    expect(run.stderr).toContain("processes[1].unit");
    expect(run.stderr).toContain("processes[2].regex");
    expect(run.stderr).toMatch(/^hint: fix the listed values and run apply again; apply changed nothing: the fragment, the allow-list and/m);
    expect(readFileSync(fragment, "utf8")).toBe(before);
    expect(readFileSync(allowList, "utf8")).toBe(beforeAllow);
    expect(ctl.calls()).toHaveLength(1);

    const unreadable = await runAgent(["apply", "--spec", join(dirname(fragment), "nope.json"), "--json"], env);
    expect(unreadable.exitCode).toBe(1);
    expect(unreadable.json()).toMatchObject({ ok: false, error: { type: "SpecInvalidError", issues: [expect.objectContaining({ code: "bad-document" })] } });
    const notJson = join(dirname(fragment), "..", "not-json.json");
    writeFileSync(notJson, "{nope");
    expect((await runAgent(["apply", "--spec", notJson], env)).exitCode).toBe(1);
    expect(readFileSync(fragment, "utf8")).toBe(before);
    expect(ctl.calls()).toHaveLength(1);
  });

  it("a crash between write and rename (SIGKILL, injected) leaves the old fragment and no ctl call; the next apply recovers", async () => {
    const { env, ctl, fragment, spec } = setup();
    await runAgent(["apply", "--spec", spec("v1.json", { version: 1, processes: [{ name: "nginx" }] })], env);
    const before = readFileSync(fragment, "utf8");
    const v2 = spec("v2.json", { version: 1, processes: [{ name: "nginx" }, { name: "sshd" }] });

    const crashed = await promisify(execFile)(process.execPath, [BUNDLE, "apply", "--spec", v2], {
      env: { ...process.env, ...env, PROCWATCH_TEST_FAULT: "crash-before-rename" },
    }).catch((error: { signal?: string }) => error);
    expect((crashed as { signal?: string }).signal).toBe("SIGKILL");
    expect(readFileSync(fragment, "utf8")).toBe(before);
    expect(readdirSync(dirname(fragment)).filter((entry) => entry.endsWith(".tmp"))).toHaveLength(1);
    expect(ctl.calls()).toHaveLength(1);

    const recovered = await runAgent(["apply", "--spec", v2, "--json"], env);
    expect(recovered.json()).toMatchObject({ fragmentChanged: true, agentReloaded: true });
    expect(readdirSync(dirname(fragment)).filter((entry) => entry !== "allow-list.json" && entry !== "procwatch.json")).toEqual([]);
    expect(ctl.calls()).toHaveLength(2);
  });

  it("a failing append-config exits 1 and is retried by the next apply even though the fragment is already written", async () => {
    const failing = setup(3);
    const path = failing.spec("s.json", { version: 1, processes: [{ name: "nginx" }] });
    const run = await runAgent(["apply", "--spec", path], failing.env);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^error: amazon-cloudwatch-agent-ctl append-config exited with 3/);
    expect(existsSync(failing.allowList)).toBe(false);
    const retry = await runAgent(["apply", "--spec", path, "--json"], failing.env);
    expect(retry.exitCode).toBe(1);
    expect(failing.ctl.calls()).toHaveLength(2);
  });

  it("an opted-out host (flags without processes are a usage error; tags without opt-in) writes nothing", async () => {
    const { env, ctl, fragment } = setup();
    const usage = await runAgent(["apply", "--detection", "fast"], env);
    expect(usage.exitCode).toBe(2);
    const offEc2 = await runAgent(["apply"], env);
    expect(offEc2.exitCode).toBe(1);
    expect(offEc2.stderr).toMatch(/^error: this host does not look like an EC2 instance/);
    expect(offEc2.stderr).toMatch(/^hint: on-premises hosts pass --spec FILE/m);
    expect(existsSync(fragment)).toBe(false);
    expect(ctl.calls()).toEqual([]);
  });
});

describe("render", () => {
  it("prints the contract's fragment for --spec and for flags, and --json with a digest", async () => {
    const { env, spec } = setup();
    const path = spec("r.json", { version: 1, detection: "fast", processes: [{ name: "nginx", exe: "/usr/sbin/nginx" }] });
    const run = await runAgent(["render", "--spec", path], env);
    expect(run.exitCode).toBe(0);
    // exe=/usr/sbin/nginx reaches the CloudWatch agent as a command-line pattern on argv[0] (never as
    // exe, which a cwagent agent cannot read for root), with the host dimensions pinned on the entry:
    // placeholders, since a --spec file names no instance (never the Auto Scaling group's, which would
    // make the translator call DescribeTags), and metrics.append_dimensions, which turns the ec2tagger on
    // (it removes telegraf's host dimension), since no other fragment sets it.
    expect(JSON.parse(run.stdout)).toEqual({
      metrics: {
        // biome-ignore-start lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholders
        append_dimensions: { InstanceId: "${aws:InstanceId}" },
        force_flush_interval: 10,
        metrics_collected: {
          procstat: [
            {
              pattern: "^(/usr/sbin/nginx:?|nginx:)( |$)",
              measurement: [...PROCSTAT_MEASUREMENTS],
              metrics_collection_interval: 10,
              append_dimensions: { ImageId: "${aws:ImageId}", InstanceId: "${aws:InstanceId}", InstanceType: "${aws:InstanceType}" },
            },
          ],
        },
        // biome-ignore-end lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholders
      },
    });
    const flags = await runAgent(["render", "--processes", "sshd nginx", "--json"], env);
    expect(flags.json()).toMatchObject({ ok: true, source: "flags", processes: ["nginx", "sshd"], digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
  });

  it("an invalid spec names every problem with a hint about render, which writes nothing", async () => {
    const { env, spec } = setup();
    const run = await runAgent(["render", "--spec", spec("bad.json", { version: 1, processes: [{ name: "a b" }] })], env);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("processes[0].name");
    expect(run.stderr).toMatch(/^hint: fix the listed values and run render again; render writes nothing$/m);
    expect(run.stderr).not.toContain("applied");
  });

  it("usage errors exit 2 with a hint", async () => {
    const { env, spec } = setup();
    const both = await runAgent(["render", "--spec", spec("x.json", {}), "--processes", "nginx"], env);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/^error: --spec cannot be combined/);
    expect((await runAgent(["render", "--detection", "slow"], env)).exitCode).toBe(2);
    expect((await runAgent(["frobnicate"], env)).exitCode).toBe(2);
    const help = await runAgent(["--help"], env);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Examples:");
  });
});
