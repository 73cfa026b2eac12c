export * from "./clients.ts";
export * from "./clock.ts";
export * from "./cloudwatch-alarm-evaluation.ts";
export * from "./errors.ts";
export * from "./fake-aws.ts";
export * from "./fake-cloudwatch-alarms.ts";
export * from "./fleet.ts";
export * from "./random.ts";
