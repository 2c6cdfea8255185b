// A small YUV4MPEG2 writer for Chromium's fake camera
// (--use-file-for-fake-video-capture): 4:2:0 frames (C420jpeg: full-range
// BT.601, chroma averaged over 2×2 pixels) from RGBA pixels.
import { writeFileSync } from "node:fs";

/** Writes frames (RGBA, width×height×4 bytes each) to file as a y4m video at fps. */
export function writeY4M(file, width, height, fps, frames) {
  if (width % 2 || height % 2) throw new Error(`y4m 4:2:0 needs even dimensions, got ${width}×${height}`);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`, "latin1");
  const ySize = width * height;
  const cSize = ySize / 4;
  const parts = [header];
  for (const rgba of frames) {
    if (rgba.length !== ySize * 4) throw new Error(`a frame has ${rgba.length} bytes, want ${ySize * 4}`);
    const f = Buffer.alloc(6 + ySize + 2 * cSize);
    f.write("FRAME\n", 0, "latin1");
    const Y = 6;
    const U = Y + ySize;
    const V = U + cSize;
    for (let i = 0; i < ySize; i++) {
      const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
      f[Y + i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    }
    for (let y = 0; y < height; y += 2) {
      for (let x = 0; x < width; x += 2) {
        let u = 0;
        let v = 0;
        for (const o of [y * width + x, y * width + x + 1, (y + 1) * width + x, (y + 1) * width + x + 1]) {
          const [r, g, b] = [rgba[4 * o], rgba[4 * o + 1], rgba[4 * o + 2]];
          u += -0.168736 * r - 0.331264 * g + 0.5 * b;
          v += 0.5 * r - 0.418688 * g - 0.081312 * b;
        }
        const c = (y / 2) * (width / 2) + x / 2;
        f[U + c] = Math.max(0, Math.min(255, Math.round(128 + u / 4)));
        f[V + c] = Math.max(0, Math.min(255, Math.round(128 + v / 4)));
      }
    }
    parts.push(f);
  }
  writeFileSync(file, Buffer.concat(parts));
}

/** A width×height RGBA frame of background grey with each image (RGBA) drawn at (x, y), scaled by an integer factor. */
export function compose(width, height, background, images) {
  const out = new Uint8Array(width * height * 4).fill(background);
  for (const { rgba, w, h, x, y, scale } of images) {
    for (let py = 0; py < h * scale; py++) {
      const fy = y + py;
      if (fy < 0 || fy >= height) continue;
      for (let px = 0; px < w * scale; px++) {
        const fx = x + px;
        if (fx < 0 || fx >= width) continue;
        const s = 4 * (Math.floor(py / scale) * w + Math.floor(px / scale));
        out.set(rgba.subarray(s, s + 4), 4 * (fy * width + fx));
      }
    }
  }
  for (let i = 3; i < out.length; i += 4) out[i] = 255;
  return out;
}
