import { formatIssue, type SpecIssue } from "@procwatch/contract";
import { type AlarmSignal, type AlarmSignalKind, describeAlarmSignal } from "./alarm-signal.ts";
import { alarmArnFor, alarmConsoleUrl, commandConsoleUrl, instanceArnFor, instanceConsoleUrl, logGroupConsoleUrl } from "./links.ts";
import type { AlarmState, CommandResultSummary, IncidentRecord } from "./model.ts";
import { type ChatbotNotification, escapeMarkdown, link } from "./notifications.ts";

/** Who, where and which incident: everything a message about one (instance, process) needs. */
export interface Story {
  readonly instanceId: string;
  readonly instanceName?: string;
  readonly processName: string;
  readonly unit?: string;
  readonly region: string;
  readonly accountId: string;
  readonly alarmName: string;
  readonly incidentId: string;
  readonly threadId: string;
  readonly budget: number;
  readonly windowMinutes: number;
  readonly commandLogGroup: string;
  readonly documentName: string;
}

export interface TransitionFacts {
  readonly state: AlarmState;
  readonly previousState?: AlarmState;
  readonly stateChangeTime: string;
  readonly reason: string;
  /** For an ALARM: whether the count fell to 0 or stopped arriving. */
  readonly signal?: AlarmSignal;
}

/** The thread says which kind of ALARM this was, so nobody reads "down" where the host only went quiet. */
function signalLine(transition: TransitionFacts): string[] {
  return transition.signal !== undefined && transition.state === "ALARM" ? [`*Signal* ${describeAlarmSignal(transition.signal)}.`] : [];
}

function isNoData(transition: TransitionFacts): boolean {
  return transition.signal?.kind === "no-data";
}

export function formatTime(iso: string | number): string {
  const date = new Date(iso);
  return Number.isFinite(date.getTime()) ? `${date.toISOString().slice(0, 19).replace("T", " ")} UTC` : String(iso);
}

export function formatDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

/** `*web-1* (\`i-0abc…\`)` — the Name tag is user text, so it is escaped. */
function hostLabel(story: Story): string {
  return story.instanceName !== undefined && story.instanceName !== ""
    ? `*${escapeMarkdown(story.instanceName, 80)}* (\`${story.instanceId}\`)`
    : `\`${story.instanceId}\``;
}

/** For titles: short, and escaped because titles render markdown too. */
function hostPlain(story: Story): string {
  return story.instanceName !== undefined && story.instanceName !== "" ? `${escapeMarkdown(story.instanceName, 40)} (${story.instanceId})` : story.instanceId;
}

function processLabel(story: Story): string {
  return story.unit !== undefined ? `\`${story.processName}\` (unit \`${story.unit}\`)` : `\`${story.processName}\``;
}

function alarmLine(story: Story, transition: TransitionFacts): string {
  const from = transition.previousState !== undefined ? `${transition.previousState} → ` : "";
  return `*Alarm* ${link(alarmConsoleUrl(story.region, story.alarmName), story.alarmName)} ${from}${transition.state} at ${formatTime(transition.stateChangeTime)}: ${escapeMarkdown(transition.reason, 300)}`;
}

function commandLink(story: Story, commandId: string): string {
  return link(commandConsoleUrl(story.region, commandId, story.instanceId), `command ${commandId}`);
}

function outputLink(story: Story): string {
  return link(logGroupConsoleUrl(story.region, story.commandLogGroup), `output in ${story.commandLogGroup}`);
}

function resources(story: Story): string[] {
  return [alarmArnFor(story.region, story.accountId, story.alarmName), instanceArnFor(story.region, story.accountId, story.instanceId)];
}

function notification(
  story: Story,
  eventType: string,
  title: string,
  summary: string,
  description: string[],
  nextSteps: string[],
  keywords: string[],
): ChatbotNotification {
  return {
    version: "1.0",
    source: "custom",
    id: `${story.incidentId}-${eventType}`,
    content: {
      textType: "client-markdown",
      title,
      description: description.join("\n"),
      ...(nextSteps.length > 0 ? { nextSteps } : {}),
      keywords: ["procwatch", story.processName, story.instanceId, ...keywords].slice(0, 10),
    },
    metadata: {
      threadId: story.threadId,
      summary,
      eventType,
      relatedResources: resources(story),
      additionalContext: { incidentId: story.incidentId, instanceId: story.instanceId, processName: story.processName },
    },
  };
}

function budgetLine(attempt: number, story: Story): string {
  return `attempt ${attempt} of ${story.budget} allowed in ${story.windowMinutes} min`;
}

