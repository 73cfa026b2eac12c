import { alarmDimensionsBeforeHostPinning, alarmNameFor, parseAlarmName, parseInstanceTags, resolveHostSpec } from "@procwatch/contract";
import { buildFleet, FakeAws, fakeClients, fleetInstanceId, instantRetryStrategy, VirtualClock } from "@procwatch/testkit";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createAwsClients } from "../src/aws.ts";
import { type CliIo, NODE_REQUIREMENT, quietSdkNodeVersionWarning, runCli } from "../src/cli.ts";
import { RESTART_TOPIC } from "./harness.ts";

function cli(options: { instances?: number; tty?: boolean; env?: Record<string, string>; answer?: boolean; whileAsking?: (fake: FakeAws) => void } = {}) {
  const clock = new VirtualClock();
  const fake = new FakeAws({ clock });
  buildFleet(fake, { instances: options.instances ?? 3, processesPerInstance: 2 });
  const out: string[] = [];
  const err: string[] = [];
  const questions: string[] = [];
  const io: CliIo = {
    stdout: { write: (text: string) => out.push(text), isTTY: options.tty ?? false },
    stderr: { write: (text: string) => err.push(text), isTTY: options.tty ?? false },
    // Arming is off unless a test turns it on: the fleet here publishes no datapoints, so every new
    // alarm would otherwise be arming and every plan would read GetMetricData.
    env: { RESTART_TOPIC_ARN: RESTART_TOPIC, ARMING_GRACE_MINUTES: "0", ...(options.env ?? {}) },
    stdinIsTTY: options.tty ?? false,
    confirm: async (question) => {
      questions.push(question);
      options.whileAsking?.(fake);
      return options.answer ?? false;
    },
    createClients: () => fakeClients(fake, { retryStrategy: instantRetryStrategy(3) }),
    clock,
    wallTime: () => clock.now(),
  };
  return {
    fake,
    questions,
    run: async (...argv: string[]) => {
      out.length = 0;
      err.length = 0;
      const code = await runCli(argv, io);
      return { code, stdout: out.join(""), stderr: err.join("") };
    },
  };
}

describe("plan", () => {
  it("prints changes grouped by instance with markers and a summary; --detailed-exitcode gives 2, then 0 once applied", async () => {
    const { run } = cli();
    const plan = await run("plan", "--detailed-exitcode");
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`${fleetInstanceId(0)} (host-0) running`);
    expect(plan.stdout).toContain(`  + create nginx  ${alarmNameFor(fleetInstanceId(0), "nginx")} — new alarm`);
    expect(plan.stdout).toMatch(/Plan: 6 to create, 0 to update, 0 to delete, 0 to disable, 0 to enable, 0 unchanged\.\n$/);
    expect(plan.stdout).not.toContain("\u001b[");
    expect((await run("plan")).code).toBe(0);
    expect((await run("apply", "--yes")).code).toBe(0);
    const after = await run("plan", "--detailed-exitcode");
    expect(after).toMatchObject({ code: 0, stderr: "" });
    expect(after.stdout).toBe("No changes. 6 alarms up to date.\n");
  });

  it("--json is machine-readable and reports tag problems", async () => {
    const { run, fake } = cli();
    fake.setTags(fleetInstanceId(1), { "procwatch:detection": "turbo" });
    const { code, stdout } = await run("plan", "--json");
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout);
    expect(parsed.summary).toMatchObject({ create: 4, invalidInstances: 1 });
    expect(parsed.issues[0]).toMatchObject({ instanceId: fleetInstanceId(1), issues: [{ code: "bad-detection", source: "procwatch:detection" }] });
    expect(parsed.changes[0]).toMatchObject({
      kind: "create",
      instanceId: fleetInstanceId(0),
      process: "nginx",
      alarmName: alarmNameFor(fleetInstanceId(0), "nginx"),
    });
  });

  it("--instance narrows to those instances", async () => {
    const { run } = cli();
    const parsed = JSON.parse((await run("plan", "--json", "--instance", fleetInstanceId(2))).stdout);
    expect(parsed.changes.map((change: { instanceId: string }) => change.instanceId)).toEqual([fleetInstanceId(2), fleetInstanceId(2)]);
  });
});

