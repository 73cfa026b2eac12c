#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";
import { AdapterError, type Clock, DeploymentSettingsStore, EndpointUnreachableError, ThrottledError } from "@procwatch/aws-adapters";
import { ALARM_PREFIX_PATTERN, alarmPrefixRegex, DEFAULT_ALARM_PREFIX, type DeploymentSettings, isInstanceId, isProcessName } from "@procwatch/contract";
import { Command, CommanderError, Option } from "commander";
import {
  type AwsClients,
  type AwsSettings,
  CREDENTIALS_HINT,
  createAdapters,
  createAwsClients,
  type FleetAdapters,
  REGION_HINT,
  verifyAwsAccess,
} from "./aws.ts";
import { type FleetConfig, resolveConfig } from "./config.ts";
import { detectionSummaryOf } from "./detection-summary.ts";
import { ApplyFailedError, DeployedSettingsMismatchError, FleetError, MassChangeRefusedError, NotConfirmedError, UsageError } from "./errors.ts";
import { applyReconcilePlan, type Progress, type ReconcileResult, reconcile } from "./reconcile.ts";
import { massChangeLimitText, planToJson, renderApplySummary, renderDeploymentMismatches, renderPlan, renderTable, type Style, styleFor } from "./render.ts";
import { buildStatus, type StatusRow } from "./status.ts";

export const VERSION = "0.1.0";
export const NODE_REQUIREMENT = "Requires Node.js >= 20.19; Node 22 or later recommended (AWS SDK releases after January 2027 need it).";

export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Everything the CLI touches outside itself, so tests run it in-process against the fake. */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Asks a yes/no question on the terminal; defaults to reading stdin. */
  readonly confirm?: (question: string) => Promise<boolean>;
  readonly stdinIsTTY?: boolean;
  /** Defaults to real SDK clients; tests pass clients wired to the fake. */
  readonly createClients?: (settings: AwsSettings) => AwsClients;
  readonly clock?: Clock;
  readonly retry?: AwsSettings["retry"];
  /** Epoch milliseconds compared with instances' LaunchTime; defaults to Date.now (tests pass the fake's clock). */
  readonly wallTime?: () => number;
}

interface GlobalOptions {
  region?: string;
  profile?: string;
  prefix?: string;
  tagPrefix?: string;
  namespace?: string;
  restartActionArn?: string;
  defaultDetection?: string;
  armingGraceMinutes?: string;
  realarmAfterMinutes?: string;
  color: boolean;
  tps?: string;
}

const STATE_FILTERS = ["ok", "alarm", "insufficient_data", "actions-disabled", "no-data"];

