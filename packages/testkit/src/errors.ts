import { CloudWatchServiceException } from "@aws-sdk/client-cloudwatch";
import { EC2ServiceException } from "@aws-sdk/client-ec2";
import { SSMServiceException } from "@aws-sdk/client-ssm";

export type FakeService = "ec2" | "cloudwatch" | "ssm";

let requestCounter = 0;

/** Errors shaped like the SDK's: the service's exception class, `$fault`, `$metadata.httpStatusCode`, `$retryable`. */
export function serviceError(
  service: FakeService,
  name: string,
  message: string,
  options: { status?: number; fault?: "client" | "server"; throttling?: boolean } = {},
): Error {
  const status = options.status ?? 400;
  const init = {
    name,
    message,
    $fault: options.fault ?? (status >= 500 ? "server" : "client"),
    $metadata: { httpStatusCode: status, requestId: `fake-${++requestCounter}`, attempts: 1, totalRetryDelay: 0 },
  } as const;
  const error =
    service === "ec2" ? new EC2ServiceException(init) : service === "cloudwatch" ? new CloudWatchServiceException(init) : new SSMServiceException(init);
  if (options.throttling === true) Object.assign(error, { $retryable: { throttling: true } });
  return error;
}

/** The throttling error each service really sends. */
export function throttlingError(service: FakeService): Error {
  switch (service) {
    case "ec2":
      return serviceError(service, "RequestLimitExceeded", "Request limit exceeded.", { status: 503, fault: "client", throttling: true });
    case "cloudwatch":
      return serviceError(service, "Throttling", "Rate exceeded", { status: 400, throttling: true });
    case "ssm":
      return serviceError(service, "ThrottlingException", "Rate exceeded", { status: 400, throttling: true });
  }
}

export function internalError(service: FakeService): Error {
  const name = service === "ec2" ? "InternalError" : service === "cloudwatch" ? "InternalServiceError" : "InternalServerError";
  return serviceError(service, name, "We encountered an internal error. Please try again.", { status: 500, fault: "server" });
}

export function validationError(service: FakeService, message: string): Error {
  const name = service === "ec2" ? "InvalidParameterValue" : service === "cloudwatch" ? "InvalidParameterValue" : "ValidationException";
  return serviceError(service, name, message, { status: 400 });
}
