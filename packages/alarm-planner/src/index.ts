export * from "./desired.ts";
export * from "./plan.ts";
export * from "./types.ts";
