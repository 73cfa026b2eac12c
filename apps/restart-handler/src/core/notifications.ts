import * as z from "zod";

/**
 * Amazon Q Developer in chat applications (AWS Chatbot) custom notification. Messages with the
 * same `metadata.threadId` thread together in Slack, which is how one incident reads as one story.
 */
export interface ChatbotNotification {
  readonly version: "1.0";
  readonly source: "custom";
  readonly id?: string;
  readonly content: {
    readonly textType: "client-markdown";
    readonly title: string;
    readonly description: string;
    readonly nextSteps?: readonly string[];
    readonly keywords?: readonly string[];
  };
  readonly metadata: {
    readonly threadId: string;
    readonly summary: string;
    readonly eventType: string;
    readonly relatedResources: readonly string[];
    readonly additionalContext?: Readonly<Record<string, string>>;
  };
}

/** The custom-notification shape, for tests and for anyone checking a payload before publishing. */
export const chatbotNotificationSchema = z.strictObject({
  version: z.literal("1.0"),
  source: z.literal("custom"),
  id: z.string().min(1).optional(),
  content: z.strictObject({
    textType: z.literal("client-markdown"),
    title: z.string().min(1).max(250),
    description: z.string().min(1).max(8000),
    nextSteps: z.array(z.string().min(1).max(500)).max(10).optional(),
    keywords: z.array(z.string().min(1).max(75)).max(10).optional(),
  }),
  metadata: z.strictObject({
    threadId: z.string().min(1).max(256),
    summary: z.string().min(1).max(500),
    eventType: z.string().min(1).max(100),
    relatedResources: z.array(z.string().regex(/^arn:/)).max(10),
    additionalContext: z.record(z.string(), z.string()).optional(),
  }),
});

/**
 * Makes text from tags, events or hosts inert in Slack mrkdwn: `&`, `<`, `>` are the only
 * characters Slack requires escaped (they form links and @channel mentions); control characters
 * and formatting markers are neutralised and the length bounded.
 */
export function escapeMarkdown(text: string, maxLength = 200): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
  const flat = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, " ");
  const bounded = flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
  return bounded
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/[`*_~]/g, (marker) => `\u200b${marker}`);
}

/** A Slack link; the URL is ours (console links), the label is escaped. */
export function link(url: string, label: string): string {
  return `<${url}|${escapeMarkdown(label, 120)}>`;
}

const SLACK_LINK = /<([^|>\s]+)\|([^>]*)>/g;

function unescapeEntities(text: string): string {
  return text
    .replace(/\u200b/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function plainText(markdown: string): string {
  return unescapeEntities(markdown.replace(SLACK_LINK, (_, url: string, label: string) => `${label} (${url})`).replace(/\*([^*\n]+)\*/g, "$1"));
}

/** Readable plain text for e-mail subscribers (SNS `email` protocol key). */
export function notificationToEmailText(notification: ChatbotNotification): string {
  const lines = [plainText(notification.content.title), "", plainText(notification.content.description)];
  const steps = notification.content.nextSteps ?? [];
  if (steps.length > 0) {
    lines.push("", "Next steps:");
    steps.forEach((step, index) => {
      lines.push(`  ${index + 1}. ${plainText(step)}`);
    });
  }
  lines.push("", `Thread: ${notification.metadata.threadId}`, `Event: ${notification.metadata.eventType}`);
  for (const resource of notification.metadata.relatedResources) lines.push(`Resource: ${resource}`);
  return `${lines.join("\n")}\n`;
}

/** SNS `Subject` (e-mail only): at most 100 printable ASCII characters, no line breaks. */
export function emailSubjectFor(notification: ChatbotNotification): string {
  const ascii = `[procwatch] ${notification.metadata.summary}`.replace(/[^\x20-\x7e]/g, "").replace(/\s+/g, " ");
  return ascii.length > 100 ? `${ascii.slice(0, 99)}~` : ascii;
}

/** Shows a notification roughly the way Slack renders it, for demos and terminal output. */
export function notificationToSlackText(notification: ChatbotNotification): string {
  const description = notification.content.description
    .replace(SLACK_LINK, (_, _url: string, label: string) => `[${label}]`)
    .split("\n")
    .map((line) => `│ ${unescapeEntities(line)}`);
  const steps = (notification.content.nextSteps ?? []).map(
    (step) => `│   • ${unescapeEntities(step.replace(SLACK_LINK, (_, _url: string, label: string) => `[${label}]`))}`,
  );
  return [
    `┌ ${unescapeEntities(notification.content.title)}`,
    ...description,
    ...(steps.length > 0 ? ["│ Next steps:", ...steps] : []),
    `└ thread ${notification.metadata.threadId} · ${notification.metadata.eventType}`,
  ].join("\n");
}
