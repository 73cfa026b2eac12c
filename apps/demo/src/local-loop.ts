import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DescribeAlarmsCommand, type MetricAlarm } from "@aws-sdk/client-cloudwatch";
import { InstanceInventory, ProfileStore } from "@procwatch/aws-adapters";
import { DETECTION_PROFILES } from "@procwatch/contract";
import { runCli } from "@procwatch/fleet-manager/cli";
import {
  configFromEnvironment,
  createRestartHandler,
  type DecisionLog,
  FleetInstanceFacts,
  type HandlerSummary,
  StoreProfileSource,
} from "@procwatch/restart-handler";
import { InMemoryRestartLedger } from "@procwatch/restart-handler/in-memory-ports";
import {
  agentBuildOf,
  CloudWatchAgentPublisher,
  type DeliveredNotification,
  ec2FactsOf,
  FakeAws,
  fakeClients,
  mergeAgentConfigFragments,
  type PidCountSample,
  type PublisherFaults,
  phaseOffsetForAgentStart,
  procstatPublisherConfig,
  publisherOptionsFor,
  TelemetryPipeline,
  VirtualClock,
} from "@procwatch/testkit";
import { HostReportQueue, type QueuedReport } from "./stand-ins/host-report-queue.ts";
import { SlackChannel } from "./stand-ins/slack-channel.ts";
import { LocalRunCommand } from "./stand-ins/ssm-run-command.ts";

const execFileAsync = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) =>
  new Promise<{ exitCode: number; stdout: string; stderr: string }>((done) => {
    execFile(file, args, { env, encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) => {
      const exitCode = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? ((error as { code: number }).code ?? 1) : 1;
      done({ exitCode, stdout, stderr });
    });
  });

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const AGENT_BINARY = join(REPO_ROOT, "apps/agent/dist/procwatch-agent-linux-x64");

/** The one EC2 instance the local loop pretends this machine is. */
export const LOCAL_INSTANCE_ID = "i-0d3e0000000000001";
/** What the stand-in `amazon-cloudwatch-agent-ctl` reports; the publisher models the same build. */
const DEMO_CLOUDWATCH_AGENT_VERSION = "1.300064.1-demo";
const REGION = "eu-west-1";
const ACCOUNT_ID = "111122223333";
const RESTART_TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT_ID}:procwatch-restart`;
const NOTIFICATION_TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT_ID}:procwatch-notifications`;
const RESTART_DOCUMENT_NAME = "procwatch-restart";
const HOST_REPORT_QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT_ID}/procwatch-host-reports`;
/** The instance role's unique id: SQS's SenderId for a message signed with the instance profile is `<role-id>:<instance-id>`. */
const INSTANCE_ROLE_ID = "AROAYDEMOINSTANCEROLE";
const RESTART_HANDLER_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:procwatch-restart-handler`;

export interface AgentRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HealthSample {
  /** Model time (epoch ms) of the collection this sample stands for. */
  readonly at: number;
  readonly pidCount: number;
  readonly pids: readonly number[];
  readonly status: string;
}

/** What happened between a kill (or any instant) and the alarm reaching a state, in model time. */
export interface AlarmWait {
  readonly samples: readonly HealthSample[];
  /** Model milliseconds from the start of the wait to the transition. */
  readonly afterMs: number;
  readonly reason: string;
  /** Alarm actions the model ran meanwhile, each already handed to the restart handler. */
  readonly notifications: readonly DeliveredNotification[];
  readonly handled: readonly HandlerSummary[];
}

export interface LocalLoopOptions {
  /** A distinctive name: the demo service runs as a copy of `sleep` under it. */
  readonly processName?: string;
  readonly restartBudget?: number;
  readonly onSlackMessage?: (rendered: string) => void;
  /** Alarm actions are delivered this many times each (SNS delivers at least once). Default 1. */
  readonly deliveries?: number;
  /**
   * The process's detection profile, in its spec and in the instance's tags. `local`: `apply`
   * starts procwatch's own supervisor (no systemd here) and the alarm keeps the standard cadence.
   */
  readonly detection?: "fast" | "local";
}

