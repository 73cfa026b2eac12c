/** Console deep links; an engineer woken at 3 a.m. should be one click from the evidence. */
function consoleOrigin(region: string): string {
  return `https://${region}.console.aws.amazon.com`;
}

export function alarmConsoleUrl(region: string, alarmName: string): string {
  return `${consoleOrigin(region)}/cloudwatch/home?region=${region}#alarmsV2:alarm/${encodeURIComponent(alarmName)}`;
}

export function commandConsoleUrl(region: string, commandId: string, instanceId: string): string {
  return `${consoleOrigin(region)}/systems-manager/run-command/${encodeURIComponent(commandId)}/${encodeURIComponent(instanceId)}?region=${region}`;
}

export function instanceConsoleUrl(region: string, instanceId: string): string {
  if (instanceId.startsWith("mi-")) return `${consoleOrigin(region)}/systems-manager/fleet-manager/managed-nodes/${instanceId}/general?region=${region}`;
  return `${consoleOrigin(region)}/ec2/home?region=${region}#InstanceDetails:instanceId=${instanceId}`;
}

export function logGroupConsoleUrl(region: string, logGroup: string): string {
  // The CloudWatch console escapes '/' in log group names as $252F inside the fragment.
  const escaped = encodeURIComponent(logGroup).replace(/%/g, "$25");
  return `${consoleOrigin(region)}/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${escaped}`;
}

export function alarmArnFor(region: string, accountId: string, alarmName: string): string {
  return `arn:aws:cloudwatch:${region}:${accountId}:alarm:${alarmName}`;
}

export function instanceArnFor(region: string, accountId: string, instanceId: string): string {
  if (instanceId.startsWith("mi-")) return `arn:aws:ssm:${region}:${accountId}:managed-instance/${instanceId}`;
  return `arn:aws:ec2:${region}:${accountId}:instance/${instanceId}`;
}
