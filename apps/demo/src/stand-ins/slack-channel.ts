import { type ChatbotNotification, chatbotNotificationSchema, type Notifier, notificationToSlackText } from "@procwatch/restart-handler";

/**
 * Stands in for SNS → AWS Chatbot → Slack: keeps every notification the handler publishes,
 * checks it against the custom-notification schema Chatbot accepts, and renders it the way the
 * channel would show it, grouped by thread.
 */
export class SlackChannel implements Notifier {
  readonly messages: ChatbotNotification[] = [];

  constructor(private readonly onMessage: (rendered: string, notification: ChatbotNotification) => void = () => {}) {}

  async publish(notification: ChatbotNotification): Promise<void> {
    chatbotNotificationSchema.parse(notification);
    this.messages.push(notification);
    this.onMessage(notificationToSlackText(notification), notification);
  }

  threads(): Map<string, ChatbotNotification[]> {
    const threads = new Map<string, ChatbotNotification[]>();
    for (const message of this.messages) {
      const threadId = message.metadata?.threadId ?? "(no thread)";
      threads.set(threadId, [...(threads.get(threadId) ?? []), message]);
    }
    return threads;
  }
}
