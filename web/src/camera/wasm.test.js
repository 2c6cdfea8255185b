// The decoder the camera runs on the device: the WebAssembly build of our Go
// decoder (src/camera/gen/, made by `npm run build`), run here in Node as the
// worker runs it in the browser.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

// (JavaScript, not TypeScript: the UI's type check has no Node types.)
const gen = join(import.meta.dirname, "gen");
/** @type {(pixels: Uint8Array, width: number, height: number) => {codes: {text: string, corners: {x: number, y: number}[]}[], error?: string}} */
let decode;

beforeAll(async () => {
  if (!existsSync(join(gen, "decoder.wasm"))) throw new Error("src/camera/gen/decoder.wasm is missing: run `npm run build:wasm`");
  await import("./gen/wasm_exec.js");
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(readFileSync(join(gen, "decoder.wasm")), go.importObject);
  void go.run(instance);
  decode = globalThis.qrmfgDecode;
});

/** A QR code of text from the reference encoder (qrencode), as a grey plane: scale pixels a module, a 4-module quiet zone. */
function symbol(text, scale) {
  const rows = execFileSync("qrencode", ["-t", "ASCII", "-m", "4", text], { encoding: "utf8" }).split("\n").filter(Boolean);
  const n = rows.length;
  const w = n * scale;
  const pix = new Uint8Array(w * w);
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) pix[y * w + x] = rows[Math.floor(y / scale)][2 * Math.floor(x / scale)] === "#" ? 20 : 235;
  return { w, pix };
}

describe("the WebAssembly decoder", () => {
  it("reads every code in a grey frame, with its corners", () => {
    const a = symbol("PAD-V0100-L2025-09-000041", 6);
    const b = symbol("PAD-V0100-L2025-09-000042", 5);
    const [W, H] = [640, 360];
    const frame = new Uint8Array(W * H).fill(235);
    const place = (s, x0, y0) => {
      for (let y = 0; y < s.w; y++) frame.set(s.pix.subarray(y * s.w, (y + 1) * s.w), (y0 + y) * W + x0);
    };
    place(a, 20, 20);
    place(b, 360, 60);
    const r = decode(frame, W, H);
    expect(r.error).toBeUndefined();
    expect(r.codes.map((c) => c.text).sort()).toEqual(["PAD-V0100-L2025-09-000041", "PAD-V0100-L2025-09-000042"]);
    const first = r.codes.find((c) => c.text.endsWith("41"));
    expect(first.corners).toHaveLength(4);
    // The top-left corner is where the symbol (inside its 4-module quiet zone) starts.
    expect(first.corners[0].x).toBeCloseTo(20 + 4 * 6, -1);
    expect(first.corners[0].y).toBeCloseTo(20 + 4 * 6, -1);
  });

  it("reads RGBA frames as ImageData holds them", () => {
    const s = symbol("RGBA-frame", 4);
    const rgba = new Uint8Array(s.w * s.w * 4);
    s.pix.forEach((v, i) => rgba.set([v, v, v, 255], 4 * i));
    expect(decode(rgba, s.w, s.w).codes.map((c) => c.text)).toEqual(["RGBA-frame"]);
  });

  it("finds nothing in an empty frame, and names a frame of the wrong size", () => {
    expect(decode(new Uint8Array(320 * 240).fill(200), 320, 240)).toEqual({ codes: [] });
    const r = decode(new Uint8Array(100), 320, 240);
    expect(r.codes).toEqual([]);
    expect(r.error).toMatch(/100 bytes.*320×240/);
  });
});
