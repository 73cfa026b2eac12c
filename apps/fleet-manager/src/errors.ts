/**
 * The fleet manager's one error family. The CLI's error boundary maps them to exit codes:
 * UsageError → 2, everything else → 1. `retryable` tells the Lambda (and an operator) whether
 * simply running again is expected to help.
 */
export class FleetError extends Error {
  readonly retryable: boolean;
  /** One line telling the operator what to do next. */
  readonly hint: string | undefined;

  constructor(message: string, options: { retryable?: boolean; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
    this.hint = options.hint;
  }
}

/** Bad flags, arguments or environment: exit 2, never retryable. */
export class UsageError extends FleetError {}

/** The operator (or a non-interactive shell) did not confirm an apply. */
export class NotConfirmedError extends FleetError {}

/** Some changes failed while the rest went through; a re-run converges when the failures were transient. */
export class ApplyFailedError extends FleetError {
  readonly failures: readonly { alarmName: string; operation: string; message: string }[];

  constructor(failures: readonly { alarmName: string; operation: string; message: string; retryable: boolean }[]) {
    super(`${failures.length} change${failures.length === 1 ? "" : "s"} failed`, {
      retryable: failures.every((failure) => failure.retryable),
      hint: failures.every((failure) => failure.retryable)
        ? "the failures were throttling or AWS-side errors: run apply again"
        : "fix the cause shown above, then run apply again",
    });
    this.failures = failures;
  }
}

/** A kind of change (deletes, updates, creates) touched more instances than the mass-change limit; those changes were not made (everything else was). */
export class MassChangeRefusedError extends FleetError {
  constructor(message: string) {
    super(message, {
      hint: "check --tag-prefix, --prefix, --namespace, --restart-action-arn, --default-detection and the profiles the hosts name against the deployment; if the change is intended, run apply again with --allow-mass-change",
    });
  }
}

/** apply was given settings that differ from the ones the deployed stack published; nothing was written. */
export class DeployedSettingsMismatchError extends FleetError {
  constructor(message: string) {
    super(message, {
      hint: "drop the flags (or environment variables) that differ so the deployment's settings apply, or pass --ignore-deployed-settings if this run must differ",
    });
  }
}
