import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DescribeAlarmsCommand, type MetricAlarm } from "@aws-sdk/client-cloudwatch";
import { InstanceInventory, ProfileStore } from "@procwatch/aws-adapters";
import type { AlarmDefinition } from "@procwatch/contract";
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
import { FakeAws, fakeClients } from "@procwatch/testkit";
import { type AlarmState, type Datapoint, describeBreach, evaluateAlarm } from "./stand-ins/cloudwatch-alarm-evaluator.ts";
import { snsAlarmEvent } from "./stand-ins/cloudwatch-sns-notification.ts";
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
const REGION = "eu-west-1";
const ACCOUNT_ID = "111122223333";
const RESTART_TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT_ID}:procwatch-restart`;
const NOTIFICATION_TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT_ID}:procwatch-notifications`;
const RESTART_DOCUMENT_NAME = "procwatch-restart";
const RESTART_HANDLER_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:procwatch-restart-handler`;

export interface AgentRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HealthSample {
  readonly at: number;
  readonly pidCount: number;
  readonly pids: readonly number[];
  readonly status: string;
}

export interface OutageDetection {
  readonly samples: readonly HealthSample[];
  readonly detectedAfterMs: number;
  readonly reason: string;
}

export interface LocalLoopOptions {
  /** A distinctive name: the demo service runs as a copy of `sleep` under it. */
  readonly processName?: string;
  readonly restartBudget?: number;
  /** Seconds between health samples: the compressed stand-in for the alarm period. */
  readonly sampleIntervalMs?: number;
  readonly onSlackMessage?: (rendered: string) => void;
}

/**
 * procwatch's whole loop on this one machine. Everything that runs is procwatch's real code:
 * the agent binary (apply, health, restart), the fleet manager's CLI and reconcile, the restart
 * handler, the restart SSM document's script. AWS is replaced by small stand-ins, each named for
 * what it replaces: the in-memory EC2/CloudWatch/SSM fake (testkit), CloudWatch's alarm
 * evaluation and SNS delivery, SSM Run Command, the Slack channel, and a recording
 * amazon-cloudwatch-agent-ctl.
 */
export class LocalLoop {
  readonly processName: string;
  readonly workDir: string;
  readonly slack: SlackChannel;
  readonly runCommand: LocalRunCommand;
  readonly fake: FakeAws;
  readonly handlerLog: Array<{ level: string; message: string; attributes: Record<string, unknown> }> = [];
  private readonly agentEnv: NodeJS.ProcessEnv;
  private readonly binDir: string;
  private readonly specPath: string;
  private readonly ctlLog: string;
  private readonly sampleIntervalMs: number;
  private readonly handler: ReturnType<typeof createRestartHandler>;
  private alarm: MetricAlarm | undefined;
  private alarmState: AlarmState = "INSUFFICIENT_DATA";
  private datapoints: Datapoint[] = [];

  constructor(options: LocalLoopOptions = {}) {
    if (!existsSync(AGENT_BINARY)) {
      throw new Error(`the agent binary is not built (${AGENT_BINARY}); run: pnpm --filter @procwatch/agent build`);
    }
    this.processName = options.processName ?? "pw-demo-svc";
    this.sampleIntervalMs = options.sampleIntervalMs ?? 500;
    this.workDir = mkdtempSync(join(tmpdir(), "procwatch-demo-"));
    this.binDir = join(this.workDir, "bin");
    const stateDir = join(this.workDir, "etc-procwatch");
    mkdirSync(this.binDir, { recursive: true });
    mkdirSync(stateDir, { recursive: true });

    // The host as SSM's install document leaves it: procwatch-agent in the bin dir.
    symlinkSync(AGENT_BINARY, join(this.binDir, "procwatch-agent"));
    // The demo service: a real long-running process under a distinctive executable name.
    const serviceBinary = join(this.binDir, this.processName);
    copyFileSync("/bin/sleep", serviceBinary);
    chmodSync(serviceBinary, 0o755);

    // Stand-in for amazon-cloudwatch-agent-ctl: records its argv, reports a running agent, and
    // does what the real ctl does with `-a append-config -c file:<path>`: copies the file into
    // amazon-cloudwatch-agent.d/ as file_<name>, the copy the CloudWatch agent loads.
    this.ctlLog = join(this.workDir, "amazon-cloudwatch-agent-ctl.calls");
    const cwagentDir = join(this.workDir, "amazon-cloudwatch-agent");
    const fragmentsDir = join(cwagentDir, "etc", "amazon-cloudwatch-agent.d");
    mkdirSync(fragmentsDir, { recursive: true });
    const ctl = join(this.binDir, "amazon-cloudwatch-agent-ctl");
    writeFileSync(
      ctl,
      [
        "#!/bin/sh",
        `printf '%s\\n' "$*" >> '${this.ctlLog}'`,
        `if [ "$2" = status ]; then echo '{"status":"running","starttime":"","configstatus":"configured","version":"1.300000.0-demo"}'; exit 0; fi`,
        `if [ "$2" = append-config ]; then source="\${6#file:}"; cp "$source" '${fragmentsDir}'/"file_$(basename "$source")"; fi`,
        "exit 0",
        "",
      ].join("\n"),
    );
    chmodSync(ctl, 0o755);

    // Root-owned local config: how to start the service on a host without systemd (argv, no shell).
    writeFileSync(
      join(stateDir, "agent.json"),
      `${JSON.stringify({ version: 1, startCommands: { [this.processName]: { argv: [serviceBinary, "3600"], stopTimeoutSeconds: 2 } } }, null, 2)}\n`,
      { mode: 0o644 },
    );
    this.specPath = join(this.workDir, "spec.json");
    writeFileSync(this.specPath, `${JSON.stringify({ version: 1, detection: "fast", processes: [{ name: this.processName }] }, null, 2)}\n`);

    this.agentEnv = {
      PATH: `${this.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      PROCWATCH_BIN_DIR: this.binDir,
      PROCWATCH_STATE_DIR: stateDir,
      PROCWATCH_CWAGENT_CTL: ctl,
      PROCWATCH_CWAGENT_DIR: cwagentDir,
      PROCWATCH_LOG_DIR: join(this.workDir, "log"),
      AWS_EC2_METADATA_DISABLED: "true",
      NO_COLOR: "1",
      // Non-root developers cannot make the config root-owned; root (CI) runs the real check.
      ...(process.getuid?.() === 0 ? {} : { PROCWATCH_INSECURE_TEST_CONFIG: "1" }),
      // The agent binary has no systemd here: restarts use the start-command backend.
    };

    // The AWS account, in memory: this host as an opted-in EC2 instance.
    this.fake = new FakeAws({ region: REGION, accountId: ACCOUNT_ID, quotas: false });
    this.fake.addInstance({
      instanceId: LOCAL_INSTANCE_ID,
      state: "running",
      tags: {
        Name: "demo-host",
        "procwatch:enabled": "true",
        "procwatch:processes": this.processName,
        "procwatch:detection": "fast",
      },
    });

    this.slack = new SlackChannel((rendered) => options.onSlackMessage?.(rendered));
    this.runCommand = new LocalRunCommand({
      documentName: RESTART_DOCUMENT_NAME,
      hostInstanceId: LOCAL_INSTANCE_ID,
      workDir: join(this.workDir, "ssm"),
      agentEnvironment: this.agentEnv,
      region: REGION,
      accountId: ACCOUNT_ID,
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
    return { at: Date.now(), pidCount: process?.pidCount ?? 0, pids: process?.pids ?? [], status: json.status, json };
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
    });
    return { exitCode, stdout, stderr };
  }

  /** The alarm the fleet manager created for this host's process, read back from the account. */
  async createdAlarm(): Promise<MetricAlarm> {
    const { cloudwatch } = fakeClients(this.fake);
    const output = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: `procwatch/${LOCAL_INSTANCE_ID}/` }));
    const alarm = output.MetricAlarms?.find((candidate) => candidate.AlarmName?.endsWith(`/${this.processName}`));
    if (alarm === undefined) throw new Error("the fleet manager created no alarm for the demo process");
    this.alarm = alarm;
    this.datapoints = [];
    this.alarmState = "OK";
    return alarm;
  }

  async killService(): Promise<readonly number[]> {
    const { pids } = await this.health();
    for (const pid of pids) process.kill(pid, "SIGKILL");
    return pids;
  }

  /**
   * Samples `health --json` as the CloudWatch agent would publish procstat_lookup_pid_count and
   * evaluates the alarm's own M-of-N rule on the samples (periods compressed to the sample
   * interval), until the alarm reaches `target`.
   */
  async waitForAlarmState(target: AlarmState, timeoutMs = 20_000): Promise<OutageDetection> {
    const alarm = this.requireAlarm();
    const started = Date.now();
    const samples: HealthSample[] = [];
    while (Date.now() - started < timeoutMs) {
      const sample = await this.health();
      samples.push(sample);
      this.datapoints.push(sample.pidCount);
      const state = evaluateAlarm(definitionOf(alarm), this.datapoints);
      if (state === target) {
        return { samples, detectedAfterMs: Date.now() - started, reason: describeBreach(definitionOf(alarm), this.datapoints, state) };
      }
      await new Promise((done) => setTimeout(done, this.sampleIntervalMs));
    }
    throw new Error(`the alarm did not reach ${target} within ${timeoutMs} ms`);
  }

  /** CloudWatch → SNS → the restart handler, for one state transition, delivered `deliveries` times (at-least-once). */
  async deliverTransition(newState: AlarmState, reason: string, deliveries = 1): Promise<HandlerSummary[]> {
    const alarm = this.requireAlarm();
    const event = snsAlarmEvent(
      {
        definition: definitionOf(alarm),
        newState,
        oldState: this.alarmState,
        reason,
        at: new Date(),
        region: REGION,
        accountId: ACCOUNT_ID,
        topicArn: RESTART_TOPIC_ARN,
      },
      crypto.randomUUID(),
    );
    this.alarmState = newState;
    const summaries: HandlerSummary[] = [];
    for (let delivery = 0; delivery < deliveries; delivery++) summaries.push(await this.invokeHandler(event));
    return summaries;
  }

  /** SSM → EventBridge → the restart handler: the final status of every command not reported yet. */
  async deliverCommandResults(): Promise<HandlerSummary[]> {
    const summaries: HandlerSummary[] = [];
    for (const invocation of this.runCommand.invocations.slice(this.reportedInvocations)) {
      summaries.push(await this.invokeHandler(this.runCommand.statusChangeEvent(invocation)));
    }
    this.reportedInvocations = this.runCommand.invocations.length;
    return summaries;
  }

  private reportedInvocations = 0;

  invokeHandler(event: unknown): Promise<HandlerSummary> {
    return this.handler(JSON.parse(JSON.stringify(event)), { invokedFunctionArn: RESTART_HANDLER_ARN, awsRequestId: crypto.randomUUID() });
  }

  async cleanup(): Promise<void> {
    try {
      const { pids } = await this.health();
      for (const pid of pids) process.kill(pid, "SIGKILL");
    } catch {
      // Nothing left to stop.
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }

  private requireAlarm(): MetricAlarm {
    if (this.alarm === undefined) throw new Error("call createdAlarm() after `procwatch-fleet apply` first");
    return this.alarm;
  }
}

/** The managed fields of a stored alarm, in the contract's shape. */
export function definitionOf(alarm: MetricAlarm): AlarmDefinition {
  return {
    AlarmName: alarm.AlarmName ?? "",
    AlarmDescription: alarm.AlarmDescription ?? "",
    Namespace: alarm.Namespace ?? "",
    MetricName: alarm.MetricName ?? "",
    Dimensions: (alarm.Dimensions ?? []).map((dimension) => ({ Name: dimension.Name ?? "", Value: dimension.Value ?? "" })),
    Statistic: "Maximum",
    Period: alarm.Period ?? 60,
    EvaluationPeriods: alarm.EvaluationPeriods ?? 1,
    DatapointsToAlarm: alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods ?? 1,
    Threshold: 1,
    ComparisonOperator: "LessThanThreshold",
    TreatMissingData: "breaching",
    ActionsEnabled: alarm.ActionsEnabled ?? true,
    AlarmActions: alarm.AlarmActions ?? [],
    OKActions: alarm.OKActions ?? [],
    InsufficientDataActions: alarm.InsufficientDataActions ?? [],
  };
}
