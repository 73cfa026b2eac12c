/** Replaced at bundle time by esbuild (`define`); a dev run from source reports the package version with a -dev suffix. */
declare const __PROCWATCH_AGENT_VERSION__: string | undefined;

export const AGENT_VERSION: string = typeof __PROCWATCH_AGENT_VERSION__ === "string" ? __PROCWATCH_AGENT_VERSION__ : "0.1.0-dev";
