import type { AlarmDefinition } from "@procwatch/contract";
import type { AlarmState } from "./cloudwatch-alarm-evaluator.ts";

/**
 * Builds the alarm notification exactly as CloudWatch publishes it to SNS and SNS hands it to
 * a Lambda (the shape of shared/fixtures/sns-alarm-event.json): `Records[].Sns.Message` is a
 * JSON *string*, dimensions are `{value, name}` pairs, timestamps use `+0000`.
 */
export interface AlarmTransition {
  readonly definition: AlarmDefinition;
  readonly newState: AlarmState;
  readonly oldState: AlarmState;
  readonly reason: string;
  readonly at: Date;
  readonly region: string;
  readonly accountId: string;
  readonly topicArn: string;
}

const REGION_NAMES: Readonly<Record<string, string>> = {
  "eu-west-1": "EU (Ireland)",
  "us-east-1": "US East (N. Virginia)",
  "ap-northeast-2": "Asia Pacific (Seoul)",
};

function cloudwatchTimestamp(at: Date): string {
  return at.toISOString().replace("Z", "+0000");
}

export function alarmNotificationMessage(transition: AlarmTransition): string {
  const { definition } = transition;
  return JSON.stringify({
    AlarmName: definition.AlarmName,
    AlarmDescription: definition.AlarmDescription,
    AWSAccountId: transition.accountId,
    AlarmConfigurationUpdatedTimestamp: cloudwatchTimestamp(new Date(transition.at.getTime() - 60_000)),
    NewStateValue: transition.newState,
    NewStateReason: transition.reason,
    StateChangeTime: cloudwatchTimestamp(transition.at),
    Region: REGION_NAMES[transition.region] ?? transition.region,
    AlarmArn: `arn:aws:cloudwatch:${transition.region}:${transition.accountId}:alarm:${definition.AlarmName}`,
    OldStateValue: transition.oldState,
    OKActions: definition.OKActions,
    AlarmActions: definition.AlarmActions,
    InsufficientDataActions: definition.InsufficientDataActions,
    Trigger: {
      MetricName: definition.MetricName,
      Namespace: definition.Namespace,
      StatisticType: "Statistic",
      Statistic: definition.Statistic.toUpperCase(),
      Unit: null,
      Dimensions: definition.Dimensions.map((dimension) => ({ value: dimension.Value, name: dimension.Name })),
      Period: definition.Period,
      EvaluationPeriods: definition.EvaluationPeriods,
      DatapointsToAlarm: definition.DatapointsToAlarm,
      ComparisonOperator: definition.ComparisonOperator,
      Threshold: definition.Threshold,
      TreatMissingData: definition.TreatMissingData,
      EvaluateLowSampleCountPercentile: "",
    },
  });
}

export function snsAlarmEvent(transition: AlarmTransition, messageId: string) {
  const subject = `${transition.newState}: "${transition.definition.AlarmName}" in ${REGION_NAMES[transition.region] ?? transition.region}`;
  return {
    Records: [
      {
        EventSource: "aws:sns",
        EventVersion: "1.0",
        EventSubscriptionArn: `${transition.topicArn}:1081a4ec-a46b-4aff-8de7-51a915148168`,
        Sns: {
          Type: "Notification",
          MessageId: messageId,
          TopicArn: transition.topicArn,
          // SNS caps subjects at 100 characters.
          Subject: subject.slice(0, 100),
          Message: alarmNotificationMessage(transition),
          Timestamp: new Date(transition.at.getTime() + 63).toISOString(),
          SignatureVersion: "1",
          Signature: "LOCAL-DEMO-UNSIGNED",
          SigningCertUrl: `https://sns.${transition.region}.amazonaws.com/SimpleNotificationService-local.pem`,
          UnsubscribeUrl: `https://sns.${transition.region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${transition.topicArn}:local`,
          MessageAttributes: {},
        },
      },
    ],
  };
}