/**
 * Runs the CLI and resolves to the exit code: 0 ok, 1 failure, 2 usage. With
 * `plan --detailed-exitcode`: 0 no changes, 2 changes pending, 1 any error (usage errors too).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command("procwatch-fleet")
    .description("Reconcile one CloudWatch alarm per (instance, process) from EC2 tags.")
    .version(VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .addOption(new Option("--region <region>", "AWS region (default: AWS_REGION / profile)"))
    .addOption(new Option("--profile <name>", "named AWS profile (default: the standard credential chain)"))
    .addOption(new Option("--prefix <prefix>", "alarm name prefix (env ALARM_PREFIX, default procwatch)"))
    .addOption(new Option("--tag-prefix <prefix>", "tag grammar prefix (env TAG_PREFIX, default procwatch)"))
    .addOption(new Option("--namespace <namespace>", "metric namespace of the CloudWatch agent (env METRIC_NAMESPACE, default CWAgent)"))
    .addOption(
      new Option("--restart-action-arn <arn>", "ALARM/OK action: restart SNS topic or Lambda ARN (comma-separated for several; env RESTART_TOPIC_ARN)").env(
        "RESTART_TOPIC_ARN",
      ),
    )
    .addOption(
      new Option(
        "--default-detection <profile>",
        "detection profile (standard|fast) of hosts whose tags and profile set none; must match the agents' (env DEFAULT_DETECTION_PROFILE, default standard)",
      ),
    )
    .addOption(
      new Option(
        "--arming-grace-minutes <n>",
        "keep an alarm's actions off until its exact series publishes (GetMetricData), at most this long after it is created, its metric changes or its host starts (env ARMING_GRACE_MINUTES, default 45; 0 = off)",
      ),
    )
    .addOption(
      new Option(
        "--realarm-after-minutes <n>",
        "re-evaluate an alarm that has stayed in ALARM this long, so the restart handler acts on it again (env REALARM_AFTER_MINUTES, default 30; 0 = never)",
      ),
    )
    .addOption(new Option("--tps <list>", "client-side rate limits, e.g. PutMetricAlarm=3,DescribeAlarms=9"))
    .option("--no-color", "disable colours (also NO_COLOR)")
    .addHelpText("after", `\n${NODE_REQUIREMENT}\n`);

  const context = (command: Command) => {
    const globals = withEnvironment(command.optsWithGlobals<GlobalOptions>(), io.env);
    const color = globals.color && io.env.NO_COLOR === undefined && io.stdout.isTTY === true;
    return { globals, style: styleFor(color), errStyle: styleFor(globals.color && io.env.NO_COLOR === undefined && io.stderr.isTTY === true) };
  };

  program
    .command("plan")
    .description("show what apply would change (never writes)")
    .option("--json", "print the plan as JSON")
    .option("--detailed-exitcode", "exit 0 when there are no changes, 2 when there are, 1 on any error (usage errors too)")
    .option("--detailed", "show field-level differences of updates")
    .option("--instance <ids...>", "only these instances (as an event would)")
    .action(async (options: { json?: boolean; detailedExitcode?: boolean; detailed?: boolean; instance?: string[] }, command: Command) => {
      const { globals, style } = context(command);
      for (const instanceId of options.instance ?? []) assertInstanceId(instanceId);
      const { config, adapters, deployment } = await resolveDeployment(io, globals, true);
      const result = await planOnce(io, config, adapters, options.instance);
      const detection = detectionSummaryOf(result.desired, options.instance !== undefined ? new Set(options.instance) : undefined);
      if (options.json === true) io.stdout.write(`${JSON.stringify({ ...(planToJson(result) as object), deployment, detection }, null, 2)}\n`);
      else
        io.stdout.write(
          renderDeploymentMismatches(deployment, style) +
            renderPlan(result.plan, style, { detailed: options.detailed === true, massChange: result.massChange, detection }),
        );
      if (options.detailedExitcode === true && result.plan.changes.length > 0) exitCode = 2;
    });

  program
    .command("apply")
    .description("apply the plan: create, update, delete alarms and switch their actions")
    .option("-y, --yes", "do not ask for confirmation")
    .option("--json", "print the plan and the result as JSON (requires --yes)")
    .option("--instance <ids...>", "only these instances")
    .addOption(new Option("--concurrency <n>", "parallel PutMetricAlarm calls (the rate limit still applies)").default("4"))
    .option(
      "--allow-mass-change",
      "make deletes, updates or creates even when one kind touches the alarms of more than max(10% of the instances with alarms, 5) instances",
    )
    .option("--ignore-deployed-settings", "apply although the settings differ from the ones the deployed stack published")
    .action(
      async (
        options: { yes?: boolean; json?: boolean; instance?: string[]; concurrency: string; allowMassChange?: boolean; ignoreDeployedSettings?: boolean },
        command: Command,
      ) => {
        const { globals, style, errStyle } = context(command);
        const concurrency = Number(options.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32)
          throw new UsageError(`--concurrency ${JSON.stringify(options.concurrency)} must be 1-32`, {
            hint: "the rate limiter caps calls anyway; 4 is plenty",
          });
        if (options.yes !== true && (io.stdinIsTTY !== true || options.json === true)) {
          throw new NotConfirmedError("refusing to apply without confirmation on a non-interactive terminal", {
            hint: "review with `procwatch-fleet plan`, then run `procwatch-fleet apply --yes`",
          });
        }
        const started = performance.now();
        const allowMassChange = options.allowMassChange === true;
        for (const instanceId of options.instance ?? []) assertInstanceId(instanceId);
        const { config, adapters, deployment } = await resolveDeployment(io, globals, true);
        // A laptop and the Lambda with different settings would rewrite every alarm back and forth.
        if (deployment.mismatches.length > 0 && options.ignoreDeployedSettings !== true) {
          throw new DeployedSettingsMismatchError(
            `settings differ from the deployment's (${deployment.parameterName}): ${deployment.mismatches.map((mismatch) => `${mismatch.setting} ${mismatch.here} here, ${mismatch.deployed} deployed`).join("; ")}`,
          );
        }
        const planned = await planOnce(io, config, adapters, options.instance);
        if (options.json !== true) {
          const detection = detectionSummaryOf(planned.desired, options.instance !== undefined ? new Set(options.instance) : undefined);
          io.stdout.write(renderPlan(planned.plan, style, { massChange: planned.massChange, allowMassChange, detection }));
        }
        if (planned.plan.changes.length === 0) {
          if (options.json === true) io.stdout.write(`${JSON.stringify(planToJson(planned), null, 2)}\n`);
          return;
        }
        const refusedKinds = allowMassChange ? [] : (["delete", "update"] as const).filter((kind) => planned.massChange[kind].exceeded);
        const refusedCount = refusedKinds.reduce((sum, kind) => sum + planned.massChange[kind].alarms, 0);
        const toApply = planned.plan.changes.length - refusedCount;
        if (options.yes !== true && toApply > 0) {
          const confirm = io.confirm ?? askOnTerminal();
          const refusal =
            refusedCount > 0 ? ` (${refusedKinds.map((kind) => `the ${planned.massChange[kind].alarms} ${kind}s`).join(", ")} will be refused)` : "";
          if (!(await confirm(`Apply ${toApply} change(s)${refusal}? Only 'yes' is accepted: `))) {
            throw new NotConfirmedError("apply cancelled", { hint: "nothing was changed" });
          }
        }
        const progress = io.stderr.isTTY === true && options.json !== true ? progressBar(io.stderr, errStyle) : undefined;
        // What was shown (and confirmed) is what is applied: no second read between the question and the writes.
        const result = await applyReconcilePlan(planned, {
          alarms: adapters.alarms,
          inventory: adapters.inventory,
          config,
          concurrency,
          allowMassChange,
          ...(progress !== undefined ? { onProgress: progress } : {}),
        });
        progress?.({ phase: "apply", done: -1, total: 0 });
        if (options.json === true) io.stdout.write(`${JSON.stringify(planToJson(result), null, 2)}\n`);
        else io.stdout.write(renderApplySummary(result, performance.now() - started, style));
        const refusedTotal = result.refused.delete + result.refused.update;
        if (refusedTotal > 0) {
          const what = (["delete", "update"] as const)
            .filter((kind) => result.refused[kind] > 0)
            .map((kind) => `${result.refused[kind]} ${kind}s`)
            .join(", ");
          throw new MassChangeRefusedError(`refused ${what}: more than ${massChangeLimitText(result.massChange)}`);
        }
        if (result.failures.length > 0) throw new ApplyFailedError(result.failures);
      },
    );

  program
    .command("status")
    .description("alarm state per instance and process, and whether each alarm's metric exists")
    .option("--json", "print rows as JSON")
    .option("--instance <ids...>", "only these instances")
    .option("--process <names...>", "only these processes")
    .option("--state <states...>", `only rows in these states: ${STATE_FILTERS.join(", ")}`)
    .option("--no-data", "only alarms whose metric does not exist")
    .action(async (options: { json?: boolean; instance?: string[]; process?: string[]; state?: string[]; data?: boolean }, command: Command) => {
      const { globals, style } = context(command);
      for (const instanceId of options.instance ?? []) assertInstanceId(instanceId);
      for (const process of options.process ?? []) {
        if (!isProcessName(process))
          throw new UsageError(`--process ${JSON.stringify(process.slice(0, 80))} is not a valid process name`, {
            hint: "a name like nginx: ASCII letters, digits, '.', '_' or '-'",
          });
      }
      for (const state of options.state ?? []) {
        if (!STATE_FILTERS.includes(state.toLowerCase()))
          throw new UsageError(`--state ${JSON.stringify(state.slice(0, 40))} is not one of ${STATE_FILTERS.join(", ")}`, {
            hint: "e.g. --state alarm no-data",
          });
      }
      const { config, adapters } = await resolveDeployment(io, globals, false);
      const instanceIds = options.instance;
      const [instances, alarms, metrics] = await Promise.all([
        adapters.inventory.listTagged(instanceIds !== undefined ? { instanceIds } : {}),
        instanceIds !== undefined && instanceIds.length <= 20
          ? Promise.all(instanceIds.map((id) => adapters.alarms.listByPrefix(`${config.alarmPrefix}/${id}/`))).then((lists) => lists.flat())
          : adapters.alarms.listByPrefix(`${config.alarmPrefix}/`),
        adapters.metrics.listProcstatMetrics({
          namespace: config.namespace,
          recentlyActive: true,
          ...(instanceIds !== undefined && instanceIds.length === 1 ? { dimensions: [{ Name: "InstanceId", Value: instanceIds[0] }] } : {}),
        }),
      ]);
      const rows = buildStatus(alarms, metrics, instances, {
        alarmPrefix: config.alarmPrefix,
        filters: {
          ...(instanceIds !== undefined ? { instanceIds } : {}),
          ...(options.process !== undefined ? { processes: options.process } : {}),
          ...(options.state !== undefined ? { states: options.state } : {}),
          noDataOnly: options.data === false,
        },
      });
      if (options.json === true) io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else io.stdout.write(renderStatus(rows, style));
    });

  // Like terraform's -detailed-exitcode, 2 then means "changes pending" only, so every error,
  // usage errors included, exits 1. Read from argv: a parse error can come before the flag is parsed.
  const usageExitCode = argv.includes("--detailed-exitcode") ? 1 : 2;
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    return reportError(error, io, usageExitCode);
  }
}

/** Flags win over the environment; an empty variable counts as unset. */
function withEnvironment(globals: GlobalOptions, env: CliIo["env"]): GlobalOptions {
  const fromEnv = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const merged: GlobalOptions = { ...globals };
  merged.prefix ??= fromEnv("ALARM_PREFIX");
  merged.tagPrefix ??= fromEnv("TAG_PREFIX");
  merged.namespace ??= fromEnv("METRIC_NAMESPACE");
  merged.restartActionArn ??= fromEnv("RESTART_TOPIC_ARN");
  merged.defaultDetection ??= fromEnv("DEFAULT_DETECTION_PROFILE");
  merged.armingGraceMinutes ??= fromEnv("ARMING_GRACE_MINUTES");
  merged.realarmAfterMinutes ??= fromEnv("REALARM_AFTER_MINUTES");
  return merged;
}