export function restartStartedMessage(
  story: Story,
  transition: TransitionFacts,
  attempt: number,
  commandId: string,
  notes: readonly string[],
): ChatbotNotification {
  const last = attempt >= story.budget ? " — the last one before procwatch gives up" : "";
  const noData = isNoData(transition);
  return notification(
    story,
    "restart-started",
    noData
      ? `:large_orange_circle: no data from ${hostPlain(story)} for ${story.processName} — checking it, restarting if down (${attempt}/${story.budget})`
      : `:red_circle: ${story.processName} is down on ${hostPlain(story)} — restarting (${attempt}/${story.budget})`,
    noData
      ? `${story.processName} on ${story.instanceId}: no datapoints, check-and-restart ${attempt}/${story.budget} sent`
      : `${story.processName} down on ${story.instanceId}, restart ${attempt}/${story.budget} sent`,
    [
      noData
        ? `*Process* ${processLabel(story)} on ${hostLabel(story)}: the host sent no pid count, so procwatch does not know whether it runs. The restart command checks first and starts it only if it is down.`
        : `*Process* ${processLabel(story)} on ${hostLabel(story)} has no running instance.`,
      alarmLine(story, transition),
      ...signalLine(transition),
      `*Action* restart sent with \`${story.documentName}\`: ${commandLink(story, commandId)} (${budgetLine(attempt, story)}${last}).`,
      ...notes.map((note) => `*Note* ${note}`),
      `*Incident* \`${story.incidentId}\``,
    ],
    [
      "Wait for the result in this thread (usually under a minute).",
      `If it fails, read the ${outputLink(story)} and \`journalctl -u ${story.unit ?? `${story.processName}.service`}\` on the host.`,
    ],
    ["restart", transition.signal?.kind ?? "zero-count"],
  );
}

export function restartResultMessage(
  story: Story,
  attempt: number | undefined,
  commandId: string,
  result: CommandResultSummary,
  signal?: AlarmSignalKind,
): ChatbotNotification {
  const status = result.status;
  const succeeded = status.toLowerCase() === "success" && result.agent?.ok !== false;
  // A no-data alarm whose check found the process running: the process is fine, the pid count's
  // path to CloudWatch is not.
  const runningDespiteNoData = succeeded && signal === "no-data" && result.agent?.outcome === "already-running";
  const undeliverable = /undeliverable|deliverytimedout/i.test(status);
  const agent = result.agent;
  const pids =
    agent?.beforePids !== undefined || agent?.afterPids !== undefined
      ? `PIDs before \`${(agent?.beforePids ?? []).join(" ") || "none"}\` → after \`${(agent?.afterPids ?? []).join(" ") || "none"}\``
      : undefined;
  const title = runningDespiteNoData
    ? `:large_yellow_circle: ${story.processName} was running on ${hostPlain(story)} — the host stopped sending its pid count`
    : succeeded
      ? `:white_check_mark: ${story.processName} restarted on ${hostPlain(story)}`
      : `:x: restart of ${story.processName} on ${hostPlain(story)} ${undeliverable ? "never reached the host" : "failed"} (${status})`;
  const description = [
    `*Result* ${commandLink(story, commandId)} finished *${escapeMarkdown(status, 40)}*${result.statusDetails !== undefined && result.statusDetails !== status ? ` (${escapeMarkdown(result.statusDetails, 60)})` : ""} at ${formatTime(result.finishedAt)}${attempt !== undefined ? `, ${budgetLine(attempt, story)}` : ""}.`,
    ...(agent?.outcome !== undefined
      ? [`*Agent* outcome \`${escapeMarkdown(agent.outcome, 60)}\`${agent.message !== undefined ? `: ${escapeMarkdown(agent.message, 200)}` : ""}`]
      : []),
    ...(pids !== undefined ? [`*Process* ${pids}`] : []),
    `*Incident* \`${story.incidentId}\``,
  ];
  const nextSteps = runningDespiteNoData
    ? [
        "Check the CloudWatch agent on the host: `sudo amazon-cloudwatch-agent-ctl -a status` and `procwatch-agent health` (agent stopped, config without procwatch's fragment, or PutMetricData denied).",
        "The alarm returns to OK once datapoints arrive again; until then it stays in ALARM and sends nothing new.",
      ]
    : succeeded
      ? ["Nothing to do if the alarm returns to OK; a recovery message follows in this thread."]
      : undeliverable
        ? [
            "The SSM agent on the host did not pick the command up: check the instance is running and shows as Online in Fleet Manager.",
            `Open the ${link(instanceConsoleUrl(story.region, story.instanceId), "instance")} and its system log.`,
          ]
        : [
            `Read the ${outputLink(story)} for the agent's error.`,
            `On the host: \`systemctl status ${story.unit ?? `${story.processName}.service`}\` and \`journalctl -u ${story.unit ?? `${story.processName}.service`} -n 100\`.`,
          ];
  return notification(
    story,
    succeeded ? "restart-succeeded" : "restart-failed",
    title,
    `${story.processName} on ${story.instanceId}: restart ${status}`,
    description,
    nextSteps,
    [runningDespiteNoData ? "no-data" : succeeded ? "restarted" : "restart-failed"],
  );
}

