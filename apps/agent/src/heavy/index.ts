/**
 * The heavy dependencies, bundled as a separate chunk (dist/procwatch-agent-heavy.cjs, and a
 * SEA asset inside the binary). They make up most of the code, and evaluating them on every
 * start would triple the cold start of `--help` and `health`; they load only when a command
 * needs AWS or host facts.
 */
export { DescribeTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
export { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
export { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
export * as systeminformation from "systeminformation";