function fleetConfig(globals: GlobalOptions, needsAction: boolean): FleetConfig {
  const config = resolveConfig(
    {
      alarmPrefix: globals.prefix,
      tagPrefix: globals.tagPrefix,
      namespace: globals.namespace,
      restartActionArn: globals.restartActionArn,
      defaultDetection: globals.defaultDetection,
      armingGraceMinutes: globals.armingGraceMinutes,
      realarmAfterMinutes: globals.realarmAfterMinutes,
    },
    {
      prefix: "--prefix",
      tagPrefix: "--tag-prefix",
      namespace: "--namespace",
      action: "--restart-action-arn",
      defaultDetection: "--default-detection",
      armingGrace: "--arming-grace-minutes",
      realarmAfter: "--realarm-after-minutes",
    },
  );
  if (needsAction && config.restartActionArns.length === 0) {
    throw new UsageError("no restart action: alarms need the restart topic (or Lambda) as their ALARM/OK action", {
      hint: "pass --restart-action-arn arn:aws:sns:<region>:<account>:<topic> or set RESTART_TOPIC_ARN",
    });
  }
  return config;
}

function parseTps(text: string | undefined): Record<string, number> | undefined {
  if (text === undefined) return undefined;
  const tps: Record<string, number> = {};
  for (const pair of text.split(",").filter((part) => part !== "")) {
    const [operation = "", value = ""] = pair.split("=");
    const rate = Number(value);
    if (!/^[A-Z][A-Za-z]{2,40}$/.test(operation) || !Number.isFinite(rate) || rate <= 0 || rate > 1000) {
      throw new UsageError(`--tps entry ${JSON.stringify(pair.slice(0, 60))} is not Operation=rate`, { hint: "e.g. --tps PutMetricAlarm=3,DescribeAlarms=9" });
    }
    tps[operation] = rate;
  }
  return tps;
}

