import type { FleetBreakerSettings, FleetEntry, HeldCounts, TripReason } from "./fleet-breaker.ts";
import { type BreakerTrip, tally } from "./fleet-breaker.ts";
import { formatDuration, formatTime } from "./messages.ts";
import { type ChatbotNotification, escapeMarkdown } from "./notifications.ts";

/** Every message of one trip (rollup, resume) threads together. */
export function breakerThreadId(tripId: string): string {
  return `procwatch/fleet/breaker/${tripId}`;
}

const RESET = '`{"action":"reset-breaker","requestedBy":"you@example.com"}`';

function listCounts(values: readonly string[], limit: number): string {
  const counted = tally(values);
  const shown = counted.slice(0, limit).map(({ value, count }) => `\`${escapeMarkdown(value, 64)}\` ×${count}`);
  return counted.length > limit ? `${shown.join(", ")} and ${counted.length - limit} more` : shown.join(", ");
}

function reasonText(reason: TripReason, settings: FleetBreakerSettings): string {
  switch (reason) {
    case "restart-rate":
      return `more than ${settings.restartLimit} restarts across the fleet in ${settings.windowMinutes} min (\`FLEET_RESTART_LIMIT\`)`;
    case "no-data-rate":
      return `more than ${settings.noDataLimit} "no datapoints" alarms across the fleet in ${settings.windowMinutes} min (\`FLEET_NO_DATA_LIMIT\`): many hosts went quiet at once, which points at telemetry (CloudWatch agent, instance role, ingestion), not at the processes`;
    case "operator":
      return "an operator opened it";
  }
}

/** The one message of a trip: what the breaker saw, what it does now, how it ends. */
export function breakerTrippedMessage(trip: BreakerTrip, settings: FleetBreakerSettings, trips: number): ChatbotNotification {
  const seen: readonly FleetEntry[] = trip.seen;
  const hosts = new Set(seen.map((entry) => entry.instanceId));
  const noData = seen.filter((entry) => entry.signal === "no-data").length;
  const resumesAt = trip.trippedAt + settings.cooldownMinutes * 60_000;
  const description = [
    `*Why* ${reasonText(trip.reason, settings)}${trip.requestedBy !== undefined ? ` (${escapeMarkdown(trip.requestedBy, 128)})` : ""}.`,
    ...(seen.length > 0
      ? [
          `*Seen* ${seen.length} alarm(s) on ${hosts.size} host(s) in the last ${settings.windowMinutes} min: ${seen.length - noData} zero-count (the agent found no process), ${noData} no-data (no pid count arrived).`,
          `*Processes* ${listCounts(
            seen.map((entry) => entry.processName),
            8,
          )}`,
          `*Hosts* ${listCounts(
            seen.map((entry) => entry.instanceId),
            8,
          )}`,
        ]
      : []),
    `*Now* no restart commands and no per-alarm messages: every further ALARM is held back and only counted. Restarts already sent finish and report as usual.`,
    `*Resumes* by itself at ${formatTime(resumesAt)} (\`FLEET_BREAKER_COOLDOWN_MINUTES\` = ${settings.cooldownMinutes}), with a summary of what was held back in this thread; if the storm goes on it trips again.`,
    ...(trips > 1 ? [`*Trip* number ${trips} since this deployment started counting.`] : []),
  ];
  return {
    version: "1.0",
    source: "custom",
    id: `breaker-${trip.tripId}-tripped`,
    content: {
      textType: "client-markdown",
      title:
        trip.reason === "operator"
          ? ":no_entry: procwatch restarts paused fleet-wide by an operator"
          : `:no_entry: procwatch stopped restarting fleet-wide — ${seen.length} alarms on ${hosts.size} hosts (${noData} no-data)`,
      description: description.join("\n"),
      nextSteps: [
        trip.reason === "no-data-rate"
          ? "Check the telemetry path first: the CloudWatch agent on a few of these hosts (`amazon-cloudwatch-agent-ctl -a status`), instance-role policy changes, the CloudWatch service health."
          : "Find what these hosts share: a deploy, a patch run, a config change, the install association's CloudWatch agent upgrade.",
        "List the alarms still in ALARM: `procwatch-fleet status --state alarm`. CloudWatch does not send a held-back alarm again; the fleet manager re-evaluates alarms still in ALARM after REALARM_AFTER_MINUTES (default 30), and then they act, within the breaker's limits.",
        `Resume now: \`aws lambda invoke --function-name <restart-handler> --cli-binary-format raw-in-base64-out --payload '${RESET.slice(1, -1)}' out.json\`.`,
      ],
      keywords: ["procwatch", "fleet-breaker", trip.reason, "needs-human"],
    },
    metadata: {
      threadId: breakerThreadId(trip.tripId),
      summary: `procwatch breaker tripped: ${trip.reason}, ${seen.length} alarms on ${hosts.size} hosts`,
      eventType: "breaker-tripped",
      relatedResources: [],
      additionalContext: { tripId: trip.tripId, reason: trip.reason },
    },
  };
}

/** The breaker closed: by the cool-down, or by an operator's reset. Says what it held back. */
export function breakerResumedMessage(
  trip: BreakerTrip,
  held: HeldCounts,
  settings: FleetBreakerSettings,
  now: number,
  how: { operator?: string | undefined; byCooldown: boolean },
): ChatbotNotification {
  const by = how.byCooldown ? `after its ${settings.cooldownMinutes} min cool-down` : `reset by ${escapeMarkdown(how.operator ?? "an operator", 128)}`;
  return {
    version: "1.0",
    source: "custom",
    id: `breaker-${trip.tripId}-resumed`,
    content: {
      textType: "client-markdown",
      title: `:arrow_forward: procwatch restarts resumed fleet-wide (${by}) — ${held.total} alarm(s) were held back`,
      description: [
        `*Open* from ${formatTime(trip.trippedAt)} for ${formatDuration(now - trip.trippedAt)}.`,
        `*Held back* ${held.total} alarm(s) on ${held.hosts.length} host(s): ${held.zeroCount} zero-count, ${held.noData} no-data.`,
        ...(held.processes.length > 0
          ? [
              `*Processes* ${held.processes
                .slice(0, 20)
                .map((name) => `\`${escapeMarkdown(name, 64)}\``)
                .join(", ")}`,
            ]
          : []),
        `*Now* new ALARMs restart again, within \`FLEET_RESTART_LIMIT\` = ${settings.restartLimit} and \`FLEET_NO_DATA_LIMIT\` = ${settings.noDataLimit} per ${settings.windowMinutes} min.`,
      ].join("\n"),
      nextSteps: [
        "Held-back alarms still in ALARM act again when the fleet manager re-evaluates them (REALARM_AFTER_MINUTES after they went to ALARM, default 30); `procwatch-fleet status --state alarm` lists them, to restart one sooner by hand.",
      ],
      keywords: ["procwatch", "fleet-breaker", "resumed"],
    },
    metadata: {
      threadId: breakerThreadId(trip.tripId),
      summary: `procwatch breaker closed ${how.byCooldown ? "after cool-down" : "by an operator"}; ${held.total} alarms held back`,
      eventType: "breaker-resumed",
      relatedResources: [],
      additionalContext: { tripId: trip.tripId },
    },
  };
}
