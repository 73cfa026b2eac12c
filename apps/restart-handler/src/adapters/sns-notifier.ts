import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { type ChatbotNotification, emailSubjectFor, notificationToEmailText } from "../core/notifications.ts";
import { AwsCallError } from "../errors.ts";
import type { Notifier } from "../ports.ts";

/**
 * Publishes with `MessageStructure: "json"`: SNS then delivers the `email` key to e-mail
 * subscribers (readable text) and `default` to every other protocol. Chatbot subscribes over
 * HTTPS, so it receives `default`, the custom-notification JSON, as do Lambda/SQS subscribers.
 */
export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(notification: ChatbotNotification): Promise<void> {
    const message = snsMessageFor(notification);
    try {
      await this.sns.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          MessageStructure: "json",
          Message: message,
          Subject: emailSubjectFor(notification),
        }),
      );
    } catch (error) {
      throw new AwsCallError("Publish", error);
    }
  }
}

export function snsMessageFor(notification: ChatbotNotification): string {
  const chatbot = JSON.stringify(notification);
  return JSON.stringify({ default: chatbot, email: notificationToEmailText(notification), "email-json": chatbot });
}
