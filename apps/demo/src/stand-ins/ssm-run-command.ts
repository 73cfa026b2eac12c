import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { CommandSender, InvocationDetails, RestartCommandRequest, SentCommand } from "@procwatch/restart-handler";
import { loadDocument } from "@procwatch/ssm-documents";
import { runDocumentLocally } from "@procwatch/ssm-documents/ssm-agent-stand-in";

/**
 * Stands in for SSM Run Command on this one host: SendCommand checks the document name, runs
 * the *real* restart document through the SSM Agent stand-in (allowedPattern check, SSM_*
 * environment variables, the script via `sh -c`), and produces the EventBridge
 * "EC2 Command Invocation Status-change Notification" the restart handler receives next.
 */
export interface LocalInvocation {
  readonly commandId: string;
  readonly request: RestartCommandRequest;
  readonly status: "Success" | "Failed" | "Undeliverable";
  readonly refusal?: string;
  readonly standardOutput: string;
  readonly standardError: string;
  readonly requestedAt: Date;
  readonly finishedAt: Date;
}

export interface LocalRunCommandOptions {
  readonly documentName: string;
  readonly hostInstanceId: string;
  readonly workDir: string;
  /** Environment the SSM Agent would run the script with (PATH, PROCWATCH_BIN_DIR, state dir …). */
  readonly agentEnvironment: NodeJS.ProcessEnv;
  readonly region: string;
  readonly accountId: string;
  /** Epoch ms for the invocation's timestamps: the demo's model clock, so the thread reads in one timeline. */
  readonly now?: () => number;
}

export class LocalRunCommand implements CommandSender {
  readonly invocations: LocalInvocation[] = [];
  private readonly restartDocument = loadDocument("restart").content;

  constructor(private readonly options: LocalRunCommandOptions) {}

  async send(request: RestartCommandRequest): Promise<SentCommand> {
    if (request.DocumentName !== this.options.documentName) {
      throw Object.assign(new Error(`InvalidDocument: ${request.DocumentName}`), { name: "InvalidDocument" });
    }
    const commandId = crypto.randomUUID();
    const now = () => new Date(this.options.now?.() ?? Date.now());
    const requestedAt = now();
    const [instanceId] = request.InstanceIds;
    let invocation: LocalInvocation;
    if (instanceId !== this.options.hostInstanceId) {
      invocation = { commandId, request, status: "Undeliverable", standardOutput: "", standardError: "", requestedAt, finishedAt: now() };
    } else {
      const workDir = join(this.options.workDir, commandId);
      mkdirSync(workDir, { recursive: true });
      const run = runDocumentLocally(this.restartDocument, request.Parameters, { workDir, env: this.options.agentEnvironment });
      if (run.refused) {
        // SSM refuses a command whose parameters miss allowedPattern before it reaches any host.
        throw Object.assign(new Error(run.reason), { name: "InvalidParameters" });
      }
      const step = run.steps[0];
      invocation = {
        commandId,
        request,
        status: run.status,
        standardOutput: step?.stdout ?? "",
        standardError: step?.stderr ?? "",
        requestedAt,
        finishedAt: now(),
      };
    }
    this.invocations.push(invocation);
    return { commandId };
  }

  async findSentForIncident(instanceId: string, documentName: string, incidentId: string): Promise<SentCommand | undefined> {
    const found = this.invocations.find(
      (invocation) =>
        invocation.request.InstanceIds[0] === instanceId && invocation.request.DocumentName === documentName && invocation.request.Comment.includes(incidentId),
    );
    return found === undefined ? undefined : { commandId: found.commandId };
  }

  async getInvocation(commandId: string, instanceId: string): Promise<InvocationDetails | undefined> {
    const found = this.invocations.find((invocation) => invocation.commandId === commandId && invocation.request.InstanceIds[0] === instanceId);
    if (found === undefined) return undefined;
    return { comment: found.request.Comment, status: found.status, statusDetails: found.status, standardOutput: found.standardOutput };
  }

  /** The EventBridge event SSM emits when the invocation reaches a final status. */
  statusChangeEvent(invocation: LocalInvocation) {
    const { region, accountId } = this.options;
    const instanceId = invocation.request.InstanceIds[0];
    return {
      version: "0",
      id: crypto.randomUUID(),
      "detail-type": "EC2 Command Invocation Status-change Notification",
      source: "aws.ssm",
      account: accountId,
      time: invocation.finishedAt.toISOString(),
      region,
      resources: [`arn:aws:ec2:${region}:${accountId}:instance/${instanceId}`],
      detail: {
        "command-id": invocation.commandId,
        "document-name": invocation.request.DocumentName,
        "instance-id": instanceId,
        "requested-date-time": invocation.requestedAt.toISOString(),
        status: invocation.status,
      },
    };
  }
}