describe("apply", () => {
  it("refuses without --yes on a non-TTY, with a hint, and changes nothing", async () => {
    const { run, fake } = cli();
    const result = await run("apply");
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "procwatch-fleet: refusing to apply without confirmation on a non-interactive terminal\nhint: review with `procwatch-fleet plan`, then run `procwatch-fleet apply --yes`\n",
    );
    expect(fake.alarms.size).toBe(0);
  });

  it("asks on a TTY and applies only on yes", async () => {
    const declined = cli({ tty: true, answer: false });
    expect((await declined.run("apply")).code).toBe(2);
    expect(declined.questions).toEqual(["Apply 6 change(s)? Only 'yes' is accepted: "]);
    expect(declined.fake.alarms.size).toBe(0);
    const accepted = cli({ tty: true, answer: true });
    const result = await accepted.run("apply");
    expect(result.code).toBe(0);
    expect(accepted.fake.alarms.size).toBe(6);
    expect(result.stdout).toMatch(/Applied: 6 created, 0 updated, 0 deleted, 0 actions disabled, 0 actions enabled in /);
    expect(result.stderr).toContain("6/6");
  });

  it("applies exactly the plan that was confirmed: the world changing while the question is open does not change what is written", async () => {
    const { run, fake, questions } = cli({
      tty: true,
      answer: true,
      whileAsking: (world) => {
        world.resetCounters();
        world.addInstance({ instanceId: fleetInstanceId(50), tags: { "procwatch:enabled": "true", "procwatch:processes": "redis" } });
        world.setTags(fleetInstanceId(0), { "procwatch:processes": "nginx" });
      },
    });
    const result = await run("apply");
    expect(result.code).toBe(0);
    expect(questions).toEqual(["Apply 6 change(s)? Only 'yes' is accepted: "]);
    expect(result.stdout).toMatch(/Applied: 6 created, 0 updated, 0 deleted/);
    expect([...fake.alarms.keys()].sort()).toEqual(
      [0, 1, 2].flatMap((index) => [alarmNameFor(fleetInstanceId(index), "nginx"), alarmNameFor(fleetInstanceId(index), "sshd")]).sort(),
    );
    // No second plan after the answer: one DescribeInstances re-checks the planned changes'
    // preconditions (instance still there and opted in), then only writes.
    expect(fake.callCounts().DescribeInstances).toBe(1);
    // The next plan picks up what changed meanwhile.
    const next = JSON.parse((await run("plan", "--json")).stdout);
    expect(next.changes.map((change: { kind: string; alarmName: string }) => `${change.kind} ${change.alarmName}`)).toEqual([
      `delete ${alarmNameFor(fleetInstanceId(0), "sshd")}`,
      `create ${alarmNameFor(fleetInstanceId(50), "redis")}`,
    ]);
  });

  it("exits 1 and lists what failed when writes fail for good, and a re-run converges", async () => {
    const { run, fake } = cli();
    const original = fake.handle.bind(fake);
    // Every write to one instance's alarms fails with a 500, even after the SDK's retries.
    fake.handle = async (operation, input) => {
      if (operation === "PutMetricAlarm" && String(input.AlarmName).includes(fleetInstanceId(1))) {
        throw Object.assign(new Error("We encountered an internal error."), {
          name: "InternalServiceError",
          $fault: "server",
          $metadata: { httpStatusCode: 500 },
        });
      }
      return original(operation, input);
    };
    const failed = await run("apply", "--yes");
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("Applied: 4 created");
    expect(failed.stdout).toContain(
      `2 failed:\n  ✗ create ${alarmNameFor(fleetInstanceId(1), "nginx")}: PutMetricAlarm failed: InternalServiceError: We encountered an internal error.`,
    );
    expect(failed.stderr).toBe("procwatch-fleet: 2 changes failed\nhint: the failures were throttling or AWS-side errors: run apply again\n");
    fake.handle = original;
    expect((await run("apply", "--yes")).code).toBe(0);
    expect((await run("plan", "--detailed-exitcode")).code).toBe(0);
  });

  it("--json with --yes prints the result", async () => {
    const { run } = cli();
    const parsed = JSON.parse((await run("apply", "--yes", "--json")).stdout);
    expect(parsed).toMatchObject({ mode: "apply", applied: { created: 6 }, failures: [] });
  });
});

