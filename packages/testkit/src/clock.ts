/** Structurally the aws-adapters `Clock`, so one virtual clock drives both the rate limiter and the fake's quotas. */
export interface Clock {
  now(): number;
  sleep(milliseconds: number): Promise<void>;
}

interface Sleeper {
  readonly target: number;
  readonly resolve: () => void;
}

/**
 * Time that moves only when every runnable task is asleep: then it jumps to the earliest
 * wake-up. A run paced at 3 TPS for hours of virtual time finishes in seconds, and concurrent
 * sleepers wake in the order (and at the virtual instant) they asked for.
 */
export class VirtualClock implements Clock {
  private time: number;
  private readonly sleepers: Sleeper[] = [];
  private scheduled = false;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(milliseconds: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepers.push({ target: this.time + Math.max(0, milliseconds), resolve });
      this.schedule();
    });
  }

  /** Moves time forward by hand (e.g. to let a quota window pass in a test). */
  advance(milliseconds: number): void {
    this.time += milliseconds;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after every pending promise continuation, i.e. once all tasks that can run have run.
    setImmediate(() => {
      this.scheduled = false;
      if (this.sleepers.length === 0) return;
      this.sleepers.sort((a, b) => a.target - b.target);
      const earliest = this.sleepers[0]?.target ?? this.time;
      this.time = Math.max(this.time, earliest);
      while (this.sleepers.length > 0 && (this.sleepers[0]?.target ?? Number.POSITIVE_INFINITY) <= this.time) this.sleepers.shift()?.resolve();
      if (this.sleepers.length > 0) this.schedule();
    });
  }
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (milliseconds) => new Promise((resolve) => setTimeout(resolve, Math.max(0, milliseconds))),
};