function assertInstanceId(instanceId: string): void {
  if (!isInstanceId(instanceId))
    throw new UsageError(`--instance ${JSON.stringify(instanceId.slice(0, 80))} is not an instance id`, { hint: "e.g. i-0123456789abcdef0" });
}

/** One setting that differs between what this run would use and what the deployed stack published. */
export interface DeploymentMismatch {
  readonly setting: string;
  readonly here: string;
  readonly deployed: string;
}

export interface DeploymentView {
  readonly parameterName: string;
  readonly found: boolean;
  readonly stackName?: string;
  readonly mismatches: readonly DeploymentMismatch[];
}

/**
 * The CLI's one place where clients and adapters are built; region and credentials are resolved
 * here, before any call. It then reads the settings the deployed stack published for the alarm
 * prefix: they are the defaults for every setting not given by a flag or the environment, and any
 * given setting that differs is a mismatch (plan shows it; apply refuses it unless told).
 */
async function resolveDeployment(
  io: CliIo,
  globals: GlobalOptions,
  needsAction: boolean,
): Promise<{ config: FleetConfig; adapters: FleetAdapters; deployment: DeploymentView }> {
  const prefix = globals.prefix ?? DEFAULT_ALARM_PREFIX;
  if (!alarmPrefixRegex.test(prefix)) {
    throw new UsageError(`--prefix ${JSON.stringify(prefix.slice(0, 40))} is not a valid alarm prefix`, {
      hint: `use 1-32 letters, digits, '.', '_' or '-' (${ALARM_PREFIX_PATTERN})`,
    });
  }
  const awsSettings: AwsSettings = {
    ...(globals.region !== undefined ? { region: assertRegion(globals.region) } : {}),
    ...(globals.profile !== undefined ? { profile: assertProfile(globals.profile) } : {}),
    ...(io.retry !== undefined ? { retry: io.retry } : {}),
  };
  const tps = parseTps(globals.tps);
  // Every flag given is checked before anything is sent: a bad value is a usage error even when the
  // region, the credentials or the deployed settings could not be read. Unset settings take valid defaults here.
  fleetConfig(globals, false);
  const clients = (io.createClients ?? createAwsClients)(awsSettings);
  // All three clients share the settings: resolving one client's region and credentials checks them all.
  await verifyAwsAccess(clients.ec2);
  const { parameterName, settings: deployed } = await new DeploymentSettingsStore(clients.ssm).read(prefix);
  const config = fleetConfig(withDeployedDefaults(globals, deployed), needsAction);
  const adapters = createAdapters(clients, {
    tagPrefix: config.tagPrefix,
    ...(tps !== undefined ? { tps } : {}),
    ...(io.clock !== undefined ? { clock: io.clock } : {}),
  });
  return {
    config,
    adapters,
    deployment: {
      parameterName,
      found: deployed !== undefined,
      ...(deployed?.stackName !== undefined ? { stackName: deployed.stackName } : {}),
      mismatches: deployed === undefined ? [] : deploymentMismatches(config, deployed),
    },
  };
}

