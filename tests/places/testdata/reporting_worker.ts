// A stand-in for geonames_worker.ts that reports a failed load the way the
// real worker does: one "failed" message. Each run names itself, so a test can
// tell a fresh load from a cached failure.
(self as unknown as { postMessage(message: unknown): void }).postMessage({
  kind: "failed",
  message: `fixture data unavailable (run ${crypto.randomUUID()})`,
});