export function gaveUpMessage(story: Story, transition: TransitionFacts, recent: readonly IncidentRecord[]): ChatbotNotification {
  const lines = recent.length === 0 ? ["  (no results recorded)"] : recent.map((incident, index) => `  ${index + 1}. ${attemptLine(story, incident)}`);
  return notification(
    story,
    "gave-up",
    `:octagonal_sign: gave up restarting ${story.processName} on ${hostPlain(story)} — needs a human`,
    `${story.processName} on ${story.instanceId}: restart budget used up, needs a human`,
    [
      isNoData(transition)
        ? `*Process* ${processLabel(story)} on ${hostLabel(story)}: the host stopped sending its pid count again.`
        : `*Process* ${processLabel(story)} on ${hostLabel(story)} is down again.`,
      alarmLine(story, transition),
      ...signalLine(transition),
      `*No restart sent*: ${story.budget} restarts were already sent in the last ${story.windowMinutes} min. Restarting in a loop hides the real fault.`,
      "*Last attempts*",
      ...lines,
      `*Incident* \`${story.incidentId}\``,
    ],
    [
      `Find out why ${story.processName} keeps dying: ${outputLink(story)}, \`journalctl -u ${story.unit ?? `${story.processName}.service`}\`.`,
      `Restarts resume by themselves ${story.windowMinutes} min after the last attempt.`,
      `Resume now: invoke the restart handler with \`{"action":"reset-budget","instanceId":"${story.instanceId}","processName":"${story.processName}"}\`.`,
    ],
    ["gave-up", "needs-human"],
  );
}

function attemptLine(story: Story, incident: IncidentRecord): string {
  const when = formatTime(incident.commandSentAt ?? incident.claimedAt);
  const command = incident.commandId !== undefined ? commandLink(story, incident.commandId) : "command not recorded";
  const result = incident.result;
  if (result === undefined) return `${when}: ${command}, no result yet`;
  const pids =
    result.agent?.afterPids !== undefined
      ? `, PIDs \`${(result.agent.beforePids ?? []).join(" ") || "none"}\` → \`${result.agent.afterPids.join(" ") || "none"}\``
      : "";
  return `${when}: ${command} *${escapeMarkdown(result.status, 40)}*${pids}`;
}

export type NotRestartedReason = "instance-gone" | "instance-not-running" | "tags-invalid" | "not-opted-in" | "spec-invalid" | "process-not-listed";

export function notRestartedMessage(
  story: Story,
  transition: TransitionFacts,
  reason: NotRestartedReason,
  explanation: string,
  issues: readonly SpecIssue[],
): ChatbotNotification {
  const steps: Record<NotRestartedReason, string[]> = {
    "instance-gone": ["Nothing to restart: the fleet manager deletes alarms of instances that no longer exist on its next run."],
    "instance-not-running": ["If the instance should run, start it; the fleet manager disables alarm actions for stopped instances."],
    "tags-invalid": ["Fix the procwatch tags listed above; until then procwatch does not restart anything on this instance."],
    "not-opted-in": [`Restarts are off for this instance. To turn them back on, tag it \`procwatch:enabled=true\`.`],
    "spec-invalid": ["Fix the tags or the profile listed above; until then procwatch does not restart anything on this instance."],
    "process-not-listed": [
      `If procwatch should watch ${story.processName} here, add it to \`procwatch:processes\` (or the profile); otherwise the fleet manager removes this alarm.`,
    ],
  };
  return notification(
    story,
    "not-restarted",
    `:warning: ${story.processName} is down on ${hostPlain(story)} — not restarted`,
    `${story.processName} down on ${story.instanceId}, not restarted: ${reason}`,
    [
      isNoData(transition)
        ? `*Process* ${processLabel(story)} on ${hostLabel(story)}: the host sent no pid count.`
        : `*Process* ${processLabel(story)} on ${hostLabel(story)} has no running instance.`,
      alarmLine(story, transition),
      ...signalLine(transition),
      `*No restart sent*: ${escapeMarkdown(explanation, 300)}`,
      ...issues.slice(0, 5).map((issue) => `  • ${escapeMarkdown(formatIssue(issue), 300)}`),
      `*Incident* \`${story.incidentId}\``,
    ],
    steps[reason],
    ["not-restarted", reason],
  );
}