/** Settings not given by a flag or the environment come from the deployment. */
function withDeployedDefaults(globals: GlobalOptions, deployed: DeploymentSettings | undefined): GlobalOptions {
  if (deployed === undefined) return globals;
  return {
    ...globals,
    tagPrefix: globals.tagPrefix ?? deployed.tagPrefix,
    namespace: globals.namespace ?? deployed.namespace,
    restartActionArn: globals.restartActionArn ?? deployed.restartActionArns.join(","),
    defaultDetection: globals.defaultDetection ?? deployed.defaultDetection,
    armingGraceMinutes: globals.armingGraceMinutes ?? String(deployed.armingGraceMinutes),
  };
}

export function deploymentMismatches(config: FleetConfig, deployed: DeploymentSettings): DeploymentMismatch[] {
  const pairs: [string, string, string][] = [
    ["--tag-prefix", config.tagPrefix, deployed.tagPrefix],
    ["--namespace", config.namespace, deployed.namespace],
    ["--restart-action-arn", [...config.restartActionArns].sort().join(","), [...deployed.restartActionArns].sort().join(",")],
    ["--default-detection", config.defaultDetection, deployed.defaultDetection],
    ["--arming-grace-minutes", String(config.armingGraceMinutes), String(deployed.armingGraceMinutes)],
  ];
  return pairs.filter(([, here, there]) => here !== there).map(([setting, here, deployedValue]) => ({ setting, here, deployed: deployedValue }));
}

