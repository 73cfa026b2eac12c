/**
 * One base class for everything the restart handler throws. `retryable` decides the handler's
 * fate: a retryable error is rethrown so Lambda (or SNS/EventBridge) delivers the event again,
 * which the ledger makes safe; a terminal error on *input* is logged and the event dropped, so a
 * poison message never becomes a crash loop.
 */
export class RestartHandlerError extends Error {
  readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable;
  }
}

/** Environment or wiring is wrong: retrying cannot help, the deployment must be fixed. */
export class ConfigurationError extends RestartHandlerError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: false, cause });
  }
}

/** An AWS call failed; `retryable` comes from {@link classifyAwsError}. */
export class AwsCallError extends RestartHandlerError {
  readonly operation: string;
  readonly awsErrorName: string;

  constructor(operation: string, cause: unknown) {
    const classification = classifyAwsError(cause);
    super(`${operation} failed: ${classification.name}: ${classification.message}`, { retryable: classification.retryable, cause });
    this.operation = operation;
    this.awsErrorName = classification.name;
  }
}

/**
 * Another delivery of the same alarm transition holds the claim and has not finished sending.
 * Retryable: the next delivery either sees the command recorded or takes the stale claim over.
 * Thrown on purpose — for an async invoke a throw is the only way to get the event delivered
 * again, which is needed in case the holder crashed — so the handler logs it quietly (info,
 * `outcome: deferred`) and counts `DuplicatesDeferred` instead of reporting a failure.
 */
export class ClaimInFlightError extends RestartHandlerError {
  readonly incidentId: string;

  constructor(incidentId: string) {
    super(`incident ${incidentId} is being handled by another invocation`, { retryable: true });
    this.incidentId = incidentId;
  }
}

/**
 * The search for a command SSM may already have accepted (`ListCommands`) did not reach its end.
 * Retryable, and never "not found": sending on an incomplete search could restart twice.
 */
export class CommandSearchIncompleteError extends RestartHandlerError {
  constructor(incidentId: string, pages: number) {
    super(`ListCommands still had more pages after ${pages} while looking for incident ${incidentId}'s command`, { retryable: true });
  }
}

/** The ledger changed between read and conditional write too many times in a row. */
export class LedgerContentionError extends RestartHandlerError {
  constructor(key: string) {
    super(`ledger item ${key} kept changing under concurrent writers`, { retryable: true });
  }
}

const RETRYABLE_ERROR_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ProvisionedThroughputExceededException",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
  "InternalServerError",
  "InternalServerErrorException",
  "InternalFailure",
  "InternalError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "KMSThrottlingException",
  "TransactionInProgressException",
  "TransactionConflictException",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
]);

export interface AwsErrorClassification {
  readonly name: string;
  readonly message: string;
  readonly retryable: boolean;
}

/**
 * Throttling, 5xx and network failures are transient; validation, access-denied and not-found are
 * not. Unknown errors without an HTTP status count as transient (a network-level failure) so a
 * restart is retried rather than silently lost.
 */
export function classifyAwsError(error: unknown): AwsErrorClassification {
  if (!(error instanceof Error)) return { name: "UnknownError", message: String(error), retryable: true };
  const candidate = error as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string; retryable?: unknown };
  const name = candidate.name !== "Error" ? candidate.name : (candidate.code ?? "Error");
  // Errors already classified upstream (this package's, or @procwatch/aws-adapters' AdapterError) keep their verdict.
  if (typeof candidate.retryable === "boolean") return { name, message: candidate.message, retryable: candidate.retryable };
  const status = candidate.$metadata?.httpStatusCode;
  const retryable =
    candidate.$retryable !== undefined ||
    RETRYABLE_ERROR_NAMES.has(name) ||
    (candidate.code !== undefined && RETRYABLE_ERROR_NAMES.has(candidate.code)) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    status === undefined;
  return { name, message: candidate.message, retryable };
}

/**
 * SendCommand errors that name a refusal: SSM answered and created no command. Its own client
 * faults, plus authentication, authorization, validation and throttling refusals.
 */
const NOT_ACCEPTED_ERROR_NAMES = new Set([
  "DuplicateInstanceId",
  "InvalidDocument",
  "InvalidDocumentVersion",
  "InvalidInstanceId",
  "InvalidNotificationConfig",
  "InvalidOutputFolder",
  "InvalidParameters",
  "InvalidRole",
  "MaxDocumentSizeExceeded",
  "UnsupportedPlatformType",
  "ValidationException",
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignature",
  "MissingAuthenticationToken",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
]);

/**
 * True only when a failed SendCommand certainly left no command behind, so the claim may be
 * released for an immediate retry. Timeouts, 5xx and network failures are ambiguous: the request
 * may have reached SSM, which has no client token to dedupe a second one. So is any error after
 * the SDK retried (`$metadata.attempts > 1`): the error it finally throws says nothing about the
 * earlier attempts, one of which may have timed out after SSM accepted it.
 */
export function isDefinitelyNotAccepted(error: unknown): boolean {
  const cause = error instanceof AwsCallError ? error.cause : error;
  if (!(cause instanceof Error)) return false;
  const candidate = cause as Error & { $metadata?: { httpStatusCode?: number; attempts?: number } };
  if ((candidate.$metadata?.attempts ?? 1) > 1) return false;
  const status = candidate.$metadata?.httpStatusCode;
  // A 4xx is SSM's answer that it refused the request; 408 is the one 4xx that means "gave up waiting".
  if (status !== undefined) return status >= 400 && status < 500 && status !== 408;
  return NOT_ACCEPTED_ERROR_NAMES.has(candidate.name);
}

export function isRetryable(error: unknown): boolean {
  return classifyAwsError(error).retryable;
}