describe("status", () => {
  it("shows state, actions and whether each alarm's metric exists, with the likely cause", async () => {
    const { run, fake } = cli();
    await run("apply", "--yes");
    fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx"))!.StateValue = "ALARM";
    fake.setInstanceState(fleetInstanceId(1), "stopped");
    await run("apply", "--yes");
    // A hand-made alarm in the seed's style (InstanceId, selector, pid_finder) never sees data: the series also carries the host dimensions.
    const good = fake.alarms.get(alarmNameFor(fleetInstanceId(2), "nginx"))!;
    fake.seedAlarm({
      ...good,
      AlarmName: "procwatch/i-00000000000000002/nginx-old",
      AlarmDescription: "hand-made",
      Dimensions: good.Dimensions!.filter((dimension) => dimension.Name !== "ImageId" && dimension.Name !== "InstanceType"),
    });
    // Host 0 stops reporting sshd's metric entirely? No: drop every metric of a fourth, unreporting host.
    fake.addInstance({ instanceId: fleetInstanceId(9), tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx" } });
    await run("apply", "--yes");

    const rows = JSON.parse((await run("status", "--json")).stdout) as {
      alarmName: string;
      state: string;
      actionsEnabled: boolean;
      metric: string;
      cause?: string;
      owner: string;
    }[];
    const byName = new Map(rows.map((row) => [row.alarmName, row]));
    expect(byName.get(alarmNameFor(fleetInstanceId(0), "nginx"))).toMatchObject({ state: "ALARM", metric: "reporting", owner: "procwatch" });
    expect(byName.get(alarmNameFor(fleetInstanceId(1), "nginx"))).toMatchObject({ actionsEnabled: false });
    expect(byName.get("procwatch/i-00000000000000002/nginx-old")).toMatchObject({ owner: "foreign", metric: "no data" });
    expect(byName.get("procwatch/i-00000000000000002/nginx-old")?.cause).toMatch(
      /^dimension mismatch: agent also sends ImageId, InstanceType which the alarm lacks \(.*not written by this procwatch-fleet\)$/,
    );
    expect(byName.get(alarmNameFor(fleetInstanceId(9), "nginx"))?.cause).toMatch(/host agent not reporting/);
    expect(fake.callCounts().ListMetrics).toBe(1);

    const table = await run("status", "--state", "no-data");
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("INSTANCE");
    expect(table.stdout).toContain("no data: host agent not reporting");
    expect(table.stdout).toMatch(/2 alarm\(s\): 0 in ALARM, 2 without data, 0 with actions disabled\.\n$/);
    const filtered = JSON.parse((await run("status", "--json", "--instance", fleetInstanceId(0), "--process", "nginx")).stdout);
    expect(filtered).toHaveLength(1);
  });
});

describe("--default-detection", () => {
  const periods = (fake: ReturnType<typeof cli>["fake"]) => [...new Set([...fake.alarms.values()].map((alarm) => alarm.Period))];

  it("fast gives untagged hosts 10 s alarms; the flag beats DEFAULT_DETECTION_PROFILE", async () => {
    const { run, fake } = cli({ env: { DEFAULT_DETECTION_PROFILE: "standard" } });
    expect((await run("apply", "--yes", "--default-detection", "fast")).code).toBe(0);
    expect(fake.alarms.size).toBe(6);
    expect(periods(fake)).toEqual([10]);
    expect([...fake.alarms.values()].map((alarm) => alarm.EvaluationPeriods)).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it("DEFAULT_DETECTION_PROFILE applies when the flag is absent; switching back plans period updates", async () => {
    const { run, fake } = cli({ env: { DEFAULT_DETECTION_PROFILE: "fast" } });
    expect((await run("apply", "--yes")).code).toBe(0);
    expect(periods(fake)).toEqual([10]);
    const back = JSON.parse((await run("plan", "--json", "--default-detection", "standard")).stdout);
    expect(back.summary).toMatchObject({ update: 6 });
  });

  it("defaults to standard", async () => {
    const { run, fake } = cli();
    expect((await run("apply", "--yes")).code).toBe(0);
    expect(periods(fake)).toEqual([60]);
  });
});

describe("usage errors exit 2 with one line and a hint", () => {
  it.each([
    [["plan", "--prefix", "bad prefix!"], /--prefix "bad prefix!" is not a valid alarm prefix/],
    [["plan", "--instance", "i-1; rm -rf /"], /--instance "i-1; rm -rf \/" is not an instance id/],
    [["plan", "--restart-action-arn", "arn:aws:iam::123456789012:role/x"], /is not an SNS topic or Lambda function ARN/],
    [["plan", "--region", "moon-1"], /--region "moon-1" is not an AWS region/],
    [["status", "--process", "../etc/passwd"], /is not a valid process name/],
    [["status", "--state", "sleepy"], /--state "sleepy" is not one of/],
    [["apply", "--yes", "--concurrency", "0"], /--concurrency "0" must be 1-32/],
    [["plan", "--tps", "PutMetricAlarm=fast"], /--tps entry "PutMetricAlarm=fast" is not Operation=rate/],
    [["plan", "--default-detection", "turbo"], /--default-detection "turbo" is not a detection profile/],
    [["plan", "--arming-grace-minutes", "-5"], /--arming-grace-minutes "-5" is not a whole number of minutes from 0 to 1440/],
    [["plan", "--arming-grace-minutes", "1e3"], /--arming-grace-minutes "1e3" is not a whole number of minutes/],
    [["apply", "--yes", "--default-detection", "turbo"], /--default-detection "turbo" is not a detection profile/],
    [["plan", "--bogus"], /unknown option '--bogus'/],
    [["frobnicate"], /unknown command 'frobnicate'/],
  ])("%j", async (argv, message) => {
    const { run, fake } = cli();
    const result = await run(...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/\nhint: .+\n$/);
    expect(result.stderr.trim().split("\n")).toHaveLength(2);
    expect(fake.alarms.size).toBe(0);
    // Nothing is read either: not even the deployed settings.
    expect(fake.callCounts()).toEqual({});
  });

  it("every bad setting at once, in one line, before any AWS call", async () => {
    const { run, fake } = cli();
    const result = await run("plan", "--namespace", "AWS/EC2", "--arming-grace-minutes", "-3", "--default-detection", "turbo");
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'procwatch-fleet: 3 invalid settings: --namespace "AWS/EC2" is not a valid custom metric namespace; --default-detection "turbo" is not a detection profile; --arming-grace-minutes "-3" is not a whole number of minutes from 0 to 1440\n' +
        "hint: the CloudWatch agent's namespace, CWAgent by default; use standard or fast, the same value the agents get (the stack's detectionProfile); e.g. 45 (the default); 0 turns a new alarm's actions on at once, before its host reports\n",
    );
    expect(fake.callCounts()).toEqual({});
  });

  it.each<[string[], Record<string, string>, RegExp]>([
    [["plan", "--detailed-exitcode", "--prefix", "bad prefix!"], {}, /--prefix "bad prefix!" is not a valid alarm prefix/],
    [["plan", "--detailed-exitcode", "--bogus"], {}, /unknown option '--bogus'/],
    [["plan", "--bogus", "--detailed-exitcode"], {}, /unknown option '--bogus'/],
    [["plan", "--detailed-exitcode"], { RESTART_TOPIC_ARN: "" }, /no restart action/],
  ])("with --detailed-exitcode a usage error exits 1, never 2 (which means changes pending): %j", async (argv, env, message) => {
    const { run } = cli({ env });
    const result = await run(...argv);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/\nhint: .+\n$/);
  });

  it("a bad DEFAULT_DETECTION_PROFILE is a usage error naming the flag", async () => {
    const { run } = cli({ env: { DEFAULT_DETECTION_PROFILE: "turbo" } });
    const result = await run("plan");
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'procwatch-fleet: --default-detection "turbo" is not a detection profile\nhint: use standard or fast, the same value the agents get (the stack\'s detectionProfile)\n',
    );
  });

  it("no restart action configured", async () => {
    const { run } = cli({ env: { RESTART_TOPIC_ARN: "" } });
    const result = await run("plan");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("hint: pass --restart-action-arn");
  });

  it("--help and --version exit 0", async () => {
    const { run } = cli();
    expect((await run("--help")).code).toBe(0);
    const version = await run("--version");
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n" });
  });
});

describe("region and credentials are resolved before any call", () => {
  /** The real client factory with an environment that has neither region nor credentials; nothing could reach AWS. */
  function bareEnvironment() {
    for (const name of [
      "AWS_REGION",
      "AWS_DEFAULT_REGION",
      "AWS_PROFILE",
      "AWS_DEFAULT_PROFILE",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_ROLE_ARN",
      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]) {
      vi.stubEnv(name, undefined);
    }
    vi.stubEnv("AWS_CONFIG_FILE", "/nonexistent/procwatch-test/config");
    vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/procwatch-test/credentials");
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    // Belt and braces: should resolution ever succeed, the first call goes to a closed local port.
    vi.stubEnv("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    const err: string[] = [];
    const io: CliIo = {
      stdout: { write: () => true },
      stderr: { write: (text: string) => err.push(text) },
      env: { RESTART_TOPIC_ARN: RESTART_TOPIC },
      createClients: createAwsClients,
      retry: { maxAttempts: 1, baseDelayMs: 0 },
    };
    return async (...argv: string[]) => {
      err.length = 0;
      const code = await runCli(argv, io);
      return { code, stderr: err.join("") };
    };
  }
  afterEach(() => vi.unstubAllEnvs());

  it("no region: a usage error (exit 2) that says to set --region or AWS_REGION, not 'DescribeInstances failed'", async () => {
    const run = bareEnvironment();
    expect(await run("plan")).toEqual({
      code: 2,
      stderr: "procwatch-fleet: no AWS region configured\nhint: set --region or AWS_REGION (or a region in the AWS profile)\n",
    });
    expect((await run("plan", "--detailed-exitcode")).code).toBe(1);
  });

  it("no credentials: a usage error naming the ways to configure them", async () => {
    const run = bareEnvironment();
    const result = await run("status", "--region", "eu-west-1");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^procwatch-fleet: no usable AWS credentials: Could not load credentials from any providers\n/);
    expect(result.stderr).toMatch(
      /\nhint: configure credentials: AWS_PROFILE \/ --profile \/ instance role \/ SSO login \(aws sso login --profile <name>\)\n$/,
    );
  });

  it("AWS that does not answer (connection refused): the hint points at the network, region and endpoint, not at throttling", async () => {
    const run = bareEnvironment();
    vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "example-secret");
    // AWS_ENDPOINT_URL is the closed local port 9: the first call gets ECONNREFUSED and no HTTP status.
    const result = await run("status", "--region", "eu-west-1");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^procwatch-fleet: \w+ failed: .*ECONNREFUSED.*\n/);
    expect(result.stderr).toMatch(/\nhint: AWS did not answer \w+: check the network, --region \(or AWS_REGION\) and AWS_ENDPOINT_URL\n$/);
    expect(result.stderr.split("\n")).toHaveLength(3);
  });

  it("an unknown --profile is the same usage error", async () => {
    const run = bareEnvironment();
    const result = await run("plan", "--region", "eu-west-1", "--profile", "nosuchprofile");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^procwatch-fleet: no usable AWS credentials: .*nosuchprofile/);
    expect(result.stderr).toContain("hint: configure credentials:");
  });
});

