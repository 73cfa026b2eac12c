export * from "./clock.ts";
export * from "./errors.ts";
export * from "./instance-inventory.ts";
export * from "./profile-store.ts";
export * from "./rate-limiter.ts";
