/**
 * `pnpm demo`: procwatch's whole loop on this machine, narrated. A real process dies, the real
 * agent sees it, the alarm the real fleet manager created fires, the real restart handler sends
 * the real restart document, the real agent binary restarts the process, and the Slack thread
 * prints. A second act runs the same kind of host with `detection=local`: the process is back
 * within about a second through procwatch's supervisor, and the report reaches Slack through the
 * host-reports queue. AWS is replaced by small stand-ins named for what they replace (see local-loop.ts).
 */
import { LocalLoop } from "./local-loop.ts";

const useColor = process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === "";
const bold = (text: string) => (useColor ? `\x1b[1m${text}\x1b[22m` : text);
const dim = (text: string) => (useColor ? `\x1b[2m${text}\x1b[22m` : text);
const indent = (text: string, prefix = "    ") =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => `${prefix}${line}`)
    .join("\n");

let stepNumber = 0;
function step(title: string): void {
  stepNumber += 1;
  console.log(`\n${bold(`${stepNumber}. ${title}`)}`);
}
function say(text: string): void {
  console.log(indent(text));
}

function expectOk(condition: boolean, what: string, detail: string): void {
  if (!condition) throw new Error(`${what}\n${detail}`);
}

async function main(): Promise<void> {
  const demoStarted = Date.now();
  const loop = new LocalLoop({ deliveries: 2, onSlackMessage: (rendered) => console.log(`\n${indent(rendered, "    │ ")}`) });
  const stop = async () => {
    await loop.cleanup();
  };
  process.once("SIGINT", () => {
    void stop().finally(() => process.exit(130));
  });

  try {
    console.log(bold("procwatch demo: a process dies on an EC2 host and is back within a minute, with the story in Slack."));
    console.log(dim(`work dir ${loop.workDir} (removed at the end); host = ${"i-0d3e0000000000001"}, in an in-memory AWS account whose CloudWatch is a model`));

    step(`procwatch-agent apply: render this host's procstat config for "${loop.processName}" and load it`);
    const applied = await loop.applySpec();
    expectOk(applied.exitCode === 0, "procwatch-agent apply failed", applied.stderr);
    const appliedJson = JSON.parse(applied.stdout) as { fragmentPath: string; digest: string };
    const fragment = await loop.agent(["render", "--spec", `${loop.workDir}/spec.json`]);
    say(`wrote ${appliedJson.fragmentPath} (${appliedJson.digest.slice(0, 19)}…) and reloaded the CloudWatch agent:`);
    say(dim(`amazon-cloudwatch-agent-ctl ${loop.ctlCalls().at(-1) ?? "(not called)"}`));
    say(fragment.stdout);

    step("Start the demo service through the agent's start-command backend");
    const started = JSON.parse((await loop.startService()).stdout) as { outcome: string; after: { pids: number[] } };
    say(`${started.outcome}: ${loop.processName} runs as pid ${started.after.pids.join(", ")}`);
    const healthy = await loop.agent(["health", "--spec", `${loop.workDir}/spec.json`]);
    say(healthy.stdout);

    step("The CloudWatch agent publishes the pid count (modelled from its source), from the real agent's health counts");
    await loop.startCloudWatchAgent();
    await loop.runFor(60_000);
    say(dim("one collection and one flush every 10 s of model time (fast profile); each collection samples `procwatch-agent health --json`"));

    step("procwatch-fleet apply: one alarm per (instance, process) from this host's tags");
    const plan = await loop.fleet(["plan"]);
    say(plan.stdout);
    const applyRun = await loop.fleet(["apply", "--yes"]);
    expectOk(applyRun.exitCode === 0, "procwatch-fleet apply failed", applyRun.stderr);
    const alarm = await loop.createdAlarm();
    say(
      `${alarm.AlarmName}: ${alarm.MetricName} ${alarm.Statistic} < ${alarm.Threshold} for ${alarm.DatapointsToAlarm} of ${alarm.EvaluationPeriods} × ${alarm.Period} s, missing data = ${alarm.TreatMissingData}, actions ${alarm.ActionsEnabled ? "on" : "off"}`,
    );
    say(dim(`dimensions: ${(alarm.Dimensions ?? []).map((dimension) => `${dimension.Name}=${dimension.Value}`).join(", ")}`));
    const settled = await loop.waitForAlarmState("OK");
    say(`CloudWatch (model) evaluates it: OK — ${settled.reason}`);

    step(`Kill ${loop.processName} (SIGKILL)`);
    const killedAt = loop.clock.now();
    const killed = await loop.killService();
    say(`killed pid ${killed.join(", ")}`);

    step("Detect: the model evaluates the alarm on the agent's datapoints; its ALARM action goes SNS → restart handler (delivered twice, as SNS may)");
    const detection = await loop.waitForAlarmState("ALARM");
    say(`pid counts collected: ${detection.samples.map((sample) => sample.pidCount).join(" → ")}  ⇒ ALARM`);
    say(dim(detection.reason));
    for (const summary of detection.handled) for (const item of summary.items) say(`handler: ${item.outcome} (${item.reason})`);
    const invocation = loop.runCommand.invocations.at(-1);
    expectOk(loop.runCommand.invocations.length === 1 && invocation !== undefined, "expected exactly one restart command", JSON.stringify(detection.handled));
    say(`SendCommand ${invocation?.request.DocumentName} ProcessName=${invocation?.request.Parameters.ProcessName?.join(",")} → ${invocation?.status}`);
    say(dim(invocation?.standardOutput.trim() ?? ""));

    step("The process is back; the model returns the alarm to OK and the thread gets the recovery");
    const recovered = await loop.waitForAlarmState("OK");
    const back = recovered.samples.at(-1);
    expectOk(back !== undefined && back.pidCount > 0 && !killed.some((pid) => back.pids.includes(pid)), "the process did not come back with a new pid", "");
    say(`${loop.processName} is running again as pid ${back?.pids.join(", ")} (was ${killed.join(", ")})`);

    step("Timings (model time, documented cadences; see pnpm bench for the distribution)");
    say(`kill → ALARM: ${(detection.afterMs / 1000).toFixed(0)} s`);
    say(`kill → restart command: ${(((invocation?.requestedAt.getTime() ?? killedAt) - killedAt) / 1000).toFixed(0)} s`);
    say(`kill → OK again: ${((loop.clock.now() - killedAt) / 1000).toFixed(0)} s`);
    say(`whole demo (wall clock): ${((Date.now() - demoStarted) / 1000).toFixed(1)} s`);
    const threads = loop.slack.threads();
    say(`Slack: ${loop.slack.messages.length} messages in ${threads.size} thread(s)`);
  } finally {
    await stop();
  }
  await localSupervisionAct();
}

