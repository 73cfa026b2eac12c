import { describe, expect, it } from "vitest";
import { EndpointUnreachableError, ServiceUnavailableError, ThrottledError, toAdapterError } from "../src/errors.ts";

/** Error shapes as the SDK v3 surfaces them: node's socket errors carry `code` and no $metadata status; AWS's answers carry one. */
describe("toAdapterError: who failed decides the class", () => {
  it("a socket error with no HTTP answer (ECONNREFUSED, ENOTFOUND) is EndpointUnreachableError, still retryable", () => {
    for (const code of ["ECONNREFUSED", "ENOTFOUND", "ETIMEDOUT"]) {
      const failure = toAdapterError(Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code }), "DescribeAlarms");
      expect(failure, code).toBeInstanceOf(EndpointUnreachableError);
      expect(failure.retryable).toBe(true);
      expect(failure.message).toContain(code);
    }
  });

  it("AWS's own 5xx is ServiceUnavailableError but not unreachable; throttling stays ThrottledError", () => {
    const serverError = toAdapterError(
      Object.assign(new Error("We encountered an internal error"), { name: "InternalFailure", $fault: "server", $metadata: { httpStatusCode: 500 } }),
      "PutMetricAlarm",
    );
    expect(serverError).toBeInstanceOf(ServiceUnavailableError);
    expect(serverError).not.toBeInstanceOf(EndpointUnreachableError);
    const throttled = toAdapterError(Object.assign(new Error("Rate exceeded"), { name: "Throttling", $metadata: { httpStatusCode: 400 } }), "DescribeAlarms");
    expect(throttled).toBeInstanceOf(ThrottledError);
  });
});
