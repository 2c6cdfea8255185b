/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The build is committed in dist/ and embedded in the binary, so it must be
// reproducible: no source maps (absolute paths), content-hashed names only.
export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: Object.fromEntries(
      ["/auth", "/inventory", "/qr", "/engraving", "/scanning", "/audit", "/health", "/ready", "/openapi.json"].map(
        (p) => [p, { target: "http://localhost:8000" }],
      ),
    ),
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.js"],
  },
});
