import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { DEFAULT_LOCK_WAIT_SECONDS, runApply } from "./commands/apply.ts";
import { runHealth } from "./commands/health.ts";
import { runLocalEvent } from "./commands/local-event.ts";
import { type Output, printJson, processOutput } from "./commands/output.ts";
import { runRemove } from "./commands/remove.ts";
import { runRender } from "./commands/render.ts";
import { runRestart } from "./commands/restart.ts";
import { runSupervise } from "./commands/supervise.ts";
import { runVersion } from "./commands/version.ts";
import { AgentError, SpecInvalidError } from "./errors.ts";
import type { AtomicWriteStage } from "./io/atomic-write.ts";
import { DEFAULT_DETECTION_ENV, type PathFlags, resolveDefaultDetection, resolveSettings } from "./settings.ts";
import { wire } from "./wiring.ts";

/**
 * The CLI and its single error boundary: every failure becomes one `error:` line and one
 * `hint:` line on stderr (with --json also a JSON error object on stdout) and an exit code —
 * 0 ok, 1 failure, 2 usage. `health` returns 0 healthy / 1 degraded / 2 failing.
 */
const EXAMPLES = `
Examples:
  $ procwatch-agent render --spec /etc/procwatch/spec.json     print the fragment for a local spec document
  $ procwatch-agent render --processes "nginx sshd"            spec from flags (tag grammar)
  $ procwatch-agent apply --json                                spec from this instance's tags (IMDSv2) or its profile
  $ procwatch-agent health                                      table of watched processes; exit 0/1/2
  $ procwatch-agent health --json | jq .status
  $ procwatch-agent restart --process nginx --json             restart an allow-listed process and verify it
  $ procwatch-agent remove --json                              take procwatch's fragment out of the CloudWatch agent, delete the allow-list

Environment:
  PROCWATCH_STATE_DIR     allow-list and agent.json directory (default /etc/procwatch)
  PROCWATCH_CWAGENT_DIR   CloudWatch agent directory (default /opt/aws/amazon-cloudwatch-agent)
  PROCWATCH_CWAGENT_CTL   path of amazon-cloudwatch-agent-ctl (default: <cwagent-dir>/bin, then PATH)
  PROCWATCH_DEFAULT_DETECTION  deployment default detection profile, standard or fast (render/apply/health)
  NO_COLOR                disable colour`;

function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return number;
  };
}

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new InvalidArgumentError("expected whole seconds from 1 to 3600");
  return seconds;
}

function addPathOptions(command: Command): Command {
  return command
    .option("--state-dir <dir>", "directory of allow-list.json and agent.json (env PROCWATCH_STATE_DIR)")
    .option("--cwagent-dir <dir>", "CloudWatch agent install directory (env PROCWATCH_CWAGENT_DIR)")
    .option("--cwagent-ctl <path>", "amazon-cloudwatch-agent-ctl to run (env PROCWATCH_CWAGENT_CTL)")
    .option(
      "--fragment-path <path>",
      "where the procstat fragment lives (default <state-dir>/procwatch.json; append-config installs it as amazon-cloudwatch-agent.d/file_procwatch.json)",
    );
}

function addSpecOptions(command: Command): Command {
  return command
    .option("--spec <file>", "local spec document (JSON, same format as a fleet profile); skips tags")
    .option("--processes <names>", 'space-separated process names, as in the procwatch:processes tag, e.g. "nginx sshd"')
    .option("--profile <name>", "named fleet profile in SSM Parameter Store (/procwatch/profiles/<name>)")
    .addOption(new Option("--detection <profile>", "detection profile for this host, as the procwatch:detection tag").choices(["standard", "fast"]))
    .addOption(
      new Option(
        "--default-detection <profile>",
        `deployment default when neither tags/--detection nor the profile or --spec document set one (env ${DEFAULT_DETECTION_ENV}, default standard)`,
      ).choices(["standard", "fast"]),
    )
    .option("--namespace <namespace>", "CloudWatch metric namespace (default CWAgent)")
    .option("--tag-prefix <prefix>", "tag key prefix (default procwatch)")
    .option("--region <region>", "AWS region for DescribeTags/GetParameter (default from AWS_REGION or instance metadata)")
    .option("--json", "print machine-readable JSON");
}

export interface CliIo {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdoutIsTty: boolean;
  /** Defaults to the process's stdout/stderr; tests pass a recorder. */
  readonly output?: Output;
}

