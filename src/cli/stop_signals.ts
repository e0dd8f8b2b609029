/**
 * How `serve` and `simulate` stop on signals: the first SIGINT or SIGTERM
 * starts a clean stop (drain, close, flush the logs); any signal within
 * {@linkcode ABSORB_MS} of the first is absorbed; a later one cuts the drain to
 * zero. Either way the process goes on to log `member.stopped`, close its files
 * whole and exit 0.
 *
 * Why absorb: one Ctrl-C in a terminal sends SIGINT to the whole foreground
 * process group, and `deno task` (and `npx`) forward it to the member again,
 * so one key press arrives as two or three signals within milliseconds.
 * Without a handler still installed, the second one would kill the process in
 * the middle of its shutdown (exit 130, logs cut off).
 *
 * @module
 */

/** Signals closer than this to the first one are the same request to stop, ms. */
export const ABSORB_MS = 1000;

/** Where signal handlers are installed; `Deno`'s by default, a fake in tests. */
export interface SignalSource {
  /** Installs `handler` for `signal` (as `Deno.addSignalListener`). */
  add(signal: Deno.Signal, handler: () => void): void;
  /** Removes it again (as `Deno.removeSignalListener`). */
  remove(signal: Deno.Signal, handler: () => void): void;
}

/** The process's own signals. */
export const processSignals: SignalSource = {
  add: (signal, handler) => Deno.addSignalListener(signal, handler),
  remove: (signal, handler) => Deno.removeSignalListener(signal, handler),
};

/** Options of {@linkcode StopSignals}. */
export interface StopSignalsOptions {
  /** Where handlers go. @default processSignals */
  source?: SignalSource;
  /** Milliseconds on a monotonic clock. @default performance.now */
  nowMs?: () => number;
  /** Signals handled. @default SIGINT and SIGTERM (SIGINT only on Windows) */
  signals?: readonly Deno.Signal[];
}

/**
 * Watches for stop signals from construction until {@linkcode dispose}; keep
 * it alive for the whole shutdown, so that no signal finds the default action
 * (death) while files are being closed.
 */
export class StopSignals {
  /** Resolves with the first signal: start a clean stop. */
  readonly requested: Promise<Deno.Signal>;
  /** Resolves with the first signal later than {@linkcode ABSORB_MS} after the first: stop now. */
  readonly forced: Promise<Deno.Signal>;
  readonly #source: SignalSource;
  readonly #nowMs: () => number;
  readonly #handlers: Array<[Deno.Signal, () => void]>;
  #firstMs: number | null = null;
  #absorbed = 0;

  /** Installs the handlers. */
  constructor(opts: StopSignalsOptions = {}) {
    this.#source = opts.source ?? processSignals;
    this.#nowMs = opts.nowMs ?? (() => performance.now());
    const signals = opts.signals ??
      (Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"]);
    let request!: (s: Deno.Signal) => void;
    let force!: (s: Deno.Signal) => void;
    this.requested = new Promise((resolve) => request = resolve);
    this.forced = new Promise((resolve) => force = resolve);
    this.#handlers = signals.map((signal) => {
      const handler = () => {
        const now = this.#nowMs();
        if (this.#firstMs === null) {
          this.#firstMs = now;
          request(signal);
        } else if (now - this.#firstMs <= ABSORB_MS) {
          this.#absorbed++;
        } else {
          force(signal);
        }
      };
      this.#source.add(signal, handler);
      return [signal, handler];
    });
  }

  /** Signals absorbed as part of the first request so far. */
  get absorbed(): number {
    return this.#absorbed;
  }

  /** Removes the handlers (call once everything is closed, just before exit). */
  dispose(): void {
    for (const [signal, handler] of this.#handlers) this.#source.remove(signal, handler);
    this.#handlers.length = 0;
  }
}
