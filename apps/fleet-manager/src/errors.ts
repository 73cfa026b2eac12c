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

/** The plan deleted more alarms than the mass-delete limit allows; those deletes were not made (everything else was). */
export class MassDeleteRefusedError extends FleetError {
  constructor(message: string) {
    super(message, {
      hint: "check --tag-prefix, --prefix and the profile parameters the hosts name; if the deletes are intended, run apply again with --allow-mass-delete",
    });
  }
}
