import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vitest/config";

// `npm run dev` serves the console on :5173 and sends API calls to the gateway `make up` runs;
// `npm run build` writes dist/, which the gateway serves at / (the API stays under /api/v1).
export default defineConfig({
  plugins: [vue()],
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  test: { environment: "jsdom", include: ["src/**/*.test.ts"] },
});