function assertRegion(region: string): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region))
    throw new UsageError(`--region ${JSON.stringify(region.slice(0, 40))} is not an AWS region`, { hint: "e.g. eu-west-1" });
  return region;
}

function assertProfile(profile: string): string {
  if (!/^[A-Za-z0-9_.+@-]{1,64}$/.test(profile))
    throw new UsageError(`--profile ${JSON.stringify(profile.slice(0, 40))} is not a profile name`, { hint: "a profile from ~/.aws/config" });
  return profile;
}

/** Reads the world once and plans; `apply` then applies this very plan with the same adapters. */
async function planOnce(io: CliIo, config: FleetConfig, adapters: FleetAdapters, instances: string[] | undefined): Promise<ReconcileResult> {
  return reconcile({
    inventory: adapters.inventory,
    alarms: adapters.alarms,
    profiles: adapters.profiles,
    datapoints: adapters.datapoints,
    config,
    mode: "plan",
    ...(io.wallTime !== undefined ? { wallTime: io.wallTime } : {}),
    ...(instances !== undefined ? { scope: instances } : {}),
  });
}

function renderStatus(rows: readonly StatusRow[], style: Style): string {
  if (rows.length === 0) return "No alarms match.\n";
  const stateText = (row: StatusRow) => {
    const label = row.state === "OK" ? style.green("OK") : row.state === "ALARM" ? style.red("ALARM") : style.yellow(row.state);
    return row.actionsEnabled ? label : `${label} ${style.dim("(actions disabled)")}`;
  };
  const table = renderTable(
    ["INSTANCE", "NAME", "PROCESS", "DETECTION", "STATE", "METRIC", "OWNER"],
    rows.map((row) => [
      row.instanceId,
      row.instanceName ?? "-",
      row.process,
      row.detection === "local" ? "local (+ host)" : (row.detection ?? "-"),
      stateText(row),
      row.metric === "reporting" ? "reporting" : `${style.red("no data")}: ${row.cause ?? ""}`,
      row.owner,
    ]),
    style,
  );
  const counts = { alarm: 0, noData: 0, disabled: 0 };
  for (const row of rows) {
    if (row.state === "ALARM") counts.alarm += 1;
    if (row.metric === "no data") counts.noData += 1;
    if (!row.actionsEnabled) counts.disabled += 1;
  }
  return `${table}${rows.length} alarm(s): ${counts.alarm} in ALARM, ${counts.noData} without data, ${counts.disabled} with actions disabled.\n`;
}

