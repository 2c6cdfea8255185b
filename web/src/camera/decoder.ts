// Frame decoders for the camera: the browser's BarcodeDetector where it reads
// QR codes, else our Go decoder compiled to WebAssembly in a Web Worker
// (docs/adr/0008-camera-decoding.md has the measurements behind the order).

export interface WorkerCode {
  text: string;
  corners: { x: number; y: number }[];
}

/** The worker's answer to one frame. */
export interface FrameResult {
  id: number;
  codes: WorkerCode[];
  error?: string;
  ms: number;
  width: number;
  height: number;
}

export interface FrameDecoder {
  kind: "BarcodeDetector" | "WebAssembly";
  /** The texts of every code in the video's current frame. */
  decode(video: HTMLVideoElement): Promise<string[]>;
  close(): void;
}

interface Detector {
  detect(src: CanvasImageSource): Promise<{ rawValue: string }[]>;
}
declare global {
  interface Window {
    BarcodeDetector?: { new (o: { formats: string[] }): Detector; getSupportedFormats(): Promise<string[]> };
  }
}

/** The best decoder this browser has; WebAssembly unless `prefer` says otherwise and BarcodeDetector reads QR. */
export async function openDecoder(prefer: "auto" | "wasm" = "auto"): Promise<FrameDecoder> {
  const BD = window.BarcodeDetector;
  if (prefer === "auto" && BD && (await BD.getSupportedFormats().catch((): string[] => [])).includes("qr_code")) {
    const det = new BD({ formats: ["qr_code", "data_matrix"] });
    return {
      kind: "BarcodeDetector",
      decode: async (v) => (await det.detect(v)).map((c) => c.rawValue),
      close: () => undefined,
    };
  }
  return wasmDecoder();
}

function wasmDecoder(): Promise<FrameDecoder> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "qr-decoder" });
  const pending = new Map<number, (r: FrameResult) => void>();
  let next = 0;
  return new Promise((resolve, reject) => {
    worker.onerror = (e) => reject(new Error(`the decoder did not load: ${e.message || "worker error"}`));
    worker.onmessage = ({ data }: MessageEvent<FrameResult | { ready: true } | { failed: string }>) => {
      if ("failed" in data) return reject(new Error(`the decoder did not load: ${data.failed}`));
      if ("ready" in data) {
        return resolve({
          kind: "WebAssembly",
          async decode(v) {
            const frame = await createImageBitmap(v);
            const id = next++;
            const r = await new Promise<FrameResult>((done) => {
              pending.set(id, done);
              worker.postMessage({ id, frame }, [frame]);
            });
            if (r.error && !r.codes.length) throw new Error(r.error);
            return r.codes.map((c) => c.text);
          },
          close: () => worker.terminate(),
        });
      }
      pending.get(data.id)?.(data);
      pending.delete(data.id);
    };
  });
}
