import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { RestartCommandRequest } from "../core/command.ts";
import { incidentIdFromComment } from "../core/identity.ts";
import type { InvocationDetails } from "../core/result.ts";
import { AwsCallError } from "../errors.ts";
import type { CommandSender, SentCommand } from "../ports.ts";

export class SsmCommandSender implements CommandSender {
  constructor(private readonly ssm: SSMClient) {}

  async send(request: RestartCommandRequest): Promise<SentCommand> {
    let commandId: string | undefined;
    try {
      const output = await this.ssm.send(
        new SendCommandCommand({
          DocumentName: request.DocumentName,
          InstanceIds: [...request.InstanceIds],
          Parameters: request.Parameters,
          Comment: request.Comment,
          TimeoutSeconds: request.TimeoutSeconds,
          CloudWatchOutputConfig: { ...request.CloudWatchOutputConfig },
        }),
      );
      commandId = output.Command?.CommandId;
    } catch (error) {
      throw new AwsCallError("SendCommand", error);
    }
    if (commandId === undefined) throw new AwsCallError("SendCommand", new Error("SendCommand returned no CommandId"));
    return { commandId };
  }

  /**
   * SendCommand has no client token. When a previous invocation's SendCommand may have reached
   * SSM (a timeout after the request left), the incident id in the comment tells whether it did.
   */
  async findSentForIncident(instanceId: string, documentName: string, incidentId: string, since: number): Promise<SentCommand | undefined> {
    try {
      const output = await this.ssm.send(
        new ListCommandsCommand({
          InstanceId: instanceId,
          Filters: [
            { key: "DocumentName", value: documentName },
            { key: "InvokedAfter", value: new Date(Math.max(0, since)).toISOString() },
          ],
          MaxResults: 50,
        }),
      );
      const match = (output.Commands ?? []).find((command) => incidentIdFromComment(command.Comment) === incidentId && command.CommandId !== undefined);
      return match?.CommandId !== undefined ? { commandId: match.CommandId } : undefined;
    } catch (error) {
      throw new AwsCallError("ListCommands", error);
    }
  }

  async getInvocation(commandId: string, instanceId: string): Promise<InvocationDetails | undefined> {
    try {
      const output = await this.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
      return {
        ...(output.Comment !== undefined ? { comment: output.Comment } : {}),
        ...(output.Status !== undefined ? { status: output.Status } : {}),
        ...(output.StatusDetails !== undefined ? { statusDetails: output.StatusDetails } : {}),
        ...(output.StandardOutputContent !== undefined ? { standardOutput: output.StandardOutputContent } : {}),
      };
    } catch (error) {
      if (error instanceof Error && (error.name === "InvocationDoesNotExist" || error.name === "InvalidCommandId" || error.name === "InvalidInstanceId")) {
        return undefined;
      }
      throw new AwsCallError("GetCommandInvocation", error);
    }
  }
}
