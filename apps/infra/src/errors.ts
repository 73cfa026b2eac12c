/** Base class for every error the infra package throws at synth time; `retryable` says whether a rerun can help. */
export class InfraError extends Error {
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }
}

/** A context value, environment variable or construct prop is invalid. Terminal: fix the input. */
export class InvalidProcWatchConfigError extends InfraError {}

/**
 * A build output the stack packages (agent binaries, Lambda entry files) is missing. Retryable in
 * the sense that running the named build first fixes it.
 */
export class MissingBuildOutputError extends InfraError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: true });
  }
}
