/**
 * Every failure an adapter surfaces is an AdapterError, classed retryable or terminal so that a
 * caller (CLI error boundary, Lambda, reconcile loop) can decide without inspecting SDK internals.
 * Throttling and 5xx are retryable: the SDK has already retried them with backoff, but a later
 * run (or the scheduled reconcile) will converge. Auth, validation and not-found are terminal.
 */
export class AdapterError extends Error {
  readonly retryable: boolean;
  /** The AWS API operation that failed, e.g. `DescribeAlarms`. */
  readonly operation: string;
  /** The AWS error code (`ThrottlingException`, `AccessDenied`, …) when AWS sent one. */
  readonly code: string | undefined;

  constructor(message: string, options: { operation: string; retryable: boolean; code?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.operation = options.operation;
    this.retryable = options.retryable;
    this.code = options.code;
  }
}

/** AWS refused because of request rate; retrying later succeeds. */
export class ThrottledError extends AdapterError {}

/** AWS failed on its side (5xx) or the network dropped the call; retrying later may succeed. */
export class ServiceUnavailableError extends AdapterError {}

/**
 * The call never got an answer from AWS: no HTTP status, a socket-level code (connection refused,
 * DNS failure, reset, timeout). Retryable like any ServiceUnavailableError, but its cause is on the
 * caller's side of the wire (network, region, endpoint override), which a hint must say.
 */
export class EndpointUnreachableError extends ServiceUnavailableError {}

/** The caller lacks permission or credentials; retrying never helps. */
export class AccessDeniedError extends AdapterError {}

/** The request itself was rejected (bad parameter, missing resource, …); retrying never helps. */
export class RequestRejectedError extends AdapterError {}

/** A response did not have the shape the adapter relies on. */
export class UnexpectedResponseError extends AdapterError {}

const THROTTLING_CODES = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "TransactionInProgressException",
  "SlowDown",
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "PriorRequestNotComplete",
]);

const ACCESS_CODES = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "UnauthorizedOperation",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredToken",
  "ExpiredTokenException",
  "AuthFailure",
  "SignatureDoesNotMatch",
  "InvalidSignatureException",
  "CredentialsProviderError",
  "MissingAuthenticationToken",
]);

const NETWORK_CODES = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException", "ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ENOTFOUND"]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $fault?: "client" | "server";
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number };
}

export function isThrottlingError(error: unknown): boolean {
  if (error instanceof AdapterError) return error instanceof ThrottledError;
  const shape = (error ?? {}) as SdkErrorShape;
  return shape.$retryable?.throttling === true || shape.$metadata?.httpStatusCode === 429 || THROTTLING_CODES.has(shape.name ?? "");
}

/** Wraps any error thrown by an SDK call into the adapter error hierarchy, keeping it as `cause`. */
export function toAdapterError(error: unknown, operation: string): AdapterError {
  if (error instanceof AdapterError) return error;
  const shape = (error ?? {}) as SdkErrorShape;
  const code = shape.name ?? shape.code;
  const status = shape.$metadata?.httpStatusCode;
  const detail = (shape.message ?? String(error)).split("\n")[0];
  const message = `${operation} failed: ${code !== undefined && code !== "Error" ? `${code}: ` : ""}${detail}`;
  const base = { operation, cause: error, ...(code !== undefined ? { code } : {}) };
  if (isThrottlingError(error)) return new ThrottledError(message, { ...base, retryable: true });
  if (ACCESS_CODES.has(code ?? "") || status === 401 || status === 403) return new AccessDeniedError(message, { ...base, retryable: false });
  const networkFailure = NETWORK_CODES.has(code ?? "") || NETWORK_CODES.has(shape.code ?? "");
  if (networkFailure && status === undefined) return new EndpointUnreachableError(message, { ...base, retryable: true });
  if (shape.$fault === "server" || (status !== undefined && status >= 500) || networkFailure) {
    return new ServiceUnavailableError(message, { ...base, retryable: true });
  }
  return new RequestRejectedError(message, { ...base, retryable: false });
}
