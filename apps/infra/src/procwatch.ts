import { join } from "node:path";
import { type DeploymentSettings, deploymentParameterName } from "@procwatch/contract";
import { loadDocument, SSM_DOCUMENT_NAMES, type SsmDocumentKind } from "@procwatch/ssm-documents";
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { LoggingLevel as ChatbotLoggingLevel, SlackChannelConfiguration } from "aws-cdk-lib/aws-chatbot";
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { AttributeType, BillingMode, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { Match, Rule, RuleTargetInput, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction as LambdaTarget } from "aws-cdk-lib/aws-events-targets";
import { InstanceProfile, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { Architecture, LoggingFormat, Runtime } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { type ICommandHooks, NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { type CfnLogGroup, LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Asset } from "aws-cdk-lib/aws-s3-assets";
import { Topic } from "aws-cdk-lib/aws-sns";
import { LambdaSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { CfnAssociation, CfnDocument, StringParameter } from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import {
  DEFAULT_AGENT_ARTIFACTS_DIR,
  DEPS_LOCK_FILE,
  LAMBDA_ENTRIES,
  locateAgentArtifacts,
  PROJECT_ROOT,
  RESTART_HANDLER_BUNDLER,
  requireLambdaEntry,
} from "./build-outputs.ts";
import { type ProcWatchSettings, type ResolvedProcWatchSettings, resolveProcWatchSettings } from "./config.ts";
import { PROCWATCH_METRIC_NAMESPACE, PROCWATCH_METRICS, PROCWATCH_SERVICE_NAMES } from "./metrics.ts";

export interface ProcWatchProps extends ProcWatchSettings {
  /** Directory holding procwatch-agent-linux-x64 and -arm64 (default: apps/agent/dist of this repo). */
  readonly agentArtifactsDir?: string;
  /** Lambda entry files; default to the restart-handler and fleet-manager apps of this repo. */
  readonly restartHandlerEntry?: string;
  readonly fleetManagerEntry?: string;
  /** Log retention of the Lambdas and the restart command output. */
  readonly logRetention?: RetentionDays;
}

/** Namespace the CloudWatch agent publishes procstat metrics to (the contract's default). */
const CWAGENT_NAMESPACE = "CWAgent";
/**
 * How long the fleet manager keeps a new alarm's actions off while its series does not report:
 * the configure association runs every 30 minutes, so a newly opted-in host reports within ~35.
 */
const FLEET_ARMING_GRACE_MINUTES = 45;
const ROLLOUT_RATE = { maxConcurrency: "10%", maxErrors: "10%" } as const;

/**
 * Everything procwatch runs in an account: the restart and notification topics, the restart
 * handler and fleet manager Lambdas with their event rules, the Slack channel, the SSM documents
 * with the State Manager associations that roll the agent out to opted-in instances, the instance
 * policy, and a dashboard. Drop it into any stack; `ProcWatchStack` is the ready-made one.
 */
export class ProcWatch extends Construct {
  readonly settings: ResolvedProcWatchSettings;
  readonly key: Key;
  /** Alarm ALARM/OK actions go here; it invokes the restart handler. */
  readonly restartTopic: Topic;
  /** The restart handler posts every Slack message here (AWS Chatbot custom notifications). */
  readonly notificationTopic: Topic;
  readonly stateTable: Table;
  readonly restartHandler: NodejsFunction;
  readonly fleetManager: NodejsFunction;
  readonly deadLetterQueue: Queue;
  /** Hosts' local-supervision reports (`procwatch-agent local-event`) → the restart handler: messages only. */
  readonly hostReportQueue: Queue;
  readonly documents: Readonly<Record<SsmDocumentKind, CfnDocument>>;
  readonly documentNames: Readonly<Record<SsmDocumentKind, string>>;
  readonly installAssociation: CfnAssociation;
  readonly configureAssociation: CfnAssociation;
  /** Attach to the instance role of every host procwatch watches. */
  readonly instancePolicy: ManagedPolicy;
  readonly instanceRole?: Role;
  readonly instanceProfile?: InstanceProfile;
  readonly commandLogGroup: LogGroup;
  /** `/procwatch/deployments/<alarmPrefix>`: the settings procwatch-fleet uses as its defaults. */
  readonly deploymentParameter: StringParameter;
  readonly slackChannel?: SlackChannelConfiguration;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ProcWatchProps = {}) {
    super(scope, id);
    const settings = resolveProcWatchSettings(props);
    this.settings = settings;
    const stack = Stack.of(this);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const artifacts = locateAgentArtifacts(props.agentArtifactsDir ?? DEFAULT_AGENT_ARTIFACTS_DIR);

    // ---- encryption and topics -------------------------------------------------------------
    this.key = new Key(this, "Key", {
      description: "procwatch: encrypts the restart and notification topics",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted topics (procwatch alarms to the restart topic,
    // procwatch's own health alarms to the notification topic), so the service needs the key.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowCloudWatchAlarmsToUseTheKey",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
    );

    this.restartTopic = new Topic(this, "RestartTopic", { displayName: "procwatch restart requests", masterKey: this.key, enforceSSL: true });
    this.notificationTopic = new Topic(this, "NotificationTopic", { displayName: "procwatch notifications", masterKey: this.key, enforceSSL: true });
    const alarmArnPrefix = `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:`;
    this.restartTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowProcwatchAlarms",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.restartTopic.topicArn],
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID }, ArnLike: { "aws:SourceArn": `${alarmArnPrefix}${settings.alarmPrefix}/*` } },
      }),
    );
    this.notificationTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowProcwatchAlarms",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.notificationTopic.topicArn],
        // procwatch's own alarms only: the per-process ones and the `<prefix>-ops/*` alarms about procwatch itself.
        conditions: {
          StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID },
          ArnLike: { "aws:SourceArn": [`${alarmArnPrefix}${settings.alarmPrefix}/*`, `${alarmArnPrefix}${settings.alarmPrefix}-ops/*`] },
        },
      }),
    );

    // ---- state and failure capture -----------------------------------------------------------
    this.stateTable = new Table(this, "RestartStateTable", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: "expiresAt",
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // Restart budgets and incident ledgers outlive a stack replacement on purpose.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the dead-letter queue of the Lambdas and event-rule targets.",
    });

    // Local restarts (`detection=local`) are reported by the host itself. Every opted-in host may
    // SendMessage here and nothing else; SQS stamps each message with its signer (SenderId =
    // <role-id>:<instance-id> for an instance profile), which the handler compares with the
    // instance the report names. SQS-managed SSE: a KMS key would need kms:GenerateDataKey on the
    // instance role too. Short retention: a report older than a day is no news anymore.
    this.hostReportQueue = new Queue(this, "HostReportQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(1),
      // Six times the handler's timeout (AWS's advice for an SQS event source).
      visibilityTimeout: Duration.minutes(6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });

    // No fixed name: the group is retained on `cdk destroy` (it holds what restarts printed), and a
    // fixed name would make the next deployment fail on the retained group. CloudFormation's
    // generated name is new for each deployment; the handler gets it, the stack outputs it.
    this.commandLogGroup = new LogGroup(this, "RestartCommandLogs", {
      retention: logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- SSM documents -----------------------------------------------------------------------
    const documentNames = {
      install: documentName(settings, "install"),
      configure: documentName(settings, "configure"),
      restart: documentName(settings, "restart"),
      uninstall: documentName(settings, "uninstall"),
    };
    this.documentNames = documentNames;
    const makeDocument = (kind: SsmDocumentKind, id: string) =>
      new CfnDocument(this, id, {
        name: documentNames[kind],
        documentType: "Command",
        documentFormat: "JSON",
        content: loadDocument(kind).content,
        // Named documents cannot be replaced in place; a new version becomes the default version.
        updateMethod: "NewVersion",
      });
    this.documents = {
      install: makeDocument("install", "InstallDocument"),
      configure: makeDocument("configure", "ConfigureDocument"),
      restart: makeDocument("restart", "RestartDocument"),
      // Run on demand only (README "Remove everything"): no association, so nothing removes procwatch by itself.
      uninstall: makeDocument("uninstall", "UninstallDocument"),
    };
    const restartDocumentArn = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:document/${documentNames.restart}`;

    // ---- Lambdas ---------------------------------------------------------------------------
    const restartEntry = props.restartHandlerEntry ?? requireLambdaEntry(LAMBDA_ENTRIES.restartHandler);
    const fleetEntry = props.fleetManagerEntry ?? requireLambdaEntry(LAMBDA_ENTRIES.fleetManager);

    this.restartHandler = this.lambda("RestartHandler", {
      entry: restartEntry,
      description: "procwatch: alarm -> budget check -> SSM restart -> verified result -> Slack",
      timeout: Duration.seconds(60),
      // A burst of 500 alarms queues in Lambda's async queue instead of 500 parallel invocations:
      // at most 5 DescribeInstances / SendCommand calls in flight (EC2's non-mutating bucket
      // refills 20/s), and at most 5 writers contending for the fleet breaker's item. The breaker
      // bounds how many commands go out at all (FLEET_RESTART_LIMIT per FLEET_WINDOW_MINUTES).
      reservedConcurrentExecutions: 5,
      logRetention,
      // ~640 KiB instead of ~1170 KiB, and about half the module init time: see RESTART_HANDLER_BUNDLER.
      commandHooks: rebundleRestartHandler(),
      environment: {
        RESTART_DOCUMENT_NAME: documentNames.restart,
        NOTIFICATION_TOPIC_ARN: this.notificationTopic.topicArn,
        STATE_TABLE_NAME: this.stateTable.tableName,
        RESTART_BUDGET: String(settings.restartBudget),
        RESTART_WINDOW_MINUTES: String(settings.restartWindowMinutes),
        ALARM_PREFIX: settings.alarmPrefix,
        TAG_PREFIX: settings.tagPrefix,
        COMMAND_TIMEOUT_SECONDS: "120",
        COMMAND_LOG_GROUP: this.commandLogGroup.logGroupName,
        POWERTOOLS_SERVICE_NAME: PROCWATCH_SERVICE_NAMES.restartHandler,
        POWERTOOLS_METRICS_NAMESPACE: PROCWATCH_METRIC_NAMESPACE,
      },
    });
    this.fleetManager = this.lambda("FleetManager", {
      entry: fleetEntry,
      description: "procwatch: reconciles one alarm per (instance, process) with the instances' tags",
      // A full reconcile of a large fleet is paced by PutMetricAlarm's 3 TPS quota.
      timeout: Duration.minutes(15),
      // A full reconcile holds every alarm, the desired state and the plan at once: measured
      // (pnpm bench, fleet-manager memory figures) ≈ 520 MiB at 50,000 alarms and ≈ 870 MiB at
      // 100,000. 2048 MB keeps that under half of the function's memory.
      memorySize: 2048,
      // One reconcile at a time: each container paces itself at the account's quotas, so two
      // would exceed them, and an older scheduled plan could re-create alarms an event run just
      // deleted. Events that arrive meanwhile are throttled and retried by Lambda's async queue.
      reservedConcurrentExecutions: 1,
      logRetention,
      environment: {
        ALARM_PREFIX: settings.alarmPrefix,
        TAG_PREFIX: settings.tagPrefix,
        RESTART_TOPIC_ARN: this.restartTopic.topicArn,
        METRIC_NAMESPACE: CWAGENT_NAMESPACE,
        DEFAULT_DETECTION_PROFILE: settings.detectionProfile,
        ARMING_GRACE_MINUTES: String(FLEET_ARMING_GRACE_MINUTES),
        // An alarm still in ALARM acts again once the restart budget's window has passed.
        REALARM_AFTER_MINUTES: String(settings.restartWindowMinutes),
        POWERTOOLS_SERVICE_NAME: PROCWATCH_SERVICE_NAMES.fleetManager,
        POWERTOOLS_METRICS_NAMESPACE: PROCWATCH_METRIC_NAMESPACE,
      },
    });
    this.grantRestartHandler(restartDocumentArn);
    this.grantFleetManager(alarmArnPrefix);

    // ---- the deployment's settings, for procwatch-fleet on a laptop ------------------------------
    // The same values the fleet Lambda runs with. Named by the alarm prefix (the deployment's
    // identity): a second stack with the same prefix fails to create it, so prefixes stay distinct.
    const deploymentSettings: DeploymentSettings = {
      version: 1,
      alarmPrefix: settings.alarmPrefix,
      tagPrefix: settings.tagPrefix,
      namespace: CWAGENT_NAMESPACE,
      restartActionArns: [this.restartTopic.topicArn],
      defaultDetection: settings.detectionProfile,
      armingGraceMinutes: FLEET_ARMING_GRACE_MINUTES,
      stackName: Stack.of(this).stackName,
    };
    this.deploymentParameter = new StringParameter(this, "DeploymentSettings", {
      parameterName: deploymentParameterName(settings.alarmPrefix),
      description: "procwatch: the settings this deployment's fleet manager runs with (procwatch-fleet reads them as defaults)",
      stringValue: Stack.of(this).toJsonString(deploymentSettings),
    });

    // ---- event wiring ------------------------------------------------------------------------
    this.restartTopic.addSubscription(new LambdaSubscription(this.restartHandler, { deadLetterQueue: this.deadLetterQueue }));
    // Host reports become messages only. At most 2 concurrent pollers' invocations (SQS's minimum):
    // a flood of reports can take at most 2 of the handler's 5 reserved executions from alarms.
    this.restartHandler.addEventSource(new SqsEventSource(this.hostReportQueue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 2 }));
    const fleetTarget = new LambdaTarget(this.fleetManager, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(1) });
    new Rule(this, "InstanceStateChangeRule", {
      description: "procwatch: reconcile an instance's alarms when it starts, stops or terminates",
      eventPattern: {
        source: ["aws.ec2"],
        detailType: ["EC2 Instance State-change Notification"],
        // The first state of each change only: stopping (actions off before the alarm can fire on
        // a host that is going away), shutting-down (alarms deleted), running (actions back on
        // once it reports). stopped and terminated would run the same reconcile a second time.
        detail: { state: ["running", "stopping", "shutting-down"] },
      },
      targets: [fleetTarget],
    });
    new Rule(this, "TagChangeRule", {
      description: "procwatch: reconcile an instance's alarms when its procwatch tags change",
      eventPattern: {
        source: ["aws.tag"],
        detailType: ["Tag Change on Resource"],
        detail: { service: ["ec2"], "resource-type": ["instance"], "changed-tag-keys": [{ prefix: `${settings.tagPrefix}:` }] },
      },
      targets: [fleetTarget],
    });
    new Rule(this, "ReconcileScheduleRule", {
      description: "procwatch: full reconcile of every opted-in instance's alarms",
      schedule: Schedule.expression(settings.reconcileSchedule),
      targets: [fleetTarget],
    });
    new Rule(this, "RestartSweepRule", {
      description: "procwatch: resume the fleet breaker after its cool-down; report restarts whose result never came or whose alarm stayed in ALARM",
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [
        new LambdaTarget(this.restartHandler, {
          event: RuleTargetInput.fromObject({ action: "sweep" }),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 2,
          maxEventAge: Duration.minutes(10),
        }),
      ],
    });
    new Rule(this, "RestartCommandStatusRule", {
      description: "procwatch: report the result of every restart command",
      eventPattern: {
        source: ["aws.ssm"],
        detailType: ["EC2 Command Invocation Status-change Notification"],
        // Final statuses only: the handler has nothing to say about Pending or InProgress.
        detail: { "document-name": [documentNames.restart], status: Match.anythingBut("Pending", "InProgress", "Delayed", "Cancelling") },
      },
      targets: [new LambdaTarget(this.restartHandler, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(1) })],
    });

    // ---- Slack ------------------------------------------------------------------------------
    if (settings.slack !== undefined) {
      // The default guardrail is AdministratorAccess and AWS's CloudWatchReadOnlyAccess can read
      // every log group in the account; channel members get exactly what procwatch's messages need:
      // alarm state and graphs, and the restart commands' output.
      const guardrail = new ManagedPolicy(this, "SlackChannelGuardrail", {
        description: "procwatch Slack channel: read procwatch alarms, metrics and restart-command output only",
        statements: [
          new PolicyStatement({
            sid: "ReadProcwatchAlarms",
            actions: ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"],
            resources: [`${alarmArnPrefix}${settings.alarmPrefix}/*`],
          }),
          new PolicyStatement({
            sid: "RenderMetricGraphs",
            actions: ["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:GetMetricWidgetImage", "cloudwatch:ListMetrics"],
            resources: ["*"],
          }),
          new PolicyStatement({
            sid: "ReadRestartCommandOutput",
            actions: ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"],
            resources: [this.commandLogGroup.logGroupArn, `${this.commandLogGroup.logGroupArn}:*`],
          }),
        ],
      });
      this.slackChannel = new SlackChannelConfiguration(this, "SlackChannel", {
        slackChannelConfigurationName: `${stack.stackName}-procwatch`.slice(0, 128),
        slackWorkspaceId: settings.slack.workspaceId,
        slackChannelId: settings.slack.channelId,
        notificationTopics: [this.notificationTopic],
        guardrailPolicies: [guardrail],
        loggingLevel: ChatbotLoggingLevel.ERROR,
      });
      this.slackChannel.role?.addManagedPolicy(guardrail);
      Validations.of(guardrail).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason: "Metric reads for alarm graphs (GetMetricData, GetMetricStatistics, GetMetricWidgetImage, ListMetrics) have no resource-level permissions.",
      });
      Validations.of(guardrail).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${settings.alarmPrefix}/*]`,
        reason: "The channel reads only procwatch's own alarms, one per (instance, process).",
      });
      Validations.of(guardrail).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.commandLogGroup.node.defaultChild as CfnLogGroup)}.Arn>:*]`,
        reason: "Log streams of the restart command output group, named by SSM per command.",
      });
    }

    // ---- agent rollout -----------------------------------------------------------------------
    const assets = {
      x64: new Asset(this, "AgentBinaryX64", { path: artifacts.x64.path }),
      arm64: new Asset(this, "AgentBinaryArm64", { path: artifacts.arm64.path }),
    };
    const optInTarget = [{ key: `tag:${settings.optInTag.key}`, values: [settings.optInTag.value] }];
    this.installAssociation = new CfnAssociation(this, "InstallAssociation", {
      associationName: `${documentNames.install}-opted-in`,
      name: this.documents.install.ref,
      targets: optInTarget,
      parameters: {
        ArtifactBucket: [assets.x64.s3BucketName],
        ArtifactRegion: [Aws.REGION],
        ArtifactKeyX64: [assets.x64.s3ObjectKey],
        ArtifactKeyArm64: [assets.arm64.s3ObjectKey],
        Sha256X64: [artifacts.x64.sha256],
        Sha256Arm64: [artifacts.arm64.sha256],
        CloudWatchAgentVersion: [settings.cloudWatchAgentVersion],
      },
      // Runs at once on every instance that gains the tag, then daily to heal drift.
      scheduleExpression: "rate(1 day)",
      applyOnlyAtCronInterval: false,
      complianceSeverity: "HIGH",
      syncCompliance: "AUTO",
      ...ROLLOUT_RATE,
    });
    this.configureAssociation = new CfnAssociation(this, "ConfigureAssociation", {
      associationName: `${documentNames.configure}-opted-in`,
      name: this.documents.configure.ref,
      targets: optInTarget,
      // The same detectionProfile the fleet manager gets as DEFAULT_DETECTION_PROFILE: hosts collect
      // at the interval their alarms evaluate, for every host whose tags and profile set none.
      parameters: { TagPrefix: [settings.tagPrefix], DefaultDetection: [settings.detectionProfile], HostReportQueueUrl: [this.hostReportQueue.queueUrl] },
      // Tag edits are picked up within 30 minutes; the first run on a new host may find the
      // agent not yet installed and reports NON_COMPLIANT until the next run.
      scheduleExpression: "rate(30 minutes)",
      applyOnlyAtCronInterval: false,
      complianceSeverity: "MEDIUM",
      syncCompliance: "AUTO",
      ...ROLLOUT_RATE,
    });

    // ---- what hosts need --------------------------------------------------------------------
    this.instancePolicy = new ManagedPolicy(this, "InstancePolicy", {
      description: "procwatch: what procwatch-agent needs on a host; attach next to AmazonSSMManagedInstanceCore and CloudWatchAgentServerPolicy",
      statements: [
        new PolicyStatement({
          sid: "ReadProcwatchProfiles",
          actions: ["ssm:GetParameter", "ssm:GetParameters"],
          resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/procwatch/profiles/*`],
        }),
        new PolicyStatement({
          sid: "ReadOwnTagsWhenMetadataTagsAreOff",
          actions: ["ec2:DescribeTags"],
          resources: ["*"],
        }),
        new PolicyStatement({
          sid: "DownloadAgentBinaries",
          actions: ["s3:GetObject"],
          resources: [assets.x64.bucket.arnForObjects(assets.x64.s3ObjectKey), assets.arm64.bucket.arnForObjects(assets.arm64.s3ObjectKey)],
        }),
        new PolicyStatement({
          // The only thing a host may do with the queue: a report becomes at most a message about that host.
          sid: "SendHostReports",
          actions: ["sqs:SendMessage"],
          resources: [this.hostReportQueue.queueArn],
        }),
        new PolicyStatement({
          sid: "WriteRestartCommandOutput",
          actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          resources: [this.commandLogGroup.logGroupArn],
        }),
      ],
    });
    Validations.of(this.instancePolicy).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "ec2:DescribeTags supports no resource-level permissions; it is read-only and used only when instance-metadata tags are disabled.",
    });
    Validations.of(this.instancePolicy).acknowledge({
      id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/procwatch/profiles/*]",
      reason: "Hosts read any procwatch profile their tags name; the path is procwatch's own.",
    });
    Validations.of(this.instancePolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.commandLogGroup.node.defaultChild as CfnLogGroup)}.Arn>]`,
      reason: "Log streams of the restart command output group, named by SSM per command.",
    });

    if (settings.createInstanceRole) {
      this.instanceRole = new Role(this, "InstanceRole", {
        description: "procwatch: example EC2 instance role with SSM, the CloudWatch agent and procwatch-agent permissions",
        assumedBy: new ServicePrincipal("ec2.amazonaws.com"),
        managedPolicies: [
          ManagedPolicy.fromAwsManagedPolicyName("AmazonSSMManagedInstanceCore"),
          ManagedPolicy.fromAwsManagedPolicyName("CloudWatchAgentServerPolicy"),
          this.instancePolicy,
        ],
      });
      this.instanceProfile = new InstanceProfile(this, "InstanceProfile", { role: this.instanceRole });
      for (const managed of ["AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"]) {
        Validations.of(this.instanceRole).acknowledge({
          id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${managed}]`,
          reason: `${managed} is the AWS-maintained baseline the SSM Agent and the CloudWatch agent need on every host.`,
        });
      }
    }

    // ---- operations --------------------------------------------------------------------------
    this.operationalAlarms();
    this.dashboard = this.buildDashboard(stack);

    new CfnOutput(this, "InstancePolicyArn", { value: this.instancePolicy.managedPolicyArn, description: "Attach to the instance role of every watched host" });
    if (this.instanceProfile !== undefined) new CfnOutput(this, "InstanceProfileName", { value: this.instanceProfile.instanceProfileName });
    new CfnOutput(this, "RestartTopicArn", { value: this.restartTopic.topicArn, description: "procwatch-fleet --restart-action-arn (or RESTART_TOPIC_ARN)" });
    new CfnOutput(this, "NotificationTopicArn", { value: this.notificationTopic.topicArn });
    new CfnOutput(this, "HostReportQueueUrl", {
      value: this.hostReportQueue.queueUrl,
      description: "Where procwatch-agent sends local restart reports (the configure association passes it)",
    });
    new CfnOutput(this, "RestartDocumentName", { value: documentNames.restart });
    new CfnOutput(this, "DeploymentSettingsParameter", {
      value: this.deploymentParameter.parameterName,
      description: "procwatch-fleet reads its default settings here (needs ssm:GetParameter on it)",
    });
    new CfnOutput(this, "CommandLogGroupName", {
      value: this.commandLogGroup.logGroupName,
      description: "Where every restart command's output goes (retained on destroy)",
    });
    new CfnOutput(this, "UninstallDocumentName", {
      value: documentNames.uninstall,
      description: "aws ssm send-command --document-name <this> to take procwatch off hosts (before removing their opt-in tag)",
    });
    new CfnOutput(this, "DashboardName", { value: this.dashboard.dashboardName });
  }

  private lambda(
    id: string,
    options: {
      entry: string;
      description: string;
      timeout: Duration;
      /** MB; 256 unless the function's working set needs more. */
      memorySize?: number;
      logRetention: RetentionDays;
      environment: Record<string, string>;
      commandHooks?: ICommandHooks;
      reservedConcurrentExecutions?: number;
    },
  ): NodejsFunction {
    const logGroup = new LogGroup(this, `${id}Logs`, { retention: options.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    // An explicit role without AWSLambdaBasicExecutionRole: it may write only its own log group.
    const role = new Role(this, `${id}Role`, { assumedBy: new ServicePrincipal("lambda.amazonaws.com"), description: `procwatch ${id}` });
    role.addToPrincipalPolicy(
      new PolicyStatement({ sid: "WriteOwnLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [logGroup.logGroupArn] }),
    );
    const fn = new NodejsFunction(this, id, {
      entry: options.entry,
      handler: "handler",
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: options.memorySize ?? 256,
      timeout: options.timeout,
      description: options.description,
      ...(options.reservedConcurrentExecutions !== undefined ? { reservedConcurrentExecutions: options.reservedConcurrentExecutions } : {}),
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      deadLetterQueue: this.deadLetterQueue,
      environment: { ...options.environment, NODE_OPTIONS: "--enable-source-maps" },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: DEPS_LOCK_FILE,
      bundling: {
        forceDockerBundling: false,
        // esbuild runs through `pnpm exec`; bundling must never turn into a workspace install.
        environment: { npm_config_verify_deps_before_run: "false", pnpm_config_verify_deps_before_run: "false" },
        format: OutputFormat.ESM,
        target: "node24",
        platform: "node",
        mainFields: ["module", "main"],
        minify: true,
        sourceMap: true,
        // The SDK versions the code was tested with ship in the bundle, not the runtime's.
        externalModules: [],
        // Bundled CommonJS dependencies call require(); ESM output needs it defined.
        banner: "import { createRequire as __procwatchCreateRequire } from 'node:module'; const require = __procwatchCreateRequire(import.meta.url);",
        ...(options.commandHooks !== undefined ? { commandHooks: options.commandHooks } : {}),
      },
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(logGroup.node.defaultChild as CfnLogGroup)}.Arn>]`,
      reason: "Log streams inside the function's own log group; stream names are chosen by Lambda.",
    });
    return fn;
  }

  private grantRestartHandler(restartDocumentArn: string): void {
    const role = this.restartHandler.role as Role;
    const { key, value } = this.settings.optInTag;
    role.addToPrincipalPolicy(new PolicyStatement({ sid: "SendRestartDocumentOnly", actions: ["ssm:SendCommand"], resources: [restartDocumentArn] }));
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "SendToOptedInInstancesOnly",
        actions: ["ssm:SendCommand"],
        resources: [
          `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`,
          `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:managed-instance/*`,
        ],
        conditions: { StringEquals: { [`ssm:resourceTag/${key}`]: value } },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ReadCommandResults",
        // None of these supports resource-level permissions.
        actions: ["ssm:GetCommandInvocation", "ssm:ListCommands"],
        resources: ["*"],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ReadInstanceState",
        // DescribeInstances supports no resource-level permissions.
        actions: ["ec2:DescribeInstances"],
        resources: ["*"],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ReadManagedInstanceTags",
        // On-premises (mi-) hosts keep their tags on the SSM managed-instance resource.
        actions: ["ssm:ListTagsForResource"],
        resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:managed-instance/*`],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ReadProcwatchProfiles",
        actions: ["ssm:GetParameters"],
        resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/procwatch/profiles/*`],
      }),
    );
    // TransactWriteItems (two conditional Puts) is authorized per item through PutItem.
    this.stateTable.grant(role, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem");
    this.notificationTopic.grantPublish(role);
    const policy = role.node.tryFindChild("DefaultPolicy");
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason: "ssm:GetCommandInvocation, ssm:ListCommands and ec2:DescribeInstances support no resource-level permissions; all are read-only.",
      });
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
        reason: "SendCommand is limited to instances carrying the opt-in tag by the ssm:resourceTag condition.",
      });
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*]",
        reason: "SendCommand is limited to managed instances carrying the opt-in tag by the ssm:resourceTag condition.",
      });
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/procwatch/profiles/*]",
        reason: "Resolves the procwatch profile an instance's tags name, to find the process's unit; the path is procwatch's own.",
      });
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        reason: "Publishing to the encrypted notification topic needs data keys of procwatch's own key only.",
      });
    }
  }

  private grantFleetManager(alarmArnPrefix: string): void {
    const role = this.fleetManager.role as Role;
    const ownedAlarms = `${alarmArnPrefix}${this.settings.alarmPrefix}/*`;
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ReadInstancesAndAlarms",
        // No resource-level permissions a prefix listing could use: DescribeAlarms pages over the account, metrics have no ARNs.
        // GetMetricData tells an arming alarm whether its exact series publishes yet.
        actions: ["ec2:DescribeInstances", "cloudwatch:DescribeAlarms", "cloudwatch:ListMetrics", "cloudwatch:GetMetricData"],
        resources: ["*"],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "PutOwnAlarmsWithProcwatchActionsOnly",
        actions: ["cloudwatch:PutMetricAlarm"],
        resources: [ownedAlarms],
        // Even under its prefix the fleet manager cannot attach an EC2 terminate action or a foreign topic.
        conditions: { "ForAllValues:StringEquals": { "cloudwatch:AlarmActions": [this.restartTopic.topicArn, this.notificationTopic.topicArn] } },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ManageOwnAlarmsOnly",
        // SetAlarmState: an alarm found in ALARM right after its actions went on is reset so it acts.
        // ListTagsForResource: a delete goes only to alarms whose managed-by tag names this deployment.
        // No TagResource: creates carry their tags in PutMetricAlarm.
        actions: [
          "cloudwatch:DeleteAlarms",
          "cloudwatch:EnableAlarmActions",
          "cloudwatch:DisableAlarmActions",
          "cloudwatch:SetAlarmState",
          "cloudwatch:ListTagsForResource",
        ],
        resources: [ownedAlarms],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: "ReadProcwatchProfiles",
        actions: ["ssm:GetParameters"],
        resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/procwatch/profiles/*`],
      }),
    );
    const policy = role.node.tryFindChild("DefaultPolicy");
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "ec2:DescribeInstances, cloudwatch:DescribeAlarms, cloudwatch:ListMetrics and cloudwatch:GetMetricData are read-only calls without resource-level scoping.",
      });
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${this.settings.alarmPrefix}/*]`,
        reason: "The fleet manager writes only alarms under procwatch's prefix, one per (instance, process).",
      });
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/procwatch/profiles/*]",
        reason: "Reads any procwatch profile an instance's tags name; the path is procwatch's own.",
      });
    }
  }

  /** procwatch watching itself: a failing Lambda or a growing dead-letter queue pages the same Slack channel. */
  private operationalAlarms(): void {
    const notify = new SnsAction(this.notificationTopic);
    const watch = (id: string, metric: IMetric, description: string) => {
      const alarm = new Alarm(this, id, {
        alarmName: `${this.settings.alarmPrefix}-ops/${id}`,
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    };
    watch(
      "RestartHandlerErrors",
      // A duplicate delivery that finds another invocation mid-restart throws on purpose, so the
      // platform redelivers it, and counts DuplicatesDeferred; only the errors beyond those page.
      new MathExpression({
        expression: "FILL(errors, 0) - FILL(deferred, 0)",
        label: "restart handler errors (excluding deferred duplicates)",
        period: Duration.minutes(5),
        usingMetrics: {
          errors: this.restartHandler.metricErrors({ period: Duration.minutes(5) }),
          deferred: new Metric({
            namespace: PROCWATCH_METRIC_NAMESPACE,
            metricName: PROCWATCH_METRICS.duplicatesDeferred,
            dimensionsMap: { service: PROCWATCH_SERVICE_NAMES.restartHandler },
            statistic: "Sum",
            period: Duration.minutes(5),
          }),
        },
      }),
      "The procwatch restart handler is failing: restarts may not happen.",
    );
    watch(
      "FleetManagerErrors",
      this.fleetManager.metricErrors({ period: Duration.minutes(15) }),
      "The procwatch fleet manager is failing: alarms may be missing or stale.",
    );
    const fleetMetric = (metricName: string) =>
      new Metric({
        namespace: PROCWATCH_METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { service: PROCWATCH_SERVICE_NAMES.fleetManager },
        statistic: "Sum",
        period: Duration.minutes(15),
      });
    watch(
      "MassChangeRefused",
      fleetMetric(PROCWATCH_METRICS.massChangeRefused),
      "The fleet manager refused to delete or rewrite the alarms of more instances than its guard allows (a wrong tag prefix, a namespace typo, another topic?). Check `procwatch-fleet plan`; apply with --allow-mass-change only if intended.",
    );
    // The fleet manager's own failures page, not only the dashboard: writes that failed for good,
    // hosts whose tags have problems (they have no alarms), hosts whose profile cannot be read.
    watch(
      "FleetManagerProblems",
      new MathExpression({
        expression: "FILL(failures, 0) + FILL(tags, 0) + FILL(profiles, 0)",
        label: "failed changes + instances with tag problems + instances with unreadable profiles",
        period: Duration.minutes(15),
        usingMetrics: {
          failures: fleetMetric(PROCWATCH_METRICS.changeFailures),
          tags: fleetMetric(PROCWATCH_METRICS.instancesWithTagProblems),
          profiles: fleetMetric(PROCWATCH_METRICS.instancesWithUnreadableProfile),
        },
      }),
      "The fleet manager could not make some changes, or some opted-in hosts have tag problems or an unreadable profile (they are not watched). `procwatch-fleet plan` lists them.",
    );
    watch(
      "DeadLetters",
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: "Maximum" }),
      "procwatch events failed every retry and sit in the dead-letter queue.",
    );
  }

  private buildDashboard(stack: Stack): Dashboard {
    const searchPidCounts = (selector: "exe" | "pattern" | "pidfile") =>
      new MathExpression({
        expression: `SEARCH('{${CWAGENT_NAMESPACE},InstanceId,${selector},pid_finder} MetricName="procstat_lookup_pid_count"', 'Minimum', 60)`,
        period: Duration.minutes(1),
      });
    const searchOwn = (metricName: string, label: string) =>
      new MathExpression({
        expression: `SUM(SEARCH('Namespace="${PROCWATCH_METRIC_NAMESPACE}" MetricName="${metricName}"', 'Sum', 300))`,
        label,
        period: Duration.minutes(5),
      });
    const dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: `${stack.stackName}-procwatch`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 255),
      defaultInterval: Duration.hours(6),
    });
    dashboard.addWidgets(
      new TextWidget({
        markdown: `# procwatch\nOne alarm per (instance, process), prefix \`${this.settings.alarmPrefix}/\`. Opt-in tag \`${this.settings.optInTag.key}=${this.settings.optInTag.value}\`. A line at 0 is a process that is down.`,
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({ title: "pid count by process (exe)", left: [searchPidCounts("exe")], width: 8, leftYAxis: { min: 0 } }),
      new GraphWidget({ title: "pid count by process (pattern)", left: [searchPidCounts("pattern")], width: 8, leftYAxis: { min: 0 } }),
      new GraphWidget({ title: "pid count by process (pid file)", left: [searchPidCounts("pidfile")], width: 8, leftYAxis: { min: 0 } }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: "restarts",
        left: [
          searchOwn(PROCWATCH_METRICS.restartsSent, "sent"),
          searchOwn(PROCWATCH_METRICS.restartsSucceeded, "succeeded"),
          searchOwn(PROCWATCH_METRICS.restartsFailed, "failed"),
        ],
        width: 8,
      }),
      new GraphWidget({ title: "gave up (needs a human)", left: [searchOwn(PROCWATCH_METRICS.gaveUp, "gave up")], width: 8 }),
      new GraphWidget({
        title: "reconcile results",
        left: [
          searchOwn(PROCWATCH_METRICS.alarmsCreated, "alarms created"),
          searchOwn(PROCWATCH_METRICS.alarmsUpdated, "alarms updated"),
          searchOwn(PROCWATCH_METRICS.alarmsDeleted, "alarms deleted"),
          searchOwn(PROCWATCH_METRICS.alarmActionsToggled, "actions toggled"),
        ],
        right: [
          searchOwn(PROCWATCH_METRICS.changeFailures, "failed changes"),
          searchOwn(PROCWATCH_METRICS.changesDeferred, "deferred changes"),
          searchOwn(PROCWATCH_METRICS.instancesWithTagProblems, "instances with tag problems"),
          searchOwn(PROCWATCH_METRICS.instancesWithUnreadableProfile, "instances with unreadable profile"),
          searchOwn(PROCWATCH_METRICS.massChangeRefused, "mass changes refused"),
          searchOwn(PROCWATCH_METRICS.changesSkipped, "changes skipped (world moved on, or not this deployment's)"),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: "Lambda errors",
        left: [this.restartHandler.metricErrors({ label: "restart handler" }), this.fleetManager.metricErrors({ label: "fleet manager" })],
        width: 8,
      }),
      // A steady stream here is misrouted or foreign alarms, or command notifications procwatch did not send.
      new GraphWidget({
        title: "restart handler inputs dropped",
        left: [
          searchOwn(PROCWATCH_METRICS.inputsDropped, "dropped"),
          searchOwn(PROCWATCH_METRICS.staleTransitionsDropped, "stale transitions"),
          searchOwn(PROCWATCH_METRICS.duplicatesDeferred, "duplicates deferred"),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: "dead-letter queue",
        left: [this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: "messages" })],
        width: 8,
      }),
    );
    return dashboard;
  }
}

/** POSIX single-quoting: the hooks' commands run through `bash -c`. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * NodejsFunction's esbuild CLI cannot run esbuild plugins, so after it has bundled, the restart
 * handler is bundled again with them (same entry, ESM, node24, source map as NodejsFunction's
 * settings ask), overwriting `index.mjs` and `index.mjs.map` in the asset directory. The asset
 * hash is taken from that final output.
 */
function rebundleRestartHandler(): ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) => [
      [process.execPath, RESTART_HANDLER_BUNDLER, "--outfile", join(outputDir, "index.mjs"), "--sourcemap"].map(shellQuote).join(" "),
    ],
  };
}

export function documentName(settings: Pick<ResolvedProcWatchSettings, "documentNamePrefix">, kind: SsmDocumentKind): string {
  // The contract's three names plus procwatch-uninstall, which only operators call.
  const base = SSM_DOCUMENT_NAMES[kind];
  return settings.documentNamePrefix === "" ? base : `${settings.documentNamePrefix}-${base}`;
}
