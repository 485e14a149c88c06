import { defineConfig } from "vitest/config";

// The gateway serves the API, the Backstage REST routes and the JWKS; in development Vite
// forwards them so the app and the API share one origin, as they do in production.
const gateway = "http://127.0.0.1:8080";

export default defineConfig({
  // Without @vitejs/plugin-react: esbuild's automatic JSX runtime is all a small app needs.
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "^/atrium\\.": { target: gateway },
      "/api": { target: gateway },
      "/.well-known": { target: gateway },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
