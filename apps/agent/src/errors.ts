import { formatIssue, type SpecIssue } from "@procwatch/contract";

/**
 * One base class for everything the agent reports as a failure. The CLI's single error
 * boundary maps `exitCode` and prints `message` plus `hint`; `retryable` tells an operator (or
 * an SSM association retry) whether running the same command again can help.
 */
export class AgentError extends Error {
  override name = "AgentError"; // spelled out in every subclass: `--json` prints it as error.type, and the minified binary's new.target.name reads "U"
  readonly retryable: boolean;
  readonly exitCode: 1 | 2;
  readonly hint: string;

  constructor(message: string, options: { hint: string; retryable?: boolean; exitCode?: 1 | 2; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad flags or arguments: exit code 2, never retryable. */
export class UsageError extends AgentError {
  override name = "UsageError";
  constructor(message: string, hint: string) {
    super(message, { hint, exitCode: 2 });
  }
}

/** The spec could not be resolved into a valid host spec; carries every reason at once. */
export class SpecInvalidError extends AgentError {
  override name = "SpecInvalidError";
  readonly issues: readonly SpecIssue[];

  /** `hint` says what the failed command left as it was, which differs per command (render writes nothing at all). */
  constructor(issues: readonly SpecIssue[], sourceLabel: string, hint: string) {
    super(`the process spec from ${sourceLabel} is invalid (${issues.length} problem${issues.length === 1 ? "" : "s"})`, { hint });
    this.issues = issues;
  }

  detailLines(): string[] {
    return this.issues.map(formatIssue);
  }
}

/** The instance metadata service did not answer: this host is not on EC2 (or IMDS is blocked). */
export class NotOnEc2Error extends AgentError {
  override name = "NotOnEc2Error";
  constructor(detail: string, cause?: unknown) {
    super(`this host does not look like an EC2 instance: instance metadata (IMDSv2) ${detail}`, {
      hint: "on-premises hosts pass --spec FILE or --processes/--profile; on EC2 check the metadata options (http-tokens, hop limit)",
      retryable: true,
      cause,
    });
  }
}

/**
 * The metadata service answered, but not with what IMDS returns (an identity document that is not
 * JSON: a proxy, a captive portal, a metadata emulator gone wrong). Retryable: a hiccup of the
 * service clears; if it persists, the hint says what to check.
 */
export class ImdsAnswerError extends AgentError {
  override name = "ImdsAnswerError";
  constructor(detail: string, cause?: unknown) {
    super(`instance metadata (IMDSv2) ${detail}`, {
      hint: "retry; if it persists, check for a proxy in front of 169.254.169.254 (HTTP_PROXY, NO_PROXY) or what answers at PROCWATCH_IMDS_ENDPOINT",
      retryable: true,
      cause,
    });
  }
}

/** A call to AWS (DescribeTags, GetParameter) failed. Throttling and network errors are worth a retry. */
export class AwsCallError extends AgentError {
  override name = "AwsCallError";
  constructor(operation: string, cause: unknown, retryable: boolean) {
    super(`${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      hint: "check the instance profile allows the call and the region is right (--region)",
      retryable,
      cause,
    });
  }
}

/** A file procwatch must trust (allow-list, local config) is missing, unreadable, malformed or not root-owned. */
export class UntrustedFileError extends AgentError {
  override name = "UntrustedFileError";
  constructor(path: string, problem: string, hint: string) {
    super(`${path}: ${problem}`, { hint });
  }
}

/** The CloudWatch agent's control script failed or is missing. */
export class CloudWatchAgentCtlError extends AgentError {
  override name = "CloudWatchAgentCtlError";
  constructor(message: string, hint: string, cause?: unknown) {
    super(message, { hint, retryable: true, cause });
  }
}

/** Writing a file failed; the previous content is still in place (writes are atomic). */
export class FileWriteError extends AgentError {
  override name = "FileWriteError";
  constructor(path: string, cause: unknown) {
    super(`could not write ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      hint: "check free space and permissions (the agent normally runs as root); the previous file is unchanged",
      retryable: true,
      cause,
    });
  }
}

/** Removing a file failed (other than "already gone"); what was removed before it stays removed, and a rerun continues. */
export class FileRemoveError extends AgentError {
  override name = "FileRemoveError";
  constructor(path: string, cause: unknown) {
    super(`could not remove ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      hint: "check permissions (the agent normally runs as root), then run procwatch-agent remove again: it is idempotent",
      retryable: true,
      cause,
    });
  }
}

/** Another `apply` holds the lock and did not finish within the wait; running apply again later helps. */
export class ApplyLockedError extends AgentError {
  override name = "ApplyLockedError";
  constructor(path: string, holder: { pid: number; acquiredAt: string } | null, waitedMs: number) {
    super(
      `another procwatch-agent apply holds ${path}${holder === null ? "" : ` (pid ${holder.pid}, since ${holder.acquiredAt})`}; waited ${Math.round(waitedMs / 1000)} s`,
      {
        hint: `run apply again once it finished${holder === null ? "" : `; if pid ${holder.pid} is not procwatch-agent apply, remove ${path}`}`,
        retryable: true,
      },
    );
  }
}
