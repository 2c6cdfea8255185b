// Builds the QR decoder (cmd/qrmfg-wasm) to WebAssembly for the camera's
// Web Worker, with the Go toolchain's own wasm_exec.js next to it, into
// src/camera/gen/ (not committed: Vite copies the .wasm into dist/assets under
// its content hash). The flags are fixed, paths trimmed and no VCS stamp
// (the commit and dirty flag would change the bytes) so the same Go
// version gives the same bytes on every machine (`make web-check`).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(web, "src", "camera", "gen");
mkdirSync(out, { recursive: true });
const go = process.env.GO ?? "go";
const env = { ...process.env, GOOS: "js", GOARCH: "wasm", CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" };
execFileSync(go, ["build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", join(out, "decoder.wasm"), "./cmd/qrmfg-wasm"], {
  cwd: join(web, ".."),
  env,
  stdio: "inherit",
});
const goroot = execFileSync(go, ["env", "GOROOT"], { env, encoding: "utf8" }).trim();
copyFileSync(join(goroot, "lib", "wasm", "wasm_exec.js"), join(out, "wasm_exec.js"));
console.log(`decoder.wasm: ${statSync(join(out, "decoder.wasm")).size} bytes`);
