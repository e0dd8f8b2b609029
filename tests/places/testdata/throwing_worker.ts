// A stand-in for geonames_worker.ts whose module throws while evaluating (the
// real worker turns its own errors into a "failed" message, so this is the
// path of a worker module that cannot even load). Deno prints the worker's
// uncaught error to stderr even though the provider handles the error event.
throw new Error("fixture worker failed");
