import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { InstanceSnapshot } from "../src/core/model.ts";
import { createRestartHandler } from "../src/shell/handler.ts";
import { testConfig } from "../test/support/harness.ts";
import { InMemoryRestartLedger, RecordingCommandSender, RecordingNotifier, StaticInstanceFacts, StaticProfileSource } from "../test/support/in-memory-ports.ts";
import { hostId, StormWorld } from "../test/support/storm-world.ts";

interface Figure {
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  readonly goal: string;
  /** Absent for figures without a goal. */
  readonly pass?: boolean;
  /** Same-run reference measured with the same Node binary, in `unit`; `ratio` = value / baseline. */
  readonly baseline?: number;
  readonly baselineLabel?: string;
  readonly ratio?: number;
}

const figures: Figure[] = [];
const record = (figure: Figure) => {
  figures.push(figure);
  console.log(JSON.stringify(figure));
};

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const MEBIBYTE = 1024 * 1024;

function bundleBytes(metaPath: string, output: string): number {
  const meta = JSON.parse(readFileSync(new URL(metaPath, `file://${packageDir}/`), "utf8")) as { outputs: Record<string, { bytes: number }> };
  return meta.outputs[output]?.bytes ?? Number.NaN;
}

// 1. Bundle size. `pnpm bench` runs the default (deployable) build first; the SDK-external variant is built here.
execFileSync(process.execPath, ["scripts/build.mjs", "--sdk-external"], { cwd: packageDir, stdio: "ignore" });
const deployable = bundleBytes("dist/meta.json", "dist/index.mjs");
const sdkExternal = bundleBytes("dist/sdk-external/meta.json", "dist/sdk-external/index.mjs");
record({
  figure: "bundle size (minified, node24, AWS SDK bundled = deployable)",
  value: +(deployable / 1024).toFixed(1),
  unit: "KiB",
  goal: "<= 1024 KiB",
  pass: deployable <= MEBIBYTE,
});
record({
  figure: "bundle size (minified, node24, AWS SDK from runtime)",
  value: +(sdkExternal / 1024).toFixed(1),
  unit: "KiB",
  goal: "<= 1024 KiB",
  pass: sdkExternal <= MEBIBYTE,
});

// 2. Module init: import + config + client construction, in fresh processes.
const environment = {
  ...process.env,
  AWS_REGION: "eu-west-1",
  AWS_ACCESS_KEY_ID: "AKIDBENCHONLY",
  AWS_SECRET_ACCESS_KEY: "bench-only",
  AWS_EC2_METADATA_DISABLED: "true",
  RESTART_DOCUMENT_NAME: "procwatch-restart",
  NOTIFICATION_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:procwatch-notifications",
  STATE_TABLE_NAME: "procwatch-state",
  POWERTOOLS_LOG_LEVEL: "ERROR",
};
/**
 * The Node binary the init probes run with: BENCH_NODE when set; else Node 24 (the Lambda
 * runtime's major) from the agent's build cache when it is there, copied to a temp path so the
 * agent's build cannot replace or delete it mid-run; else this machine's node. The figure names
 * say which, so figures from different binaries are never compared as one series.
 */