/**
 * The second act: the same kind of host with `detection=local`. procwatch restarts the process on
 * the host in about 100 ms (here procwatch's own supervisor: there is no systemd in this sandbox),
 * no command is sent, and the restart reaches Slack through the host-reports queue.
 */
async function localSupervisionAct(): Promise<void> {
  const loop = new LocalLoop({ processName: "demo-local", detection: "local", onSlackMessage: (rendered) => console.log(`\n${indent(rendered, "    │ ")}`) });
  try {
    console.log(`\n${bold("Second act: detection=local — restarted on the host in milliseconds, the CloudWatch alarm as the backstop.")}`);
    step(`procwatch-agent apply with detection=local: procwatch's supervisor starts "${loop.processName}" as its child`);
    const applied = await loop.applySpec();
    expectOk(applied.exitCode === 0, "procwatch-agent apply failed", applied.stderr);
    const { localSupervision } = JSON.parse(applied.stdout) as { localSupervision: { backend: string; budget: { restarts: number; windowMinutes: number } } };
    const first = await loop.waitOnHost(
      "the supervisor's first start",
      async () => {
        const health = await loop.health();
        return health.pidCount === 1 ? health.pids : undefined;
      },
      5_000,
    );
    say(
      `${localSupervision.backend}: ${loop.processName} runs as pid ${first.value.join(", ")}; local budget ${localSupervision.budget.restarts} restarts in ${localSupervision.budget.windowMinutes} min`,
    );

    step(`Kill ${loop.processName} (SIGKILL) and watch the host bring it back`);
    const restart = await loop.killAndAwaitLocalRestart();
    say(
      `pid ${restart.killedPid} → ${restart.newPid}, seen by \`procwatch-agent health\` ${restart.afterMs} ms after the kill (wall clock); restart commands sent: ${loop.runCommand.invocations.length}`,
    );

    step("The restart is reported: spool → host-reports SQS queue (SenderId-bound) → restart handler → Slack");
    const reports = await loop.deliverHostReports(localSupervision.budget);
    expectOk(reports.length === 1, "expected one host report", JSON.stringify(reports.map((report) => report.event)));
    say(dim(`the supervisor measured ${reports[0]?.event.downMs} ms from exit to the new start; the message above is the only thing a report can cause`));
  } finally {
    await loop.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    console.error("hint: build the agent first with `pnpm --filter @procwatch/agent build`, then rerun `pnpm demo`");
    process.exit(1);
  },
);