/** What a host report did in the restart handler. */
export interface DeliveredReport extends QueuedReport {
  /** The handler's outcome for this record (a batch's items come back in record order). */
  readonly item: HandlerSummary["items"][number] | undefined;
}

/**
 * procwatch's whole loop on this one machine. Everything that runs is procwatch's real code:
 * the agent binary (apply, health, restart), the fleet manager's CLI and reconcile, the restart
 * handler, the restart SSM document's script. AWS is replaced by testkit's models and small
 * stand-ins, each named for what it replaces: EC2/SSM/CloudWatch in memory, with CloudWatch's
 * metrics and alarm evaluation modelled from its documentation; the CloudWatch agent's collection
 * and flushes modelled from its source, publishing the counts the real agent's `health --json`
 * reports; SSM Run Command; the Slack channel; a recording amazon-cloudwatch-agent-ctl.
 *
 * Time: the model clock moves one collection interval (10 s for `fast`, 60 s for `local`, whose
 * alarm keeps the standard cadence) per `step()`, and
 * each step samples the real process once. Alarm states, and so every SNS event the handler
 * gets, come only from the CloudWatch model's evaluation of the alarm the fleet manager wrote.
 */
export class LocalLoop {
  readonly processName: string;
  readonly workDir: string;
  readonly slack: SlackChannel;
  readonly runCommand: LocalRunCommand;
  readonly fake: FakeAws;
  readonly clock: VirtualClock;
  readonly handlerLog: Array<{ level: string; message: string; attributes: Record<string, unknown> }> = [];
  /** Every alarm action the model ran, in order. */
  readonly notifications: DeliveredNotification[] = [];
  readonly detection: "fast" | "local";
  readonly hostReports: HostReportQueue;
  /** One real health sample per collection of the profile's CloudWatch agent cadence. */
  private readonly collectionIntervalMs: number;
  private readonly serviceBinary: string;
  private readonly localConfigPath: string;
  private readonly spoolDir: string;
  private readonly pipeline: TelemetryPipeline;
  private readonly agentEnv: NodeJS.ProcessEnv;
  private readonly binDir: string;
  private readonly specPath: string;
  private readonly ctlLog: string;
  private readonly fragmentsDir: string;
  private readonly deliveries: number;
  private readonly handler: ReturnType<typeof createRestartHandler>;
  private readonly samples = new Map<number, PidCountSample>();
  private publisher: CloudWatchAgentPublisher | undefined;
  private reportedInvocations = 0;