function agentCachedNode24(): string | undefined {
  const cache = join(packageDir, "..", "agent", ".build-cache");
  if (!existsSync(cache)) return undefined;
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const directories = readdirSync(cache)
    .filter((name) => new RegExp(`^node-24\\.\\d+\\.\\d+-linux-${arch}$`).test(name))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }))
    .reverse();
  for (const directory of directories) {
    for (const candidate of ["node", join("bin", "node"), join("package", "bin", "node")]) {
      const path = join(cache, directory, candidate);
      if (existsSync(path) && statSync(path).isFile()) return path;
    }
  }
  return undefined;
}
const scratch = mkdtempSync(join(tmpdir(), "restart-handler-bench-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
function chooseProbeNode(): { path: string; source: string } {
  if (process.env.BENCH_NODE !== undefined && process.env.BENCH_NODE !== "") return { path: process.env.BENCH_NODE, source: "BENCH_NODE" };
  const cached = agentCachedNode24();
  if (cached !== undefined) {
    const copy = join(scratch, "node");
    copyFileSync(cached, copy);
    const probe = spawnSync(copy, ["--version"], { encoding: "utf8" });
    if (probe.status === 0 && probe.stdout.startsWith("v24.")) return { path: copy, source: "agent build cache" };
  }
  return { path: process.execPath, source: "this machine's node" };
}
const probeNode = chooseProbeNode();
const probeVersion = execFileSync(probeNode.path, ["--version"], { encoding: "utf8" }).trim();
const nodeLabel = `node ${probeVersion}, ${probeNode.source}`;
function wallMs(args: string[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(probeNode.path, args, { cwd: packageDir, env: environment, stdio: "ignore" });
  if (result.status !== 0) throw new Error(`${probeNode.path} ${args.join(" ")} exited ${result.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}
function initMs(bundle: string): number {
  const probe = spawnSync(probeNode.path, ["bench/init-probe.mjs", `${packageDir}${bundle}`], { cwd: packageDir, env: environment, encoding: "utf8" });
  if (probe.status !== 0) throw new Error(`init probe failed: ${probe.stderr}`);
  return Number(probe.stdout.trim());
}
const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const bundles = [
  ["AWS SDK bundled = deployable", "dist/index.mjs"],
  ["AWS SDK from runtime", "dist/sdk-external/index.mjs"],
] as const;
// Interleaved, after one warm-up each, so machine load hits the baseline and the probes alike.
const RUNS = 15;
wallMs(["-e", "0"]);
for (const [, bundle] of bundles) initMs(bundle);
const emptyNode: number[] = [];
const inits = new Map<string, number[]>(bundles.map(([, bundle]) => [bundle, []]));
for (let run = 0; run < RUNS; run += 1) {
  emptyNode.push(wallMs(["-e", "0"]));
  for (const [, bundle] of bundles) inits.get(bundle)?.push(initMs(bundle));
}
emptyNode.sort((a, b) => a - b);
const baselineMedian = percentile(emptyNode, 50);
const baselineWorst = emptyNode.at(-1) ?? Number.NaN;
for (const [label, bundle] of bundles) {
  const times = (inits.get(bundle) ?? []).sort((a, b) => a - b);
  const median = percentile(times, 50);
  const worst = times.at(-1) ?? Number.NaN;
  // The goal applies to what is deployed; the SDK-from-runtime build is measured only to show why it is not.
  const deployable = bundle === "dist/index.mjs";
  // A ratio to `node -e 0` of the same binary in the same run: the 150 ms this replaced was set on a
  // machine where `node -e 0` took ~20 ms; here it takes 80-100 ms.
  const goal = deployable ? "<= 3x node -e 0" : "comparison only (not deployed)";
  record({
    figure: `module init median of ${RUNS} (${label}, ${nodeLabel})`,
    value: +median.toFixed(1),
    unit: "ms",
    goal,
    ...(deployable ? { pass: median <= 3 * baselineMedian } : {}),
    baseline: +baselineMedian.toFixed(1),
    baselineLabel: `\`node -e 0\` wall time, same binary, median of ${RUNS} interleaved`,
    ratio: +(median / baselineMedian).toFixed(2),
  });
  record({
    figure: `module init worst of ${RUNS} (${label}, ${nodeLabel})`,
    value: +worst.toFixed(1),
    unit: "ms",
    goal,
    ...(deployable ? { pass: worst <= 3 * baselineWorst } : {}),
    baseline: +baselineWorst.toFixed(1),
    baselineLabel: `\`node -e 0\` wall time, same binary, worst of ${RUNS} interleaved`,
    ratio: +(worst / baselineWorst).toFixed(2),
  });
}

// 3. Handler time per event with in-memory ports (no AWS latency): the real handler end to end.
// The test suite's configuration, in this benchmark's region, with the account check on.
const config = testConfig({ region: "eu-west-1", expectedAccountId: "123456789012" });
const instanceCount = 2500;
const instances = new Map<string, InstanceSnapshot>();
const instanceIds: string[] = [];
for (let index = 0; index < instanceCount; index += 1) {
  const instanceId = `i-${index.toString(16).padStart(17, "0")}`;
  instanceIds.push(instanceId);
  instances.set(instanceId, { instanceId, state: "running", name: `web-${index}`, tags: { "procwatch:enabled": "true", "procwatch:processes": "nginx sshd" } });
}
const commands = new RecordingCommandSender(() => ({
  status: "Success",
  standardOutput: '{"process":"nginx","ok":true,"outcome":"restarted","before":{"pids":[]},"after":{"pids":[4242]}}',
}));
let clock = Date.parse("2024-05-01T00:00:00Z");
const handler = createRestartHandler(
  {
    instances: new StaticInstanceFacts(instances),
    profiles: new StaticProfileSource(),
    ledger: new InMemoryRestartLedger(),
    commands,
    notifier: new RecordingNotifier(),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    clock: { now: () => clock },
  },
  config,
);
const exeDimension = "(^|/)nginx( \\(deleted\\))?$";
function snsAlarm(instanceId: string, state: string, time: string): unknown {
  const alarmName = `procwatch/${instanceId}/nginx`;
  return {
    Records: [
      {
        EventSource: "aws:sns",
        Sns: {
          TopicArn: "arn:aws:sns:eu-west-1:123456789012:procwatch-restart",
          Message: JSON.stringify({
            AlarmName: alarmName,
            AlarmDescription: "[procwatch:managed:procwatch] nginx",
            AWSAccountId: "123456789012",
            NewStateValue: state,
            OldStateValue: state === "OK" ? "ALARM" : "OK",
            NewStateReason: "Threshold Crossed",
            StateChangeTime: time,
            AlarmArn: `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${alarmName}`,
            Trigger: {
              MetricName: "procstat_lookup_pid_count",
              Namespace: "CWAgent",
              Dimensions: [
                { name: "InstanceId", value: instanceId },
                { name: "exe", value: exeDimension },
                { name: "pid_finder", value: "native" },
              ],
            },
          }),
        },
      },
    ],
  };
}
function commandStatus(commandId: string, instanceId: string): unknown {
  return {
    "detail-type": "EC2 Command Invocation Status-change Notification",
    source: "aws.ssm",
    account: "123456789012",
    region: "eu-west-1",
    time: new Date(clock).toISOString(),
    detail: { "command-id": commandId, "document-name": "procwatch-restart", "instance-id": instanceId, status: "Success" },
  };
}
// A realistic mix per incident: ALARM (restart), a duplicate delivery, the command result, the recovery.
async function runIncident(index: number, samples: number[] | undefined): Promise<void> {
  const instanceId = instanceIds[index % instanceCount] ?? "";
  const alarmTime = new Date(clock).toISOString();
  const events: (() => unknown)[] = [
    () => snsAlarm(instanceId, "ALARM", alarmTime),
    () => snsAlarm(instanceId, "ALARM", alarmTime),
    () => commandStatus(commands.sent.at(-1)?.commandId ?? "", instanceId),
    () => snsAlarm(instanceId, "OK", new Date(clock + 60_000).toISOString()),
  ];
  for (const build of events) {
    const event = build();
    const start = performance.now();
    await handler(event, {});
    const elapsed = performance.now() - start;
    samples?.push(elapsed);
    clock += 1000;
  }
}
for (let index = 0; index < 200; index += 1) await runIncident(index, undefined);
const samples: number[] = [];
for (let index = 200; samples.length < 10_000; index += 1) await runIncident(index, samples);
const sorted = samples.slice(0, 10_000).sort((a, b) => a - b);
record({
  figure: "handler time per event p50 (in-memory ports, 10,000 events)",
  value: +percentile(sorted, 50).toFixed(3),
  unit: "ms",
  goal: "informational",
  pass: true,
});
record({
  figure: "handler time per event p99 (in-memory ports, 10,000 events)",
  value: +percentile(sorted, 99).toFixed(3),
  unit: "ms",
  goal: "<= 5 ms",
  pass: percentile(sorted, 99) <= 5,
});
record({
  figure: "handler time per event max (in-memory ports, 10,000 events)",
  value: +(sorted.at(-1) ?? Number.NaN).toFixed(3),
  unit: "ms",
  goal: "informational",
  pass: true,
});

// 4. Restart storms: 500 hosts on testkit's CloudWatch agent and alarm models, the real handler
// behind the restart topic with 5 invocations in flight (the stack's reserved concurrency).
const STORM_HOSTS = 500;
for (const kind of ["zero-count", "no-data"] as const) {
  const world = new StormWorld({ hosts: STORM_HOSTS });
  const stormAt = world.clock.now() + 6 * 60_000 + 5_000;
  for (const instanceId of world.hosts) world.startAgent(instanceId, kind === "zero-count" ? (t) => (t < stormAt ? 1 : 0) : () => 1);
  await world.run(3 * 60_000, { stepMs: 60_000 });
  world.createAlarms();
  await world.run(3 * 60_000 + 5_000, { stepMs: 60_000, concurrency: 5 });
  world.notifier.published.length = 0;
  const describesBefore = world.fake.calls.DescribeInstances?.total ?? 0;
  if (kind === "no-data") for (let index = 0; index < STORM_HOSTS; index += 1) world.stopAgent(hostId(index));
  const alarms = (await world.run(8 * 60_000, { concurrency: 5 })).filter((notification) => notification.newState === "ALARM").length;
  const fleet = await world.ledger.loadFleet();
  const limit = kind === "zero-count" ? world.config.fleetBreaker.restartLimit : world.config.fleetBreaker.noDataLimit;
  const rollups = world.notifier.published.filter((message) => message.metadata.eventType === "breaker-tripped").length;
  const label = `${STORM_HOSTS}-alarm ${kind} burst`;
  record({ figure: `${label}: ALARMs the model sent`, value: alarms, unit: "", goal: `= ${STORM_HOSTS}`, pass: alarms === STORM_HOSTS });
  record({
    figure: `${label}: restart commands sent`,
    value: world.commands.sent.length,
    unit: "",
    goal: `<= ${limit}`,
    pass: world.commands.sent.length <= limit,
  });
  record({
    figure: `${label}: Slack messages posted`,
    value: world.notifier.published.length,
    unit: "",
    goal: `<= ${limit + 1}`,
    pass: world.notifier.published.length <= limit + 1,
  });
  record({ figure: `${label}: rollup messages`, value: rollups, unit: "", goal: "= 1", pass: rollups === 1 });
  const tripAfter = fleet.trip === undefined ? Number.NaN : (fleet.trip.trippedAt - stormAt) / 1000;
  record({
    figure: `${label}: time to trip the breaker (model time from the failure)`,
    value: +tripAfter.toFixed(1),
    unit: "s",
    goal: "informational",
    pass: Number.isFinite(tripAfter),
  });
  record({
    figure: `${label}: DescribeInstances calls during the burst`,
    value: (world.fake.calls.DescribeInstances?.total ?? 0) - describesBefore,
    unit: "",
    goal: `<= ${limit + 5}`,
    pass: (world.fake.calls.DescribeInstances?.total ?? 0) - describesBefore <= limit + 5,
  });
}

const width = Math.max(...figures.map((figure) => figure.figure.length));
console.log("");
console.log(`init probes ran with ${probeNode.path} (${probeVersion}, ${probeNode.source}); baseline: \`node -e 0\` with that binary`);
console.log(`${"figure".padEnd(width)}  ${"value".padStart(10)}  unit  ${"baseline".padStart(8)}  ${"ratio".padStart(6)}  goal            pass`);
for (const figure of figures) {
  console.log(
    `${figure.figure.padEnd(width)}  ${String(figure.value).padStart(10)}  ${figure.unit.padEnd(4)}  ${(figure.baseline === undefined ? "" : String(figure.baseline)).padStart(8)}  ${(figure.ratio === undefined ? "" : `${figure.ratio}x`).padStart(6)}  ${figure.goal.padEnd(14)}  ${figure.pass === undefined ? "-" : figure.pass ? "yes" : "NO"}`,
  );
}
