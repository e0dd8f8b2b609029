/**
 * A load that runs at most once at a time and whose result is shared by every
 * caller, retried on the next request after a failure.
 *
 * @module
 */

/** A lazily started, shared, retry-after-failure asynchronous load. */
export class SharedLoad<T> {
  readonly #load: () => Promise<T>;
  #value: Promise<T> | undefined;
  #settled: Promise<void> = Promise.resolve();
  #starts = 0;

  /**
   * Wraps a loader; nothing starts until {@linkcode SharedLoad.get}.
   *
   * @param load Starts one load; may throw or reject.
   */
  constructor(load: () => Promise<T>) {
    this.#load = load;
  }

  /**
   * The loaded value: starts the load if none is running or done, else joins it.
   * After a failure, the next call starts a new load.
   *
   * @returns The shared result of the current load.
   */
  get(): Promise<T> {
    if (this.#value === undefined) {
      this.#starts++;
      // The executor turns a synchronous throw of the loader into a rejection.
      const value = new Promise<T>((resolve) => resolve(this.#load()));
      this.#value = value;
      // Also marks `value` as handled, so an unobserved failure (a warm-up
      // nobody awaited) is not an unhandled rejection.
      this.#settled = value.then(
        () => {},
        () => {
          if (this.#value === value) this.#value = undefined;
        },
      );
    }
    return this.#value;
  }

  /**
   * Resolves once the latest load has finished or failed (at once if none started).
   *
   * @returns A promise that never rejects.
   */
  settled(): Promise<void> {
    return this.#settled;
  }

  /** How many loads have been started, for tests and diagnostics. */
  get starts(): number {
    return this.#starts;
  }
}