describe("Node version", () => {
  it("the entry silences the SDK's Node-version warning unless the operator set the variable; --help states the requirement", async () => {
    const env: Record<string, string | undefined> = {};
    quietSdkNodeVersionWarning(env);
    expect(env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe("true");
    const chosen: Record<string, string | undefined> = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "false" };
    quietSdkNodeVersionWarning(chosen);
    expect(chosen.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe("false");
    const { run } = cli();
    expect((await run("--help")).stdout).toContain(NODE_REQUIREMENT);
  });
});

describe("AWS errors exit 1", () => {
  it("credentials that expire mid-run get the credentials hint", async () => {
    const { run, fake } = cli();
    const original = fake.handle.bind(fake);
    fake.handle = async (operation, input) => {
      if (operation === "DescribeAlarms") {
        throw Object.assign(new Error("The security token included in the request is expired"), {
          name: "ExpiredTokenException",
          $metadata: { httpStatusCode: 400 },
        });
      }
      return original(operation, input);
    };
    const result = await run("plan");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "procwatch-fleet: DescribeAlarms failed: ExpiredTokenException: The security token included in the request is expired\n" +
        "hint: configure credentials: AWS_PROFILE / --profile / instance role / SSO login (aws sso login --profile <name>)\n",
    );
  });

  it("access denied is one line plus an IAM hint", async () => {
    const { run, fake } = cli();
    const original = fake.handle.bind(fake);
    fake.handle = async (operation, input) => {
      if (operation === "DescribeInstances") {
        const error = Object.assign(new Error("You are not authorized to perform this operation."), {
          name: "UnauthorizedOperation",
          $metadata: { httpStatusCode: 403 },
        });
        throw error;
      }
      return original(operation, input);
    };
    const result = await run("plan");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "procwatch-fleet: DescribeInstances failed: UnauthorizedOperation: You are not authorized to perform this operation.\nhint: the caller lacks permission for DescribeInstances; see the IAM section of the fleet-manager README\n",
    );
  });
});

