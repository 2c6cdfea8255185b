// Stores the decoder's WebAssembly in web/dist gzipped only (NAME.wasm.gz):
// as built it is over 5 MB, a third of that gzipped. internal/webui serves
// it under its built name, gzip-encoded, or decompressed for a client that
// does not take gzip. Node's gzip header has no time stamp, so the same
// module gives the same bytes (`make web-check`).
import { gzipSync } from "node:zlib";
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const assets = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "assets");
for (const name of readdirSync(assets)) {
  if (!name.endsWith(".wasm")) continue;
  const file = join(assets, name);
  const gz = gzipSync(readFileSync(file), { level: 9 });
  writeFileSync(file + ".gz", gz);
  unlinkSync(file);
  console.log(`${name}.gz: ${gz.length} bytes`);
}
