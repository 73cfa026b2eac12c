import { ConfiguredRetryStrategy } from "@smithy/core/retry";

export interface RetryOptions {
  /** Attempts per call including the first (default 8: throttling at fleet scale needs a few). */
  readonly maxAttempts?: number;
  /** Base of the exponential backoff in ms (default 100, capped at 20 s); tests pass 0. */
  readonly baseDelayMs?: number;
}

/**
 * SDK retry settings shared by every client procwatch builds. Standard mode with exponential
 * backoff and full jitter: throttling (the SDK classifies ThrottlingException, Throttling,
 * RequestLimitExceeded, 429) and 5xx are retried; the client-side RateLimiter keeps throttling rare.
 */
export function sdkRetryOptions(options: RetryOptions = {}): { retryStrategy: ConfiguredRetryStrategy } {
  const maxAttempts = options.maxAttempts ?? 8;
  const base = options.baseDelayMs ?? 100;
  return {
    retryStrategy: new ConfiguredRetryStrategy(maxAttempts, (attempt) => (base === 0 ? 0 : Math.random() * Math.min(20_000, base * 2 ** attempt))),
  };
}