function progressBar(stream: OutputStream, style: Style): (progress: Progress) => void {
  let lastDrawn = 0;
  return (progress) => {
    if (progress.done < 0) {
      stream.write("\r\u001b[2K");
      return;
    }
    if (progress.phase !== "apply" || progress.total === 0) return;
    const now = performance.now();
    if (now - lastDrawn < 100 && progress.done < progress.total) return;
    lastDrawn = now;
    const width = 30;
    const filled = Math.round((progress.done / progress.total) * width);
    stream.write(`\r${style.cyan(`[${"#".repeat(filled)}${" ".repeat(width - filled)}]`)} ${progress.done}/${progress.total}`);
  };
}

function askOnTerminal(): (question: string) => Promise<boolean> {
  return async (question) => {
    const readline = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return (await readline.question(question)).trim() === "yes";
    } finally {
      readline.close();
    }
  };
}

/** The single error boundary: one line on stderr, a hint line, and the exit code (usage errors: `usageExitCode`). */
function reportError(error: unknown, io: CliIo, usageExitCode: 1 | 2): number {
  const write = (message: string, hint: string | undefined) => {
    io.stderr.write(`procwatch-fleet: ${oneLine(message)}\n`);
    if (hint !== undefined) io.stderr.write(`hint: ${hint}\n`);
  };
  if (error instanceof CommanderError) {
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
    // commander already printed its message; add the hint.
    io.stderr.write("hint: run `procwatch-fleet --help` for usage\n");
    return usageExitCode;
  }
  if (error instanceof ApplyFailedError) {
    write(error.message, error.hint);
    return 1;
  }
  if (error instanceof UsageError || error instanceof NotConfirmedError) {
    write(error.message, error.hint);
    return usageExitCode;
  }
  if (error instanceof FleetError) {
    write(error.message, error.hint);
    return 1;
  }
  if (error instanceof AdapterError) {
    write(error.message, adapterHint(error));
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  // Region and credentials are resolved up front (verifyAwsAccess); these catch what slips past.
  if (/region is missing/i.test(message)) {
    write("no AWS region configured", REGION_HINT);
    return usageExitCode;
  }
  if (error instanceof Error && (error.name === "CredentialsProviderError" || /credential/i.test(message))) {
    write(`no usable AWS credentials: ${message}`, CREDENTIALS_HINT);
    return 1;
  }
  write(message, "this looks like a bug; re-run with NODE_DEBUG=procwatch or report it");
  return 1;
}

/** Credentials that stopped working mid-run (expired SSO session or role credentials, a revoked key). */
const CREDENTIAL_ERROR_CODES = new Set([
  "CredentialsProviderError",
  "ExpiredToken",
  "ExpiredTokenException",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "SignatureDoesNotMatch",
]);

function adapterHint(error: AdapterError): string {
  if (error instanceof EndpointUnreachableError)
    return `AWS did not answer ${error.operation}: check the network, --region (or AWS_REGION) and AWS_ENDPOINT_URL`;
  if (error instanceof ThrottledError) return "AWS throttled the call; run again in a minute (the scheduled reconcile also retries)";
  if (error.retryable) return "AWS failed on its side; run again in a minute (the scheduled reconcile also retries)";
  if (CREDENTIAL_ERROR_CODES.has(error.code ?? "")) return CREDENTIALS_HINT;
  if (error.code === "AccessDenied" || error.code === "AccessDeniedException" || error.code === "UnauthorizedOperation") {
    return `the caller lacks permission for ${error.operation}; see the IAM section of the fleet-manager README`;
  }
  return `check the request parameters for ${error.operation}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").slice(0, 500);
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/**
 * The SDK prints a 7-line NodeVersionSupportWarning (Node < 22) when it builds a client, i.e.
 * before every run; the CLI states its own Node requirement in --help and the README instead.
 * An operator who wants the warning back sets the variable to anything but "true".
 */
export function quietSdkNodeVersionWarning(env: Record<string, string | undefined>): void {
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
}

if (invokedDirectly()) {
  quietSdkNodeVersionWarning(process.env);
  const exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdinIsTTY: process.stdin.isTTY === true,
  });
  process.exitCode = exitCode;
}