  constructor(options: LocalLoopOptions = {}) {
    if (!existsSync(AGENT_BINARY)) {
      throw new Error(`the agent binary is not built (${AGENT_BINARY}); run: pnpm --filter @procwatch/agent build`);
    }
    this.processName = options.processName ?? "pw-demo-svc";
    this.deliveries = options.deliveries ?? 1;
    this.detection = options.detection ?? "fast";
    this.collectionIntervalMs = DETECTION_PROFILES[this.detection].collectionIntervalSeconds * 1000;
    this.workDir = mkdtempSync(join(tmpdir(), "procwatch-demo-"));
    this.binDir = join(this.workDir, "bin");
    const stateDir = join(this.workDir, "etc-procwatch");
    mkdirSync(this.binDir, { recursive: true });
    mkdirSync(stateDir, { recursive: true });

    // The host as SSM's install document leaves it: procwatch-agent in the bin dir.
    symlinkSync(AGENT_BINARY, join(this.binDir, "procwatch-agent"));
    // The demo service: a real long-running process under a distinctive executable name.
    const serviceBinary = join(this.binDir, this.processName);
    this.serviceBinary = serviceBinary;
    copyFileSync("/bin/sleep", serviceBinary);
    chmodSync(serviceBinary, 0o755);

    // Stand-in for amazon-cloudwatch-agent-ctl: records its argv, reports a running agent, and
    // does what the real ctl does with `-a append-config -c file:<path>`: copies the file into
    // amazon-cloudwatch-agent.d/ as file_<name>, the copy the CloudWatch agent loads.
    this.ctlLog = join(this.workDir, "amazon-cloudwatch-agent-ctl.calls");
    const cwagentDir = join(this.workDir, "amazon-cloudwatch-agent");
    const fragmentsDir = join(cwagentDir, "etc", "amazon-cloudwatch-agent.d");
    this.fragmentsDir = fragmentsDir;
    mkdirSync(fragmentsDir, { recursive: true });
    const ctl = join(this.binDir, "amazon-cloudwatch-agent-ctl");
    writeFileSync(
      ctl,
      [
        "#!/bin/sh",
        `printf '%s\\n' "$*" >> '${this.ctlLog}'`,
        `if [ "$2" = status ]; then echo '{"status":"running","starttime":"","configstatus":"configured","version":"${DEMO_CLOUDWATCH_AGENT_VERSION}"}'; exit 0; fi`,
        `if [ "$2" = append-config ]; then source="\${6#file:}"; cp "$source" '${fragmentsDir}'/"file_$(basename "$source")"; fi`,
        "exit 0",
        "",
      ].join("\n"),
    );
    chmodSync(ctl, 0o755);

    // Root-owned local config: how to start the service on a host without systemd (argv, no shell).
    this.localConfigPath = join(stateDir, "agent.json");
    this.setStartCommand([serviceBinary, "3600"]);
    this.specPath = join(this.workDir, "spec.json");
    writeFileSync(this.specPath, `${JSON.stringify({ version: 1, detection: this.detection, processes: [{ name: this.processName }] }, null, 2)}\n`);
    // The local-event spool (/var/lib/procwatch on a host), where the supervisor records what it did.
    this.spoolDir = join(this.workDir, "spool");

    this.agentEnv = {
      PATH: `${this.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      PROCWATCH_BIN_DIR: this.binDir,
      PROCWATCH_STATE_DIR: stateDir,
      PROCWATCH_CWAGENT_CTL: ctl,
      PROCWATCH_CWAGENT_DIR: cwagentDir,
      PROCWATCH_LOG_DIR: join(this.workDir, "log"),
      PROCWATCH_SPOOL_DIR: this.spoolDir,
      AWS_EC2_METADATA_DISABLED: "true",
      NO_COLOR: "1",
      // Non-root developers cannot make the config root-owned; root (CI) runs the real check.
      ...(process.getuid?.() === 0 ? {} : { PROCWATCH_INSECURE_TEST_CONFIG: "1" }),
      // The agent binary has no systemd here: restarts use the start-command backend.
    };

    // The AWS account, in memory, on a model clock that only `advance` moves: this host as an
    // opted-in EC2 instance, and CloudWatch's metrics and alarms as testkit's model of them.
    this.clock = new VirtualClock(Math.ceil(Date.now() / 60_000) * 60_000);
    this.fake = new FakeAws({ region: REGION, accountId: ACCOUNT_ID, quotas: false, clock: this.clock });
    this.pipeline = new TelemetryPipeline(this.fake, this.clock);
    this.fake.addInstance({
      instanceId: LOCAL_INSTANCE_ID,
      state: "running",
      tags: {
        Name: "demo-host",
        "procwatch:enabled": "true",
        "procwatch:processes": this.processName,
        "procwatch:detection": this.detection,
      },
    });

    this.slack = new SlackChannel((rendered) => options.onSlackMessage?.(rendered));
    this.hostReports = new HostReportQueue({
      spoolDir: this.spoolDir,
      instanceId: LOCAL_INSTANCE_ID,
      queueUrl: HOST_REPORT_QUEUE_URL,
      roleId: INSTANCE_ROLE_ID,
      region: REGION,
      accountId: ACCOUNT_ID,
    });
    this.runCommand = new LocalRunCommand({
      documentName: RESTART_DOCUMENT_NAME,
      hostInstanceId: LOCAL_INSTANCE_ID,
      workDir: join(this.workDir, "ssm"),
      agentEnvironment: this.agentEnv,
      region: REGION,
      accountId: ACCOUNT_ID,
      now: () => this.clock.now(),
    });
    const clients = fakeClients(this.fake);
    const config = configFromEnvironment({
      RESTART_DOCUMENT_NAME,
      NOTIFICATION_TOPIC_ARN,
      STATE_TABLE_NAME: "procwatch-restart-state",
      AWS_REGION: REGION,
      EXPECTED_ACCOUNT_ID: ACCOUNT_ID,
      RESTART_BUDGET: String(options.restartBudget ?? 3),
      RESTART_WINDOW_MINUTES: "30",
    });
    const log: DecisionLog = {
      info: (message, attributes) => this.handlerLog.push({ level: "info", message, attributes }),
      warn: (message, attributes) => this.handlerLog.push({ level: "warn", message, attributes }),
      error: (message, attributes) => this.handlerLog.push({ level: "error", message, attributes }),
    };
    this.handler = createRestartHandler(
      {
        instances: new FleetInstanceFacts(new InstanceInventory(clients.ec2), clients.ssm),
        profiles: new StoreProfileSource(new ProfileStore(clients.ssm)),
        ledger: new InMemoryRestartLedger(),
        commands: this.runCommand,
        notifier: this.slack,
        log,
        clock: { now: () => this.clock.now() },
      },
      config,
    );
  }

  agent(args: readonly string[]): Promise<AgentRun> {
    return execFileAsync(join(this.binDir, "procwatch-agent"), args, this.agentEnv);
  }

  applySpec(): Promise<AgentRun> {
    return this.agent(["apply", "--spec", this.specPath, "--mode", "ec2", "--json"]);
  }

  ctlCalls(): string[] {
    return existsSync(this.ctlLog) ? readFileSync(this.ctlLog, "utf8").trim().split("\n").filter(Boolean) : [];
  }

  /** The first start goes through the same start-command backend a restart uses. */
  startService(): Promise<AgentRun> {
    return this.agent(["restart", "--process", this.processName, "--json"]);
  }

  async health(): Promise<HealthSample & { json: Record<string, unknown> }> {
    const run = await this.agent(["health", "--spec", this.specPath, "--json"]);
    const json = JSON.parse(run.stdout) as { status: string; processes: Array<{ name: string; pidCount: number; pids: number[] }> };
    const process = json.processes.find((candidate) => candidate.name === this.processName);
    return { at: this.clock.now(), pidCount: process?.pidCount ?? 0, pids: process?.pids ?? [], status: json.status, json };
  }

  /**
   * The CloudWatch agent on this host starts publishing the demo process's pid count: its series
   * is what the CloudWatch agent makes of the fragment the real procwatch-agent installed (testkit's
   * model of the agent's config merge and placeholder resolution, with this instance's EC2 facts),
   * its cadence the fast profile's, and its values the real agent's `health` counts sampled at each
   * collection.
   */
  async startCloudWatchAgent(faults: PublisherFaults = {}): Promise<void> {
    if (this.publisher !== undefined) this.pipeline.unwatch(this.publisher);
    const { json } = await this.health();
    const match = (json.processes as Array<{ name: string; match: { dimension: string; selector: string } }>).find(
      (candidate) => candidate.name === this.processName,
    )?.match;
    if (match === undefined) throw new Error(`procwatch-agent health does not list ${this.processName}`);
    const fragments = readdirSync(this.fragmentsDir)
      .filter((name) => name.endsWith(".json"))
      .map((name) => ({ name, json: JSON.parse(readFileSync(join(this.fragmentsDir, name), "utf8")) as unknown }));
    const merged = mergeAgentConfigFragments(fragments);
    if (merged.config === null) throw new Error(`the CloudWatch agent would not load its config: ${merged.errors.join("; ")}`);
    const metrics = merged.config.metrics as { metrics_collected?: { procstat?: Array<Record<string, unknown>> } } | undefined;
    const index = (metrics?.metrics_collected?.procstat ?? []).findIndex(
      (entry) => entry[match.dimension === "pidfile" ? "pid_file" : match.dimension] === match.selector,
    );
    if (index < 0) throw new Error(`no procstat entry for ${this.processName} in the installed fragments (run apply first)`);
    const instance = this.fake.instances.get(LOCAL_INSTANCE_ID);
    if (instance === undefined) throw new Error(`no instance ${LOCAL_INSTANCE_ID}`);
    const { series } = procstatPublisherConfig(merged.config, index, ec2FactsOf(instance), agentBuildOf(DEMO_CLOUDWATCH_AGENT_VERSION));
    // The agent's first collection is 1 s after it starts, then one every interval (its source).
    const startedAt = this.clock.now();
    const options = publisherOptionsFor(this.detection, phaseOffsetForAgentStart(startedAt, this.collectionIntervalMs));
    this.publisher = new CloudWatchAgentPublisher(series, { ...options, startedAtMs: startedAt }, (t) => {
      const sample = this.samples.get(t);
      if (sample === undefined) throw new Error(`no health sample at model time ${new Date(t).toISOString()}`);
      return sample;
    });
    this.pipeline.watch({ publisher: this.publisher, faults });
  }

  /** The CloudWatch agent stops (or the host goes quiet): nothing is published any more. */
  stopCloudWatchAgent(): void {
    if (this.publisher !== undefined) this.pipeline.unwatch(this.publisher);
    this.publisher = undefined;
  }

  /** The agent's next collection instant; every 10 s of model time while no agent runs. */
  private nextCollection(): number {
    const now = this.clock.now();
    const [next] = this.publisher?.collectionTimes(now, now + this.collectionIntervalMs) ?? [];
    return next ?? (Math.floor(now / this.collectionIntervalMs) + 1) * this.collectionIntervalMs;
  }

  /**
   * One collection interval of model time: the real process is sampled once (the value the agent
   * collects now), batches land, the alarm is evaluated, and every alarm action it runs is handed
   * to the restart handler (which may restart the real process through the real document).
   */
  async step(): Promise<{ sample: HealthSample; notifications: DeliveredNotification[]; handled: HandlerSummary[] }> {
    const at = this.nextCollection();
    this.clock.advance(at - this.clock.now());
    const sample = await this.health();
    this.samples.set(at, sample.pidCount);
    const notifications = this.pipeline.runUntil(at);
    const handled = await this.deliver(notifications);
    return { sample, notifications, handled };
  }

  /** Steps until the model puts the alarm in `target`; the transition's actions are delivered on the way. */
  async waitForAlarmState(target: "OK" | "ALARM" | "INSUFFICIENT_DATA", maxModelMs = 10 * 60_000): Promise<AlarmWait> {
    const started = this.clock.now();
    const samples: HealthSample[] = [];
    const notifications: DeliveredNotification[] = [];
    const handled: HandlerSummary[] = [];
    const transitionsBefore = this.fake.alarmHistory(this.alarmName()).length;
    while (this.clock.now() - started < maxModelMs) {
      const step = await this.step();
      samples.push(step.sample);
      notifications.push(...step.notifications);
      handled.push(...step.handled);
      const history = this.fake.alarmHistory(this.alarmName());
      const reached = history.slice(transitionsBefore).find((item) => stateOfHistory(item.HistoryData) === target);
      if (reached !== undefined) {
        return { samples, afterMs: reached.Timestamp.getTime() - started, reason: reasonOfHistory(reached.HistoryData), notifications, handled };
      }
    }
    throw new Error(
      `the alarm did not reach ${target} within ${maxModelMs / 1000} s of model time (it is ${this.fake.alarms.get(this.alarmName())?.StateValue})`,
    );
  }

  /** Runs model time forward by `modelMs`, stepping one collection at a time. */
  async runFor(modelMs: number): Promise<DeliveredNotification[]> {
    const until = this.clock.now() + modelMs;
    const seen: DeliveredNotification[] = [];
    while (this.clock.now() < until) seen.push(...(await this.step()).notifications);
    return seen;
  }

  alarmName(): string {
    return `procwatch/${LOCAL_INSTANCE_ID}/${this.processName}`;
  }

  /** `procwatch-fleet <command>` against the in-memory account, exactly as an operator would run it. */
  async fleet(args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const exitCode = await runCli([...args, "--region", REGION, "--restart-action-arn", RESTART_TOPIC_ARN], {
      stdout: { write: (text: string) => (stdout += text), isTTY: false },
      stderr: { write: (text: string) => (stderr += text), isTTY: false },
      env: { NO_COLOR: "1" },
      stdinIsTTY: false,
      createClients: () => fakeClients(this.fake),
      wallTime: () => this.clock.now(),
    });
    // SetAlarmState and new alarms may have run actions: the handler gets them like any other.
    await this.deliver(this.pipeline.takeNotifications());
    return { exitCode, stdout, stderr };
  }

  /** The alarm the fleet manager created for this host's process, read back from the account. */
  async createdAlarm(): Promise<MetricAlarm> {
    const { cloudwatch } = fakeClients(this.fake);
    const output = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: `procwatch/${LOCAL_INSTANCE_ID}/` }));
    const alarm = output.MetricAlarms?.find((candidate) => candidate.AlarmName?.endsWith(`/${this.processName}`));
    if (alarm === undefined) throw new Error("the fleet manager created no alarm for the demo process");
    return alarm;
  }

  /** Writes the root-owned agent.json: how the service starts on a host without systemd (argv, no shell). */
  setStartCommand(argv: readonly string[]): void {
    writeFileSync(
      this.localConfigPath,
      `${JSON.stringify({ version: 1, startCommands: { [this.processName]: { argv, stopTimeoutSeconds: 2 } } }, null, 2)}\n`,
      { mode: 0o644 },
    );
  }

  /**
   * A start command that needs a dependency: while `setDependencyDown(true)` holds, it exits at once
   * with status 1 (a crash loop, as a service does when its database is unreachable); otherwise it
   * execs the service, so the running process is the service binary itself.
   */
  dependentStartCommand(): string[] {
    const script = join(this.binDir, `${this.processName}-start`);
    writeFileSync(
      script,
      [
        "#!/bin/sh",
        `if [ -e '${this.dependencyMarker()}' ]; then echo "${this.processName}: dependency unreachable" >&2; exit 1; fi`,
        `exec '${this.serviceBinary}' 3600`,
        "",
      ].join("\n"),
    );
    chmodSync(script, 0o755);
    return [script];
  }

  setDependencyDown(down: boolean): void {
    if (down) writeFileSync(this.dependencyMarker(), "");
    else rmSync(this.dependencyMarker(), { force: true });
  }

  private dependencyMarker(): string {
    return join(this.workDir, "dependency-down");
  }

  /** What the agent's supervisor of the demo process wrote about itself (`<spool-dir>/supervisors/<name>.json`), or null. */
  supervisorState(): { pid: number; childPid: number | null; restarts: number; gaveUp: boolean } | null {
    const path = join(this.spoolDir, "supervisors", `${this.processName}.json`);
    return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as { pid: number; childPid: number | null; restarts: number; gaveUp: boolean }) : null;
  }

  /**
   * The host-reports path: the spool lines the real agent wrote since the last delivery, each as
   * an SQS message from this instance, handed to the restart handler one batch at a time.
   */
  async deliverHostReports(budget: { restarts: number; windowMinutes: number }): Promise<DeliveredReport[]> {
    const reports = this.hostReports.receive(budget);
    const delivered: DeliveredReport[] = [];
    for (let start = 0; start < reports.length; start += 10) {
      const batch = reports.slice(start, start + 10);
      const summary = await this.invokeHandler(HostReportQueue.event(batch.map((report) => report.record)));
      delivered.push(...batch.map((report, index) => ({ ...report, item: summary.items[index] })));
    }
    return delivered;
  }

  /** Wall-clock polling for what the host's own supervision does (it does not move with the model clock). */
  async waitOnHost<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, withinMs: number): Promise<{ value: T; afterMs: number }> {
    const started = Date.now();
    while (Date.now() - started < withinMs) {
      const value = await probe();
      if (value !== undefined) return { value, afterMs: Date.now() - started };
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`${what}: not within ${withinMs} ms`);
  }

  /**
   * SIGKILL the service and wait (wall clock) until `health` sees exactly one new pid: what local
   * supervision does. `afterMs` is kill → seen, each look running the agent binary (~0.2 s).
   */
  async killAndAwaitLocalRestart(withinMs = 5_000): Promise<{ killedPid: number; newPid: number; afterMs: number }> {
    const [killedPid] = await this.killService();
    if (killedPid === undefined) throw new Error(`${this.processName} was not running`);
    const back = await this.waitOnHost(
      "a new pid",
      async () => {
        const health = await this.health();
        return health.pidCount === 1 && health.pids[0] !== killedPid ? health.pids[0] : undefined;
      },
      withinMs,
    );
    return { killedPid, newPid: back.value, afterMs: back.afterMs };
  }

  async killService(): Promise<readonly number[]> {
    const { pids } = await this.health();
    for (const pid of pids) process.kill(pid, "SIGKILL");
    return pids;
  }

  /** CloudWatch → SNS → the restart handler, `deliveries` times each (at-least-once); then SSM → EventBridge for any command that finished. */
  private async deliver(notifications: readonly DeliveredNotification[]): Promise<HandlerSummary[]> {
    const summaries: HandlerSummary[] = [];
    for (const notification of notifications) {
      this.notifications.push(notification);
      for (let delivery = 0; delivery < this.deliveries; delivery++) summaries.push(await this.invokeHandler(notification.event));
    }
    summaries.push(...(await this.deliverCommandResults()));
    return summaries;
  }

  /** SSM → EventBridge → the restart handler: the final status of every command not reported yet. */
  private async deliverCommandResults(): Promise<HandlerSummary[]> {
    const summaries: HandlerSummary[] = [];
    for (const invocation of this.runCommand.invocations.slice(this.reportedInvocations)) {
      summaries.push(await this.invokeHandler(this.runCommand.statusChangeEvent(invocation)));
    }
    this.reportedInvocations = this.runCommand.invocations.length;
    return summaries;
  }

  invokeHandler(event: unknown): Promise<HandlerSummary> {
    return this.handler(JSON.parse(JSON.stringify(event)), { invokedFunctionArn: RESTART_HANDLER_ARN, awsRequestId: crypto.randomUUID() });
  }

  async cleanup(): Promise<void> {
    // The supervisor first (apply started it for this loop), or it would start the process again.
    const supervisor = this.supervisorState();
    if (supervisor !== null && !supervisor.gaveUp) {
      try {
        process.kill(supervisor.pid, "SIGKILL");
      } catch {
        // It had exited (gave up).
      }
    }
    try {
      const { pids } = await this.health();
      for (const pid of pids) process.kill(pid, "SIGKILL");
    } catch {
      // Nothing left to stop.
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

function stateOfHistory(historyData: string): string {
  return (JSON.parse(historyData) as { newState?: { stateValue?: string } }).newState?.stateValue ?? "";
}

function reasonOfHistory(historyData: string): string {
  return (JSON.parse(historyData) as { newState?: { stateReason?: string } }).newState?.stateReason ?? "";
}
