const enc = new TextEncoder();
for (let round = 0; round < 3; round++) {
  const c = await Deno.connect({ hostname: "127.0.0.1", port: 12021 });
  const t0 = Date.now();
  await c.write(enc.encode(`IAMAT ${"k".repeat(200)} +34-118 1.5\n`.repeat(400)));
  await c.closeWrite();
  const buf = new Uint8Array(1 << 16);
  let total = 0;
  const timer = setTimeout(() => c.close(), 4000);
  try {
    for (let n = await c.read(buf); n !== null; n = await c.read(buf)) total += n;
  } catch {
    console.log("  timed out");
  }
  clearTimeout(timer);
  console.log(`round ${round}: ${total} reply bytes in ${Date.now() - t0} ms`);
  try {
    c.close();
  } catch { /**/ }
}