describe("--arming-grace-minutes", () => {
  const optIn = (fake: ReturnType<typeof cli>["fake"]) =>
    fake.addInstance({ instanceId: fleetInstanceId(42), tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx" } });

  it("plan shows a new alarm created arming (actions off) until its series publishes, and 0 arms at once", async () => {
    const { run, fake } = cli({ instances: 1, env: { ARMING_GRACE_MINUTES: "" } });
    optIn(fake);
    const plan = await run("plan", "--instance", fleetInstanceId(42));
    expect(plan.stdout).toContain(
      `  + create nginx  ${alarmNameFor(fleetInstanceId(42), "nginx")} — new alarm, actions disabled: arming: waiting for the first datapoint of this exact series (new alarm; actions go on at the latest after 45 min)\n`,
    );
    const shorter = await run("plan", "--instance", fleetInstanceId(42), "--arming-grace-minutes", "0");
    expect(shorter.stdout).toContain(`  + create nginx  ${alarmNameFor(fleetInstanceId(42), "nginx")} — new alarm\n`);
  });

  it("ARMING_GRACE_MINUTES applies when the flag is absent", async () => {
    const { run, fake } = cli({ instances: 1, env: { ARMING_GRACE_MINUTES: "30" } });
    optIn(fake);
    expect((await run("plan", "--instance", fleetInstanceId(42))).stdout).toContain("actions go on at the latest after 30 min");
  });
});

describe("mass-change guard", () => {
  it("upgrading from alarms an earlier procwatch wrote (exe selector, no host dimensions) is not a mass change: applied, and the plan says why", async () => {
    const { run, fake } = cli({ instances: 20 });
    expect((await run("apply", "--yes")).code).toBe(0);
    // Rewrite every alarm as the previous procwatch-fleet left it.
    for (const alarm of fake.alarms.values()) {
      const identity = parseAlarmName(alarm.AlarmName!)!;
      const tags = fake.instances.get(identity.instanceId)!.tags;
      const spec = resolveHostSpec({ tags: parseInstanceTags(tags).spec! }).spec!;
      const process = spec.processes.find((candidate) => candidate.name === identity.processName)!;
      alarm.Dimensions = alarmDimensionsBeforeHostPinning(process, identity.instanceId);
    }
    const plan = await run("plan");
    expect(plan.stdout).toContain("· 40 alarms move to the dimensions this procwatch publishes (command-line selector, host dimensions pinned)");
    expect(plan.stdout).not.toContain("mass update");
    const applied = await run("apply", "--yes");
    expect(applied.code).toBe(0);
    expect(JSON.parse((await run("plan", "--json")).stdout).changes).toEqual([]);
  });

  it("a wrong --tag-prefix would delete every alarm of running hosts: plan warns, apply refuses the deletes (exit 1, one line + hint), --allow-mass-change makes them", async () => {
    const { run, fake } = cli({ instances: 15 });
    expect((await run("apply", "--yes")).code).toBe(0);
    expect(fake.alarms.size).toBe(30);

    const plan = await run("plan", "--tag-prefix", "acme");
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(
      "! mass delete: 30 alarms on 15 instances, more than the mass-change limit of 5 instances (10% of 15 instances with alarms in scope, at least 5); apply refuses these deletes unless --allow-mass-change\n  hint: a wrong --tag-prefix, a removed opt-in tag or a deleted shared profile parameter looks exactly like this; check them first\n",
    );
    expect(JSON.parse((await run("plan", "--json", "--tag-prefix", "acme")).stdout).massChange).toMatchObject({
      instancesWithAlarms: 15,
      limit: 5,
      delete: { instances: 15, alarms: 30, exceeded: true },
      exemptDeletes: 0,
      exceeded: true,
    });

    const refused = await run("apply", "--yes", "--tag-prefix", "acme");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "procwatch-fleet: refused 30 deletes: more than the mass-change limit of 5 instances (10% of 15 instances with alarms in scope, at least 5)\n" +
        "hint: check --tag-prefix, --prefix, --namespace, --restart-action-arn, --default-detection and the profiles the hosts name against the deployment; if the change is intended, run apply again with --allow-mass-change\n",
    );
    expect(refused.stdout).toContain("30 delete(s) refused");
    expect(fake.alarms.size).toBe(30);

    const allowed = await run("apply", "--yes", "--tag-prefix", "acme", "--allow-mass-change");
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain("--allow-mass-change is set: apply will make them");
    expect(fake.alarms.size).toBe(0);
  });

  it("a namespace typo would rewrite every alarm: the plan names the field, apply refuses the updates", async () => {
    const { run, fake } = cli({ instances: 15 });
    await run("apply", "--yes");
    const before = JSON.stringify([...fake.alarms.values()].map(({ tags: _tags, ...alarm }) => alarm));
    const plan = await run("plan", "--namespace", "CWagent");
    expect(plan.stdout).toContain(
      "! mass update: 30 alarms on 15 instances (Namespace on 30: CWAgent → CWagent), more than the mass-change limit of 5 instances",
    );
    const refused = await run("apply", "--yes", "--namespace", "CWagent");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^procwatch-fleet: refused 30 updates: more than the mass-change limit/);
    expect(JSON.stringify([...fake.alarms.values()].map(({ tags: _tags, ...alarm }) => alarm))).toBe(before);
  });

  it("refuses only the flagged kind: the plan's other changes are applied, terminated hosts are cleaned up", async () => {
    const { run, fake } = cli({ instances: 15 });
    await run("apply", "--yes");
    for (let index = 0; index < 12; index += 1) fake.setTags(fleetInstanceId(index), { "procwatch:enabled": "false" });
    fake.setInstanceState(fleetInstanceId(12), "terminated");
    fake.setInstanceState(fleetInstanceId(14), "stopped");
    const result = await run("apply", "--yes", "--json");
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ applied: { deleted: 2, actionsDisabled: 2 }, refused: { delete: 24, update: 0 } });
    expect(fake.alarms.size).toBe(28);
    expect(fake.alarms.has(alarmNameFor(fleetInstanceId(12), "nginx"))).toBe(false);
    expect(fake.alarms.get(alarmNameFor(fleetInstanceId(14), "nginx"))?.ActionsEnabled).toBe(false);
  });

  it("on a terminal with only refused changes it does not ask", async () => {
    const { run, fake, questions } = cli({ instances: 15, tty: true, answer: true });
    await run("apply");
    questions.length = 0;
    const result = await run("apply", "--tag-prefix", "acme");
    expect(result.code).toBe(1);
    expect(questions).toEqual([]);
    expect(fake.alarms.size).toBe(30);
  });
});

