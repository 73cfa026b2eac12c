export * from "./alarm-store.ts";
export * from "./clock.ts";
export * from "./errors.ts";
export * from "./instance-inventory.ts";
export * from "./metric-catalog.ts";
export * from "./profile-store.ts";
export * from "./rate-limiter.ts";
export * from "./sdk-config.ts";
