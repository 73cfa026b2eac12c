/** Base class for every error this package throws; `retryable` tells callers whether trying again can help. */
export class SsmDocumentError extends Error {
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }
}

/** A document file is missing, is not YAML, or does not have the Command-document shape. Terminal: the file must be fixed. */
export class InvalidSsmDocumentError extends SsmDocumentError {}