export function recoveredMessage(
  story: Story,
  transition: TransitionFacts,
  downSince: string | undefined,
  incident: IncidentRecord | undefined,
): ChatbotNotification {
  const downFor = downSince !== undefined ? ` after ${formatDuration(Date.parse(transition.stateChangeTime) - Date.parse(downSince))} down` : "";
  const restart =
    incident?.commandId !== undefined
      ? `*Restart* ${commandLink(story, incident.commandId)}${incident.result !== undefined ? ` finished ${escapeMarkdown(incident.result.status, 40)}` : ""}.`
      : incident !== undefined
        ? `*Restart* none was sent for this incident (${incident.outcome}).`
        : undefined;
  return notification(
    story,
    "recovered",
    `:large_green_circle: ${story.processName} is running again on ${hostPlain(story)}`,
    `${story.processName} on ${story.instanceId} recovered`,
    [alarmLine(story, transition) + downFor, ...(restart !== undefined ? [restart] : []), `*Incident* \`${story.incidentId}\` closed.`],
    [],
    ["recovered"],
  );
}

export function insufficientDataMessage(story: Story, transition: TransitionFacts): ChatbotNotification {
  return notification(
    story,
    "insufficient-data",
    `:white_circle: no data for ${story.processName} on ${hostPlain(story)}`,
    `${story.processName} on ${story.instanceId}: alarm has insufficient data`,
    [alarmLine(story, transition), "*No restart sent*: procwatch restarts only on ALARM."],
    [
      "Check the CloudWatch agent runs on the host (`procwatch-agent health`) and publishes `procstat_lookup_pid_count`.",
      `Open the ${link(instanceConsoleUrl(story.region, story.instanceId), "instance")}.`,
    ],
    ["insufficient-data"],
  );
}

export function budgetResetMessage(story: Story, clearedAttempts: number, requestedBy: string | undefined): ChatbotNotification {
  return notification(
    story,
    "budget-reset",
    `:arrows_counterclockwise: restart budget reset for ${story.processName} on ${hostPlain(story)}`,
    `${story.processName} on ${story.instanceId}: restart budget reset`,
    [
      `*Budget* ${clearedAttempts} recent attempt(s) cleared${requestedBy !== undefined ? ` by ${escapeMarkdown(requestedBy, 128)}` : ""}; the next ALARM restarts ${processLabel(story)} again (up to ${story.budget} in ${story.windowMinutes} min).`,
    ],
    ["If the process is still down, the alarm stays in ALARM and sends nothing new: restart it by hand or wait for the next transition."],
    ["budget-reset"],
  );
}

/** HOST_RESTART_LIMIT reached: said once per host and window; the host's later refusals are silent. */
export function hostLimitedMessage(story: Story, transition: TransitionFacts, recent: number, limit: number, windowMinutes: number): ChatbotNotification {
  return notification(
    story,
    "host-limited",
    `:octagonal_sign: not restarting ${story.processName} on ${hostPlain(story)} — ${recent} restarts on this host in ${windowMinutes} min`,
    `${story.instanceId}: host restart limit ${limit} reached, ${story.processName} not restarted`,
    [
      isNoData(transition)
        ? `*Process* ${processLabel(story)} on ${hostLabel(story)}: the host sent no pid count.`
        : `*Process* ${processLabel(story)} on ${hostLabel(story)} has no running instance.`,
      alarmLine(story, transition),
      ...signalLine(transition),
      `*No restart sent*: procwatch already sent ${recent} restarts to this host in the last ${windowMinutes} min (limit \`HOST_RESTART_LIMIT\` = ${limit}). When many processes die on one host, the host is the problem: memory, disk, a reboot, a bad deploy.`,
      "Further processes that go down on this host in the window are not announced one by one.",
      `*Incident* \`${story.incidentId}\``,
    ],
    [
      `Look at the host: ${link(instanceConsoleUrl(story.region, story.instanceId), "instance")}, \`dmesg\` / \`journalctl -b\` (OOM killer, disk full, reboot).`,
      `Restarts on this host resume by themselves once fewer than ${limit} fall in the last ${windowMinutes} min.`,
      `Resume one process now: invoke the restart handler with \`{"action":"reset-budget","instanceId":"${story.instanceId}","processName":"${story.processName}"}\` and restart it by hand.`,
    ],
    ["host-limited", "needs-human"],
  );
}