describe("a profile that cannot be read", () => {
  it("plan reports the held host and leaves its alarms alone; other hosts are planned as usual", async () => {
    const { run, fake } = cli();
    fake.putParameter("/procwatch/profiles/web", JSON.stringify({ version: 1, processes: [{ name: "nginx" }] }));
    fake.setTags(fleetInstanceId(1), { "procwatch:processes": null, "procwatch:profile": "web" });
    expect((await run("apply", "--yes")).code).toBe(0);
    const original = fake.handle.bind(fake);
    fake.handle = async (operation, input) => {
      if (operation === "GetParameters") throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } });
      return original(operation, input);
    };
    fake.setTags(fleetInstanceId(2), { "procwatch:processes": "nginx" });
    const plan = await run("plan");
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(
      `${fleetInstanceId(1)} (host-1) running\n  ! profile "web" could not be read (GetParameters failed: ThrottlingException: Rate exceeded): 1 alarm left as it is until a run can read it\n`,
    );
    expect(plan.stdout).toContain(`- delete sshd  ${alarmNameFor(fleetInstanceId(2), "sshd")}`);
    expect(plan.stdout).toMatch(/1 instance held \(profile unreadable\)/);
    const json = JSON.parse((await run("plan", "--json")).stdout);
    expect(json.held).toEqual([
      {
        instanceId: fleetInstanceId(1),
        profile: "web",
        reason: "GetParameters failed: ThrottlingException: Rate exceeded",
        alarms: [alarmNameFor(fleetInstanceId(1), "nginx")],
      },
    ]);
    expect((await run("apply", "--yes")).code).toBe(0);
    expect(fake.alarms.has(alarmNameFor(fleetInstanceId(1), "nginx"))).toBe(true);
    expect(fake.alarms.has(alarmNameFor(fleetInstanceId(2), "sshd"))).toBe(false);
  });
});

