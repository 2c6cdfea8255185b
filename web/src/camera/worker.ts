// The camera's decoder: our Go QR decoder compiled to WebAssembly, run in a
// Web Worker so the page stays responsive while a frame is decoded. The page
// posts frames (ImageBitmap, transferred); the worker answers each with the
// codes found, or an error.
import "./gen/wasm_exec.js";
import wasmURL from "./gen/decoder.wasm?url";
import type { FrameResult, WorkerCode } from "./decoder";

interface GoRuntime {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}
type DecodeFn = (pixels: Uint8Array, width: number, height: number) => { codes: WorkerCode[]; error?: string };
const scope = globalThis as unknown as {
  Go: new () => GoRuntime;
  qrmfgDecode?: DecodeFn;
  onmessage: ((e: MessageEvent<{ id: number; frame: ImageBitmap }>) => void) | null;
  postMessage(m: FrameResult | { ready: true } | { failed: string }): void;
};

const ready = (async () => {
  const go = new scope.Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
  void go.run(instance); // resolves only when the Go program exits: it never does
  if (!scope.qrmfgDecode) throw new Error("the decoder did not start");
  return scope.qrmfgDecode;
})();
ready.then(
  () => scope.postMessage({ ready: true }),
  (e: Error) => scope.postMessage({ failed: e.message }),
);

let canvas: OffscreenCanvas | null = null;

scope.onmessage = async ({ data: { id, frame } }) => {
  try {
    const decode = await ready;
    const { width, height } = frame;
    if (!canvas || canvas.width !== width || canvas.height !== height) canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext("2d", { willReadFrequently: true })!;
    g.drawImage(frame, 0, 0);
    frame.close();
    const rgba = g.getImageData(0, 0, width, height).data;
    const t0 = performance.now();
    const r = decode(new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height);
    scope.postMessage({ id, codes: r.codes, error: r.error, ms: performance.now() - t0, width, height });
  } catch (e) {
    scope.postMessage({ id, codes: [], error: (e as Error).message, ms: 0, width: 0, height: 0 });
  }
};
