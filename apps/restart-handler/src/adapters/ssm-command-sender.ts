import { GetCommandInvocationCommand, ListCommandsCommand, type ListCommandsCommandOutput, SendCommandCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { RestartCommandRequest } from "../core/command.ts";
import { incidentIdFromComment } from "../core/identity.ts";
import type { InvocationDetails } from "../core/result.ts";
import { AwsCallError, CommandSearchIncompleteError } from "../errors.ts";
import type { CommandHistory, CommandSender, ListedRestartCommand, SentCommand } from "../ports.ts";

/** ListCommands returns at most 50 a page. */
const LIST_COMMANDS_PAGE_SIZE = 50;

export interface SsmCommandSenderOptions {
  /** Pages of `ListCommands` read before the search gives up (throws, never "not found"). */
  readonly maxSearchPages?: number;
  /**
   * Client for SendCommand alone, configured with a single attempt: an SDK retry after a timeout
   * could create a second command SSM already accepted. The handler's own retry path searches
   * ListCommands first instead. Defaults to the shared client.
   */
  readonly sendClient?: SSMClient;
}

export class SsmCommandSender implements CommandSender, CommandHistory {
  private readonly maxSearchPages: number;

  constructor(
    private readonly ssm: SSMClient,
    options: SsmCommandSenderOptions = {},
  ) {
    // 20 pages = 1,000 commands of the restart document since the claim: far beyond any real window.
    this.maxSearchPages = options.maxSearchPages ?? 20;
    this.sendClient = options.sendClient ?? ssm;
  }

  private readonly sendClient: SSMClient;

  async send(request: RestartCommandRequest): Promise<SentCommand> {
    let commandId: string | undefined;
    try {
      const output = await this.sendClient.send(
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
   * Reads every page of the restart document's commands invoked after `since`, and matches the
   * instance here rather than with ListCommands' `InstanceId`, which fails with InvalidInstanceId
   * once the instance is terminated — when the answer still matters.
   */
  async findSentForIncident(instanceId: string, documentName: string, incidentId: string, since: number): Promise<SentCommand | undefined> {
    let found: SentCommand | undefined;
    const ended = await this.forEachCommandSince(documentName, since, (command) => {
      if (command.CommandId === undefined || incidentIdFromComment(command.Comment) !== incidentId || !(command.InstanceIds ?? []).includes(instanceId))
        return false;
      found = { commandId: command.CommandId };
      return true;
    });
    if (found !== undefined) return found;
    if (ended === "truncated") throw new CommandSearchIncompleteError(incidentId, this.maxSearchPages);
    return undefined;
  }

  /**
   * The restart document's commands invoked after `since`, every page up to `maxSearchPages` (50 a
   * page): the sweep's view of recent restarts. The fleet breaker bounds how many there can be.
   */
  async listSince(documentName: string, since: number): Promise<ListedRestartCommand[]> {
    const listed: ListedRestartCommand[] = [];
    await this.forEachCommandSince(documentName, since, (command) => {
      if (command.CommandId === undefined) return false;
      listed.push({
        commandId: command.CommandId,
        ...(command.Comment !== undefined ? { comment: command.Comment } : {}),
        instanceIds: command.InstanceIds ?? [],
        status: command.Status ?? "Pending",
        ...(command.RequestedDateTime !== undefined ? { requestedAt: command.RequestedDateTime.getTime() } : {}),
      });
      return false;
    });
    return listed;
  }

  /**
   * Visits the document's commands invoked after `since`, page by page, until `visit` returns true
   * (`stopped`), the last page (`exhausted`) or `maxSearchPages` pages (`truncated`).
   */
  private async forEachCommandSince(
    documentName: string,
    since: number,
    visit: (command: NonNullable<ListCommandsCommandOutput["Commands"]>[number]) => boolean,
  ): Promise<"stopped" | "exhausted" | "truncated"> {
    const filters = [
      { key: "DocumentName" as const, value: documentName },
      { key: "InvokedAfter" as const, value: new Date(Math.max(0, since)).toISOString() },
    ];
    let nextToken: string | undefined;
    for (let page = 0; page < this.maxSearchPages; page += 1) {
      let output: ListCommandsCommandOutput;
      try {
        output = await this.ssm.send(
          new ListCommandsCommand({ Filters: filters, MaxResults: LIST_COMMANDS_PAGE_SIZE, ...(nextToken !== undefined ? { NextToken: nextToken } : {}) }),
        );
      } catch (error) {
        throw new AwsCallError("ListCommands", error);
      }
      for (const command of output.Commands ?? []) if (visit(command)) return "stopped";
      nextToken = output.NextToken !== undefined && output.NextToken !== "" ? output.NextToken : undefined;
      if (nextToken === undefined) return "exhausted";
    }
    return "truncated";
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