describe("the deployed settings (/procwatch/deployments/<prefix>)", () => {
  const deployed = {
    version: 1,
    alarmPrefix: "procwatch",
    tagPrefix: "procwatch",
    namespace: "CWAgent",
    restartActionArns: [RESTART_TOPIC],
    defaultDetection: "standard",
    armingGraceMinutes: 0,
    stackName: "ProcWatch",
  };
  // No restart topic and no arming grace from the environment: the deployment supplies both.
  const fromDeployment = () => {
    const world = cli({ instances: 3, env: { RESTART_TOPIC_ARN: "", ARMING_GRACE_MINUTES: "" } });
    world.fake.putParameter("/procwatch/deployments/procwatch", JSON.stringify(deployed));
    return world;
  };

  it("are the defaults: plan and apply need no flags on a laptop", async () => {
    const { run, fake } = fromDeployment();
    const applied = await run("apply", "--yes");
    expect(applied.code, applied.stderr).toBe(0);
    expect(fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx"))?.AlarmActions).toEqual([RESTART_TOPIC]);
    expect(JSON.parse((await run("plan", "--json")).stdout).deployment).toEqual({
      parameterName: "/procwatch/deployments/procwatch",
      found: true,
      stackName: "ProcWatch",
      mismatches: [],
    });
  });

  it("a flag that differs is shown by plan and refused by apply before anything is written; --ignore-deployed-settings overrides", async () => {
    const { run, fake } = fromDeployment();
    await run("apply", "--yes");
    const before = JSON.stringify([...fake.alarms.values()].map(({ tags: _tags, ...alarm }) => alarm));
    const plan = await run("plan", "--default-detection", "fast");
    expect(plan.stdout).toContain("! --default-detection is fast here but standard in the deployment (/procwatch/deployments/procwatch)\n");
    fake.resetCounters();
    const refused = await run("apply", "--yes", "--default-detection", "fast");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "procwatch-fleet: settings differ from the deployment's (/procwatch/deployments/procwatch): --default-detection fast here, standard deployed\n" +
        "hint: drop the flags (or environment variables) that differ so the deployment's settings apply, or pass --ignore-deployed-settings if this run must differ\n",
    );
    expect(Object.keys(fake.callCounts()).filter((operation) => !/^(Describe|Get)/.test(operation))).toEqual([]);
    expect(JSON.stringify([...fake.alarms.values()].map(({ tags: _tags, ...alarm }) => alarm))).toBe(before);
    const overridden = await run("apply", "--yes", "--default-detection", "fast", "--ignore-deployed-settings");
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(fake.alarms.get(alarmNameFor(fleetInstanceId(0), "nginx"))?.Period).toBe(10);
  });

  it("a deployment document that is not one is an error naming the parameter and its problems", async () => {
    const { run, fake } = fromDeployment();
    fake.putParameter("/procwatch/deployments/procwatch", JSON.stringify({ ...deployed, defaultDetection: "turbo" }));
    const result = await run("plan");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /\/procwatch\/deployments\/procwatch is not a procwatch deployment settings document: defaultDetection "turbo" is not a detection profile/,
    );
  });
});

