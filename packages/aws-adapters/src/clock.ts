/** Time as the adapters see it; injected so the rate limiter can run on a virtual clock in tests and benchmarks. */
export interface Clock {
  /** Milliseconds, monotonic for the life of the process. */
  now(): number;
  sleep(milliseconds: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (milliseconds) => new Promise((resolve) => setTimeout(resolve, Math.max(0, milliseconds))),
};
