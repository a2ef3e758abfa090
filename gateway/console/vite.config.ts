import vue from "@vitejs/plugin-vue";
import Components from "unplugin-vue-components/vite";
import { ElementPlusResolver } from "unplugin-vue-components/resolvers";
import { defineConfig } from "vitest/config";

// `npm run dev` serves the console on :5173 and sends API calls to the gateway `make up` runs;
// `npm run build` writes dist/, which the gateway serves at / (the API stays under /api/v1).
//
// Element Plus components are imported where a template uses them (not the whole library in
// the first load): the initial JavaScript stays under 300 KB gzipped, and ECharts comes only
// with the screen that draws a chart. The full stylesheet stays global (CSS, one file, cached).
export default defineConfig({
  plugins: [
    vue(),
    Components({ resolvers: [ElementPlusResolver({ importStyle: false })], dts: false }),
  ],
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  build: { outDir: "dist", emptyOutDir: true },
  test: { environment: "jsdom", include: ["src/**/*.test.ts"] },
});