describe("detection profiles in plan and status", () => {
  it("plan shows which processes are supervised on their host and what the profiles cost a month; status shows each alarm's profile", async () => {
    const { run, fake } = cli({ instances: 2 });
    fake.setTags(fleetInstanceId(0), { "procwatch:process:nginx": "detection=local" });
    fake.setTags(fleetInstanceId(1), { "procwatch:detection": "fast" });
    const plan = await run("plan");
    expect(plan.stdout).toContain(
      `Detection: 1 standard, 2 fast, 1 local (supervised on the host, the alarm is the backstop: nginx on ${fleetInstanceId(0)}).\n`,
    );
    // 1 standard + 1 local at $0.10, 2 fast at $0.30; one host flushes every 10 s: 216,000 extra requests at $0.01 per 1,000.
    expect(plan.stdout).toContain(
      "Monthly: alarms $0.80 (standard and local $0.10, fast $0.30 per process) + $2.16 of PutMetricData for the 10 s flush on 1 host(s) = $2.96.\n",
    );
    expect(JSON.parse((await run("plan", "--json")).stdout).detection).toMatchObject({ processes: { standard: 1, fast: 2, local: 1 }, hostsWithFastFlush: 1 });
    await run("apply", "--yes");
    const rows = JSON.parse((await run("status", "--json")).stdout) as { process: string; instanceId: string; detection: string }[];
    expect(rows.map((row) => `${row.instanceId} ${row.process} ${row.detection}`).sort()).toEqual(
      [
        `${fleetInstanceId(0)} nginx local`,
        `${fleetInstanceId(0)} sshd standard`,
        `${fleetInstanceId(1)} nginx fast`,
        `${fleetInstanceId(1)} sshd fast`,
      ].sort(),
    );
    expect((await run("status")).stdout).toContain("local (+ host)");
  });
});