export async function runCli(io: CliIo): Promise<number> {
  let exitCode = 0;
  const jsonRequested = io.argv.includes("--json");
  const early = resolveSettings({}, io.env, io.stdoutIsTty);
  const output: Output = io.output ?? processOutput(early.color);

  const settingsFor = (flags: PathFlags) => resolveSettings(flags, io.env, io.stdoutIsTty);
  const specFlagsFor = <Flags extends { defaultDetection?: string }>(flags: Flags) => ({
    ...flags,
    defaultDetection: resolveDefaultDetection(flags.defaultDetection, io.env),
  });
  const faultPointFor = (fault: string | undefined) =>
    fault === "crash-before-rename"
      ? (stage: AtomicWriteStage) => {
          // Test-only (PROCWATCH_TEST_FAULT): die the hardest way at the worst moment to prove the old file survives.
          if (stage === "after-write-before-rename") process.kill(process.pid, "SIGKILL");
        }
      : undefined;

  const program = new Command("procwatch-agent")
    .description("procwatch host agent: renders the CloudWatch agent procstat fragment, reports health, restarts allow-listed processes.")
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.stdout(text), writeErr: (text) => output.stderr(text) })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", EXAMPLES);

  addSpecOptions(addPathOptions(program.command("render").description("print the CloudWatch agent config fragment for this host's process spec")))
    .addHelpText("after", "\nSpec sources, in order: --spec FILE or flags; instance tags (IMDSv2, then EC2 DescribeTags); the named profile in SSM.")
    .action(async (flags) => {
      exitCode = await runRender(specFlagsFor(flags), wire(settingsFor(flags)), output);
    });

  addSpecOptions(
    addPathOptions(program.command("apply").description("write the fragment atomically, reload the CloudWatch agent if it changed, write the allow-list")),
  )
    .addOption(new Option("--mode <mode>", "append-config mode").choices(["auto", "ec2", "onPremise"]).default("auto"))
    .option("--lock-wait <seconds>", `how long to wait while another apply holds the lock (default ${DEFAULT_LOCK_WAIT_SECONDS})`, positiveSeconds)
    .option(
      "--local-restarts <n>",
      "local supervision budget: restarts systemd may make on its own per window before it escalates (default 3)",
      wholeNumber(1, 100),
    )
    .option("--local-window-minutes <m>", "local supervision budget window (default 30)", wholeNumber(1, 1440))
    .action(async (flags) => {
      const settings = settingsFor(flags);
      exitCode = await runApply(specFlagsFor(flags), wire(settings), output, faultPointFor(settings.testFault));
    });

  addSpecOptions(addPathOptions(program.command("health").description("pid count, CPU and RSS of every watched process; CloudWatch agent and fragment status")))
    .option("--host-facts", "add OS, CPU and memory facts (systeminformation)")
    .option("--mark-reported", "count the local restarts and escalations shown as reported: the next health shows only newer ones")
    .addHelpText("after", "\nExit codes: 0 healthy, 1 degraded, 2 failing (a watched process is down).")
    .action(async (flags) => {
      exitCode = await runHealth(specFlagsFor(flags), wire(settingsFor(flags)), output);
    });

  addPathOptions(program.command("restart").description("restart an allow-listed process (systemd, or a start command from agent.json) and verify it is back"))
    .requiredOption("--process <name>", "process name as on the allow-list")
    .option("--force", "restart even when the process is running (default: do nothing if it runs)")
    .option("--timeout <seconds>", "how long to wait for the process to come back", positiveSeconds, 30)
    .addOption(new Option("--backend <backend>", "restart mechanism").choices(["auto", "systemd", "start-command"]).default("auto"))
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  $ procwatch-agent restart --process nginx --json")
    .action(async (flags) => {
      exitCode = await runRestart(flags, settingsFor(flags), output);
    });

  addPathOptions(
    program.command("remove").description("remove procwatch's fragment from the CloudWatch agent (other fragments stay) and the allow-list; idempotent"),
  )
    .addOption(new Option("--mode <mode>", "remove-config mode").choices(["auto", "ec2", "onPremise"]).default("auto"))
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExit 0 also when there is nothing to remove. agent.json (operator-owned) is kept.")
    .action(async (flags) => {
      exitCode = await runRemove(flags, wire(settingsFor(flags)), output);
    });

  addPathOptions(
    program
      .command("local-event <kind>", { hidden: true })
      .description("record a local restart (started) or a local give-up (escalated); run by procwatch's systemd drop-ins, not by hand"),
  )
    .requiredOption("--process <name>", "process name as on the allow-list")
    .option("--unit <unit>", "the unit, as systemd names it (%n)")
    .action(async (kind: string, flags) => {
      exitCode = await runLocalEvent(kind, flags, settingsFor(flags), output);
    });

  addPathOptions(
    program
      .command("supervise", { hidden: true })
      .description("supervise a local start-command process as its parent (started by apply on hosts without systemd, not by hand)"),
  )
    .requiredOption("--process <name>", "process name as on the allow-list")
    .requiredOption("--restarts <n>", "local budget: restarts per window", wholeNumber(1, 10_000))
    .requiredOption("--window-minutes <m>", "local budget window", wholeNumber(1, 1440))
    .action(async (flags) => {
      exitCode = await runSupervise(flags, settingsFor(flags), output);
    });

  program
    .command("version")
    .description("print the agent version, Node version and architecture")
    .option("--json", "print machine-readable JSON")
    .action((flags: { json?: boolean }) => {
      exitCode = runVersion(flags, output);
    });

  try {
    await program.parseAsync([...io.argv], { from: "user" });
    return exitCode;
  } catch (error) {
    return reportError(error, output, jsonRequested);
  }
}

function reportError(error: unknown, output: Output, json: boolean): number {
  if (error instanceof CommanderError) {
    // Help and --version are "errors" only to commander's control flow.
    if (error.code === "commander.helpDisplayed" || error.code === "commander.help" || error.code === "commander.version") return 0;
    return 2;
  }
  const known = error instanceof AgentError ? error : null;
  const message = known?.message ?? (error instanceof Error ? error.message : String(error));
  const hint = known?.hint ?? "this is a bug in procwatch-agent; please report it with the command line used";
  const exitCode = known?.exitCode ?? 1;
  if (json) {
    printJson(output, {
      ok: false,
      error: {
        type: known?.name ?? "InternalError",
        message,
        hint,
        retryable: known?.retryable ?? false,
        ...(error instanceof SpecInvalidError ? { issues: error.issues } : {}),
      },
    });
  }
  output.stderr(`error: ${message}`);
  if (error instanceof SpecInvalidError) for (const line of error.detailLines()) output.stderr(`  - ${line}`);
  output.stderr(`hint: ${hint}`);
  return exitCode;
}