/** SendCommand refused with InvalidInstanceId: SSM cannot reach the host, nothing was sent, no budget spent. */
export function unreachableMessage(story: Story, transition: TransitionFacts, refusal: string): ChatbotNotification {
  const noData = isNoData(transition);
  return notification(
    story,
    "host-unreachable",
    noData
      ? `:electric_plug: no data from ${hostPlain(story)} and SSM cannot reach it — ${story.processName} not restarted`
      : `:electric_plug: ${story.processName} is down on ${hostPlain(story)} and SSM cannot reach the host — not restarted`,
    `${story.processName} on ${story.instanceId}: SSM cannot reach the host, no restart sent`,
    [
      noData
        ? `*Host* ${hostLabel(story)} stopped sending the pid count of ${processLabel(story)}, and SSM does not reach it either: the host, its network or its agents are likely down.`
        : `*Process* ${processLabel(story)} on ${hostLabel(story)} has no running instance.`,
      alarmLine(story, transition),
      ...signalLine(transition),
      `*No restart sent*: SSM refused the restart command with \`InvalidInstanceId\` (${escapeMarkdown(refusal, 200)}): the instance is not registered with Systems Manager, its SSM Agent is not running or cannot reach the SSM endpoints, or it is not running.`,
      "*Budget* not spent: this attempt does not count against the restart budget.",
      `*Incident* \`${story.incidentId}\``,
    ],
    [
      "Check the node in Systems Manager → Fleet Manager: is it *Online*? If not: `sudo systemctl status amazon-ssm-agent` on the host, its instance role (`AmazonSSMManagedInstanceCore`), and its route to the ssm / ssmmessages / ec2messages endpoints.",
      `Open the ${link(instanceConsoleUrl(story.region, story.instanceId), "instance")} and its system log.`,
      `Restart ${story.processName} by hand; the next ALARM of this process is handled as usual.`,
    ],
    ["host-unreachable", "needs-human"],
  );
}

/** The sweep found a restart whose final status never arrived. */
export function stuckRestartMessage(story: Story, commandId: string, sentAt: number, status: string, now: number): ChatbotNotification {
  return notification(
    story,
    "restart-stuck",
    `:hourglass: restart of ${story.processName} on ${hostPlain(story)} has no result after ${formatDuration(now - sentAt)}`,
    `${story.processName} on ${story.instanceId}: restart result overdue (${status})`,
    [
      `*Restart* ${commandLink(story, commandId)} was sent at ${formatTime(sentAt)} and SSM still reports it *${escapeMarkdown(status, 40)}*: procwatch does not know whether ${processLabel(story)} runs.`,
      `*Incident* \`${story.incidentId}\``,
    ],
    [
      `Open the ${commandLink(story, commandId)} and the ${outputLink(story)}; a host that stopped mid-restart shows no output.`,
      `Check ${story.processName} on the host yourself. If the alarm is still in ALARM, procwatch gets no new alarm for it until it goes OK and fails again.`,
    ],
    ["restart-stuck", "needs-human"],
  );
}

/** The sweep found a restart reported done whose alarm never went OK. */
export function unrecoveredMessage(story: Story, commandId: string, finishedAt: number, now: number): ChatbotNotification {
  return notification(
    story,
    "not-recovered",
    `:warning: ${story.processName} on ${hostPlain(story)} is still in ALARM ${formatDuration(now - finishedAt)} after its restart`,
    `${story.processName} on ${story.instanceId}: still in ALARM after the restart`,
    [
      `*Restart* ${commandLink(story, commandId)} finished at ${formatTime(finishedAt)}, but the alarm never went back to OK: the process most likely died again before a datapoint saw it running (or the host stopped sending its pid count).`,
      "*No restart sent*: CloudWatch acts only on a state change, so while the alarm stays in ALARM procwatch gets no new alarm for it.",
      `*Incident* \`${story.incidentId}\``,
    ],
    [
      `On the host: \`systemctl status ${story.unit ?? `${story.processName}.service`}\`, \`journalctl -u ${story.unit ?? `${story.processName}.service`} -n 100\`, \`procwatch-agent health\`.`,
      "Fix the cause and restart it by hand; the alarm goes OK with the next datapoints.",
    ],
    ["not-recovered", "needs-human"],
  );
}
