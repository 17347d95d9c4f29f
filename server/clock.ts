// Time, injectable: every deadline is decided by the server's clock, and
// tests can move it.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that starts at the system time plus an offset and can be moved. */
export class OffsetClock implements Clock {
  constructor(private offsetMs = 0) {}
  now() {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number) {
    this.offsetMs += ms;
  }
}
